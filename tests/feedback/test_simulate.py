"""The day-by-day simulator on the planted city: feedback, corrections, metrics, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from crimelens.errors import InputError, InvalidParameterError
from crimelens.feedback import (
    NaiveCounts,
    ObservationModel,
    Proportional,
    Scenario,
    TopK,
    compare_feedback,
    detection_bias_sweep,
    gini,
    planted_city,
    simulate,
)

STRONG = ObservationModel(report_prob=0.3, discovery_base=0.05, discovery_lift=0.6)


@pytest.fixture(scope="module")
def city() -> Scenario:
    return planted_city(nx=20, ny=20, observation=STRONG, k=8, random_state=3)


@pytest.fixture(scope="module")
def comparison(city: Scenario):  # type: ignore[no-untyped-def]
    return compare_feedback(city, NaiveCounts(window_days=60), days=150, correction="ipw", random_state=0)


def test_feedback_concentrates_flags_and_the_correction_moves_them_back(comparison) -> None:  # type: ignore[no-untyped-def]
    nofb, fb, ipw = comparison.no_feedback, comparison.feedback, comparison.corrected
    # sparse counts: the flags lock onto whichever cells get flagged early, fewer cells ever get a patrol
    assert fb.cells_ever_flagged < 0.8 * nofb.cells_ever_flagged
    assert fb.gini > nofb.gini
    assert ipw.cells_ever_flagged > fb.cells_ever_flagged
    assert ipw.gini < fb.gini
    # the record is more "discovered" where patrols went: discovered/reported grows with feedback
    assert fb.discovered_to_reported > nofb.discovered_to_reported
    # day 0 is the same allocation in every run (same history, same seed)
    np.testing.assert_array_equal(nofb.presence[0], fb.presence[0])


def test_reported_only_training_does_not_depend_on_where_patrols_went(city: Scenario) -> None:
    kw = dict(days=60, correction="reported-only", random_state=2)
    with_fb = simulate(city, NaiveCounts(window_days=60), feedback=True, **kw)
    without = simulate(city, NaiveCounts(window_days=60), feedback=False, **kw)
    np.testing.assert_array_equal(with_fb.presence, without.presence)


def test_ipw_weighting_stops_a_runaway_onto_one_cell() -> None:
    # equal true rates, discovery only: the flagged cell gets 11x the discovery of the others, so
    # without a correction the flag never leaves it; weighted by pi_min / pi_c the record grows
    # evenly in expectation and the flag moves around
    s = planted_city(nx=10, ny=10, observation=ObservationModel(report_prob=0.0, discovery_base=0.05,
                                                                discovery_lift=0.5), k=1, random_state=1)
    s = Scenario(name="flat", true_rate=np.full(100, 4.0), history=np.ones((5, 100)), centres_m=s.centres_m,
                 observation=s.observation, allocation=TopK(1))
    runs = {c: simulate(s, NaiveCounts(window_days=1000), days=300, correction=c, random_state=5)
            for c in ("none", "ipw-weight")}
    assert runs["none"].cells_ever_flagged <= 3
    assert runs["ipw-weight"].cells_ever_flagged >= 3 * runs["none"].cells_ever_flagged


def test_same_seed_same_hash(city: Scenario) -> None:
    a = simulate(city, NaiveCounts(window_days=30), days=20, random_state=9)
    b = simulate(city, NaiveCounts(window_days=30), days=20, random_state=9)
    c = simulate(city, NaiveCounts(window_days=30), days=20, random_state=10)
    assert a.output_hash() == b.output_hash() != c.output_hash()


def test_metrics_on_a_hand_built_allocation() -> None:
    s = Scenario(name="two", true_rate=np.array([3.0, 1.0]), history=np.array([[5.0, 0.0]]),
                 centres_m=np.zeros((2, 2)), groups=np.array(["x", "y"], dtype=object), allocation=TopK(1),
                 observation=ObservationModel(report_prob=1.0, discovery_base=0.0, discovery_lift=0.0))
    run = simulate(s, NaiveCounts(window_days=1000), days=10, random_state=0)
    # all reports, no discovery: cell 0 (rate 3) keeps the single flag
    assert run.presence[:, 0].tolist() == [1.0] * 10
    assert run.tv.tolist() == pytest.approx([0.25] * 10)  # |1 - 0.75| + |0 - 0.25|, halved
    assert run.kl.tolist() == pytest.approx([np.log(1 / 0.75)] * 10)
    assert run.cells_ever_flagged == 1 and run.share_to_initial_flags == 1.0
    assert run.group_metrics["x"]["allocation_share"] == 1.0
    assert run.group_metrics["x"]["disparity"] == pytest.approx(1 / 0.75)
    assert run.discovered_to_reported == 0.0


def test_gini() -> None:
    assert gini(np.ones(5)) == 0.0
    assert gini(np.array([0.0, 0.0, 0.0, 1.0])) == pytest.approx(0.75)
    assert gini(np.zeros(3)) == 0.0


def test_detection_bias_raises_the_biased_groups_share(city: Scenario) -> None:
    sweep = detection_bias_sweep(city, NaiveCounts(window_days=60), group="B", days=80, biases=(0.0, 0.05))
    lo, hi = sweep.rows
    assert hi["no_feedback_share"] >= lo["no_feedback_share"]
    assert set(sweep.table.columns) >= {"detection_bias", "feedback_share", "no_feedback_share", "true_share"}
    with pytest.raises(InputError, match="no cell of scenario"):
        simulate(city, NaiveCounts(), days=2, observation=ObservationModel(detection_bias=0.05, biased_group="Z"))


def test_proportional_allocation_sends_k_patrols() -> None:
    rng = np.random.default_rng(0)
    presence, propensity = Proportional(5).allocate(np.array([1.0, 1.0, 0.0, 2.0]), rng)
    assert presence[2] == 0 and 1 <= presence.sum() <= 4
    np.testing.assert_allclose(propensity, 1 - (1 - np.array([0.25, 0.25, 0.0, 0.5])) ** 5)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: simulate(s, NaiveCounts(), days=0), "days=0"),
        (lambda s: simulate(s, NaiveCounts(), days=2, correction="magic"), "expected one of"),
        (lambda s: simulate(s, NaiveCounts(), days=2, allocation=TopK(10_000)), "k must be between 1"),
        (lambda s: ObservationModel(discovery_base=0.7, discovery_lift=0.5), "must be <= 1"),
    ],
)
def test_bad_inputs_are_refused(city: Scenario, call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidParameterError, match=message):
        call(city)


def test_scenario_shapes_are_checked() -> None:
    with pytest.raises(InputError, match=r"expected \(days, 2\)"):
        Scenario(name="bad", true_rate=np.ones(2), history=np.ones((3, 4)), centres_m=np.zeros((2, 2)))
