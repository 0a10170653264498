"""A stored forecast run's export says whether its cells are still the ones its ledger entry logged (a
journalist's finding, s33): cells edited in the store (``UPDATE forecast_cells SET flagged = ...``) were
exported with the ledger's output hash and no sign of the edit. Now the hash is recomputed from the stored
risks, the rank and flags from those risks, and the answer is the ``X-Output-Hash-Matches`` header, the
file's ``matches_ledger`` and the export's ledger entry; and the documented recipe recomputes the hash."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crimelens.governance import Actor, Role
from crimelens.services.forecasts import run_forecast
from tests.api.city import City
from tests.api.conftest import auth

ANA = Actor("ana", Role.ANALYST)


@pytest.fixture(scope="module")
def runs(app: FastAPI, city: City) -> dict[str, str]:
    """Four runs of this module's own store copy: one left alone, one on H3 cells, two to be edited."""
    ctx = app.state.ctx
    made = {"square": run_forecast(ctx, offense=None, at=city.at, actor=ANA, dataset="synth"),
            "h3": run_forecast(ctx, offense=None, at=city.at, actor=ANA, dataset="synth", model="naive", mask="h3",
                               h3_resolution=8),
            "flags": run_forecast(ctx, offense=None, at=city.at, actor=ANA, dataset="synth", model="naive"),
            "risk": run_forecast(ctx, offense=None, at=city.at, actor=ANA, dataset="synth", model="kde")}
    return {k: v.run_id for k, v in made.items()}


def _csv(client: TestClient, city: City, run_id: str) -> tuple[str, list[dict[str, str]]]:
    r = client.get(f"/api/forecasts/{run_id}/export", params={"format": "csv"}, headers=auth(city, "aud"))
    assert r.status_code == 200, r.text
    return r.headers["x-output-hash-matches"], list(csv.DictReader(io.StringIO(r.text)))


def _entry(client: TestClient, city: City, action: str, run_id: str) -> dict[str, Any]:
    items: list[dict[str, Any]] = client.get("/api/ledger/entries", params={"action": action, "limit": 200},
                       headers=auth(city, "aud")).json()["items"]
    return next(e for e in items if e["detail"]["run_id"] == run_id)


def test_an_untouched_run_exports_as_matching_its_ledger_entry(runs: dict[str, str], client: TestClient,
                                                                city: City, tmp_path: Path) -> None:
    for name in ("square", "h3"):
        header, rows = _csv(client, city, runs[name])
        assert header == "true" and {r["matches_ledger"] for r in rows} == {"true"}
        for fmt in ("geojson", "gpkg", "png"):
            r = client.get(f"/api/forecasts/{runs[name]}/export", params={"format": fmt}, headers=auth(city, "ana"))
            assert r.status_code == 200 and r.headers["x-output-hash-matches"] == "true"
            if fmt == "geojson":
                assert json.loads(r.content)["metadata"]["matches_ledger"] == "true"
            if fmt == "gpkg":
                (tmp_path / f"{name}.gpkg").write_bytes(r.content)
                meta = pyogrio.read_info(tmp_path / f"{name}.gpkg", layer="forecast")["layer_metadata"]
                assert meta["matches_ledger"] == "true"
    assert _entry(client, city, "forecast.export", runs["square"])["detail"]["matches_ledger"] is True


def test_the_documented_recipe_recomputes_the_output_hash(runs: dict[str, str], client: TestClient,
                                                          city: City) -> None:
    """docs/forecast.md, "The output hash": from the exported CSV and the run's ledger entry alone, with
    hashlib and json (no crimelens code)."""
    for name in ("square", "h3"):
        _, rows = _csv(client, city, runs[name])
        entry = _entry(client, city, "forecast.run", runs[name])
        by_cell = sorted(rows, key=lambda r: int(r["cell"]))
        risk = np.array([float(r["risk"]) for r in by_cell], dtype="<f8")
        start, end = rows[0]["window"].split("/")
        area = json.loads(rows[0]["study_area"])
        params = dict(entry["params"])
        params["area"] = area
        if area["kind"] == "h3":
            params["cell_m"] = 150.0
        h = hashlib.sha256(risk.tobytes())
        h.update(json.dumps({"window": f"[{start}, {end})", "model": rows[0]["model"], "params": params,
                             "area": area}, sort_keys=True, default=str).encode())
        assert h.hexdigest() == rows[0]["output_hash"] == entry["output_hash"]


