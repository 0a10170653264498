"""Compiled (numba) kernels of the Knox test: pair enumeration and permutation tallies.

Nothing here allocates an N x N matrix. Events are hashed onto a square grid
whose cell is a little wider than the largest finite distance band, sorted by
cell key (row-major), and each event is compared only with the events after it
in its own cell, the next cell on its row, and the three cells on the row above
(a half stencil, so each unordered pair is seen once). Two passes (count, then
fill) give exact allocations, and the caller can fill any range of events, so
the pair list can be built and consumed in bounded chunks.

Under the null hypothesis the times are permuted across the fixed locations.
The spatially close pairs therefore never change: each permutation only
re-tallies the time gap of every close pair, which is the whole cost of a
permutation. Totals per time band over *all* pairs and per space band are
invariant under permutation, so the open-ended row and column follow from them.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

__all__ = [
    "count_pairs",
    "fill_pairs",
    "permute_block",
    "tally_float",
    "tally_int",
    "time_totals",
]

MANHATTAN = 0
EUCLIDEAN = 1

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)


@njit(cache=True, inline="always")
def _splitmix64(state):  # type: ignore[no-untyped-def]  # pragma: no cover
    state = state + _GOLDEN
    z = state
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return state, z ^ (z >> _S31)


@njit(cache=True, parallel=True)
def permute_block(t, seed, first, out):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Row ``b`` of ``out`` = ``t`` shuffled by permutation number ``first + b``.

    Fisher-Yates driven by a SplitMix64 stream seeded from (``seed``, permutation
    number), so permutation k is the same whatever the block, chunk or thread
    that draws it. (The modulo bias is below 2**-32 for any realistic n.)
    """
    n_rows = out.shape[0]
    n = t.shape[0]
    for b in prange(n_rows):
        state = np.uint64(seed) ^ (np.uint64(first + b + 1) * _MIX2)
        state, _ = _splitmix64(state)
        row = out[b]
        for i in range(n):
            row[i] = t[i]
        for i in range(n - 1, 0, -1):
            state, r = _splitmix64(state)
            j = np.int64(r % np.uint64(i + 1))
            tmp = row[i]
            row[i] = row[j]
            row[j] = tmp


@njit(cache=True, inline="always")
def _band(d: float, edges: NDArray[np.float64], closed: bool, zero: bool) -> int:  # pragma: no cover
    if zero and d == 0.0:
        return 0
    k = 0
    n = edges.shape[0]
    if closed:
        while k < n and d > edges[k]:
            k += 1
    else:
        while k < n and d >= edges[k]:
            k += 1
    return k + 1 if zero else k


@njit(cache=True, inline="always")
def _dist(x, y, a, b, metric):  # type: ignore[no-untyped-def]  # pragma: no cover
    dx = x[a] - x[b]
    dy = y[a] - y[b]
    if metric == MANHATTAN:
        return abs(dx) + abs(dy)
    return np.sqrt(dx * dx + dy * dy)


@njit(cache=True, parallel=True)
def count_pairs(x, y, key, width, metric, edges, closed, zero):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Per event (in key order), the number of later events within a finite space band."""
    n = key.shape[0]
    n_finite = edges.shape[0] + (1 if zero else 0)
    out = np.zeros(n, dtype=np.int64)
    for p in prange(n):
        k = key[p]
        c = 0
        hi1 = np.searchsorted(key, k + 1, side="right")
        for q in range(p + 1, hi1):
            if _band(_dist(x, y, p, q, metric), edges, closed, zero) < n_finite:
                c += 1
        lo2 = np.searchsorted(key, k + width - 1, side="left")
        hi2 = np.searchsorted(key, k + width + 1, side="right")
        for q in range(lo2, hi2):
            if _band(_dist(x, y, p, q, metric), edges, closed, zero) < n_finite:
                c += 1
        out[p] = c
    return out


@njit(cache=True, parallel=True)
def fill_pairs(x, y, key, width, metric, edges, closed, zero, p0, p1, offsets, pi, pj, pb):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Write the close pairs of events ``p0..p1-1`` (key order) at ``offsets[p] - offsets[p0]``."""
    n_finite = edges.shape[0] + (1 if zero else 0)
    base = offsets[p0]
    for p in prange(p0, p1):
        k = key[p]
        w = offsets[p] - base
        hi1 = np.searchsorted(key, k + 1, side="right")
        for q in range(p + 1, hi1):
            b = _band(_dist(x, y, p, q, metric), edges, closed, zero)
            if b < n_finite:
                pi[w] = p
                pj[w] = q
                pb[w] = b
                w += 1
        lo2 = np.searchsorted(key, k + width - 1, side="left")
        hi2 = np.searchsorted(key, k + width + 1, side="right")
        for q in range(lo2, hi2):
            b = _band(_dist(x, y, p, q, metric), edges, closed, zero)
            if b < n_finite:
                pi[w] = p
                pj[w] = q
                pb[w] = b
                w += 1


