"""Plain L2 logistic regression on standardised features, with the same contract.

The reference model (the issue's "logistic regression on age + priors, AUC
0.728"). Coefficients are reported per standard deviation and per unit.
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

    def coef_table(self) -> pd.DataFrame:
        """Coefficient per standard deviation and per unit of each feature."""
        self._require_fitted()
        return pd.DataFrame({"feature": self.feature_names_, "per_sd": self.coef_,
                             "per_unit": self.coef_ / self.scale_})

    def to_text(self) -> str:
        t = self.coef_table()
        rows = [f"{f:<40} {c:+.3f} per unit" for f, c in zip(t["feature"], t["per_unit"], strict=True)]
        return "\n".join([f"{'intercept':<40} {self.intercept_:+.3f} (standardised)", *rows])
