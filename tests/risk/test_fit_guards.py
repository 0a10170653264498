"""``risk fit`` refuses protected attributes and the label as features, logs each refusal, and warns
when a cross-validated AUC says that a feature carries the outcome."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import shared
from tests.risk.test_cli import _ledger, run

COMPAS = "compas/compas-scores-two-years.deid.csv.gz"


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain (not COMPAS-layout) table from the first 800 COMPAS rows, with the audit's column names:
    the sex and race columns coded as numbers under names the old guard let through."""
    f = pd.read_csv(shared(COMPAS), nrows=800)
    codes = {r: i for i, r in enumerate(sorted(f["race"].unique()))}
    out = pd.DataFrame({"priors": f["priors_count"], "juv_fel": f["juv_fel_count"],
                        "is_female": (f["sex"] == "Female").astype(int), "RaceCode": f["race"].map(codes),
                        "skin_colour": f["race"].map(codes), "black": (f["race"] == "African-American").astype(int),
                        "y": f["two_year_recid"]})
    path = tmp_path_factory.mktemp("plain") / "plain.csv"
    out.to_csv(path, index=False)
    return path


def _refused(db: str) -> list[dict[str, object]]:
    return [e for e in _ledger(db, "risk.fit") if e["outcome"] == "refused"]


def test_sex_and_race_under_other_names_are_refused_and_logged(plain: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "r.duckdb")
    code, out, _ = run(capsys, "risk", "fit", str(plain), "--label", "y", "--model", "logistic",
                       "--features", "priors,juv_fel,is_female,RaceCode", "--db", db, "--json")
    doc = json.loads(out)
    assert code == 2 and doc["type"] == "ProtectedAttributeError"
    assert ("got protected attribute(s) ['RaceCode', 'is_female']; expected none (column 'RaceCode' names "
            "'race'; column 'is_female' names 'female')") in doc["error"]
    for column, word in (("skin_colour", "skin colour"), ("black", "black")):
        code, out, _ = run(capsys, "risk", "fit", str(plain), "--label", "y", "--model", "logistic",
                           "--features", f"priors,{column}", "--db", db, "--json")
        assert code == 2 and f"column {column!r} names {word!r}" in json.loads(out)["error"]
    refused = _refused(db)
    assert len(refused) == 3 and len(_ledger(db, "risk.fit")) == 3  # every attempt logged, none fitted
    first = refused[0]
    assert first["model"] == "LogisticRisk" and first["data_hash"]
    assert first["detail"].pop("via")["channel"] == "cli"  # the OS account that ran the command
    assert first["detail"] == {
        "reason": doc["error"], "label": "y", "features": ["priors", "juv_fel", "is_female", "RaceCode"],
        "error": "ProtectedAttributeError"}
    code, out, _ = run(capsys, "risk", "list", "--db", db, "--json")
    assert code == 0 and json.loads(out)["models"] == []
    # without those columns the same table fits
    code, out, err = run(capsys, "risk", "fit", str(plain), "--label", "y", "--model", "logistic",
                         "--features", "priors,juv_fel", "--db", db, "--json")
    assert code == 0, err
    assert json.loads(out)["features"] == ["priors", "juv_fel"]


def test_a_protected_compas_column_is_refused_and_logged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "r.duckdb")
    code, out, _ = run(capsys, "risk", "fit", str(shared(COMPAS)), "--label", "two_year_recid",
                       "--features", "priors_count,race", "--db", db, "--json")
    assert code == 2 and "column 'race' names 'race'" in json.loads(out)["error"]
    (entry,) = _refused(db)
    assert entry["model"] == "PointScore" and entry["detail"]["error"] == "ProtectedAttributeError"  # type: ignore[index]


def test_the_label_as_a_feature_is_refused_and_logged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It fitted 'two_year_recid +13.542 per unit, cross-validated AUC 1.000' and stored the model."""
    db = str(tmp_path / "r.duckdb")
    code, out, _ = run(capsys, "risk", "fit", str(shared(COMPAS)), "--label", "two_year_recid", "--model",
                       "logistic", "--features", "priors_count,two_year_recid", "--db", db, "--json")
    doc = json.loads(out)
    assert code == 2 and doc["type"] == "InvalidParameterError"
    assert ("features: got the label column 'two_year_recid' among the features ['priors_count', "
            "'two_year_recid']; expected features that do not contain the outcome") in doc["error"]
    (entry,) = _refused(db)
    assert entry["detail"]["features"] == ["priors_count", "two_year_recid"]  # type: ignore[index]
    assert entry["detail"]["reason"] == doc["error"]  # type: ignore[index]
    code, out, _ = run(capsys, "risk", "list", "--db", db, "--json")
    assert json.loads(out)["models"] == []


def test_a_near_perfect_auc_warns_that_a_feature_may_carry_the_outcome(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """In the COMPAS layout is_recid is refused by name (a post-outcome column); the AUC alarm is for the
    tables whose columns have no known meaning: here ProPublica's 6,172 rows as a plain table."""
    from crimelens.risk import load_compas

    db = str(tmp_path / "r.duckdb")
    rows = load_compas(shared(COMPAS)).rows
    data = str(tmp_path / "plain.csv")
    rows[["priors_count", "juv_fel_count", "is_recid", "two_year_recid"]].to_csv(data, index=False)
    code, out, err = run(capsys, "risk", "fit", data, "--label", "two_year_recid", "--model", "logistic",
                         "--features", "priors_count,is_recid", "--db", db, "--json")
    assert code == 0, err
    card = json.loads(out)
    assert round(card["cv"]["auc_mean"], 3) == 0.975
    (warning,) = card["warnings"]
    assert warning.startswith("cross-validated AUC 0.975 >= 0.95: a feature may carry the outcome 'two_year_recid'")
    assert "'is_recid' alone separates it with AUC 0.973" in warning
    (entry,) = _ledger(db, "risk.fit")
    assert entry["outcome"] == "ok" and entry["detail"]["warnings"] == [warning]  # type: ignore[index]
    # printed for a person, by the fit and by the stored card
    code, out, _ = run(capsys, "risk", "card", card["model_id"], "--db", db)
    assert code == 0 and "warning:" in out and "may carry the outcome" in " ".join(out.split())
    # an ordinary model has no warning
    code, out, err = run(capsys, "risk", "fit", data, "--label", "two_year_recid", "--model", "logistic",
                         "--features", "priors_count,juv_fel_count", "--db", db, "--json")
    assert code == 0, err
    assert "warnings" not in json.loads(out) and "warnings" not in _ledger(db, "risk.fit")[-1]["detail"]  # type: ignore[operator]
