"""The Knox engine against a brute-force all-pairs reference, and its invariants."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn.base import clone

from crimelens.domain import IncidentTable
from crimelens.errors import InvalidParameterError, NotFittedError
from crimelens.nearrepeat import BandSet, KnoxResult, KnoxTest, knox_test


def brute_force(xy: np.ndarray, t: np.ndarray, sb: list[float], tb: list[float], distance: str,
                convention: str) -> np.ndarray:
    """All n(n-1)/2 pairs with the reference band rule (BandSet.assign): fine for small n."""
    i, j = np.triu_indices(len(t), k=1)
    c = xy.astype(np.float32) if convention == "nrc" else xy
    dx, dy = c[i, 0] - c[j, 0], c[i, 1] - c[j, 1]
    d = np.abs(dx) + np.abs(dy) if distance == "manhattan" else np.sqrt(dx * dx + dy * dy)
    tt = np.floor(t) if convention == "nrc" else t
    g = np.abs(tt[i] - tt[j])
    # the documented rule: times that all lie on whole minutes (hours, days) have exact gaps, so a
    # gap of 31.3 - 30.3 days is one day, not the 0.99999999999999645 of float subtraction
    # (as knox_test: whole days exactly, since midnight is exact in float days; hours and minutes
    # within 1e-6 of a tick. Hypothesis found 4.2e-7 days, 36 ms, which is not a whole day.)
    for ticks in (1, 24, 1440):
        whole = np.rint(tt * ticks)
        if np.all(np.abs(tt * ticks - whole) <= (0.0 if ticks == 1 else 1e-6)):
            g = np.abs(whole[i] - whole[j]) / ticks
            break
    S, T = BandSet.space(sb, convention), BandSet.time(tb, convention)
    table = np.zeros((S.n_bands, T.n_bands), dtype=np.int64)
    np.add.at(table, (S.assign(d), T.assign(g)), 1)
    return table


def clustered(n: int, seed: int, *, whole_days: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 3000, (n // 10, 2))
    xy = centres[rng.integers(0, len(centres), n)] + rng.normal(0, 120, (n, 2))
    xy[: n // 20] = xy[n // 20 : 2 * (n // 20)]  # exact repeats (same location)
    xy[:, 0] = np.round(xy[:, 0] / 25) * 25  # gaps that land exactly on band edges
    t = rng.uniform(0, 120, n)
    if whole_days:
        t = np.floor(t)
    return xy, t


@pytest.mark.parametrize("convention", ["nrc", "standard", "pysal"])
@pytest.mark.parametrize("distance", ["manhattan", "euclidean"])
@pytest.mark.parametrize("whole_days", [True, False])
def test_observed_table_equals_brute_force(convention: str, distance: str, whole_days: bool) -> None:
    xy, t = clustered(500, 7, whole_days=whole_days)
    sb, tb = [100, 200, 350], [3, 7, 14, 30]
    r = knox_test(xy, t, space_bands=sb, time_bands=tb, distance=distance, convention=convention,
                  n_permutations=0)
    np.testing.assert_array_equal(r.observed, brute_force(xy, t, sb, tb, distance, convention))
    assert r.observed[: r.space.n_finite].sum() == r.n_close_pairs > 0
    assert r.time_resolution == ("day" if whole_days or convention == "nrc" else "exact")


def test_chunking_changes_nothing() -> None:
    xy, t = clustered(400, 3, whole_days=True)
    kw = dict(space_bands=[100, 250], time_bands=[7, 14], n_permutations=57, seed=11)
    whole = knox_test(xy, t, **kw)  # type: ignore[arg-type]
    budget = whole.n_close_pairs // 6  # about seven chunks
    assert budget > 10
    chunked = knox_test(xy, t, max_pairs_per_chunk=budget, **kw)  # type: ignore[arg-type]
    tiny = knox_test(xy[:40], t[:40], max_pairs_per_chunk=1, **kw)  # type: ignore[arg-type]
    np.testing.assert_array_equal(tiny.observed, knox_test(xy[:40], t[:40], **kw).observed)  # type: ignore[arg-type]
    assert whole.simulated is not None and chunked.simulated is not None
    np.testing.assert_array_equal(whole.observed, chunked.observed)
    np.testing.assert_array_equal(whole.simulated, chunked.simulated)
    np.testing.assert_array_equal(whole.p_value, chunked.p_value)


def test_seed_reproduces_and_different_seeds_differ() -> None:
    xy, t = clustered(300, 5, whole_days=False)
    a = knox_test(xy, t, n_permutations=99, seed=1, space_bands=[150, 300], time_bands=[10, 20])
    b = knox_test(xy, t, n_permutations=99, seed=1, space_bands=[150, 300], time_bands=[10, 20])
    c = knox_test(xy, t, n_permutations=99, seed=2, space_bands=[150, 300], time_bands=[10, 20])
    assert a.simulated is not None and b.simulated is not None and c.simulated is not None
    np.testing.assert_array_equal(a.simulated, b.simulated)
    assert not np.array_equal(a.simulated, c.simulated)
    drawn = knox_test(xy, t, n_permutations=9, seed=None, space_bands=[150], time_bands=[10])
    assert isinstance(drawn.seed, int)


def test_permuted_tables_are_exactly_the_tables_of_permuted_times() -> None:
    """With 6 events every one of the 720 permutations can be enumerated."""
    xy = np.array([[0, 0], [40, 0], [90, 0], [400, 0], [430, 0], [2000, 0]], dtype=float)
    t = np.array([0, 1, 3, 9, 10, 30], dtype=float)
    sb, tb = [50, 150], [2, 8]
    possible = {brute_force(xy, t[list(p)], sb, tb, "manhattan", "standard").tobytes()
                for p in itertools.permutations(range(6))}
    everything = np.mean([brute_force(xy, t[list(p)], sb, tb, "manhattan", "standard")
                          for p in itertools.permutations(range(6))], axis=0)
    r = knox_test(xy, t, space_bands=sb, time_bands=tb, n_permutations=2000, seed=4)
    assert r.simulated is not None
    assert {s.tobytes() for s in r.simulated} <= possible
    np.testing.assert_allclose(everything, r.expected_analytic, atol=1e-12)
    np.testing.assert_allclose(r.expected, r.expected_analytic, atol=0.08)
    # margins never move under a permutation of times
    np.testing.assert_array_equal(r.simulated.sum(axis=2), np.broadcast_to(r.observed.sum(axis=1), (2000, 3)))
    np.testing.assert_array_equal(r.simulated.sum(axis=1), np.broadcast_to(r.observed.sum(axis=0), (2000, 3)))


def test_pvalue_rule_counts_ties_as_exceeding() -> None:
    xy, t = clustered(300, 9, whole_days=True)
    r = knox_test(xy, t, n_permutations=199, seed=3, space_bands=[100, 200], time_bands=[7, 14])
    assert r.simulated is not None
    k = (r.simulated >= r.observed[None]).sum(axis=0)
    np.testing.assert_array_equal(r.p_value, (k + 1) / 200)
    assert r.p_value.min() >= 1 / 200


def test_planted_near_repeats_are_found_and_shuffled_times_are_not() -> None:
    rng = np.random.default_rng(21)
    n = 600
    xy = rng.uniform(0, 10_000, (n, 2))
    t = rng.uniform(0, 365, n)
    follow = np.arange(0, n, 3)  # every third event gets a follower 0-60 m away within 0-5 days
    xy2 = np.vstack([xy, xy[follow] + rng.uniform(-30, 30, (len(follow), 2))])
    t2 = np.concatenate([t, t[follow] + rng.uniform(0, 5, len(follow))])
    r = knox_test(xy2, t2, space_bands=[100, 200, 400], time_bands=[7, 14, 28], n_permutations=199, seed=1)
    assert r.ratio[0, 0] > 10 and r.p_value[0, 0] == pytest.approx(1 / 200)
    assert r.significant()[0, 0]
    null = knox_test(xy2, rng.permutation(t2), space_bands=[100, 200, 400], time_bands=[7, 14, 28],
                     n_permutations=199, seed=1)
    assert not null.significant(0.01)[: null.space.n_finite, : null.time.n_finite].any()


def test_poisson_tail_is_p_of_at_least_observed() -> None:
    xy, t = clustered(200, 2, whole_days=True)
    r = knox_test(xy, t, n_permutations=0, space_bands=[100], time_bands=[7])
    from scipy.stats import poisson

    o, e = int(r.observed[0, 0]), float(r.expected_analytic[0, 0])
    assert r.p_poisson[0, 0] == pytest.approx(1 - poisson.cdf(o - 1, e), rel=1e-10)
    assert math.isnan(r.p_value[0, 0])
    np.testing.assert_array_equal(r.expected, r.expected_analytic)


def test_result_round_trips_through_dict_and_is_read_only() -> None:
    xy, t = clustered(200, 4, whole_days=True)
    r = knox_test(xy, t, n_permutations=19, seed=1, convention="nrc", space_bands=[100, 200], time_bands=[7])
    back = KnoxResult.from_dict(r.to_dict())
    for name in ("observed", "expected", "expected_analytic", "p_value", "p_poisson"):
        np.testing.assert_array_equal(getattr(back, name), getattr(r, name))
    np.testing.assert_array_equal(np.isnan(back.ratio), np.isnan(r.ratio))
    assert back.space.labels == r.space.labels and back.convention == "nrc"
    with pytest.raises(ValueError):
        r.observed[0, 0] = 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"convention": "calculator"}, "--convention: got 'calculator'; expected one of"),
        ({"distance": "haversine"}, "--distance: got 'haversine'"),
        ({"n_permutations": -1}, "--permutations: got -1"),
        ({"space_bands": [200, 100]}, "--space-bands: got [200.0, 100.0]; expected strictly increasing"),
        ({"time_bands": [7.5], "convention": "nrc"}, "only has whole-number bands"),
        ({"time_bands": []}, "--time-bands: got no band edges"),
    ],
)
def test_bad_parameters_say_what_was_expected(kwargs: dict[str, object], message: str) -> None:
    xy, t = clustered(50, 1, whole_days=True)
    with pytest.raises(InvalidParameterError) as info:
        knox_test(xy, t, **kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_too_few_events_and_non_finite_input() -> None:
    with pytest.raises(InvalidParameterError, match="got 1 event"):
        knox_test(np.zeros((1, 2)), np.zeros(1))
    with pytest.raises(InvalidParameterError, match="finite"):
        knox_test(np.array([[0.0, np.nan], [1.0, 1.0]]), np.zeros(2))


def test_estimator_contract_on_an_incident_table() -> None:
    xy, t = clustered(120, 8, whole_days=True)
    when = np.datetime64("2021-01-01", "D") + t.astype(int)
    frame = {
        "incident_id": [f"b{k}" for k in range(len(t))], "offense": "burglary",
        "occurred_from": [str(w) + "T00:00:00Z" for w in when],
        "occurred_to": [str(w) + "T00:00:00Z" for w in when],
        "x_m": xy[:, 0], "y_m": xy[:, 1],
    }
    import pandas as pd

    table = IncidentTable(pd.DataFrame(frame))
    est = KnoxTest(space_bands=[100, 200], time_bands=[7, 14], n_permutations=9, random_state=0,
                   convention="nrc")
    with pytest.raises(NotFittedError):
        _ = est.result
    assert clone(est).get_params() == est.get_params()
    fitted = est.fit(table)
    assert fitted is est and est.n_events_ == 120
    np.testing.assert_array_equal(est.result.observed,
                                  brute_force(xy, np.floor(t), [100, 200], [7, 14], "manhattan", "nrc"))
    with pytest.raises(InvalidParameterError, match="time_of"):
        KnoxTest(time_of="start").fit(table)


def test_whole_minute_times_give_exact_integer_gaps() -> None:
    """Timestamps to the minute: a gap of exactly 7 days is in [7, 14), whatever float rounding says."""
    rng = np.random.default_rng(12)
    xy, _ = clustered(400, 12, whole_days=True)
    minutes = rng.integers(0, 60 * 1440, 400) + 28_000_000  # minutes since 1970, around 2023
    minutes[200:260] = minutes[:60] + 7 * 1440  # followers exactly a week later, same place
    xy[200:260] = xy[:60]
    t = minutes / 1440.0
    r = knox_test(xy, t, space_bands=[100, 200], time_bands=[1, 7, 14], n_permutations=19, seed=1)
    assert r.time_resolution == "minute"
    exact = brute_force(xy, minutes.astype(float), [100, 200], [1440.0, 7 * 1440.0, 14 * 1440.0],
                        "manhattan", "standard")
    np.testing.assert_array_equal(r.observed, exact)
    hours = knox_test(xy, np.floor(t * 24) / 24, space_bands=[100], time_bands=[7], n_permutations=0)
    assert hours.time_resolution == "hour"
    frac = knox_test(xy, t + rng.uniform(0, 1e-3, 400), space_bands=[100], time_bands=[7], n_permutations=0)
    assert frac.time_resolution == "exact"