@njit(cache=True, inline="always")
def _lut_band(g, lut, n_lut):  # type: ignore[no-untyped-def]  # pragma: no cover
    if g < 0:
        g = -g
    if g < n_lut:
        return lut[g]
    return n_lut + 1_000_000  # beyond every band


@njit(cache=True, parallel=True)
def tally_int(pi, pj, pb, tblock, lut, n_time, out):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Add, for each row ``b`` of ``tblock`` (integer days per event), the close pairs per cell.

    ``lut[g]`` is the time band of a gap of ``g`` days (``n_time`` = beyond the
    finite bands); gaps ``>= len(lut)`` are beyond too. Four permutations share
    one pass over the pair list (the pair list is the memory traffic).
    """
    n_blocks = tblock.shape[0]
    n_lut = lut.shape[0]
    n_space = out.shape[1]
    m = pi.shape[0]
    n_groups = (n_blocks + 3) // 4
    for grp in prange(n_groups):
        b0 = grp * 4
        nb = min(4, n_blocks - b0)
        acc = np.zeros((4, n_space, n_time), dtype=np.int64)
        if nb == 4:
            t0 = tblock[b0]
            t1 = tblock[b0 + 1]
            t2 = tblock[b0 + 2]
            t3 = tblock[b0 + 3]
            for p in range(m):
                a = pi[p]
                b = pj[p]
                s = pb[p]
                c = _lut_band(t0[a] - t0[b], lut, n_lut)
                if c < n_time:
                    acc[0, s, c] += 1
                c = _lut_band(t1[a] - t1[b], lut, n_lut)
                if c < n_time:
                    acc[1, s, c] += 1
                c = _lut_band(t2[a] - t2[b], lut, n_lut)
                if c < n_time:
                    acc[2, s, c] += 1
                c = _lut_band(t3[a] - t3[b], lut, n_lut)
                if c < n_time:
                    acc[3, s, c] += 1
        else:
            for k in range(nb):
                t = tblock[b0 + k]
                for p in range(m):
                    c = _lut_band(t[pi[p]] - t[pj[p]], lut, n_lut)
                    if c < n_time:
                        acc[k, pb[p], c] += 1
        for k in range(nb):
            for s in range(n_space):
                for c in range(n_time):
                    out[b0 + k, s, c] += acc[k, s, c]


@njit(cache=True, parallel=True)
def tally_float(pi, pj, pb, tblock, edges, closed, out):  # type: ignore[no-untyped-def]  # pragma: no cover
    """As :func:`tally_int` for fractional-day times, banding each gap against ``edges``."""
    n_blocks = tblock.shape[0]
    n_space = out.shape[1]
    n_time = edges.shape[0]
    m = pi.shape[0]
    n_groups = (n_blocks + 3) // 4
    for grp in prange(n_groups):
        b0 = grp * 4
        nb = min(4, n_blocks - b0)
        acc = np.zeros((4, n_space, n_time), dtype=np.int64)
        if nb == 4:
            t0 = tblock[b0]
            t1 = tblock[b0 + 1]
            t2 = tblock[b0 + 2]
            t3 = tblock[b0 + 3]
            for p in range(m):
                a = pi[p]
                b = pj[p]
                s = pb[p]
                c = _band(abs(t0[a] - t0[b]), edges, closed, False)
                if c < n_time:
                    acc[0, s, c] += 1
                c = _band(abs(t1[a] - t1[b]), edges, closed, False)
                if c < n_time:
                    acc[1, s, c] += 1
                c = _band(abs(t2[a] - t2[b]), edges, closed, False)
                if c < n_time:
                    acc[2, s, c] += 1
                c = _band(abs(t3[a] - t3[b]), edges, closed, False)
                if c < n_time:
                    acc[3, s, c] += 1
        else:
            for k in range(nb):
                t = tblock[b0 + k]
                for p in range(m):
                    c = _band(abs(t[pi[p]] - t[pj[p]]), edges, closed, False)
                    if c < n_time:
                        acc[k, pb[p], c] += 1
        for k in range(nb):
            for s in range(n_space):
                for c in range(n_time):
                    out[b0 + k, s, c] += acc[k, s, c]


@njit(cache=True)
def time_totals(ts, edges, closed):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Over all pairs of the sorted times ``ts``: how many fall in each finite time band.

    Uses the same gap arithmetic as the tallies (later minus earlier), with one
    forward pointer per edge, so totals and tallies agree to the pair.
    """
    n = ts.shape[0]
    k = edges.shape[0]
    cum = np.zeros(k, dtype=np.int64)
    ptr = np.zeros(k, dtype=np.int64)
    for i in range(n):
        for e in range(k):
            j = ptr[e]
            if j < i + 1:
                j = i + 1
            if closed:
                while j < n and ts[j] - ts[i] <= edges[e]:
                    j += 1
            else:
                while j < n and ts[j] - ts[i] < edges[e]:
                    j += 1
            ptr[e] = j
            cum[e] += j - i - 1
    out = np.empty(k, dtype=np.int64)
    prev = 0
    for e in range(k):
        out[e] = cum[e] - prev
        prev = cum[e]
    return out
