"""Plain L2 logistic regression on standardised features, with the same contract.

The reference model (the issue's "logistic regression on age + priors, AUC
0.728"). The fit runs on standardised columns (so the L2 penalty treats them
alike), but the card states the intercept and coefficients in the units of the
columns as read: with Platt calibration (the default) or none, the printed
numbers give ``predict_proba`` by hand, ``p = 1 / (1 + exp(-(b0 + sum b_i x_i)))``
(Platt's two parameters are folded in). With isotonic calibration they give the
model's own probability, which the printed isotonic table then maps. The
coefficients per standard deviation are printed beside them to compare features.

Failure mode: a linear log-odds cannot express thresholds or interactions that
a point score's items can.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from crimelens.errors import InvalidParameterError
from crimelens.risk._base import RiskModel

__all__ = ["LogisticRisk"]


class LogisticRisk(RiskModel):
    """L2-penalised logistic regression (inverse strength ``C``) on standardised columns.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> X = rng.normal(size=(300, 2)); y = (X[:, 0] + rng.normal(size=300) > 0).astype(int)
    >>> m = LogisticRisk(feature_names=["priors", "juv"]).fit(X, y)
    >>> bool(m.coef_[0] > m.coef_[1])
    True
    """

    _raw_is_probability = True

    def __init__(
        self,
        *,
        C: float = 1.0,
        max_iter: int = 1000,
        calibration: Literal["isotonic", "platt", "none"] = "platt",
        feature_names: Sequence[str] | None = None,
        random_state: int | None = None,
    ) -> None:
        self.C = C
        self.max_iter = max_iter
        self.calibration = calibration
        self.feature_names = feature_names
        self.random_state = random_state

    def _fit_raw(
        self, X: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64],
        names: list[str],
    ) -> None:
        if not (isinstance(self.C, (int, float)) and self.C > 0):
            raise InvalidParameterError(f"LogisticRisk(C={self.C!r}): C must be > 0")
        ww = w / w.sum()
        self.mean_ = ww @ X
        sd = np.sqrt(ww @ (X - self.mean_) ** 2)
        self.scale_ = np.where(sd > 0, sd, 1.0)
        lr = LogisticRegression(C=float(self.C), max_iter=int(self.max_iter),
                                tol=1e-10, random_state=self.random_state)
        lr.fit((X - self.mean_) / self.scale_, y, sample_weight=w)
        self.coef_ = lr.coef_[0].copy()  # per standard deviation
        self.intercept_ = float(lr.intercept_[0])
        self.n_iter_ = int(np.max(lr.n_iter_))

    def _raw(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """The logistic model's own probability (``calibration="none"`` keeps it)."""
        return np.asarray(expit(((X - self.mean_) / self.scale_) @ self.coef_ + self.intercept_))

    def log_odds_terms(self) -> tuple[float, NDArray[np.float64]]:
        """Intercept and coefficients per unit of each column (as read) of the card's log-odds.

        With ``calibration="platt"`` (Platt's ``a + b * log-odds`` folded in) or ``"none"``,
        ``expit(intercept + X @ coef)`` is ``predict_proba(X)[:, 1]``; with ``"isotonic"`` it is
        the model's own probability, which :meth:`calibration_map` then maps."""
        self._require_fitted()
        a, b = self.calibrator_.platt_ab
        per_unit = self.coef_ / self.scale_
        intercept = self.intercept_ - float(per_unit @ self.mean_)
        return float(a + b * intercept), np.asarray(b * per_unit, dtype=np.float64)

    def calibration_map(self) -> pd.DataFrame | None:
        """With isotonic calibration, its breakpoints: the model's own probability (from
        :meth:`log_odds_terms`) and the calibrated one, linear in between and constant outside;
        None otherwise (the log-odds terms give the calibrated probability themselves)."""
        self._require_fitted()
        points = self.calibrator_.isotonic_breakpoints
        if points is None:
            return None
        return pd.DataFrame({"model_probability": points[0], "probability": points[1]})

    def coef_table(self) -> pd.DataFrame:
        """Per feature: the coefficient per unit of the column as read (the card's log-odds, see
        :meth:`log_odds_terms`) and per training standard deviation (to compare features)."""
        _, per_unit = self.log_odds_terms()
        return pd.DataFrame({"feature": self.feature_names_, "per_unit": per_unit,
                             "per_sd": per_unit * self.scale_})

    def equation(self) -> str:
        """What the card's numbers compute, in words."""
        self._require_fitted()
        linear = "1 / (1 + exp(-(intercept + sum of per unit × value as read)))"
        if self.calibration == "isotonic":
            return (f"model probability = {linear};\nprobability = the isotonic table read at the "
                    "model probability (linear between its rows)")
        return f"probability = {linear}" + (", Platt calibration folded in"
                                             if self.calibration == "platt" else "")

    def to_text(self) -> str:
        """The card: intercept and coefficients per unit of each column as read, enough digits
        (7 significant) to compute a person's probability by hand; the standardised coefficient
        (per standard deviation) beside each, to compare features, not to compute with."""
        intercept, _ = self.log_odds_terms()
        t = self.coef_table()
        width = max([len(str(f)) for f in t["feature"]] + [9])
        lines = [self.equation(), "",
                 f"{'term':<{width}}  {'per unit':>15}  {'per sd*':>8}",
                 f"{'intercept':<{width}}  {intercept:>+#15.7g}"]
        lines += [f"{f:<{width}}  {c:>+#15.7g}  {s:>+8.3f}"
                  for f, c, s in zip(t["feature"], t["per_unit"], t["per_sd"], strict=True)]
        lines += ["* per standard deviation of the column in training (standardised): to compare "
                  "features, not to compute with"]
        cal = self.calibration_map()
        if cal is not None:
            lines += ["", "model probability  probability  (isotonic)"]
            lines += [f"{q:>17.8f}  {p:>11.8f}" for q, p in cal.itertuples(index=False)]
        return "\n".join(lines)
