"""City-wide scoring in the blocking index's sorted order gives the same pairs and scores as scoring them directly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crimelens.linkage import PairwiseLinker, normalise_labels, pair_labels, parse_attrs


@pytest.fixture(scope="module")
def fitted() -> tuple[PairwiseLinker, object]:
    from crimelens.synth import SyntheticCity

    city = SyntheticCity(seed=5, days=90, n_series=8, n_areas=6, scale=0.4).generate()
    t = city.incidents
    labels = parse_attrs(t.frame["attrs"].to_numpy(dtype=object)).get("series_id")
    linker = PairwiseLinker(radius_m=1500.0, window_days=20.0, chunk_pairs=5_000).fit(t, list(labels))
    return linker, linker.encode(t)


@pytest.mark.parametrize("cheap_only", [True, False])
def test_sorted_order_scoring_equals_direct_scoring(fitted, cheap_only: bool) -> None:  # type: ignore[no-untyped-def]
    linker, enc = fitted
    got = linker.score_all(enc, min_probability=0.0, cheap_only=cheap_only)
    i = np.concatenate([a for a, _ in linker.index(enc).iter_pairs(linker.chunk_pairs)])
    j = np.concatenate([b for _, b in linker.index(enc).iter_pairs(linker.chunk_pairs)])
    assert got.n_candidates == len(i) > 1000
    assert np.all(got.i < got.j)
    c, p = linker.score(enc, i, j)
    want = {(int(a), int(b)): (cc, pp) for a, b, cc, pp in zip(i, j, c, p, strict=True)}
    assert len(want) == len(got)
    for a, b, cc, pp in zip(got.i, got.j, got.cheap, got.probability, strict=True):
        wc, wp = want[(int(a), int(b))]
        assert cc == pytest.approx(wc, abs=1e-12)
        assert pp == pytest.approx(cc if cheap_only else wp, abs=1e-12)
    assert not cheap_only or np.array_equal(got.cheap, got.probability)


def test_one_thread_and_parallel_kernels_agree(fitted, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from crimelens.linkage import _features as kernels

    linker, enc = fitted
    i, j = next(linker.index(enc).iter_pairs(200_000))
    i, j = i[:1000], j[:1000]
    assert len(i) == 1000
    f = linker.featurizer_
    w, b0 = linker.linear_
    serial_z = f.linear_logit(enc, i, j, w, b0)  # 1,000 pairs: below the one-thread cut
    serial_x = f.transform(enc, i, j)
    monkeypatch.setattr(kernels, "_SERIAL_PAIRS", 1)  # the parallel kernels on the same pairs
    np.testing.assert_allclose(f.linear_logit(enc, i, j, w, b0), serial_z, rtol=1e-12)
    np.testing.assert_allclose(f.transform(enc, i, j), serial_x, rtol=1e-12)
    np.testing.assert_allclose(serial_x[:, : len(w)] @ w + b0, serial_z, rtol=1e-10, atol=1e-10)


def test_fit_reports_progress_per_chunk_and_learns_the_same_model() -> None:
    from crimelens.synth import SyntheticCity

    t = SyntheticCity(seed=5, days=60, n_series=6, n_areas=6, scale=0.3).generate().incidents
    labels = list(parse_attrs(t.frame["attrs"].to_numpy(dtype=object)).get("series_id"))
    seen: list[tuple[str, int, int]] = []
    a = PairwiseLinker(radius_m=1500.0, window_days=20.0, chunk_pairs=2_000).fit(
        t, labels, progress=lambda s, k, n: seen.append((s, k, n)))
    b = PairwiseLinker(radius_m=1500.0, window_days=20.0, chunk_pairs=2_000).fit(t, labels)
    n_pairs = a.training_["n_candidate_pairs"]
    done = [k for s, k, n in seen if s == "sampling pairs" and n == n_pairs]
    assert done[0] == 0 and done[-1] == n_pairs and done == sorted(done)
    assert len(done) == 1 + -(-n_pairs // 2_000)  # a start, then one per chunk
    # few labelled incidents: the strata are counted from their block-mates, not by a pass
    assert a.training_["n_labelled"] < 0.1 * len(t)
    assert [(k, n) for s, k, n in seen if s == "counting pairs"] == [(0, n_pairs), (n_pairs, n_pairs)]
    assert [x for x in seen if x[0] == "fitting"] == [("fitting", k, 3) for k in range(4)]
    assert [x for x in seen if x[0] == "preparing features"] == [("preparing features", k, 5) for k in range(6)]
    assert [s for s, _, _ in seen].index("counting pairs") == 6  # the features come first
    enc = a.encode(t)
    assert np.array_equal(a.score_all(enc).probability, b.score_all(b.encode(t)).probability)


def test_series_described_in_batches_equal_those_described_in_one(fitted) -> None:  # type: ignore[no-untyped-def]
    """Describing series a batch at a time (bounded by the linker's ``chunk_pairs``) changes
    nothing in the documents, and the progress counts every series once, in order."""
    import copy
    import json

    from crimelens.linkage import describe_series, find_series
    from crimelens.synth import SyntheticCity

    linker, _ = fitted
    t = SyntheticCity(seed=5, days=90, n_series=8, n_areas=6, scale=0.4).generate().incidents
    enc = linker.encode(t)
    series, _ = find_series(linker, t, threshold=0.2, enc=enc)
    groups = [np.flatnonzero(np.isin(enc.incident_id, s.members)) for s in series]
    assert len(groups) > 5 and max(len(g) for g in groups) > 2
    one = copy.copy(linker)
    one.chunk_pairs = 10**9  # every series in one batch
    small = copy.copy(linker)
    small.chunk_pairs = 3  # a batch every few series; a larger series is scored in pieces
    ticks: list[tuple[int, int]] = []
    a = describe_series(one, t, enc, groups)
    b = describe_series(small, t, enc, groups, progress=lambda k, n: ticks.append((k, n)))
    assert json.dumps([s.as_dict() for s in a], default=str) == json.dumps([s.as_dict() for s in b], default=str)
    assert ticks[-1] == (len(groups), len(groups)) and [k for k, _ in ticks] == sorted({k for k, _ in ticks})


def test_series_batches_are_bounded_by_members_too(fitted) -> None:  # type: ignore[no-untyped-def]
    """Many small series (a city's tail of look-alike pairs) are not one batch: progress comes at
    least every ``members_per_batch`` members, and the documents do not change."""
    import copy
    import json

    from crimelens.errors import InvalidParameterError
    from crimelens.linkage import describe_series, find_series
    from crimelens.synth import SyntheticCity

    linker, _ = fitted
    t = SyntheticCity(seed=5, days=90, n_series=8, n_areas=6, scale=0.4).generate().incidents
    enc = linker.encode(t)
    series, _ = find_series(linker, t, threshold=0.2, enc=enc)
    groups = [np.flatnonzero(np.isin(enc.incident_id, s.members)) for s in series]
    one = copy.copy(linker)
    one.chunk_pairs = 10**9  # the pair budget alone: every series in one batch
    ticks: list[int] = []
    a = describe_series(one, t, enc, groups)
    b = describe_series(one, t, enc, groups, members_per_batch=6, progress=lambda k, n: ticks.append(k))
    assert json.dumps([s.as_dict() for s in a], default=str) == json.dumps([s.as_dict() for s in b], default=str)
    sizes = [len(g) for g in groups]
    assert ticks[-1] == len(groups) and len(ticks) >= sum(sizes) // max(6, *sizes)
    for lo, hi in zip([0, *ticks], ticks, strict=False):
        assert hi - lo == 1 or sum(sizes[lo:hi]) <= 6, (lo, hi)
    with pytest.raises(InvalidParameterError, match="members_per_batch=0"):
        describe_series(one, t, enc, groups, members_per_batch=0)


@pytest.mark.parametrize("unlabelled", ["negative", "exclude"])
def test_counting_strata_from_block_mates_equals_a_pass_over_every_pair(
        unlabelled: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The two ways of counting the training strata agree, so the sampled pairs and the model
    are the same; the pass reports each chunk."""
    from crimelens.linkage import _linker
    from crimelens.synth import SyntheticCity

    t = SyntheticCity(seed=3, days=90, n_series=8, n_areas=6, scale=0.5).generate().incidents
    labels = list(parse_attrs(t.frame["attrs"].to_numpy(dtype=object)).get("series_id"))
    wide = unlabelled == "exclude"  # only pairs of two labelled incidents: a wider block holds unlinked ones
    params = {"radius_m": 6000.0 if wide else 1500.0, "window_days": 90.0 if wide else 20.0, "chunk_pairs": 5_000,
              "unlabelled": unlabelled, "max_negatives": 300, "background_negatives": 150}
    mates = PairwiseLinker(**params).fit(t, labels)
    monkeypatch.setattr(_linker, "_MATES_SHARE", -1.0)  # always the pass over every pair
    seen: list[tuple[str, int, int]] = []
    passed = PairwiseLinker(**params).fit(t, labels, progress=lambda s, k, n: seen.append((s, k, n)))
    assert mates.training_ == passed.training_
    assert mates.training_["negative_sampling_rate"] < 1.0  # the counts set the sampling rates
    enc = mates.encode(t)
    assert np.array_equal(mates.score_all(enc).probability, passed.score_all(passed.encode(t)).probability)
    n_pairs = mates.training_["n_candidate_pairs"]
    counting = [k for s, k, _ in seen if s == "counting pairs"]
    assert counting[0] == 0 and counting[-1] == n_pairs and counting == sorted(counting)
    assert len(counting) >= 1 + -(-n_pairs // 5_000)  # a start, then each chunk of at most 5,000


@settings(max_examples=200, deadline=None)
@given(labels=st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "a;b", "b;c", "c;a;b"])),
                       min_size=2, max_size=12), data=st.data())
def test_pairs_share_a_label_exactly_when_their_label_sets_meet(labels: list[str | None], data: st.DataObject) -> None:
    """Only pairs of two labelled incidents are compared; the answer is still every pair's set intersection."""
    n = len(labels)
    i = np.array(data.draw(st.lists(st.integers(0, n - 1), max_size=30)), dtype=np.int64)
    j = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=len(i), max_size=len(i))), dtype=np.int64)
    sets = normalise_labels(labels)
    want = [bool(sets[a] & sets[b]) for a, b in zip(i.tolist(), j.tolist(), strict=True)]
    assert pair_labels(labels, i, j).tolist() == want
