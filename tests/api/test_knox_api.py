"""Knox tables through the service: computed from the store, stored, listed and read back, all logged."""

from __future__ import annotations

import csv
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from crimelens.nearrepeat import knox_test
from tests.api.city import City
from tests.api.conftest import auth
from tests.conftest import shared

NOTTINGHAM = "uk_police_nottingham/nottingham_burglary.csv.gz"


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


def _burglary(client: TestClient, city: City, dataset: str) -> str:
    """The newest recorded burglary of a dataset: an incident to ask an alert for."""
    got = client.get("/api/incidents", params={"dataset": dataset, "offense": "burglary", "limit": 5},
                     headers=auth(city, "ana")).json()
    return str(got["items"][0]["incident_id"])


def test_a_run_keeps_its_alpha_and_its_alerts_and_heat_map_follow_it(client: TestClient, city: City) -> None:
    """Before, ``alpha`` was refused as an unknown field, and alerts and the heat map read every run at 0.05."""
    body = {"dataset": "synth", "offense": "burglary", "permutations": 99, "seed": 1, "alpha": 0.01}
    r = client.post("/api/nearrepeat/runs", json=body, headers=auth(city, "ana"))
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["alpha"] == 0.01 and run["p_source"] == "permutation"
    # with 99 permutations the smallest p is 1/100: nothing can be elevated at 0.01, and the run says so
    assert any("smallest attainable p-value is 0.01, not below alpha 0.01" in w for w in run["warnings"])
    entries = client.get("/api/ledger/entries", params={"action": "nearrepeat.knox", "limit": 5},
                         headers=auth(city, "aud")).json()["items"]
    entry = next(e for e in entries if e["detail"]["run_id"] == run["run_id"])
    assert entry["params"]["alpha"] == 0.01 and entry["params"]["allow_coarse_times"] is False
    # the alert reads the newest run of the offense at that run's alpha, unless told another
    incident = _burglary(client, city, "synth")
    alert = client.post(f"/api/incidents/{incident}/nearrepeat", json={"dataset": "synth"}, headers=auth(city, "ana"))
    assert alert.status_code == 200, alert.text
    a = alert.json()
    assert (a["run_id"], a["alpha"], a["surface_alpha"], a["elevated"]) == (run["run_id"], 0.01, 0.01, [])
    wide = client.post(f"/api/incidents/{incident}/nearrepeat", json={"dataset": "synth", "alpha": 0.5},
                       headers=auth(city, "ana")).json()
    assert (wide["alpha"], wide["surface_alpha"]) == (0.5, 0.01)
    # the heat map outlines at the run's alpha unless asked for another
    url = f"/api/nearrepeat/runs/{run['run_id']}/export"
    own = client.get(url, headers=auth(city, "bea")).content
    assert own == client.get(url, params={"alpha": 0.01}, headers=auth(city, "bea")).content
    assert own != client.get(url, params={"alpha": 0.05}, headers=auth(city, "bea")).content
    table = client.get(url, params={"format": "csv"}, headers=auth(city, "bea")).text
    assert "# alpha: 0.01\n" in table and "# p_source: permutation\n" in table


def test_month_long_times_are_refused_unless_allowed_and_then_warned(client: TestClient, city: City) -> None:
    """police.uk gives only the month: before, the API had no field to go ahead, so such data was a 422
    with no way through."""
    data = shared(NOTTINGHAM).read_bytes()
    r = client.post("/api/datasets/nottingham/files", params={"filename": Path(NOTTINGHAM).name}, content=data,
                    headers={**auth(city, "ana", "monthly load"), "Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    body = {"dataset": "nottingham", "offense": "burglary", "permutations": 19, "seed": 1}
    refused = client.post("/api/nearrepeat/runs", json=body, headers=auth(city, "ana"))
    assert refused.status_code == 422 and refused.json()["type"] == "InvalidParameterError"
    assert "in dataset 'nottingham' (offense 'burglary') have a time window" in refused.json()["error"]
    assert "longer than the narrowest time band (7 days)" in refused.json()["error"]
    r = client.post("/api/nearrepeat/runs", json={**body, "allow_coarse_times": True}, headers=auth(city, "ana"))
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["coarse_times"]["is_coarse"] and run["coarse_times"]["n_coarse"] == run["n_events"]
    assert run["warnings"][0].startswith("COARSE TIMES: ") and run["findings"][0].startswith("Caution")
    entries = client.get("/api/ledger/entries", params={"action": "nearrepeat.knox", "limit": 5},
                         headers=auth(city, "aud")).json()["items"]
    entry = next(e for e in entries if e["detail"]["run_id"] == run["run_id"])
    assert entry["params"]["allow_coarse_times"] is True and entry["detail"]["warnings"] == run["warnings"]
    shown = client.get(f"/api/nearrepeat/runs/{run['run_id']}", headers=auth(city, "aud")).json()
    assert shown["warnings"] == run["warnings"] and shown["coarse_times"] == run["coarse_times"]
    # an alert read from that run is refused too, unless it is told to go ahead; then it carries the warning
    incident = _burglary(client, city, "nottingham")
    url = f"/api/incidents/{incident}/nearrepeat"
    no = client.post(url, json={"dataset": "nottingham"}, headers=auth(city, "ana"))
    assert no.status_code == 422 and "--allow-coarse-times" in no.json()["error"]
    yes = client.post(url, json={"dataset": "nottingham", "allow_coarse_times": True}, headers=auth(city, "ana"))
    assert yes.status_code == 200, yes.text
    assert yes.json()["run_id"] == run["run_id"] and any("COARSE" in w for w in yes.json()["warnings"])
