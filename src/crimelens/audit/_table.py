"""Count tables: the whole audit is a function of counts per (group, score level, label).

Row-level bootstrap without the rows: resampling the ``n`` rows with
replacement (what Fairlearn's ``MetricFrame(n_boot=...)`` does) gives, for the
counts ``N[c]`` of any partition of the rows into cells ``c``, exactly a draw
from ``Multinomial(n, N / n)``. Every metric here (confusion rates, AUC with
ties, calibration by bin, at any threshold that lies on a level boundary) is a
function of the counts per (finest intersection group, score level, label), so
drawing those counts directly is the same bootstrap, at the cost of
``O(B * cells)`` instead of ``O(B * n)``. Coarser groups (each single column)
are sums of the finest cells, so all groups, their differences and ratios
come from the same replicates.

Scores with more distinct values than ``n_levels`` are cut at weighted
quantiles (the thresholds asked for are always cut points, so confusion
metrics stay exact); only the bootstrap spread of the AUC then counts pairs
inside one level as ties. Point AUCs are computed on the exact scores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crimelens.errors import InputError, InvalidParameterError

__all__ = ["CountTable", "Facet", "as_read", "build_table", "exact_auc", "validate_inputs"]

MISSING = "(missing)"
SEP = " × "


@dataclass(frozen=True)
class Facet:
    """One way of grouping people: a single column or an intersection of columns."""

    name: str
    columns: tuple[str, ...]
    labels: tuple[str, ...]  # one per group
    finest_to_group: NDArray[np.int64]  # finest-cell group code -> this facet's group code


@dataclass(frozen=True)
class CountTable:
    """``counts[g, v, y]`` over the finest groups ``g``, score levels ``v``, labels ``y``."""

    counts: NDArray[np.float64]
    level_low: NDArray[np.float64]  # smallest score in each level
    level_mean: NDArray[np.float64]  # mean score per (finest group, level) cell weight-summed
    score_sum: NDArray[np.float64]  # sum of scores per (g, v)
    is_exact: bool  # levels are the distinct scores themselves
    facets: tuple[Facet, ...]
    finest_codes: NDArray[np.int64]  # per row
    n: int
    order: NDArray[np.int64]  # rows sorted by score (stable)


def _codes(values: object) -> tuple[NDArray[np.int64], list[str]]:
    """Integer codes (sorted by label) and labels; missing values become ``(missing)``."""
    if isinstance(values, list | tuple):  # pandas factorizes arrays only
        values = np.asarray(values, dtype=object)
    codes, uniques = pd.factorize(values, sort=True)  # type: ignore[call-overload]
    labels = [str(u) for u in np.asarray(uniques)]
    codes = np.asarray(codes, dtype=np.int64)
    if (codes < 0).any():
        codes = np.where(codes < 0, len(labels), codes)
        labels.append(MISSING)
    return codes, labels


def build_table(
    score: NDArray[np.float64],
    label: NDArray[np.float64],
    groups: Mapping[str, object],
    *,
    thresholds: Sequence[float],
    n_levels: int,
    intersections: bool,
) -> CountTable:
    n = len(score)
    if not groups:
        raise InputError("audit: got no group column; expected at least one (e.g. --group race)")
    cols = list(groups)
    per_codes: list[NDArray[np.int64]] = []
    per_labels: list[list[str]] = []
    for c in cols:
        col = groups[c]
        if len(col) != n:  # type: ignore[arg-type]
            raise InputError(
                f"audit: group column {c!r} has {len(col)} rows; expected {n} like the score"  # type: ignore[arg-type]
            )
        k, lab = _codes(col)
        per_codes.append(k)
        per_labels.append(lab)
    sizes = [len(lab) for lab in per_labels]
    finest = np.zeros(n, dtype=np.int64)
    for k, s in zip(per_codes, sizes, strict=True):
        finest = finest * s + k
    total = int(np.prod(sizes))
    if total <= 50_000_000:  # O(n) remap of the used combinations (no sort)
        present = np.bincount(finest, minlength=total) > 0
        used = np.flatnonzero(present)
        remap = np.cumsum(present) - 1
        finest = remap[finest].astype(np.int64)
    else:
        used, finest = np.unique(finest, return_inverse=True)
        finest = finest.astype(np.int64)
    # decode each used finest group into its per-column codes
    parts = []
    rest = used.copy()
    for s in reversed(sizes):
        parts.append(rest % s)
        rest = rest // s
    parts.reverse()
    facets: list[Facet] = []
    combos: list[tuple[int, ...]] = [(i,) for i in range(len(cols))]
    if intersections and len(cols) > 1:
        for r in range(2, len(cols) + 1):
            combos += list(combinations(range(len(cols)), r))
    for combo in combos:
        key = np.zeros(len(used), dtype=np.int64)
        for i in combo:
            key = key * sizes[i] + parts[i]
        uk, inv = np.unique(key, return_inverse=True)
        labels = []
        for u in uk:
            bits = []
            rem = int(u)
            for i in reversed(combo):
                bits.append(per_labels[i][rem % sizes[i]])
                rem //= sizes[i]
            labels.append(SEP.join(reversed(bits)))
        facets.append(Facet(SEP.join(cols[i] for i in combo), tuple(cols[i] for i in combo),
                            tuple(labels), inv.astype(np.int64)))
    # score levels
    order = np.argsort(score, kind="stable")
    ss = score[order]
    distinct = ss[np.concatenate([[True], ss[1:] != ss[:-1]])]
    if len(distinct) <= n_levels:
        edges = distinct
        is_exact = True
    else:
        qs = np.quantile(score, np.linspace(0, 1, n_levels + 1)[:-1])
        edges = np.unique(np.concatenate([qs, np.asarray(thresholds, dtype=np.float64),
                                          [distinct[0]]]))
        edges = edges[(edges >= distinct[0]) & (edges <= distinct[-1])]
        is_exact = False
    level = np.searchsorted(edges, score, side="right") - 1
    V, G = len(edges), len(used)
    cell = (finest * V + level) * 2 + label.astype(np.int64)
    counts = np.bincount(cell, minlength=G * V * 2).astype(np.float64).reshape(G, V, 2)
    ssum = np.asarray(np.bincount(finest * V + level, weights=score, minlength=G * V),
                      dtype=np.float64).reshape(G, V)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = ssum / counts.sum(axis=2)
    return CountTable(counts=counts, level_low=edges, level_mean=mean, score_sum=ssum,
                      is_exact=is_exact, facets=tuple(facets), finest_codes=finest, n=n,
                      order=order)


def exact_auc(score_sorted: NDArray[np.float64], label_sorted: NDArray[np.float64],
              codes_sorted: NDArray[np.int64], n_groups: int) -> NDArray[np.float64]:
    """Mann-Whitney AUC per group on the exact scores (ties count one half).

    Arguments are the rows sorted by score; each group is then a sorted
    subsequence, so ties are runs and the work is O(n) per facet."""
    out = np.full(n_groups, np.nan)
    small = np.int16 if n_groups < 32_000 else np.int64  # small ints: numpy's O(n) radix sort
    order = np.argsort(codes_sorted.astype(small), kind="stable")
    bounds = np.searchsorted(codes_sorted[order], np.arange(n_groups + 1))
    for g in range(n_groups):
        idx = order[bounds[g]: bounds[g + 1]]
        if len(idx) == 0:
            continue
        sc, yy = score_sorted[idx], label_sorted[idx]
        starts = np.flatnonzero(np.concatenate([[True], sc[1:] != sc[:-1]]))
        pos = np.add.reduceat(yy, starts)
        tot = np.diff(np.append(starts, len(sc))).astype(np.float64)
        neg = tot - pos
        P, N = pos.sum(), neg.sum()
        if P == 0 or N == 0:
            continue
        below = np.cumsum(neg) - neg
        out[g] = float(np.sum(pos * (below + 0.5 * neg)) / (P * N))
    return out


def as_read(value: object) -> str:
    """A cell's value for a message, as a person reads it in the file: ``'yes'``, ``2``, or
    ``an empty cell`` (never ``np.float64(nan)``)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return "an empty cell"
    return repr(value)


def validate_inputs(score: object, label: object) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    s = np.asarray(pd.to_numeric(pd.Series(score), errors="coerce"), dtype=np.float64)
    if not np.all(np.isfinite(s)):
        bad = int(np.flatnonzero(~np.isfinite(s))[0])
        raise InputError(f"audit: score row {bad}: got a missing or non-numeric value; expected a number")
    lab = pd.Series(label)
    if lab.dtype == bool:
        y = lab.to_numpy(dtype=np.float64)
    else:
        y = np.asarray(pd.to_numeric(lab, errors="coerce"), dtype=np.float64)
    ok = np.isin(y, (0.0, 1.0))
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        raise InputError(
            f"audit: label row {bad}: got {as_read(lab.iloc[bad])}; expected 0/1 (1 = the recorded outcome)"
        )
    if len(s) != len(y):
        raise InputError(f"audit: got {len(s)} scores and {len(y)} labels; expected the same count")
    if len(s) == 0:
        raise InvalidParameterError("audit: got no rows; expected at least one")
    return s, y
