"""Reference groups: a typo is refused, intersections follow the reference given; small-group AUCs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crimelens.audit import audit_scores
from crimelens.audit._table import as_read
from crimelens.errors import InputError, InvalidParameterError
from crimelens.risk import CompasData, load_compas
from tests.conftest import shared


@pytest.fixture(scope="module")
def compas() -> CompasData:
    return load_compas(shared("compas/compas-scores-two-years.deid.csv.gz"))


def test_a_reference_for_a_column_not_audited_is_refused(compas: CompasData) -> None:
    """``Race=Caucasian`` (wrong case) or ``sex=Male`` without ``--group sex`` used to be ignored: every
    comparison was read against the largest group, African-American, with nothing said."""
    groups = compas.audit[["race"]]
    with pytest.raises(InvalidParameterError, match=r"'Race' is not an audited group column \(did you mean 'race'\? "
                                                    r"names are case-sensitive\); expected one of \['race'\]"):
        audit_scores(compas.decile, compas.y, groups, threshold=5, n_boot=0, reference={"Race": "Caucasian"})
    with pytest.raises(InvalidParameterError, match=r"'sex' is not an audited group column; expected one of \['race'\]"):
        audit_scores(compas.decile, compas.y, groups, threshold=5, n_boot=0, reference={"sex": "Male"})
    with pytest.raises(InvalidParameterError, match=r"no such group in 'race'; expected one of \['African-American'"):
        audit_scores(compas.decile, compas.y, groups, threshold=5, n_boot=0, reference={"race": "caucasian"})
    # without intersections there is no "race × sex" facet to give a reference for
    with pytest.raises(InvalidParameterError, match="'race × sex' is not an audited group column"):
        audit_scores(compas.decile, compas.y, compas.audit[["race", "sex"]], threshold=5, n_boot=0,
                     intersections=False, reference={"race × sex": "Caucasian × Male"})


def test_the_intersection_follows_the_reference_given_for_its_columns(compas: CompasData) -> None:
    groups = compas.audit[["race", "sex"]]
    r = audit_scores(compas.decile, compas.y, groups, threshold=5, n_boot=0, reference={"race": "Caucasian"})
    assert r.reference["race"] == "Caucasian" and r.reference["sex"] == "Male"  # sex: the largest group
    assert r.reference["race × sex"] == "Caucasian × Male"  # was the largest group, African-American × Male
    assert r.reference_rule["race × sex"] == "crossing of race=Caucasian (given) × sex=Male (largest)"
    assert r.reference_rule["race"] == "given" and r.reference_rule["sex"] == "largest group"
    d = r.disparities[r.disparities["facet"] == "race × sex"]
    assert set(d["reference"]) == {"Caucasian × Male"}
    both = audit_scores(compas.decile, compas.y, groups, threshold=5, n_boot=0,
                        reference={"race": "Caucasian", "sex": "Female"})
    assert both.reference["race × sex"] == "Caucasian × Female"
    explicit = audit_scores(compas.decile, compas.y, groups, threshold=5, n_boot=0,
                            reference={"race": "Caucasian", "race × sex": "Hispanic × Female"})
    assert explicit.reference["race × sex"] == "Hispanic × Female" and explicit.reference_rule["race × sex"] == "given"
    default = audit_scores(compas.decile, compas.y, groups, threshold=5, n_boot=0)
    assert default.reference["race × sex"] == "African-American × Male"  # nothing given: the largest, as before
    assert default.to_dict()["reference_rule"]["race × sex"] == "largest group"


def test_an_empty_crossing_falls_back_to_the_largest_group_and_says_so() -> None:
    s = np.array([0.1, 0.9, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4])
    y = np.array([0, 1, 1, 0, 0, 1, 1, 0])
    g = {"a": ["x", "x", "x", "x", "y", "y", "y", "y"], "b": ["p", "p", "p", "p", "q", "q", "q", "p"]}
    r = audit_scores(s, y, g, threshold=0.5, n_boot=0, min_group_size=1, reference={"a": "x", "b": "q"})
    assert r.reference["a × b"] == "x × p"  # nobody is x × q
    assert r.reference_rule["a × b"] == "largest group (nobody is in the crossing of a=x (given) × b=q (given))"


def test_a_group_below_the_minimum_size_gets_no_auc_interval(compas: CompasData) -> None:
    """Two Asian women: every resample gives AUC 1, and the report printed 1.000 [1.000, 1.000]."""
    r = audit_scores(compas.decile, compas.y, compas.audit[["race", "sex"]], threshold=5, n_boot=200,
                     min_group_size=50)
    t = r.group_table("race × sex")
    tiny = t.loc["Asian × Female"]
    assert tiny["n"] == 2 and tiny["auc"] == 1.0
    assert pd.isna(tiny["auc_low"]) and pd.isna(tiny["auc_high"])
    assert pd.isna(t.loc["Asian × Male", "auc_low"])  # n = 29 < 50
    big = t.loc["African-American × Male"]
    assert 0 < big["auc_low"] < big["auc"] < big["auc_high"] < 1
    # even with no minimum, resamples that all agree give no interval
    r0 = audit_scores(compas.decile, compas.y, compas.audit[["race", "sex"]], threshold=5, n_boot=200,
                      min_group_size=0)
    assert pd.isna(r0.group_table("race × sex").loc["Asian × Female", "auc_low"])
    doc = r.to_dict()
    (row,) = [g for g in doc["groups"] if g["group"] == "Asian × Female"]
    assert row["auc_low"] is None and row["auc_high"] is None


def test_messages_print_values_as_they_read_in_the_file() -> None:
    assert as_read(np.float64("nan")) == "an empty cell" and as_read(None) == "an empty cell"
    assert as_read(np.int64(2)) == "2" and as_read("yes") == "'yes'"
    with pytest.raises(InputError, match=r"label row 1: got an empty cell; expected 0/1"):
        audit_scores([0.1, 0.2], pd.Series([1.0, np.nan]), {"g": ["a", "b"]}, n_boot=0)
    with pytest.raises(InvalidParameterError, match=r"--threshold nan: expected a finite number"):
        audit_scores([0.1, 0.2], [1, 0], {"g": ["a", "b"]}, threshold=float("nan"), n_boot=0)
