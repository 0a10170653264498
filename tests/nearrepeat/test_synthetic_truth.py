"""Against known ground truth: the synthetic city's self-exciting events (crimelens.synth).

With triggering (branching ratio 0.5, sigma 100 m, mean delay 5 days) the Knox excess
(observed - expected pairs) in the short-gap column equals, within Monte-Carlo noise, the number
of pairs that truly share an ancestor; without triggering no close cell is elevated.
"""

from __future__ import annotations

import numpy as np

from crimelens.nearrepeat import KnoxTest, event_times, near_repeat_pairs
from crimelens.synth import SyntheticCity

BANDS = {"space_bands": [100, 200, 400], "time_bands": [3, 7, 14]}


def _city(branching: float):  # type: ignore[no-untyped-def]
    return SyntheticCity(seed=11, days=180, n_series=0, n_areas=6, branching_ratio=branching,
                         recording="complete").generate()


def _family_roots(city) -> dict[str, int]:  # type: ignore[no-untyped-def]
    ev = city.truth.events
    parent = dict(zip(ev["event_id"].tolist(), ev["parent_event_id"].tolist(), strict=True))

    def root(e: int) -> int:
        while parent.get(e, -1) != -1:
            e = parent[e]
        return e

    return {str(i): root(e) for e, i in zip(ev["event_id"].tolist(), ev["incident_id"].tolist(), strict=True)}


def test_knox_excess_counts_the_truly_related_pairs() -> None:
    city = _city(0.5)
    inc = city.incidents
    result = KnoxTest(n_permutations=99, random_state=1, **BANDS).fit(inc).result_
    assert result.significant()[:3, :3].all()
    roots = _family_roots(city)
    pairs = near_repeat_pairs(inc.xy_m, event_times(inc), ids=[str(i) for i in inc.incident_id], **BANDS)
    related = np.array([roots[a] == roots[b] for a, b in zip(pairs["originator"], pairs["follower"], strict=True)])
    per_cell = pairs[related].groupby(["space_band", "time_band"]).size()
    excess = result.observed - result.expected_analytic
    for s in range(3):
        truth = int(per_cell.get((result.space.labels[s], result.time.labels[0]), 0))
        noise = 4 * np.sqrt(result.expected_analytic[s, 0])
        assert truth > noise
        assert abs(excess[s, 0] - truth) <= noise, (s, excess[s, 0], truth)


def test_no_triggering_no_elevated_cell() -> None:
    city = _city(0.0)
    result = KnoxTest(n_permutations=199, random_state=1, **BANDS).fit(city.incidents).result_
    assert not result.significant(0.01)[:3, :3].any()
    assert np.abs(result.ratio[:3, :3] - 1).max() < 0.1
    assert result.p_value.min() >= 1 / 200 - 1e-12
