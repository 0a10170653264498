"""The cards can be used by hand: the logistic card's numbers give the probability, and the point
score's total table lists exactly the totals some person can have."""

from __future__ import annotations

import itertools
import json
import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pytest

from crimelens.errors import InvalidParameterError
from crimelens.risk import CompasData, Item, LogisticRisk, PointScore, load_compas
from crimelens.risk._items import reachable_totals
from tests.cli.test_ingest_cli import run
from tests.conftest import shared

COMPAS = "compas/compas-scores-two-years.deid.csv.gz"
PEOPLE = [0, 1, 2, 17, 404, 1000, 2500, 4321, 6171]  # rows of the filtered file (6,172 people)


@pytest.fixture(scope="module")
def compas() -> CompasData:
    return load_compas(shared(COMPAS))


_run = run  # the CLI runner the other CLI tests use: exit code, stdout, stderr


# -- the logistic card ----------------------------------------------------------------------------
_NUMBER = r"[+-]?\d+(?:\.\d*)?(?:e[+-]?\d+)?"


def _half_unit(text: str) -> float:
    """Half a unit in the last printed digit of ``text`` (the most rounding can have moved it)."""
    return 0.5 * 10.0 ** int(Decimal(text).as_tuple().exponent)


def _parse_card(text: str) -> tuple[tuple[float, float], dict[str, tuple[float, float]], list[tuple[float, ...]]]:
    """(intercept, its rounding), {feature: (per unit, its rounding)} and the isotonic table's rows
    (model probability, its rounding, probability, its rounding), read from the printed card."""
    intercept: tuple[float, float] | None = None
    coef: dict[str, tuple[float, float]] = {}
    iso: list[tuple[float, ...]] = []
    in_iso = False
    for line in text.splitlines():
        if line.startswith("model probability  probability"):
            in_iso = True
            continue
        if in_iso:
            q, p = line.split()
            iso.append((float(q), _half_unit(q), float(p), _half_unit(p)))
            continue
        m = re.fullmatch(rf"(\S+)\s+({_NUMBER})(?:\s+({_NUMBER}))?", line.strip())
        if m is None:
            continue
        value = (float(m.group(2)), _half_unit(m.group(2)))
        if m.group(1) == "intercept":
            intercept = value
        else:
            coef[m.group(1)] = value
    assert intercept is not None, f"no intercept on the card:\n{text}"
    return intercept, coef, iso


def _by_hand(text: str, row: pd.Series) -> tuple[float, float]:
    """A person's probability from the printed card alone, and how far rounding of the printed
    digits can move it."""
    (b0, e0), coef, iso = _parse_card(text)
    assert set(coef) == set(row.index)
    eta = b0 + sum(coef[f][0] * float(row[f]) for f in row.index)
    err = e0 + sum(coef[f][1] * abs(float(row[f])) for f in row.index)
    p = 1.0 / (1.0 + math.exp(-eta))
    bound = err / 4  # expit changes by at most a quarter of its argument's change
    if iso:  # then the isotonic table, read at the model probability, linear between its rows
        q = np.array([r[0] for r in iso])
        v = np.array([r[2] for r in iso])
        # how far the printed breakpoints' rounding and the model probability's can move the reading
        dq = bound + max(r[1] for r in iso)
        around = np.interp([p - dq, p + dq], q, v)
        p = float(np.interp(p, q, v))
        bound = float(np.max(np.abs(around - p))) + max(r[3] for r in iso)
    return p, bound + 1e-12


@pytest.mark.parametrize("calibration", ["platt", "none", "isotonic"])
def test_logistic_card_gives_the_probability_by_hand(
        compas: CompasData, calibration: Literal["platt", "none", "isotonic"]) -> None:
    """Before, the card printed the intercept of the standardised columns (-0.181) beside
    coefficients per unit: a person's sum from the card was off by the centring term."""
    model = LogisticRisk(calibration=calibration).fit(compas.X, compas.y)
    text = model.to_text()
    prob = model.predict_proba(compas.X.iloc[PEOPLE])[:, 1]
    for k, i in enumerate(PEOPLE):
        p, bound = _by_hand(text, compas.X.iloc[i])
        assert bound < 1e-3, "too few digits printed to compute a probability by hand"
        assert abs(p - prob[k]) <= bound, (i, p, prob[k], bound)
    # the standardised coefficients are there to compare features, labelled as such
    assert "per sd*" in text and "standardised" in text
    per_sd = dict(zip(model.coef_table()["feature"], model.coef_table()["per_sd"], strict=True))
    assert abs(per_sd["priors_count"]) > abs(per_sd["juv_misd_count"])