def test_edited_flags_export_as_not_matching(runs: dict[str, str], app: FastAPI, client: TestClient,
                                             city: City) -> None:
    run_id = runs["flags"]
    store = app.state.ctx.store
    n = int(store.scalar("SELECT count(*) FROM forecast_cells WHERE run_id = ?", [run_id]))
    store.execute("UPDATE forecast_cells SET flagged = (rank > ?) WHERE run_id = ?", [n - 5, run_id])
    header, rows = _csv(client, city, run_id)
    assert header == "false" and {r["matches_ledger"] for r in rows} == {"false"}
    assert sum(r["flagged"] == "True" for r in rows) == 5  # the file shows the cells as stored
    assert rows[0]["output_hash"] == _entry(client, city, "forecast.run", run_id)["output_hash"]
    (note,) = [w for w in json.loads(rows[0]["warnings"]) if w.startswith("the stored cells do not match")]
    assert "cells' stored flag differs from the top 0.05 their stored risks give" in note
    assert "output hash recomputed" not in note  # the risks are untouched: the hash still matches
    assert _entry(client, city, "forecast.export", run_id)["detail"]["matches_ledger"] is False
    r = client.get(f"/api/forecasts/{run_id}/export", params={"format": "png"}, headers=auth(city, "ana"))
    assert r.headers["x-output-hash-matches"] == "false"
    # the dashboard's map layer says so too (it showed the edited flags as the run's)
    props = client.get(f"/api/forecasts/{run_id}/cells", headers=auth(city, "aud")).json()["properties"]
    assert props["matches_ledger"] is False
    assert any("stored flag differs" in p for p in props["ledger_problems"])
    untouched = client.get(f"/api/forecasts/{runs['square']}/cells", headers=auth(city, "aud")).json()["properties"]
    assert untouched["matches_ledger"] is True and untouched["ledger_problems"] == []


def test_an_edited_risk_exports_as_not_matching(runs: dict[str, str], app: FastAPI, client: TestClient,
                                                city: City) -> None:
    run_id = runs["risk"]
    before = _entry(client, city, "forecast.run", run_id)["output_hash"]
    app.state.ctx.store.execute("UPDATE forecast_cells SET risk = risk * 1.0000001 WHERE run_id = ? AND \"rank\" = 1",
                                [run_id])
    header, rows = _csv(client, city, run_id)
    assert header == "false" and rows[0]["matches_ledger"] == "false"
    (note,) = [w for w in json.loads(rows[0]["warnings"]) if w.startswith("the stored cells do not match")]
    assert f"the ledger's is {before}" in note and "output hash recomputed from the stored risks is" in note
    # a risk edited so far that the ranking changes: the stored rank no longer follows either
    app.state.ctx.store.execute("UPDATE forecast_cells SET risk = 0 WHERE run_id = ? AND \"rank\" <= 3", [run_id])
    _, rows = _csv(client, city, run_id)
    (note,) = [w for w in json.loads(rows[0]["warnings"]) if w.startswith("the stored cells do not match")]
    assert "cells' stored rank differs from the rank their stored risks give" in note


def test_a_moved_or_missing_cell_exports_as_not_matching(runs: dict[str, str], app: FastAPI, client: TestClient,
                                                        city: City) -> None:
    run_id = runs["square"]
    store = app.state.ctx.store
    store.execute("UPDATE forecast_cells SET x_m = x_m + 150 WHERE run_id = ? AND \"rank\" = 1", [run_id])
    header, rows = _csv(client, city, run_id)
    assert header == "false"
    assert any("1 cells' stored centre is not the centre of their cell_id" in w for w in json.loads(rows[0]["warnings"]))
    store.execute("UPDATE forecast_cells SET x_m = x_m - 150 WHERE run_id = ? AND \"rank\" = 1", [run_id])
    assert _csv(client, city, run_id)[0] == "true"
    store.execute("DELETE FROM forecast_cells WHERE run_id = ? AND \"rank\" = 2", [run_id])
    header, rows = _csv(client, city, run_id)
    assert header == "false"
    assert any("distinct; the run has" in w for w in json.loads(rows[0]["warnings"]))
