"""A risk model fitted from a table sent to the service: the same model and card as `crimelens risk fit`."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from crimelens.config import load_settings
from crimelens.governance import Actor
from crimelens.services import open_context
from crimelens.services.risk import fit_risk_model
from tests.api.city import City
from tests.api.conftest import auth
from tests.conftest import shared

COMPAS = "compas/compas-scores-two-years.deid.csv.gz"


def _rows(path: Path, keep: Callable[[dict[str, str], int], bool], *, repeat: int = 1,
          rename: dict[str, str] | None = None) -> Path:
    """The COMPAS rows ``keep`` takes (row, 0-based index), as published, written ``repeat`` times to ``path``
    (columns renamed by ``rename``)."""
    with gzip.open(shared(COMPAS), "rt", newline="") as fh:
        rows = list(csv.reader(fh))
    header = [(rename or {}).get(c, c) for c in rows[0]]
    kept = [r for i, r in enumerate(rows[1:]) if keep(dict(zip(rows[0], r, strict=False)), i)]
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([header, *(kept * repeat)])
    return path


def _fit(client: TestClient, city: City, data: bytes, user: str = "ana", **query: object) -> object:
    return client.post("/api/risk/models", params={"filename": Path(COMPAS).name, "label": "two_year_recid",
                                                   **query},
                       content=data, headers={**auth(city, user, "tool evaluation"),
                                              "Content-Type": "application/octet-stream"})


def test_an_uploaded_table_gives_the_command_lines_model_and_card(client: TestClient, city: City,
                                                                  tmp_path: Path) -> None:
    data = shared(COMPAS).read_bytes()
    r = _fit(client, city, data, model="points", max_items=6, group=["race", "sex"])
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    doc = r.json()  # type: ignore[attr-defined]
    card = doc["card"]
    assert card["data_file"] == "upload:compas-scores-two-years.deid.csv.gz"
    assert card["data_hash"] == hashlib.sha256(data).hexdigest()
    assert card["n_train"] == 6172 and card["params"]["max_items"] == 6
    assert {g["facet"] for g in card["groups"]["audit"]["groups"]} == {"overall", "race", "sex"}
    assert "race" not in card["features"] and "sex" not in card["features"]
    # the same file fitted by the command line's service gives the same model, bit for bit (the
    # cards differ only in how they name the file, and the mark their purpose gives)
    with open_context(load_settings(db=tmp_path / "cli.duckdb")) as ctx:
        cli = fit_risk_model(ctx, data=shared(COMPAS), label="two_year_recid", kind="points",
                             params={"max_items": 6}, audit_columns=["race", "sex"], actor=Actor("ada"))
        cli_artefact = ctx.store.scalar("SELECT artefact_hash FROM risk_models WHERE model_id = ?", [cli.model_id])
    assert card["cv"] == cli.card["cv"] and card["model"]["text"] == cli.card["model"]["text"]
    skip = ("data_file", "model_id", "mark", "warnings")
    assert {k: v for k, v in card.items() if k not in skip} == {
        k: v for k, v in json.loads(json.dumps(cli.card, default=str)).items() if k not in skip}
    # the warnings name the file as each channel read it (ProPublica's censored 2014 outcomes)
    assert [w.replace(card["data_file"], "FILE") for w in card["warnings"]] == [
        w.replace(str(shared(COMPAS)), "FILE") for w in cli.card["warnings"]]
    assert [w[:18] for w in card["warnings"]] == ["CENSORED OUTCOMES:"]
    # no upload is left beside the store
    assert not list(Path(city.db).resolve().parent.glob(".crimelens-upload-*"))

    listed = client.get("/api/risk/models", headers=auth(city, "aud")).json()["items"]
    assert doc["model_id"] in {m["model_id"] for m in listed}
    shown = client.get(f"/api/risk/models/{doc['model_id']}/card", headers=auth(city, "bea")).json()["card"]
    assert shown["cv"] == card["cv"] and shown["provenance"]["fitted_by"] == "ana"
    assert shown["provenance"]["artefact_sha256"] == cli_artefact
    assert shown["provenance"]["ledger_seq"] == doc["ledger_seq"]
    entry = client.get("/api/ledger/entries", params={"limit": 20}, headers=auth(city, "aud")).json()["items"]
    fit = next(e for e in entry if e["seq"] == doc["ledger_seq"])
    assert (fit["action"], fit["user"], fit["purpose"]) == ("risk.fit", "ana", "tool evaluation")
    # an auditor takes the card away: the file whose hash the fit's ledger entry holds
    got = client.get(f"/api/risk/models/{doc['model_id']}/card/export", headers=auth(city, "aud"))
    assert got.status_code == 200 and got.headers["x-output-hash-matches"] == "true"
    assert hashlib.sha256(got.content).hexdigest() == fit["output_hash"] == got.headers["x-content-sha256"]
    assert json.loads(got.content)["model_id"] == doc["model_id"]
    assert client.get("/api/risk/models/rm-nope/card/export", headers=auth(city, "aud")).status_code == 404


def test_a_bad_risk_request_is_refused_and_named(client: TestClient, city: City) -> None:
    data = shared(COMPAS).read_bytes()
    r = _fit(client, city, data, model="points", max_rules=3)
    assert r.status_code == 422 and "expected it only with model 'rules'" in r.json()["error"]  # type: ignore[attr-defined]
    r = _fit(client, city, data, label="reoffended")
    assert r.status_code == 422 and "no label column 'reoffended'" in r.json()["error"]  # type: ignore[attr-defined]
    assert "upload:compas-scores-two-years.deid.csv.gz" in r.json()["error"]  # type: ignore[attr-defined]
    r = _fit(client, city, data, features="priors_count,race")  # a text column: refused by name, not as text
    assert r.status_code == 422 and r.json()["type"] == "ProtectedAttributeError"  # type: ignore[attr-defined]
    assert "protected attribute(s) ['race']" in r.json()["error"]  # type: ignore[attr-defined]
    r = _fit(client, city, b"\x89PNG\r\n\x1a\n\x00\x00")  # not a table: named, not a 500
    assert r.status_code == 422 and "could not be read as a CSV" in r.json()["error"]  # type: ignore[attr-defined]
    assert r.json()["error"].startswith("upload:compas-scores-two-years.deid.csv.gz")  # type: ignore[attr-defined]
    r = _fit(client, city, b"")
    assert r.status_code == 422 and "empty body" in r.json()["error"]  # type: ignore[attr-defined]


def test_an_auditor_audits_an_uploaded_score_column_as_the_command_line_does(client: TestClient, city: City,
                                                                             tmp_path: Path) -> None:
    from crimelens.services.risk import audit_table

    data = shared(COMPAS).read_bytes()
    query = {"filename": Path(COMPAS).name, "label": "two_year_recid", "score": "decile_score", "threshold": 5,
             "group": ["race", "sex"], "reference": ["race=Caucasian"], "bootstrap": 200, "mitigate": True}
    r = client.post("/api/audits", params=query, content=data,
                    headers={**auth(city, "aud", "press inquiry"), "Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["n"] == 6172 and doc["threshold"] == 5 and doc["n_mitigations"] >= 1
    shown = client.get(f"/api/audits/{doc['report_id']}", headers=auth(city, "bea")).json()
    report = shown["report"]
    assert shown["user_name"] == "aud" and shown["data_file"] == "upload:compas-scores-two-years.deid.csv.gz"
    assert report["data"]["sha256"] == hashlib.sha256(data).hexdigest() and report["reference"]["race"] == "Caucasian"
    aa = next(g for g in report["groups"] if g["facet"] == "race" and g["group"] == "African-American")
    assert aa["fpr_low"] <= aa["fpr"] <= aa["fpr_high"] and aa["n"] == 3175
    # the same figures as the command line's service on the same file
    with open_context(load_settings(db=tmp_path / "cli.duckdb")) as ctx:
        cli = audit_table(ctx, data=shared(COMPAS), label="two_year_recid", score="decile_score", threshold=5,
                          groups=["race", "sex"], reference={"race": "Caucasian"}, n_boot=200, mitigate=True,
                          actor=Actor("ada"))
    ours = {(g["facet"], g["group"]): g["fpr"] for g in report["groups"]}
    assert ours == {(g["facet"], g["group"]): g["fpr"] for g in json.loads(cli.json_text)["groups"]}
    entries = client.get("/api/ledger/entries", params={"limit": 20}, headers=auth(city, "aud")).json()["items"]
    entry = next(e for e in entries if e["seq"] == doc["ledger_seq"])
    assert (entry["action"], entry["user"], entry["purpose"]) == ("audit.fairness", "aud", "press inquiry")
    got = client.get(f"/api/audits/{doc['report_id']}/export", headers=auth(city, "bea"))
    assert got.status_code == 200 and got.headers["x-output-hash-matches"] == "true"
    assert hashlib.sha256(got.content).hexdigest() == entry["output_hash"] == doc["json_hash"]
    assert json.loads(got.content)["groups"] == report["groups"]
    # a report edited in the store after the fact no longer matches what the ledger recorded
    app = client.app
    app.state.ctx.store.execute("UPDATE audit_reports SET report_json = replace(report_json, '0.4', '0.3') "  # type: ignore[attr-defined]
                                "WHERE report_id = ?", [doc["report_id"]])
    got = client.get(f"/api/audits/{doc['report_id']}/export", headers=auth(city, "bea"))
    assert got.status_code == 200 and got.headers["x-output-hash-matches"] == "false"
    assert not list(Path(city.db).resolve().parent.glob(".crimelens-upload-*"))

    bad = {**query, "reference": ["race"]}
    r = client.post("/api/audits", params=bad, content=data, headers={**auth(city, "aud"),
                                                                      "Content-Type": "application/octet-stream"})
    assert r.status_code == 422 and "expected COLUMN=GROUP" in r.json()["error"]
    r = client.post("/api/audits", params={**query, "score": "riskiness"}, content=data,
                    headers={**auth(city, "aud"), "Content-Type": "application/octet-stream"})
    assert r.status_code == 422 and "no score column 'riskiness'" in r.json()["error"]
    assert "upload:compas-scores-two-years.deid.csv.gz" in r.json()["error"]


def _upload(client: TestClient, city: City, route: str, data: bytes, filename: str, user: str,
            **query: Any) -> Any:
    return client.post(route, params={"filename": filename, "label": "two_year_recid", **query}, content=data,
                       headers={**auth(city, user, "tool evaluation"), "Content-Type": "application/octet-stream"})


def _besides_censoring(warnings: list[str]) -> list[str]:
    """The warnings other than the one every slice of ProPublica's file with late 2014 screenings gets."""
    return [w for w in warnings if not w.startswith("CENSORED OUTCOMES:")]