def test_logistic_card_json_and_text_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     compas: CompasData) -> None:
    """`risk fit --model logistic --json`: the JSON's intercept and per-unit coefficients, and the
    card's text, give the probabilities `risk score` writes for the same people."""
    db, scores = str(tmp_path / "r.duckdb"), tmp_path / "scores.csv"
    data = str(shared(COMPAS))
    code, out, err = _run(capsys, "risk", "fit", data, "--label", "two_year_recid", "--model", "logistic",
                          "--db", db, "--json")
    assert code == 0, err
    card = json.loads(out)
    code, _, err = _run(capsys, "risk", "score", card["model_id"], data, "--out", str(scores), "--db", db, "--json")
    assert code == 0, err
    written = pd.read_csv(scores)["probability"].to_numpy()
    tables = card["model"]
    assert "Platt calibration folded in" in tables["equation"]
    per_unit = {r["feature"]: r["per_unit"] for r in tables["coefficients"]}
    assert list(per_unit) == card["features"]
    for i in PEOPLE:
        row = compas.X.iloc[i][card["features"]]
        eta = tables["intercept"] + sum(per_unit[f] * float(row[f]) for f in card["features"])
        assert abs(1.0 / (1.0 + math.exp(-eta)) - written[i]) < 1e-9
        p, bound = _by_hand(tables["text"], row)
        assert abs(p - written[i]) <= bound < 1e-4


# -- the point score's total table -------------------------------------------------------------
def _subset_sums(points: np.ndarray) -> set[int]:
    """What the total table listed before: every sum of a subset of the points."""
    sums = {0}
    for p in points:
        sums |= {s + int(p) for s in sums}
    return sums


def _constructible(model: PointScore, X: pd.DataFrame, groups: list[list[str]]) -> set[int]:
    """The totals of rows built from values seen in training: every observed value of each column
    an item reads, every choice of at most one column 1 per one-hot group, crossed; scored by the
    model itself."""
    used = sorted({it.name for it in model.items_})
    sources: list[list[dict[str, float]]] = []
    for g in groups:
        cols = [c for c in g if c in used]
        if cols:
            sources.append([dict.fromkeys(cols, 0.0)] + [{c: float(c == one) for c in cols} for one in cols])
            used = [c for c in used if c not in cols]
    sources += [[{c: float(v)} for v in np.unique(X[c])] for c in used]
    rows = []
    for combo in itertools.product(*sources):
        row = dict.fromkeys(X.columns, 0.0)
        for part in combo:
            row.update(part)
        rows.append(row)
    return {int(t) for t in model.raw_score(pd.DataFrame(rows, columns=X.columns))}


def _check_table(model: PointScore, X: pd.DataFrame, groups: list[list[str]]) -> list[int]:
    listed = model.total_table()["total"].tolist()
    assert set(listed) == _constructible(model, X, groups)  # each listed total has a person, and back
    assert set(model.raw_score(X).astype(int)) <= set(listed)  # every total seen in training
    table = model.total_table().set_index("total")
    assert table["n_train"].sum() == len(X)
    return [int(t) for t in listed]


def test_reachable_totals_of_nested_thresholds_and_one_hot_columns() -> None:
    """Worked by hand: age < 25 (2 points) and age < 35 (3): 0, 3 or 5; theft (4) and fraud (1),
    one-hot categories of one charge column: 0, 4 or 1; crossed."""
    age = [Item(0, "age", 25.0, False, negate=True), Item(0, "age", 35.0, False, negate=True)]
    charge = [Item(1, "theft", 1.0, True), Item(2, "fraud", 1.0, True)]
    assert reachable_totals(age, [2, 3]).tolist() == [0, 3, 5]  # not 2: age < 25 but not < 35
    assert reachable_totals(age + charge, [2, 3, 4, 1], exclusive=[[1, 2]]).tolist() == [0, 1, 3, 4, 5, 6, 7, 9]
    # without the group the charges are independent columns: 5 (both) and 8 = 3 + 4 + 1 come back
    assert reachable_totals(charge, [4, 1]).tolist() == [0, 1, 4, 5]
    # a complement item (theft = 0) and thresholds in any order
    mixed = [Item(0, "age", 35.0, False, negate=True), Item(1, "theft", 1.0, True, negate=True),
             Item(0, "age", 25.0, False, negate=False), Item(2, "fraud", 1.0, True)]
    # age: < 25 -> 3, 25..34 -> 3 + 2 = 5, >= 35 -> 2; charge: none -> 6, theft -> 0, fraud -> 6 + 1
    assert reachable_totals(mixed, [3, 6, 2, 1], exclusive=[[1, 2]]).tolist() == [2, 3, 5, 8, 9, 10, 11, 12]


