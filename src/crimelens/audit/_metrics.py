"""Group metrics from count tables, vectorised over any leading (replicate) axes."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["METRICS", "RATE_METRICS", "chouldechova_fpr", "confusion", "metrics_from_counts"]

#: Rates reported per group, with the meaning of each.
RATE_METRICS: dict[str, str] = {
    "base_rate": "share with the recorded outcome (label = 1)",
    "selection_rate": "share flagged (score >= threshold)",
    "tpr": "flagged among those with the outcome (sensitivity)",
    "fpr": "flagged among those without the outcome",
    "fnr": "not flagged among those with the outcome",
    "tnr": "not flagged among those without the outcome",
    "ppv": "outcome among those flagged (precision)",
    "npv": "no outcome among those not flagged",
    "fdr": "no outcome among those flagged",
    "for": "outcome among those not flagged",
    "accuracy": "flag agrees with the outcome",
    "auc": "ranking quality: P(score of a random person with the outcome > one without)",
}
METRICS: tuple[str, ...] = ("n", *RATE_METRICS)


def _div(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan), dtype=np.float64)


def confusion(C: NDArray[np.float64], level: int) -> tuple[NDArray[np.float64], ...]:
    """(TP, FP, FN, TN) from counts ``C[..., g, v, y]`` flagging levels ``v >= level``."""
    flagged = C[..., level:, :].sum(axis=-2)
    total = C.sum(axis=-2)
    tp, fp = flagged[..., 1], flagged[..., 0]
    return tp, fp, total[..., 1] - tp, total[..., 0] - fp


def metrics_from_counts(C: NDArray[np.float64], level: int, *, with_auc: bool = True,
                        ) -> dict[str, NDArray[np.float64]]:
    tp, fp, fn, tn = confusion(C, level)
    pos, neg = tp + fn, fp + tn
    n = pos + neg
    out = {
        "n": n,
        "base_rate": _div(pos, n),
        "selection_rate": _div(tp + fp, n),
        "tpr": _div(tp, pos),
        "fpr": _div(fp, neg),
        "fnr": _div(fn, pos),
        "tnr": _div(tn, neg),
        "ppv": _div(tp, tp + fp),
        "npv": _div(tn, tn + fn),
        "fdr": _div(fp, tp + fp),
        "for": _div(fn, tn + fn),
        "accuracy": _div(tp + tn, n),
    }
    if with_auc:
        negs, poss = C[..., 0], C[..., 1]
        below = np.cumsum(negs, axis=-1) - negs
        out["auc"] = _div(np.sum(poss * (below + 0.5 * negs), axis=-1), pos * neg)
    return out


def chouldechova_fpr(p: NDArray[np.float64], ppv: NDArray[np.float64],
                     fnr: NDArray[np.float64]) -> NDArray[np.float64]:
    """Chouldechova (2017), eq. 2.6: FPR = p/(1-p) * (1-PPV)/PPV * (1-FNR).

    With base rate ``p``, precision ``PPV`` and miss rate ``FNR``, the false
    positive rate is fixed: two groups with different ``p`` and equal PPV
    cannot also have equal FPR and FNR.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(p / (1 - p) * (1 - ppv) / ppv * (1 - fnr), dtype=np.float64)
