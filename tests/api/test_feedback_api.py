"""An exposure audit run through the service: the same figures as `crimelens audit exposure`, stored and logged."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from crimelens.config import load_settings
from crimelens.governance import Actor
from crimelens.services import open_context
from crimelens.services.feedback import audit_exposure
from tests.api.city import City, copy_city
from tests.api.conftest import auth


def test_an_exposure_audit_gives_the_command_lines_figures(client: TestClient, city: City, tmp_path: Path) -> None:
    body = {"dataset": "synth", "group_by": "group", "model": "naive", "periods": 4, "window_days": 120}
    r = client.post("/api/feedback/exposure", json=body, headers=auth(city, "ana", "exposure review"))
    assert r.status_code == 200, r.text
    doc = r.json()
    groups = doc["summary"]["groups"]
    real = {g: v for g, v in groups.items() if g != "(outside areas)"}
    assert len(real) >= 2 and doc["kind"] == "exposure" and doc["params"]["n_periods"] == 4
    # the flag shares of all groups (and of cells outside every area) make up the whole
    assert sum(v["flag_share"]["mean"] for v in groups.values()) == pytest.approx(1.0, abs=1e-5)  # summary figures keep 6 decimals
    for v in real.values():
        assert v["flag_share"]["lo"] <= v["flag_share"]["mean"] <= v["flag_share"]["hi"]
        assert v["ratio_to_population"]["mean"] == pytest.approx(
            v["flag_share"]["mean"] / v["population_share"]["mean"], rel=1e-3)
    listed = client.get("/api/feedback/runs", params={"kind": "exposure"}, headers=auth(city, "bea")).json()
    assert doc["run_id"] in {x["run_id"] for x in listed["items"]}
    entries = client.get("/api/ledger/entries", params={"limit": 20}, headers=auth(city, "aud")).json()["items"]
    entry = next(e for e in entries if e["seq"] == doc["ledger_seq"])
    assert (entry["action"], entry["user"], entry["purpose"]) == ("feedback.exposure", "ana", "exposure review")
    # the command line's service on a copy of the same store gives the same audit, bit for bit
    copy = copy_city(city, tmp_path / "copy")
    with open_context(load_settings(db=copy.db)) as ctx:
        cli, _ = audit_exposure(ctx, actor=Actor("ana"), dataset="synth", group_by="group", model="naive",
                                n_periods=4, window_days=120)
    assert cli.output_hash == doc["output_hash"] and cli.summary == doc["summary"]
    # stored areas have no file to hash: the entry names them by the hash of their content
    assert cli.params["areas_content_sha256"] == doc["params"]["areas_content_sha256"]
    assert len(doc["params"]["areas_content_sha256"]) == 64 and doc["params"]["ties"] == "split"

    r = client.post("/api/feedback/exposure", json={**body, "group_by": "income_band"},
                    headers=auth(city, "ana", "exposure review"))
    assert r.status_code == 422 and "income_band" in r.json()["error"]
    r = client.post("/api/feedback/exposure", json={**body, "model": "oracle"}, headers=auth(city, "ana"))
    assert r.status_code == 422 and "oracle" in r.json()["error"]
