"""``crimelens risk`` and ``crimelens audit`` through the real entry point, on a tmp store."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import typer

from crimelens.cli.audit import audit_app
from crimelens.config import load_settings
from crimelens.services import open_context
from tests.cli.test_ingest_cli import run
from tests.conftest import shared

COMPAS = "compas/compas-scores-two-years.deid.csv.gz"




def _ledger(db: str, action: str) -> list[dict[str, object]]:
    with open_context(load_settings(db=Path(db))) as ctx:
        return [e.to_payload() for _, e in ctx.ledger.entries(action=action)]


def test_risk_fit_card_score_and_the_actionable_guard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "r.duckdb")
    data = str(shared(COMPAS))
    code, out, err = run(capsys, "risk", "fit", data, "--label", "two_year_recid", "--model", "points",
                         "--max-items", "6", "--group", "race", "--db", db, "--json")
    assert code == 0, err
    card = json.loads(out)
    assert card["n_train"] == 6172 and card["kind"] == "PointScore"
    assert len(card["model"]["points"]) <= 6 and all(1 <= r["points"] <= 10 for r in card["model"]["points"])
    assert card["cv"]["auc_mean"] > 0.71
    rows = {r["model"]: r for r in card["compas_comparison"]["rows"]}
    compas = rows["COMPAS decile >= 5"]
    assert round(compas["auc"], 3) == 0.710 and round(compas["fpr[African-American]"], 3) == 0.423
    ours = rows["this model (out-of-fold)"]
    assert abs(ours["flagged_share"] - compas["flagged_share"]) < 0.02
    assert "race" not in card["features"]
    # the charge descriptions are one-hot columns of one charge: the total table never adds two of them
    charges = [f for f in card["features"] if f.startswith("charge_") and f != "charge_felony"]
    assert card["params"]["exclusive_groups"] == [charges] and len(charges) > 20
    model_id = card["model_id"]
    fit_entries = _ledger(db, "risk.fit")
    assert len(fit_entries) == 1 and fit_entries[0]["model_version"] == model_id
    assert fit_entries[0]["purpose"] == "research"

    # the same fit again is the same model: stored once, each fit in the ledger (it crashed on the
    # primary key before); other audit columns make another card of the same fitted model
    code, out, err = run(capsys, "risk", "fit", data, "--label", "two_year_recid", "--model", "points",
                         "--max-items", "6", "--group", "race", "--db", db, "--json")
    assert code == 0, err
    assert json.loads(out)["model_id"] == model_id
    again = _ledger(db, "risk.fit")
    assert len(again) == 2 and again[1]["detail"]["already_stored"] is True  # type: ignore[index]
    code, out, err = run(capsys, "risk", "fit", data, "--label", "two_year_recid", "--model", "points",
                         "--max-items", "6", "--group", "sex", "--db", db, "--json")
    other = json.loads(out)
    assert code == 0 and other["model_id"] != model_id and other["model"]["text"] == card["model"]["text"]
    code, out, _ = run(capsys, "risk", "list", "--db", db, "--json")
    assert code == 0 and len(json.loads(out)["models"]) == 2

    # the card as people read it: each group's error rates with their intervals, small groups marked
    code, out, _ = run(capsys, "risk", "card", model_id, "--db", db)
    black = next(g for g in card["groups"]["audit"]["groups"] if g["group"] == "African-American")
    assert f"{black['fpr']:.3f} [{black['fpr_low']:.3f}, {black['fpr_high']:.3f}]" in out
    assert "* too few people for a reliable rate" in " ".join(out.split())
    code, out, _ = run(capsys, "risk", "card", model_id, "--db", db, "--json")
    stored = json.loads(out)
    assert code == 0 and stored["model"]["points"] == card["model"]["points"]
    assert stored["provenance"]["ledger_seq"] == card["ledger_seq"]
    assert stored["provenance"]["artefact_sha256"] == fit_entries[0]["artefact_hash"] == again[1]["artefact_hash"]

    scores = tmp_path / "scores.csv"
    code, out, _ = run(capsys, "risk", "score", model_id, data, "--out", str(scores), "--id-column", "id",
                       "--db", db, "--json")
    assert code == 0 and json.loads(out)["n"] == 6172
    text = scores.read_text()
    assert "research — not for operational use" in text
    entry = _ledger(db, "risk.score")[0]
    assert entry["output_hash"] == hashlib.sha256(text.encode()).hexdigest()
    assert entry["detail"]["person_level"] is True  # type: ignore[index]

    code, out, _ = run(capsys, "risk", "score", model_id, data, "--actionable", "--db", db, "--json")
    assert code == 3
    assert "needs an active deployment" in json.loads(out)["error"]
    refused = [e for e in _ledger(db, "risk.score") if e["outcome"] == "refused"]
    assert len(refused) == 1


def test_audit_cli_reports_and_hashes_into_the_ledger(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "a.duckdb")
    html, js = tmp_path / "audit.html", tmp_path / "audit.json"
    code, out, err = run(capsys, "audit", str(shared(COMPAS)), "--score", "decile_score", "--label",
                         "two_year_recid", "--group", "race", "--threshold", "5", "--reference",
                         "race=Caucasian", "--bootstrap", "200", "--mitigate", "--html", str(html),
                         "--json-file", str(js), "--db", db, "--json")
    assert code == 0, err
    doc = json.loads(out)
    race = {g["group"]: g for g in doc["groups"] if g["facet"] == "race"}
    assert round(race["African-American"]["fpr"], 3) == 0.423 and round(race["Caucasian"]["fnr"], 3) == 0.496
    assert race["African-American"]["fpr_low"] < 0.423 < race["African-American"]["fpr_high"]
    assert doc["label_limits"] and "not offending" in doc["label_limits"][0]
    assert [m["name"] for m in doc["mitigations"]] == ["group-specific thresholds"]
    page = html.read_text()
    assert page.count("<svg") >= 4 and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    entry = _ledger(db, "audit.fairness")[0]
    assert entry["output_hash"] == hashlib.sha256(js.read_bytes()).hexdigest() == doc["json_sha256"]
    assert entry["detail"]["html_hash"] == hashlib.sha256(html.read_bytes()).hexdigest()  # type: ignore[index]

    # the explicit subcommand gives the same numbers; a human-readable run prints the label limits
    code, out, _ = run(capsys, "audit", "run", str(shared(COMPAS)), "--score", "decile_score", "--label",
                       "two_year_recid", "--group", "race", "--threshold", "5", "--bootstrap", "0",
                       "--db", db)
    assert code == 0 and "not offending" in out and "Chouldechova" in out


def test_audit_group_takes_other_subcommands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def probe(name: str = typer.Option("x", "--name")) -> None:
        typer.echo(f"probe {name}")

    audit_app.command("probe-r6")(probe)
    try:
        code, out, _ = run(capsys, "audit", "probe-r6", "--name", "y")
        assert code == 0 and out.strip() == "probe y"
    finally:
        audit_app.registered_commands[:] = [c for c in audit_app.registered_commands
                                            if c.name != "probe-r6"]
    code, out, _ = run(capsys, "audit", "no-such-file.csv", "--score", "s", "--label", "y", "--group", "g",
                       "--db", str(tmp_path / "b.duckdb"), "--json")
    assert code == 2 and "no such file" in json.loads(out)["error"]


def test_a_bad_value_is_named_by_its_line_in_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Rows dropped by ProPublica's filters do not shift the line a refusal names."""
    import csv
    import gzip

    with gzip.open(shared(COMPAS), "rt", newline="") as fh:
        rows = list(csv.reader(fh))[:400]
    header = rows[0]
    # the first data row that ProPublica's filters keep after at least one they drop
    days = header.index("days_b_screening_arrest")
    dropped = next(i for i in range(1, 400) if not rows[i][days] or abs(float(rows[i][days])) > 30)
    target = next(i for i in range(dropped + 1, 400) if rows[i][days] and abs(float(rows[i][days])) <= 30
                  and rows[i][header.index("c_charge_degree")] != "O")
    rows[target][header.index("two_year_recid")] = "yes"
    path = tmp_path / "compas_edit.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    line = target + 1  # the header is line 1
    db = str(tmp_path / "r.duckdb")
    code, _, err = run(capsys, "risk", "fit", str(path), "--label", "two_year_recid", "--db", db)
    assert code == 2 and f"compas_edit.csv line {line}, column 'two_year_recid': got 'yes'; expected 0 or 1" in err
    code, _, err = run(capsys, "audit", str(path), "--score", "decile_score", "--label", "two_year_recid",
                       "--group", "race", "--threshold", "5", "--db", db)
    assert code == 2 and f"line {line}, column 'two_year_recid'" in err
    rows[target][header.index("two_year_recid")] = ""  # an empty cell reads as one, not as np.float64(nan)
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    code, _, err = run(capsys, "risk", "fit", str(path), "--label", "two_year_recid", "--db", db)
    assert code == 2 and f"line {line}, column 'two_year_recid': got an empty cell; expected 0 or 1" in err
    assert "np.float64" not in err
