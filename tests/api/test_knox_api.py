"""Knox tables through the service: computed from the store, stored, listed and read back, all logged."""

from __future__ import annotations

import csv

from fastapi import FastAPI
from fastapi.testclient import TestClient

from crimelens.nearrepeat import knox_test
from tests.api.city import City
from tests.api.conftest import auth


def test_a_knox_run_matches_the_library_and_is_stored(client: TestClient, city: City, app: FastAPI) -> None:
    body = {"dataset": "synth", "offense": "burglary", "space_bands": [100, 200, 400], "time_bands": [7, 14],
            "permutations": 19, "seed": 5, "convention": "standard"}
    r = client.post("/api/nearrepeat/runs", json=body, headers=auth(city, "ana", "burglary briefing"))
    assert r.status_code == 200, r.text
    run = r.json()
    table = app.state.ctx.store.incidents(dataset="synth", offense="burglary")
    direct = knox_test(table.xy_m, table.t_days(how="mid"), space_bands=[100, 200, 400], time_bands=[7, 14],
                       distance="manhattan", convention="standard", n_permutations=19, seed=5)
    assert run["observed"] == direct.observed.tolist() and run["n_events"] == len(table)
    assert run["p_value"] == [[None if v != v else v for v in row] for row in direct.p_value.tolist()]
    assert run["convention_note"].startswith("half-open bands") and run["mark"]

    listed = client.get("/api/nearrepeat/runs", params={"dataset": "synth"}, headers=auth(city, "aud")).json()
    assert listed["items"][0]["run_id"] == run["run_id"] and listed["items"][0]["offense"] == "burglary"
    shown = client.get(f"/api/nearrepeat/runs/{run['run_id']}", headers=auth(city, "bea")).json()
    assert shown["observed"] == run["observed"] and shown["knox_ratio"] == run["knox_ratio"]
    assert shown["user"] == "ana" and shown["purpose"] == "burglary briefing"
    # the figure and the table, as files
    png = client.get(f"/api/nearrepeat/runs/{run['run_id']}/export", headers=auth(city, "bea"))
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n" and len(png.content) > 10_000
    got = client.get(f"/api/nearrepeat/runs/{run['run_id']}/export", params={"format": "csv"},
                     headers=auth(city, "aud"))
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    head = [x for x in got.text.splitlines() if x.startswith("# ")]
    rows = list(csv.DictReader(x for x in got.text.splitlines() if not x.startswith("#")))
    assert any(x.startswith("# convention: standard: half-open bands") for x in head)
    assert [int(r["observed"]) for r in rows] == [v for row in run["observed"] for v in row]
    assert (rows[0]["distance_band"], rows[0]["time_band"]) == (run["rows"][0], run["columns"][0])
    entries = client.get("/api/ledger/entries", params={"limit": 50}, headers=auth(city, "aud")).json()["items"]
    actions = {(e["action"], e["user"]) for e in entries}
    assert {("nearrepeat.knox", "ana"), ("nearrepeat.list", "aud"), ("nearrepeat.view", "bea"),
            ("nearrepeat.export", "bea"), ("nearrepeat.export", "aud")} <= actions


def test_knox_requests_are_refused_and_named(client: TestClient, city: City) -> None:
    r = client.post("/api/nearrepeat/runs", json={"dataset": "synth"}, headers=auth(city, "aud"))
    assert r.status_code == 403 and "nearrepeat.knox" in r.json()["error"]
    r = client.post("/api/nearrepeat/runs", json={"dataset": "synth", "since": "2024-01-01T00:00:00"},
                    headers=auth(city, "ana"))
    assert r.status_code == 422 and "offset" in r.json()["error"]
    r = client.post("/api/nearrepeat/runs", json={"dataset": "synth", "space_bands": [-5]}, headers=auth(city, "ana"))
    assert r.status_code == 422
    r = client.post("/api/nearrepeat/runs", json={"dataset": "nowhere"}, headers=auth(city, "ana"))
    assert r.status_code == 404 and "nowhere" in r.json()["error"]
    assert client.get("/api/nearrepeat/runs/nope", headers=auth(city, "ana")).status_code == 404
    assert client.get("/api/nearrepeat/runs/nope/export", headers=auth(city, "ana")).status_code == 404
    r = client.get("/api/nearrepeat/runs/nope/export", params={"format": "svg"}, headers=auth(city, "ana"))
    assert r.status_code == 422 and "format" in r.json()["error"]
