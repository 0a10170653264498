"""Mitigations as trade-offs, measured on COMPAS."""

from __future__ import annotations

import numpy as np
import pytest

from crimelens.audit import exponentiated_gradient, group_thresholds, reweighing_weights
from crimelens.risk import CompasData, LogisticRisk, load_compas
from tests.conftest import shared


@pytest.fixture(scope="module")
def compas() -> CompasData:
    return load_compas(shared("compas/compas-scores-two-years.deid.csv.gz"))


def _fpr(flag: np.ndarray, y: np.ndarray, m: np.ndarray) -> float:
    return float(flag[m & (y == 0)].mean())


def test_group_thresholds_equalise_fpr_and_need_the_attribute(compas: CompasData) -> None:
    race = compas.audit["race"].to_numpy()
    m = group_thresholds(compas.decile, compas.y, race, threshold=5, reference="Caucasian")
    assert m.needs_protected_at_decision
    t = m.tradeoff.set_index("group")
    black = t.loc["African-American"]
    assert abs(black["fpr_after"] - 0.220) < 0.03 and black["fpr_before"] > 0.42
    assert black["false_positives_change"] < 0 < black["false_negatives_change"]
    assert "fewer wrongly flagged" in black["who_gains_who_loses"]
    assert m.params["thresholds"]["African-American"] > 5
    assert t.loc["Caucasian", "who_gains_who_loses"] == "no change"


def test_reweighing_makes_label_independent_of_group(compas: CompasData) -> None:
    race = compas.audit["race"].to_numpy()
    w = reweighing_weights(compas.y, race)
    assert abs(w.mean() - 1) < 1e-12
    overall = np.average(compas.y, weights=w)
    for g in np.unique(race):
        m = race == g
        assert abs(np.average(compas.y[m], weights=w[m]) - overall) < 1e-12


def test_exponentiated_gradient_narrows_the_fpr_gap(compas: CompasData) -> None:
    race = compas.audit["race"].to_numpy()
    keep = np.isin(race, ["African-American", "Caucasian"])
    X, y, g = compas.X[keep].reset_index(drop=True), compas.y[keep], race[keep]
    plain = LogisticRisk(calibration="none").fit(X, y).predict(X).astype(float)
    b, w = g == "African-American", g == "Caucasian"
    gap_before = _fpr(plain, y, b) - _fpr(plain, y, w)
    mix = exponentiated_gradient(LogisticRisk(calibration="none"), X, y, g, constraint="fpr",
                                 eps=0.02, max_iter=25)
    p = mix.flag_probability(X)
    gap_after = _fpr(p, y, b) - _fpr(p, y, w)
    assert gap_before > 0.1
    assert abs(gap_after) < gap_before / 2
    assert mix.max_violation < 0.06


def test_reweighing_flags_as_near_the_same_share_as_a_point_score_allows(compas: CompasData) -> None:
    """A point score has few levels: "at most 0.435 flagged" fell to 0.337, and a mitigation that flags
    ten points fewer people looks like a fairness gain. The refit is cut at the nearest share instead,
    and the table says which share it reached."""
    from crimelens.risk import PointScore
    from crimelens.services.risk import _threshold_for_share, run_mitigations

    X, y, race = compas.X, compas.y, compas.audit["race"].to_numpy()
    model = PointScore(max_items=4).fit(X, y)
    score = model.predict_proba(X)[:, 1]
    threshold = _threshold_for_share(score, 0.435, closest=True)
    share = float(np.mean(score >= threshold))
    rw = next(m for m in run_mitigations(score, y, race, threshold=threshold, reference="Caucasian",
                                         positive_is_harmful=True, X=X, model=model) if m.name == "reweighing")
    after = rw.params["flagged_share_after"]
    assert rw.params["flagged_share_before"] == share
    refit = PointScore(max_items=4).fit(X, y, sample_weight=reweighing_weights(y, race)).predict_proba(X)[:, 1]
    levels = np.array([np.mean(refit >= v) for v in np.unique(refit)])
    assert abs(after - share) == np.min(np.abs(levels - share))  # no level of the refit is nearer
    assert f"flagging {after:.3f} of people against {share:.3f} before" in rw.description
