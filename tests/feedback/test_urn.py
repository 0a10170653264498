"""The Ensign et al. (2018) two-region urn: the paper's figures reproduced, seeded, and the bias sweep."""

from __future__ import annotations

import numpy as np
import pytest

from crimelens.errors import InvalidParameterError
from crimelens.feedback import ensign_urn, urn_bias_sweep

TRUE_SHARE = 3.68511 / (3.68511 + 2.816466)


def test_oakland_parameters_give_the_papers_true_share() -> None:
    r = ensign_urn(days=5, n_runs=3)
    assert r.true_share == pytest.approx(0.5668, abs=5e-4)
    assert r.prior == (609.0, 379.0)


def test_uncorrected_urn_runs_away_and_the_correction_learns_the_true_share() -> None:
    # averaged over seeds (runs): the paper reports 0.704 uncorrected, 0.582 corrected
    raw = ensign_urn(days=1000, n_runs=400, random_state=11)
    fixed = ensign_urn(days=1000, n_runs=400, correction="ipw", random_state=11)
    assert raw.final_share >= 0.68
    assert abs(fixed.final_share - TRUE_SHARE) <= 0.03
    # the runaway grows over time; the corrected urn moves towards the truth from the prior (0.616)
    assert raw.share[-1] > raw.share[99] > raw.share[0]
    assert abs(fixed.share[-1] - TRUE_SHARE) < abs(fixed.share[0] - TRUE_SHARE)


def test_citizen_reports_attenuate_but_do_not_remove_the_runaway() -> None:
    raw = ensign_urn(days=1000, n_runs=300, random_state=5)
    mixed = ensign_urn(days=1000, n_runs=300, reported_weight=0.2, random_state=5)
    assert TRUE_SHARE + 0.04 < mixed.final_share < raw.final_share  # paper: 0.645
    only_reports = ensign_urn(days=1000, n_runs=300, reported_weight=0.2, correction="reported-only",
                              random_state=5)
    # reports alone: no feedback, the share is the prior plus the expected reports
    a, b = 609 + 1000 * 0.2 * 3.68511, 379 + 1000 * 0.2 * 2.816466
    assert only_reports.final_share == pytest.approx(a / (a + b), abs=0.003)


def test_same_seed_same_hash_other_seed_other_hash() -> None:
    a = ensign_urn(days=200, n_runs=50, random_state=3)
    b = ensign_urn(days=200, n_runs=50, random_state=3)
    c = ensign_urn(days=200, n_runs=50, random_state=4)
    assert a.output_hash() == b.output_hash()
    assert a.output_hash() != c.output_hash()
    np.testing.assert_array_equal(a.final_shares, b.final_shares)


def test_decay_makes_the_runaway_faster() -> None:
    plain = ensign_urn(days=500, n_runs=200, random_state=2)
    fading = ensign_urn(days=500, n_runs=200, decay=0.01, random_state=2)
    assert fading.final_share > plain.final_share + 0.05


def test_a_small_detection_bias_compounds_with_feedback() -> None:
    sweep = urn_bias_sweep(biases=(0.0, 0.05), days=1000, n_runs=400, random_state=1)
    zero, five = sweep.rows
    assert abs(zero["feedback_excess"]) < 0.01 and abs(zero["no_feedback_excess"]) < 0.01
    # without feedback a 5 % bias moves region B's share by about 0.05/4; with feedback by more
    grow_fb = five["feedback_excess"] - zero["feedback_excess"]
    grow_nofb = five["no_feedback_excess"] - zero["no_feedback_excess"]
    assert 0.005 < grow_nofb < 0.02
    assert grow_fb > 1.3 * grow_nofb


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate_a": 0.0}, "rate_a=0.0"),
        ({"prior": (1.0, -1.0)}, "expected two counts > 0"),
        ({"correction": "magic"}, "expected 'none', 'ipw' or 'reported-only'"),
        ({"correction": "reported-only"}, "needs reported_weight > 0"),
        ({"reported_weight": 1.0}, "expected a value in [0, 1)"),
        ({"days": 0}, "both must be >= 1"),
        ({"days": 10_000, "n_runs": 10_000}, "days x runs = 100,000,000; expected at most 25,000,000"),
    ],
)
def test_bad_parameters_say_what_was_got_and_expected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        ensign_urn(**kwargs)  # type: ignore[arg-type]
