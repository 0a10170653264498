"""Binary items ("priors_count >= 3") that point scores and rule lists are built from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Item", "candidate_items", "first_best", "item_matrix", "near_best", "ranked"]


@dataclass(frozen=True, slots=True)
class Item:
    """``X[:, feature] >= threshold`` (``negate=False``) or ``< threshold`` (``negate=True``)."""

    feature: int
    name: str
    threshold: float
    is_binary: bool
    negate: bool = False

    def apply(self, X: NDArray[np.float64]) -> NDArray[np.bool_]:
        hit = X[:, self.feature] >= self.threshold
        return ~hit if self.negate else hit

    def flipped(self) -> Item:
        return Item(self.feature, self.name, self.threshold, self.is_binary, not self.negate)

    @property
    def label(self) -> str:
        if self.is_binary:
            return f"{self.name} = {0 if self.negate else 1}"
        t = _fmt(self.threshold)
        return f"{self.name} < {t}" if self.negate else f"{self.name} ≥ {t}"

    def to_dict(self) -> dict[str, object]:
        return {"feature": self.name, "column": self.feature, "threshold": self.threshold,
                "negate": self.negate, "is_binary": self.is_binary, "label": self.label}


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.4g}"


def candidate_items(
    X: NDArray[np.float64], names: list[str], *, n_thresholds: int,
    w: NDArray[np.float64] | None = None,
) -> list[Item]:
    """Items per column: ``== 1`` for 0/1 columns; ``>= t`` at up to ``n_thresholds``
    distinct quantiles (values that occur in the data) for the others."""
    items: list[Item] = []
    levels = np.linspace(0, 1, n_thresholds + 2)[1:-1]
    if w is not None:
        X, w = X[w > 0], w[w > 0]
    for j, name in enumerate(names):
        col = X[:, j]
        u = np.unique(col)
        if len(u) < 2:
            continue
        if len(u) == 2 and u[0] == 0.0 and u[1] == 1.0:
            items.append(Item(j, name, 1.0, True))
            continue
        qs = np.quantile(col, levels, method="inverted_cdf", weights=w)
        if len(u) <= n_thresholds + 1:
            qs = u[1:]
        for t in np.unique(qs):
            if t > u[0]:
                items.append(Item(j, name, float(t), False))
    return items


def item_matrix(X: NDArray[np.float64], items: list[Item]) -> NDArray[np.float64]:
    if not items:
        return np.zeros((X.shape[0], 0))
    return np.column_stack([it.apply(X) for it in items]).astype(np.float64)


# Scores that agree to this many digits are ties: sums over the same rows taken in another
# order (another machine's vector width, another row order) differ in the last bits, and a
# discrete step must not depend on that. Ties go to the lowest index, i.e. the first
# column and the lowest threshold.
_DIGITS = 12


def near_best(values: NDArray[np.float64], *, largest: bool = False) -> NDArray[np.intp]:
    """Indices, in order, of the values tied (to 12 digits) with the best one."""
    v = np.asarray(values, dtype=np.float64)
    best = float(np.max(v) if largest else np.min(v))
    tol = 10.0 ** -_DIGITS * max(1.0, abs(best)) if np.isfinite(best) else 0.0
    return np.flatnonzero(v >= best - tol if largest else v <= best + tol)


def first_best(values: NDArray[np.float64], *, largest: bool = False) -> int:
    """Index of the best value (the smallest, or the largest), the first among near-ties."""
    return int(near_best(values, largest=largest)[0])


def ranked(values: NDArray[np.float64], *, largest: bool = True) -> NDArray[np.intp]:
    """Indices from best to worst; near-ties (to 12 digits) keep their index order."""
    v = np.round(np.asarray(values, dtype=np.float64), _DIGITS)
    return np.argsort(-v if largest else v, kind="stable")