def test_an_audit_of_a_model_on_its_own_training_file_says_it_is_in_sample(client: TestClient, city: City,
                                                                           tmp_path: Path) -> None:
    """Before, the audit's answer had no ``warnings``: the in-sample warning was only in the stored JSON."""
    data = shared(COMPAS).read_bytes()
    fit = _upload(client, city, "/api/risk/models", data, Path(COMPAS).name, "ana", model="logistic")
    assert fit.status_code == 200, fit.text
    model_id = fit.json()["model_id"]
    # history features, one row per person: only the file's censored 2014 outcomes to warn about
    assert [w[:18] for w in fit.json()["warnings"]] == ["CENSORED OUTCOMES:"]
    query = {"model_id": model_id, "group": ["race"], "bootstrap": 0}
    r = _upload(client, city, "/api/audits", data, Path(COMPAS).name, "aud", **query)
    assert r.status_code == 200, r.text
    (warning,) = _besides_censoring(r.json()["warnings"])
    assert warning.startswith(f"IN-SAMPLE: upload:{Path(COMPAS).name} is the file model {model_id} was fitted on")
    assert "flatter" in warning and "cross-validated AUC" in warning
    shown = client.get(f"/api/audits/{r.json()['report_id']}", headers=auth(city, "bea")).json()
    assert _besides_censoring(shown["warnings"]) == _besides_censoring(shown["report"]["warnings"]) == [warning]
    entry = next(e for e in client.get("/api/ledger/entries", params={"action": "audit.fairness", "limit": 5},
                                       headers=auth(city, "aud")).json()["items"] if e["seq"] == r.json()["ledger_seq"])
    assert _besides_censoring(entry["detail"]["warnings"]) == [warning]
    # a file the model has not seen (the 2014 screenings alone) is no in-sample audit
    part = _rows(tmp_path / "c2014.csv", lambda r, _: r["compas_screening_date"].startswith("2014"))
    r = _upload(client, city, "/api/audits", part.read_bytes(), "c2014.csv", "aud", **query)
    assert r.status_code == 200, r.text
    assert _besides_censoring(r.json()["warnings"]) == []  # (its April-December screenings are censored)
    shown = client.get(f"/api/audits/{r.json()['report_id']}", headers=auth(city, "bea")).json()
    assert _besides_censoring(shown["warnings"]) == []