def test_total_table_of_a_hand_built_fit_lists_only_reachable_totals() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    age = rng.integers(18, 70, n).astype(float)
    cat = rng.integers(0, 4, n)  # none, theft, fraud, assault: one charge column, one-hot
    X = pd.DataFrame({"age": age, "theft": (cat == 1) * 1.0, "fraud": (cat == 2) * 1.0,
                      "assault": (cat == 3) * 1.0})
    eta = -1.5 + 1.2 * (age < 25) + 1.0 * (age < 35) + 1.0 * (cat == 1) + 0.8 * (cat == 2)
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    groups = [["theft", "fraud", "assault"]]
    m = PointScore(max_items=4, exclusive_groups=groups).fit(X, y)
    assert [(it.label, int(p)) for it, p in zip(m.items_, m.points_, strict=True)] == [
        ("age < 25", 7), ("age < 33", 5), ("theft = 1", 5), ("fraud = 1", 4)]
    # by hand: age gives 0, 5 or 12; the charge 0, 5 or 4
    assert _check_table(m, X, groups) == [0, 4, 5, 9, 10, 12, 16, 17]
    # before: every subset sum, e.g. 7 (age < 25 but not < 33), 14 (theft and fraud) and 21 (all)
    assert _subset_sums(m.points_) - {0, 4, 5, 9, 10, 12, 16, 17} == {7, 11, 14, 21}
    assert "\n    7 " not in m.to_text() and "\n   21 " not in m.to_text()


def test_compas_total_table_lists_only_totals_a_person_can_have(compas: CompasData) -> None:
    m = PointScore(max_items=8, exclusive_groups=compas.exclusive_groups).fit(compas.X, compas.y)
    listed = _check_table(m, compas.X, compas.exclusive_groups)
    gone = _subset_sums(m.points_) - set(listed)
    assert gone, "the card's items on one column should rule out some sums"
    # e.g. 2: age < 29 (2 points) alone, but age < 29 implies age < 34; before, it was listed
    # with a probability and 0 training rows, as was every other total in `gone`
    assert not any(m.train_totals_.get(float(t)) for t in gone)


def test_compas_one_hot_charges_do_not_combine(compas: CompasData) -> None:
    """With 12 items the card holds several charge descriptions; a person has one charge."""
    groups = compas.exclusive_groups
    m = PointScore(max_items=12, exclusive_groups=groups).fit(compas.X, compas.y)
    charges = [it for it in m.items_ if it.name in groups[0]]
    assert len(charges) >= 2
    listed = _check_table(m, compas.X, groups)
    free = reachable_totals(m.items_, m.points_)  # the charge columns read as independent
    assert set(listed) < set(free.tolist())


def test_exclusive_groups_are_checked_on_the_training_rows(compas: CompasData) -> None:
    X = compas.X[["age", "priors_count", "charge_felony", "charge_battery", "charge_possession_of_cocaine"]]
    # a felony charge of cocaine possession: charge degree and description are two columns
    row = int(np.flatnonzero(X["charge_possession_of_cocaine"].to_numpy() == 1)[0])
    with pytest.raises(InvalidParameterError, match=rf"X row {row} \(from 0\): got 1 in columns "
                                                    r"\['charge_felony', 'charge_possession_of_cocaine'\] of group 1"):
        PointScore(exclusive_groups=[["charge_battery"], ["charge_felony", "charge_possession_of_cocaine"]]).fit(
            X, compas.y)
    with pytest.raises(InvalidParameterError, match=r"X row 0 \(from 0\), column 'age': got 69; expected 0 or 1"):
        PointScore(exclusive_groups=[["age", "charge_battery"]]).fit(X, compas.y)
    with pytest.raises(InvalidParameterError, match=r"column 'race' in group 0; expected one of the feature"):
        PointScore(exclusive_groups=[["race"]]).fit(X, compas.y)
