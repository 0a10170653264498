"""Binary items ("priors_count >= 3") that point scores and rule lists are built from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Item", "candidate_items", "first_best", "item_matrix", "near_best", "ranked",
           "reachable_totals"]


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

    def applies_at(self, value: float) -> bool:
        """Whether the item holds for a person whose column ``feature`` is ``value``."""
        return (value >= self.threshold) != self.negate

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


def reachable_totals(
    items: Sequence[Item], points: Sequence[int] | NDArray[np.int64],
    exclusive: Sequence[Sequence[int]] = (),
) -> NDArray[np.int64]:
    """Every point total some person can have: the items of one column are read together.

    Items on one column are not independent (``age < 23`` implies ``age < 34``), so the totals
    are not all the subset sums of the points. Per source, the point sums it can give are
    enumerated: for one column, the sum at each interval between its items' thresholds (below
    the lowest, and from each threshold up; every such interval holds a value seen in training,
    since thresholds are training values above the column's minimum); for a group of 0/1 columns
    in ``exclusive`` (column indices; one-hot categories of one source column, at most one of
    them 1 in any row), the sum with none of them 1 and with each one alone. The sources'
    sets are then added (every sum of one element from each), which is exact because different
    sources vary independently.

    Examples
    --------
    >>> age = [Item(0, "age", 25.0, False, True), Item(0, "age", 35.0, False, True)]
    >>> reachable_totals(age, [2, 3]).tolist()   # 2 alone would need age < 25 but not < 35
    [0, 3, 5]
    >>> charge = [Item(1, "theft", 1.0, True), Item(2, "fraud", 1.0, True)]
    >>> reachable_totals(age + charge, [2, 3, 4, 1], exclusive=[[1, 2]]).tolist()  # 8: both charges
    [0, 1, 3, 4, 5, 6, 7, 9]
    """
    pts = [int(p) for p in points]
    group_of = {int(c): g for g, cols in enumerate(exclusive) for c in cols}
    sources: dict[tuple[str, int], list[tuple[Item, int]]] = {}
    for it, p in zip(items, pts, strict=True):
        key = ("group", group_of[it.feature]) if it.feature in group_of else ("column", it.feature)
        sources.setdefault(key, []).append((it, p))
    totals = {0}
    for (kind, _), members in sorted(sources.items()):
        states: list[dict[int, float]]
        if kind == "group":  # none of the group's columns is 1, or exactly one of them
            cols = sorted({it.feature for it, _ in members})
            states = [dict.fromkeys(cols, 0.0)] + [{c: float(c == one) for c in cols} for one in cols]
        else:  # one value in each interval between thresholds: below the lowest, then each one
            j = members[0][0].feature
            states = [{j: v} for v in [-np.inf, *sorted({it.threshold for it, _ in members})]]
        sums = {sum(p for it, p in members if it.applies_at(state[it.feature])) for state in states}
        totals = {a + b for a in totals for b in sums}
    return np.asarray(sorted(totals), dtype=np.int64)


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