def test_a_person_on_several_rows_is_named_by_id_column_and_warned_about(client: TestClient, city: City,
                                                                         tmp_path: Path) -> None:
    """Before, ``id_column`` was not a parameter of the API: it was ignored, the folds were not grouped and
    nothing was said."""
    twice = _rows(tmp_path / "twice.csv", lambda _, i: i < 600, repeat=2, rename={"id": "person"})
    data = twice.read_bytes()  # a plain table (no column 'id'): the person is only known when named
    query = {"model": "logistic", "features": "age,priors_count"}
    r = _upload(client, city, "/api/risk/models", data, "twice.csv", "ana", **query)
    assert r.status_code == 200, r.text
    assert _besides_censoring(r.json()["warnings"]) == [] and "grouped_by" not in r.json()["card"]["cv"]
    r = _upload(client, city, "/api/risk/models", data, "twice.csv", "ana", id_column="person", **query)
    assert r.status_code == 200, r.text
    doc = r.json()
    (warning,) = _besides_censoring(doc["warnings"])
    assert warning.startswith("1,200 rows of upload:twice.csv repeat a person id in column 'person' (600 ids")
    assert _besides_censoring(doc["card"]["warnings"]) == [warning] and doc["card"]["cv"]["grouped_by"] == "person"
    shown = client.get(f"/api/risk/models/{doc['model_id']}/card", headers=auth(city, "bea")).json()["card"]
    assert _besides_censoring(shown["warnings"]) == [warning]
    bad = _upload(client, city, "/api/risk/models", data, "twice.csv", "ana", id_column="ID", **query)
    assert bad.status_code == 422 and bad.json()["type"] == "SchemaError"
    assert bad.json()["error"].startswith("risk fit upload:twice.csv: no id column 'ID' (--id-column)")

    audit = {"score": "decile_score", "threshold": 5, "group": ["race"], "bootstrap": 0, "id_column": "person"}
    r = _upload(client, city, "/api/audits", data, "twice.csv", "aud", **audit)
    assert r.status_code == 200, r.text
    (warning,) = _besides_censoring(r.json()["warnings"])
    assert "column 'person'" in warning and "the bootstrap intervals (rows resampled as independent) are too narrow" in warning
    shown_audit = client.get(f"/api/audits/{r.json()['report_id']}", headers=auth(city, "aud")).json()
    assert _besides_censoring(shown_audit["warnings"]) == [warning]
