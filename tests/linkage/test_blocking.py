"""Blocking enumerates exactly the brute-force candidate pairs, once each, in bounded chunks."""

from __future__ import annotations

import numpy as np
import pytest

from crimelens.errors import InvalidParameterError
from crimelens.linkage import BlockingIndex, iter_candidate_pairs


def _brute(fam, x, y, lo, hi, radius, window):
    d2 = (x[:, None] - x[None]) ** 2 + (y[:, None] - y[None]) ** 2
    gap = np.maximum(0, np.maximum(lo[None] - hi[:, None], lo[:, None] - hi[None]))
    m = (fam[:, None] == fam[None])
    if radius is not None:
        m &= d2 <= radius**2
    if window is not None:
        m &= gap <= window
    i, j = np.nonzero(np.triu(m, 1))
    return set(zip(i.tolist(), j.tolist(), strict=True))


@pytest.mark.parametrize(("seed", "radius", "window", "chunk"),
                         [(0, 300.0, 7.0, 10_000), (1, 800.0, 20.0, 37), (2, None, 5.0, 1000),
                          (3, 500.0, None, 500), (4, 150.0, 0.0, 1)])
def test_pairs_equal_brute_force(seed: int, radius: float | None, window: float | None, chunk: int) -> None:
    rng = np.random.default_rng(seed)
    n = 700
    fam = rng.integers(0, 3, n)
    x = rng.uniform(0, 4000, n)
    y = rng.uniform(-2000, 2000, n)
    lo = rng.uniform(0, 120, n)
    hi = lo + np.where(rng.random(n) < 0.4, rng.exponential(2.0, n), 0.0)  # some uncertain windows
    idx = BlockingIndex.build(fam, x, y, lo, hi, radius_m=radius, window_days=window)
    got: list[tuple[int, int]] = []
    for i, j in idx.iter_pairs(chunk):
        assert len(i) <= max(chunk, int(idx.counts.max()))  # chunks stay bounded
        assert np.all(i < j)
        got += list(zip(i.tolist(), j.tolist(), strict=True))
    assert len(got) == len(set(got)) == idx.n_pairs  # each pair once
    assert set(got) == _brute(fam, x, y, lo, hi, radius, window)
    # the same pairs as positions in the sorted order (what city-wide scoring iterates)
    sorted_pairs = [(int(min(idx.order[p], idx.order[q])), int(max(idx.order[p], idx.order[q])))
                    for p_arr, q_arr in idx.iter_sorted_pairs(chunk) for p, q in zip(p_arr, q_arr, strict=True)]
    assert sorted(sorted_pairs) == sorted(got)


def test_window_gap_uses_both_windows() -> None:
    # a: days 0-10 (uncertain), b: day 14 exact; gap 4 days, midpoints 9 days apart
    fam = np.zeros(2, np.int64)
    x = np.array([0.0, 10.0])
    y = np.zeros(2)
    lo = np.array([0.0, 14.0])
    hi = np.array([10.0, 14.0])
    pairs = [(int(a), int(b)) for i, j in iter_candidate_pairs(fam, x, y, lo, hi, radius_m=100, window_days=4)
             for a, b in zip(i, j, strict=True)]
    assert pairs == [(0, 1)]
    none = sum(len(i) for i, _ in iter_candidate_pairs(fam, x, y, lo, hi, radius_m=100, window_days=3.9))
    assert none == 0


def test_bad_parameters_are_refused() -> None:
    z = np.zeros(3)
    with pytest.raises(InvalidParameterError, match="radius_m"):
        BlockingIndex.build(np.zeros(3, np.int64), z, z, z, z, radius_m=-1, window_days=1)
    with pytest.raises(InvalidParameterError, match="finite"):
        BlockingIndex.build(np.zeros(3, np.int64), np.array([0, np.nan, 1]), z, z, z, radius_m=1, window_days=1)


