"""Risk models on the COMPAS sample: the integer score, rule list, logistic, guards, calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold

from crimelens.errors import InvalidParameterError, NotFittedError, ProtectedAttributeError
from crimelens.risk import (
    CompasData,
    LogisticRisk,
    PointScore,
    ReliabilityTable,
    RuleList,
    check_risk_features,
    load_compas,
)
from crimelens.risk._items import item_matrix
from tests.conftest import shared


@pytest.fixture(scope="module")
def compas() -> CompasData:
    return load_compas(shared("compas/compas-scores-two-years.deid.csv.gz"))


@pytest.fixture(scope="module")
def points(compas: CompasData) -> PointScore:
    return PointScore(max_items=8).fit(compas.X, compas.y)


def test_protected_attribute_is_refused_as_feature(compas: CompasData) -> None:
    X = compas.X[["priors_count"]].assign(race=(compas.audit["race"] == "Caucasian").astype(float))
    with pytest.raises(ProtectedAttributeError, match=r"\['race'\].*audit columns, never model features"):
        PointScore().fit(X, compas.y)
    with pytest.raises(ProtectedAttributeError, match="sex"):
        LogisticRisk(feature_names=["priors", "sex"]).fit(np.zeros((4, 2)) + np.arange(4)[:, None],
                                                          [0, 1, 0, 1])


def test_profile_only_model_is_refused(compas: CompasData) -> None:
    X = compas.X[["age"]].assign(zip_code=1.0)
    with pytest.raises(InvalidParameterError, match=r"Art\. 5\(1\)\(d\)"):
        RuleList().fit(X, compas.y)
    check_risk_features(["age", "priors_count"], where="x")  # conduct + profile is allowed


def test_unfitted_model_raises_our_error() -> None:
    with pytest.raises(NotFittedError, match="fit"):
        PointScore().predict_proba(np.zeros((2, 2)))


def test_point_score_is_a_small_integer_table_that_adds_up(points: PointScore, compas: CompasData) -> None:
    assert 1 <= len(points.items_) <= 8
    assert all(isinstance(p, (int, np.integer)) and 1 <= p <= 10 for p in points.points_)
    assert not any(i.name in ("race", "sex") for i in points.items_)
    # a judge's sum: points of the items that apply, from the printed table alone
    table = points.points_table()
    X = compas.X.to_numpy()
    by_hand = np.zeros(len(X))
    for it, p in zip(points.items_, table["points"], strict=True):
        by_hand += p * it.apply(X)
    np.testing.assert_array_equal(by_hand, points.raw_score(compas.X))
    totals = points.total_table()
    assert set(np.unique(by_hand)).issubset(set(totals["total"]))
    assert totals["probability"].is_monotonic_increasing
    assert "points" in points.to_text()


def test_integer_search_improves_on_scale_and_round(points: PointScore, compas: CompasData) -> None:
    X = compas.X.to_numpy()
    start = item_matrix(X, points.start_items_) @ points.start_points_
    final = points.raw_score(compas.X)
    assert points.n_moves_ > 0
    assert roc_auc_score(compas.y, final) > roc_auc_score(compas.y, start)


@pytest.mark.slow
def test_point_score_cross_validated_auc_beats_compas(compas: CompasData) -> None:
    """Repeated 5-fold CV: mean AUC >= 0.72 (COMPAS: 0.710 on the same rows)."""
    aucs, starts = [], []
    cv = RepeatedStratifiedKFold(n_splits=5, n_repeats=2, random_state=0)
    for tr, te in cv.split(compas.X, compas.y):
        m = PointScore(max_items=8).fit(compas.X.iloc[tr], compas.y[tr])
        assert len(m.items_) <= 10 and max(m.points_) <= 10
        aucs.append(roc_auc_score(compas.y[te], m.raw_score(compas.X.iloc[te])))
        starts.append(roc_auc_score(compas.y[te], item_matrix(compas.X.iloc[te].to_numpy(),
                                                               m.start_items_) @ m.start_points_))
    assert np.mean(aucs) >= 0.72
    assert np.mean(aucs) > np.mean(starts)
    assert np.mean(aucs) > roc_auc_score(compas.y, compas.decile)


def test_rule_list_reads_in_order_and_ranks(compas: CompasData) -> None:
    m = RuleList(max_rules=5).fit(compas.X, compas.y)
    t = m.rules_table()
    assert 2 <= len(t) <= 6 and t["rule"].iloc[-1] == "otherwise"
    assert abs(t["share"].sum() - 1.0) < 1e-9
    assert roc_auc_score(compas.y, m.predict_proba(compas.X)[:, 1]) > 0.66
    assert m.to_text().startswith("if ")


def test_logistic_on_age_and_priors_matches_published_auc(compas: CompasData) -> None:
    X = compas.X[["age", "priors_count"]]
    aucs, accs = [], []
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=0).split(X, compas.y):
        m = LogisticRisk().fit(X.iloc[tr], compas.y[tr])
        aucs.append(roc_auc_score(compas.y[te], m.predict_proba(X.iloc[te])[:, 1]))
        accs.append(np.mean(m.predict(X.iloc[te]) == compas.y[te]))
    assert 0.715 <= np.mean(aucs) <= 0.74  # issue: 0.728
    assert 0.66 <= np.mean(accs) <= 0.69  # issue: 0.679
    coef = m.coef_table().set_index("feature")
    assert coef.loc["age", "per_unit"] < 0 < coef.loc["priors_count", "per_unit"]


def test_calibration_maps_and_reliability_tables(compas: CompasData) -> None:
    X = compas.X[["age", "priors_count", "juv_fel_count"]]
    iso = PointScore(max_items=4, calibration="isotonic").fit(X, compas.y)
    rel = iso.reliability_table(X, compas.y, strategy="unique")
    assert rel.ece < 1e-9  # isotonic on a few totals: observed rate per total, in sample
    platt = LogisticRisk(calibration="platt").fit(X, compas.y)
    r2 = platt.reliability_table(X, compas.y, n_bins=10)
    plain = LogisticRisk(calibration="none").fit(X, compas.y).reliability_table(X, compas.y)
    monotone = LogisticRisk(calibration="isotonic").fit(X, compas.y).reliability_table(X, compas.y)
    # a linear log-odds in priors is misspecified: Platt cannot repair it, isotonic can
    assert len(r2.frame) == 10 and r2.ece <= plain.ece + 1e-3
    assert monotone.ece < 0.01 < plain.ece
    assert (r2.frame["observed_low"] <= r2.frame["observed_rate"]).all()
    t = ReliabilityTable.of(np.array([0.2] * 10), np.array([1] * 2 + [0] * 8), strategy="unique")
    lo, hi = t.frame[["observed_low", "observed_high"]].iloc[0]
    assert round(lo, 4) == 0.0567 and round(hi, 4) == 0.5098  # Wilson 2/10
    assert isinstance(iso.points_table(), pd.DataFrame)
