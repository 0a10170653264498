"""The audit on ProPublica's COMPAS sample: published figures, Fairlearn parity, the bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score, precision_score, roc_auc_score

from crimelens.audit import LABEL_LIMITS, audit_scores, chouldechova_fpr
from crimelens.errors import InvalidParameterError
from crimelens.risk import CompasData, load_compas
from tests.conftest import shared


@pytest.fixture(scope="module")
def compas() -> CompasData:
    return load_compas(shared("compas/compas-scores-two-years.deid.csv.gz"))


def test_propublica_filter_gives_6172_rows(compas: CompasData) -> None:
    assert len(compas.y) == 6172
    assert compas.n_read == 7214
    assert int(compas.y.sum()) == 2809
    assert "race" not in compas.X and "sex" not in compas.X


def test_reproduces_published_compas_figures(compas: CompasData) -> None:
    r = audit_scores(compas.decile, compas.y, compas.audit[["race"]], threshold=5, n_boot=0)
    overall = r.group_table("overall").loc["all"]
    assert round(overall["auc"], 3) == 0.710
    assert round(overall["accuracy"], 3) == 0.661
    race = r.group_table("race")
    assert round(race.loc["African-American", "fpr"], 3) == 0.423
    assert round(race.loc["Caucasian", "fpr"], 3) == 0.220
    assert round(race.loc["African-American", "fnr"], 3) == 0.285
    assert round(race.loc["Caucasian", "fnr"], 3) == 0.496


def test_equals_fairlearn_metricframe_to_1e12(compas: CompasData) -> None:
    y, s, race = compas.y, compas.decile, compas.audit["race"].to_numpy()
    pred = (s >= 5).astype(int)
    mf = MetricFrame(
        metrics={
            "n": count, "selection_rate": selection_rate, "tpr": true_positive_rate,
            "fpr": false_positive_rate, "fnr": false_negative_rate, "tnr": true_negative_rate,
            "accuracy": accuracy_score, "ppv": precision_score,
        },
        y_true=y, y_pred=pred, sensitive_features=pd.Series(race, name="race"),
    )
    auc = MetricFrame(metrics=roc_auc_score, y_true=y, y_pred=s,
                      sensitive_features=pd.Series(race, name="race"))
    r = audit_scores(s, y, {"race": race}, threshold=5, n_boot=0)
    ours = r.group_table("race")
    theirs = mf.by_group
    for metric in theirs.columns:
        for group in theirs.index:
            assert abs(ours.loc[group, metric] - theirs.loc[group, metric]) <= 1e-12, (metric, group)
    for group, value in auc.by_group.items():
        assert abs(ours.loc[group, "auc"] - value) <= 1e-12
    overall = r.group_table("overall").loc["all"]
    for metric in theirs.columns:
        assert abs(overall[metric] - mf.overall[metric]) <= 1e-12


def test_chouldechova_identity_holds_per_group(compas: CompasData) -> None:
    r = audit_scores(compas.decile, compas.y, compas.audit[["race", "sex"]], threshold=5, n_boot=0)
    c = r.chouldechova.dropna(subset=["fpr_from_identity"])
    np.testing.assert_allclose(c["fpr_from_identity"], c["fpr"], rtol=1e-12, atol=1e-12)
    # and the identity is not trivially the same numbers: base rates differ by race
    race = c[c["facet"] == "race"].set_index("group")
    assert race.loc["African-American", "base_rate"] - race.loc["Caucasian", "base_rate"] > 0.1
    assert float(chouldechova_fpr(np.array(0.5), np.array(0.5), np.array(0.0))) == 1.0


def test_count_bootstrap_matches_row_resampling(compas: CompasData) -> None:
    """Multinomial draws on counts have the same distribution as resampling rows."""
    y, s, race = compas.y, compas.decile, compas.audit["race"].to_numpy()
    r = audit_scores(s, y, {"race": race}, threshold=5, n_boot=2000, random_state=1,
                     reference={"race": "Caucasian"})
    rng = np.random.default_rng(2)
    black = race == "African-American"
    fprs, aucs = [], []
    for _ in range(400):
        idx = rng.integers(0, len(y), len(y))
        yb, sb, bb = y[idx], s[idx], black[idx]
        neg = (yb == 0) & bb
        fprs.append(np.mean(sb[neg] >= 5))
        aucs.append(roc_auc_score(yb[bb], sb[bb]))
    g = r.group_table("race").loc["African-American"]
    sd_rows = np.std(fprs)
    width = (g["fpr_high"] - g["fpr_low"]) / (2 * 1.96)
    assert abs(width - sd_rows) / sd_rows < 0.15
    sd_auc = np.std(aucs)
    width_auc = (g["auc_high"] - g["auc_low"]) / (2 * 1.96)
    assert abs(width_auc - sd_auc) / sd_auc < 0.15
    assert g["fpr_low"] < g["fpr"] < g["fpr_high"]


def test_small_groups_get_no_verdict_and_harm_direction_picks_metrics(compas: CompasData) -> None:
    r = audit_scores(compas.decile, compas.y, compas.audit[["race"]], threshold=5, n_boot=50,
                     reference={"race": "Caucasian"}, min_group_size=50)
    d = r.disparities.set_index(["group", "metric"])
    assert d.loc[("Asian", "fpr"), "difference"] is None or np.isnan(d.loc[("Asian", "fpr"), "difference"])
    assert "below the minimum group size 50" in d.loc[("Asian", "fpr"), "reading"]
    assert d.loc[("African-American", "fpr"), "difference_low"] > 0
    assert set(r.disparities.loc[r.disparities["foreground"], "metric"]) == {"fpr", "fdr", "selection_rate"}
    r2 = audit_scores(compas.decile, compas.y, compas.audit[["race"]], threshold=5, n_boot=0,
                      positive_is_harmful=False)
    assert set(r2.disparities.loc[r2.disparities["foreground"], "metric"]) == {"fnr", "for", "tpr"}
    assert r2.reference["race"] == "African-American"  # default: the largest group
    assert r.to_dict()["label_limits"] == list(LABEL_LIMITS)
    assert "fair" not in r.to_json().lower().replace("fairlearn", "")


def test_intersections_and_quantised_continuous_scores_stay_exact() -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    grp = rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1])
    sex = rng.choice(["f", "m"], n)
    y = rng.random(n) < np.where(grp == "a", 0.3, 0.5)
    s = rng.normal(size=n) + y  # continuous: quantised levels for the bootstrap
    r = audit_scores(s, y.astype(int), {"grp": grp, "sex": sex}, threshold=0.37, n_boot=100,
                     n_levels=64)
    assert not r.levels_exact
    inter = r.group_table("grp × sex")
    m = (grp == "b") & (sex == "m")
    assert inter.loc["b × m", "n"] == m.sum()
    fpr = np.mean(s[m & ~y] >= 0.37)
    assert abs(inter.loc["b × m", "fpr"] - fpr) < 1e-12
    assert abs(inter.loc["b × m", "auc"] - roc_auc_score(y[m], s[m])) < 1e-12
    assert r.group_table("grp").loc["c", "n"] == (grp == "c").sum()


def test_poisson_bootstrap_agrees_with_multinomial(compas: CompasData) -> None:
    kw = {"threshold": 5, "n_boot": 1000, "reference": {"race": "Caucasian"}}
    a = audit_scores(compas.decile, compas.y, compas.audit[["race"]], bootstrap="multinomial", **kw)
    b = audit_scores(compas.decile, compas.y, compas.audit[["race"]], bootstrap="poisson", **kw)
    ga, gb = a.group_table("race"), b.group_table("race")
    for col in ("fpr_low", "fpr_high", "auc_low", "auc_high"):
        assert abs(ga.loc["Caucasian", col] - gb.loc["Caucasian", col]) < 0.01
    with pytest.raises(InvalidParameterError, match="bootstrap"):
        audit_scores(compas.decile, compas.y, compas.audit[["race"]], threshold=5, bootstrap="bca")


def test_missing_group_values_form_their_own_group() -> None:
    s = np.array([0.1, 0.9, 0.8, 0.2, 0.7, 0.3])
    y = np.array([0, 1, 1, 0, 0, 1])
    grp = pd.Series(["a", None, "a", "b", None, "b"], dtype="string")
    r = audit_scores(s, y, {"grp": grp}, n_boot=0, min_group_size=1)
    t = r.group_table("grp")
    assert list(t.index) == ["a", "b", "(missing)"]
    assert t.loc["(missing)", "n"] == 2 and t.loc["(missing)", "fpr"] == 1.0


def test_group_columns_given_as_lists_audit_like_arrays(compas: CompasData) -> None:
    """A plain Python list of group values (as a notebook user passes it) is accepted, not a TypeError."""
    race = compas.audit["race"]
    as_array = audit_scores(compas.decile, compas.y, {"race": race.to_numpy()}, threshold=5, n_boot=0)
    as_list = audit_scores(compas.decile, compas.y, {"race": race.tolist()}, threshold=5, n_boot=0)
    pd.testing.assert_frame_equal(as_list.group_table("race"), as_array.group_table("race"))
    with_none = audit_scores(np.array([0.2, 0.8, 0.6]), np.array([0, 1, 0]), {"g": ["a", None, "a"]},
                             n_boot=0, min_group_size=1)
    assert list(with_none.group_table("g").index) == ["a", "(missing)"]


def test_a_rate_of_none_or_all_gets_the_wilson_interval_of_its_count() -> None:
    """Five people with the outcome, all flagged: a miss rate of 0 of 5, which every bootstrap resample
    repeats. The interval is Wilson's [0, 0.434], not the percentile bootstrap's single point [0, 0]."""
    y = np.array([1] * 5 + [0] * 20 + [1] * 30 + [0] * 30)
    score = np.array([9] * 5 + [1] * 10 + [9] * 10 + [9] * 20 + [1] * 10 + [9] * 10 + [1] * 20)
    group = np.array(["small"] * 25 + ["large"] * 60)
    r = audit_scores(score, y, {"g": group}, threshold=5, n_boot=500, random_state=1, min_group_size=10)
    small = r.group_table("g").loc["small"]
    assert (small["fnr"], small["tpr"]) == (0.0, 1.0)
    assert small["fnr_low"] == 0.0 and small["fnr_high"] == pytest.approx(0.4345, abs=1e-4)
    assert small["tpr_low"] == pytest.approx(1 - 0.4345, abs=1e-4) and small["tpr_high"] == 1.0
    large = r.group_table("g").loc["large"]  # a rate inside (0, 1) keeps its bootstrap interval
    assert 0 < large["fnr_low"] < large["fnr"] < large["fnr_high"] < 1
