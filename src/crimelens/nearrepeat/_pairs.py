"""The near-repeat pairs themselves: which incident followed which, how far and how soon.

Originator rule (deterministic, documented): events are ordered by their time,
then by their id (or, without ids, their input position). In every pair the
*originator* is the earlier of the two in that order and the *follower* the
later one, so two burglaries on the same day at the same address always give
the same originator, whatever the input order. The Knox counts themselves are
over unordered pairs and do not depend on this rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crimelens.errors import InvalidParameterError
from crimelens.nearrepeat import _kernels as K
from crimelens.nearrepeat._bands import BandSet
from crimelens.nearrepeat._knox import DISTANCES, _grid_keys

__all__ = ["near_repeat_pairs"]


def near_repeat_pairs(
    xy: NDArray[np.floating],
    t_days: NDArray[np.floating],
    *,
    ids: Sequence[str] | None = None,
    space_bands: Sequence[float] = (100.0, 200.0, 300.0),
    time_bands: Sequence[float] = (7.0, 14.0, 21.0),
    distance: str = "manhattan",
    convention: str = "standard",
) -> pd.DataFrame:
    """Every pair inside the finite space *and* time bands, originator first.

    Columns: ``originator``, ``follower`` (ids, or input positions), ``distance_m``,
    ``gap_days``, ``space_band``, ``time_band`` (the convention's labels). Rows are
    ordered by originator, then follower, in the originator order.

    Examples
    --------
    >>> xy = np.array([[0.0, 0.0], [30.0, 0.0], [10.0, 0.0]])
    >>> near_repeat_pairs(xy, np.array([5.0, 5.0, 9.0]), ids=["b", "a", "c"],
    ...                   space_bands=[50], time_bands=[7])[["originator", "follower", "gap_days"]]
      originator follower  gap_days
    0          a        b       0.0
    1          a        c       4.0
    2          b        c       4.0
    """
    if distance not in DISTANCES:
        raise InvalidParameterError(f"--distance: got {distance!r}; expected one of {list(DISTANCES)}")
    sb = BandSet.space(space_bands, convention)
    tb = BandSet.time(time_bands, convention)
    xy64 = np.asarray(xy, dtype=np.float64)
    t = np.asarray(t_days, dtype=np.float64).ravel()
    n = t.shape[0]
    names = [str(i) for i in (ids if ids is not None else range(n))]
    if len(names) != n or xy64.shape != (n, 2):
        raise InvalidParameterError(
            f"near_repeat_pairs: got xy {xy64.shape}, t ({n},) and {len(names)} ids; expected (n, 2), (n,), n"
        )
    tt = np.floor(t) if convention == "nrc" else t
    if n < 2:
        return pd.DataFrame(columns=["originator", "follower", "distance_m", "gap_days", "space_band", "time_band"])
    order, key, width = _grid_keys(xy64, sb.max_edge * (1.0 + 1e-6) + 1.0)
    c = xy64[order]
    dtype = np.float32 if convention == "nrc" else np.float64
    xs, ys = np.ascontiguousarray(c[:, 0].astype(dtype)), np.ascontiguousarray(c[:, 1].astype(dtype))
    metric = K.MANHATTAN if distance == "manhattan" else K.EUCLIDEAN
    edges = np.asarray(sb.edges, dtype=np.float64)
    per = K.count_pairs(xs, ys, key, width, metric, edges, sb.closed, sb.has_zero_band)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(per, out=offsets[1:])
    m = int(offsets[-1])
    pi, pj = np.empty(m, dtype=np.int32), np.empty(m, dtype=np.int32)
    pb = np.empty(m, dtype=np.int32)
    if m:
        K.fill_pairs(xs, ys, key, width, metric, edges, sb.closed, sb.has_zero_band, 0, n, offsets,
                     pi, pj, pb)
    a, b = order[pi], order[pj]
    gap = np.abs(tt[a] - tt[b])
    tband = tb.assign(gap)
    keep = tband < tb.n_finite
    a, b, gap, sband, tband = a[keep], b[keep], gap[keep], pb[keep], tband[keep]
    # originator order: time, then id (or input position)
    rank = np.empty(n, dtype=np.int64)
    tiebreak = np.array(names) if ids is not None else np.arange(n)
    rank[np.lexsort((tiebreak, tt))] = np.arange(n)
    swap = rank[a] > rank[b]
    orig = np.where(swap, b, a)
    foll = np.where(swap, a, b)
    d = xs[pi[keep]] - xs[pj[keep]], ys[pi[keep]] - ys[pj[keep]]
    dist = (np.abs(d[0]) + np.abs(d[1])) if metric == K.MANHATTAN else np.hypot(d[0], d[1])
    out = pd.DataFrame({
        "originator": [names[i] for i in orig], "follower": [names[i] for i in foll],
        "distance_m": dist.astype(np.float64), "gap_days": gap,
        "space_band": [sb.labels[k] for k in sband], "time_band": [tb.labels[k] for k in tband],
        "_o": rank[orig], "_f": rank[foll],
    })
    return out.sort_values(["_o", "_f"], kind="stable").drop(columns=["_o", "_f"]).reset_index(drop=True)
