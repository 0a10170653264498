"""Calibration of a raw risk score into a probability, and the reliability table.

Two maps, both fitted on (raw score, label, weight):

* ``"isotonic"``: the pool-adjacent-violators fit (Zadrozny & Elkan 2002); a
  step function, monotone in the score, so the ranking (and the AUC) is kept.
  On a score with few distinct values (a point total, a rule list leaf) it is
  the observed rate per value, which is exactly what a judge's table shows.
* ``"platt"``: a logistic curve ``1 / (1 + exp(-(a + b * score)))`` (Platt 1999).
  Smooth, two parameters; it cannot fix a score that is not monotone in risk.

Failure mode: calibration is only as good as the data it is fitted on. A model
calibrated on one county, period or population is not calibrated on another;
the reliability table must be recomputed on the population where it is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression

from crimelens.errors import InvalidParameterError

__all__ = ["Calibrator", "ReliabilityTable", "wilson_interval"]

CalibrationMethod = Literal["isotonic", "platt", "none"]


def wilson_interval(
    k: NDArray[np.float64], n: NDArray[np.float64], z: float = 1.959963984540054
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Wilson score interval for a proportion ``k / n`` (NaN where ``n == 0``)."""
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return centre - half, centre + half


class Calibrator:
    """A fitted map from raw score to probability (``isotonic``, ``platt`` or ``none``)."""

    def __init__(self, method: CalibrationMethod, *, logit_input: bool = False) -> None:
        if method not in ("isotonic", "platt", "none"):
            raise InvalidParameterError(
                f"calibration: got {method!r}; expected 'isotonic', 'platt' or 'none'"
            )
        self.method = method
        self.logit_input = logit_input  # Platt on log-odds when the raw score is a probability
        self._iso: IsotonicRegression | None = None
        self._ab = (0.0, 1.0)

    def fit(
        self, raw: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64]
    ) -> Calibrator:
        if self.method == "isotonic":
            self._iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
            self._iso.fit(raw, y, sample_weight=w)
        elif self.method == "platt":
            self._ab = _platt(self._platt_input(raw), y, w)
        return self

    def transform(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.method == "isotonic":
            assert self._iso is not None
            return np.asarray(self._iso.predict(raw), dtype=np.float64)
        if self.method == "platt":
            a, b = self._ab
            return np.asarray(expit(a + b * self._platt_input(raw)), dtype=np.float64)
        return np.asarray(np.clip(raw, 0.0, 1.0), dtype=np.float64)

    @property
    def platt_ab(self) -> tuple[float, float]:
        """``(a, b)`` of Platt's map ``expit(a + b * score)``; ``(0, 1)`` for the other methods."""
        return self._ab if self.method == "platt" else (0.0, 1.0)

    @property
    def isotonic_breakpoints(self) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """The isotonic map's breakpoints (raw score, probability): linear between them,
        constant outside; None for the other methods or before ``fit``."""
        if self.method != "isotonic" or self._iso is None:
            return None
        return (np.asarray(self._iso.X_thresholds_, dtype=np.float64),
                np.asarray(self._iso.y_thresholds_, dtype=np.float64))

    def _platt_input(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        if not self.logit_input:
            return raw
        p = np.clip(raw, 1e-12, 1 - 1e-12)
        return np.asarray(np.log(p) - np.log1p(-p), dtype=np.float64)


def _platt(
    raw: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64]
) -> tuple[float, float]:
    """Weighted logistic fit of y on raw score by Newton's method (with a tiny ridge)."""
    mu, sd = float(np.average(raw, weights=w)), float(np.sqrt(np.average((raw - np.average(raw, weights=w)) ** 2, weights=w)))
    sd = sd if sd > 0 else 1.0
    z = (raw - mu) / sd
    a, b = 0.0, 0.0
    for _ in range(50):
        p = expit(a + b * z)
        g0 = float(np.sum(w * (p - y))) + 1e-6 * a
        g1 = float(np.sum(w * (p - y) * z)) + 1e-6 * b
        h = w * p * (1 - p)
        h00, h01, h11 = float(h.sum()) + 1e-6, float((h * z).sum()), float((h * z * z).sum()) + 1e-6
        det = h00 * h11 - h01 * h01
        if det <= 0:
            break
        da = (h11 * g0 - h01 * g1) / det
        db = (h00 * g1 - h01 * g0) / det
        a, b = a - da, b - db
        if abs(da) + abs(db) < 1e-10:
            break
    return a - b * mu / sd, b / sd


@dataclass(frozen=True)
class ReliabilityTable:
    """Observed rate against predicted probability, by bin, with Wilson 95 % intervals.

    ``strategy="quantile"`` makes bins of (about) equal size; ``"uniform"`` uses
    equal-width bins on [0, 1]; ``"unique"`` one bin per distinct predicted value
    (right for a point total or a rule list). Computed at construction.

    Examples
    --------
    >>> import numpy as np
    >>> t = ReliabilityTable.of(np.array([.1, .1, .9, .9]), np.array([0, 0, 1, 0]), strategy="unique")
    >>> t.frame[["n", "mean_predicted", "observed_rate"]].to_dict("list")
    {'n': [2, 2], 'mean_predicted': [0.1, 0.9], 'observed_rate': [0.0, 0.5]}
    """

    frame: pd.DataFrame
    ece: float  # expected calibration error: size-weighted mean |observed - predicted|
    strategy: str

    @classmethod
    def of(
        cls,
        prob: NDArray[np.float64],
        y: NDArray[np.float64],
        *,
        n_bins: int = 10,
        strategy: Literal["quantile", "uniform", "unique"] = "quantile",
    ) -> ReliabilityTable:
        prob = np.asarray(prob, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if strategy == "unique":
            edges_vals, codes = np.unique(prob, return_inverse=True)
            lo = hi = edges_vals
        else:
            if strategy == "quantile":
                edges = np.unique(np.quantile(prob, np.linspace(0, 1, n_bins + 1)))
            elif strategy == "uniform":
                edges = np.linspace(0.0, 1.0, n_bins + 1)
            else:
                raise InvalidParameterError(
                    f"ReliabilityTable strategy: got {strategy!r}; expected 'quantile', 'uniform' or 'unique'"
                )
            codes = np.clip(np.searchsorted(edges, prob, side="right") - 1, 0, max(len(edges) - 2, 0))
            lo, hi = edges[:-1], edges[1:]
            if len(edges) == 1:
                lo = hi = edges
        k = len(lo)
        n = np.bincount(codes, minlength=k).astype(np.float64)
        pos = np.bincount(codes, weights=y, minlength=k)
        sp = np.bincount(codes, weights=prob, minlength=k)
        keep = n > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            obs = pos / n
            mean = sp / n
        ci_lo, ci_hi = wilson_interval(np.asarray(pos, dtype=np.float64), n)
        frame = pd.DataFrame(
            {
                "bin_low": lo[keep],
                "bin_high": hi[keep],
                "n": n[keep].astype(np.int64),
                "mean_predicted": mean[keep],
                "observed_rate": obs[keep],
                "observed_low": ci_lo[keep],
                "observed_high": ci_hi[keep],
            }
        )
        total = float(n.sum())
        ece = float(np.sum(n[keep] * np.abs(obs[keep] - mean[keep])) / total) if total else float("nan")
        return cls(frame=frame, ece=ece, strategy=strategy)

    def to_dict(self) -> dict[str, object]:
        return {"strategy": self.strategy, "ece": self.ece, "bins": self.frame.to_dict("records")}