@pytest.mark.parametrize(("radius", "window"), [(300.0, 7.0), (None, 5.0), (500.0, None)])
def test_mates_equal_brute_force(radius: float | None, window: float | None) -> None:
    rng = np.random.default_rng(11)
    n = 600
    fam = rng.integers(0, 3, n)
    x = rng.uniform(0, 3000, n)
    y = rng.uniform(0, 3000, n)
    lo = rng.uniform(0, 90, n)
    hi = lo + np.where(rng.random(n) < 0.4, rng.exponential(3.0, n), 0.0)
    pairs = _brute(fam, x, y, lo, hi, radius, window)
    idx = BlockingIndex.build(fam, x, y, lo, hi, radius_m=radius, window_days=window, count=False)
    for q in range(0, n, 7):
        want = sorted({b for a, b in pairs if a == q} | {a for a, b in pairs if b == q})
        assert idx.mates(q).tolist() == want
    with pytest.raises(InvalidParameterError, match="count=False"):
        next(idx.iter_pairs())


def test_counting_in_slices_reports_progress_and_the_same_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pair count, slice by slice with a progress call after each, equals one loop's."""
    from crimelens.linkage import _blocking

    rng = np.random.default_rng(3)
    n = 5_000
    fam = rng.integers(0, 3, n)
    x, y = rng.uniform(0, 5_000, n), rng.uniform(0, 5_000, n)
    t0 = rng.uniform(0, 200, n)
    t1 = t0 + rng.exponential(1.0, n)
    with monkeypatch.context() as m:
        m.setattr(_blocking, "_COUNT_SLICES", 1)
        whole = BlockingIndex.build(fam, x, y, t0, t1, radius_m=300, window_days=10)
    seen: list[tuple[int, int]] = []
    sliced = BlockingIndex.build(fam, x, y, t0, t1, radius_m=300, window_days=10,
                                 progress=lambda k, m: seen.append((k, m)))
    assert np.array_equal(whole.counts, sliced.counts) and whole.n_pairs == sliced.n_pairs > 1_000
    assert seen[0] == (0, n) and seen[-1] == (n, n) and len(seen) == 33
    assert [k for k, _ in seen] == sorted(k for k, _ in seen)


def test_estimated_pairs_are_exact_when_small_and_close_when_sampled() -> None:
    """What the ``similar`` density warning reads: every incident counted up to ``sample`` (the brute
    force's count), a seeded sample's mean times ``n`` above it, whatever order the input came in."""
    rng = np.random.default_rng(5)
    n = 3000
    fam = rng.integers(0, 2, n)
    # clustered places (a dense centre) so that counts differ a lot between incidents
    x = np.where(rng.random(n) < 0.5, rng.normal(1500, 200, n), rng.uniform(0, 6000, n))
    y = np.where(rng.random(n) < 0.5, rng.normal(1500, 200, n), rng.uniform(0, 6000, n))
    lo = rng.uniform(0, 200, n)
    hi = lo + np.where(rng.random(n) < 0.3, rng.exponential(2.0, n), 0.0)
    truth = len(_brute(fam, x, y, lo, hi, 400.0, 10.0))
    idx = BlockingIndex.build(fam, x, y, lo, hi, radius_m=400.0, window_days=10.0, count=False)
    assert idx.estimate_pairs(sample=n) == (float(truth), False)
    est, sampled = idx.estimate_pairs(sample=600)
    assert sampled and est == pytest.approx(truth, rel=0.1) and est != truth
    perm = rng.permutation(n)
    shuffled = BlockingIndex.build(fam[perm], x[perm], y[perm], lo[perm], hi[perm], radius_m=400.0,
                                   window_days=10.0, count=False)
    assert shuffled.estimate_pairs(sample=600)[0] == pytest.approx(est, rel=1e-9)
    counted = BlockingIndex.build(fam, x, y, lo, hi, radius_m=400.0, window_days=10.0)
    assert counted.estimate_pairs(sample=10) == (float(truth), False)  # counted at build: exact
    with pytest.raises(InvalidParameterError, match="sample=0"):
        idx.estimate_pairs(sample=0)
