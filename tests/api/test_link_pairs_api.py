"""Scored pairs through the service: the same pairs as the direct call, stored, paged, downloaded as the
CSV ``link pairs --out`` writes, and that CSV checked against the output hash in its ledger entry."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from crimelens.governance import Actor, Role
from crimelens.services.linkage import score_pairs
from tests.api.city import City
from tests.api.conftest import auth


def test_pairs_are_scored_stored_paged_and_downloaded_as_recorded(client: TestClient, city: City, app: FastAPI,
                                                                  tmp_path: Path) -> None:
    r = client.post("/api/link-pairs", json={"dataset": "synth", "min_score": 0.3},
                    headers=auth(city, "ana", "series review"))
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["n_pairs"] > 10 and run["linker_id"] == city.extra["linker_id"] and run["mark"]

    # the direct call on the same store and linker writes the same file
    direct = tmp_path / "direct.csv"
    score_pairs(app.state.ctx, dataset="synth", actor=Actor("ana", Role.ANALYST), min_score=0.3, out=direct,
                save=False)

    listed = client.get("/api/link-pairs", params={"dataset": "synth"}, headers=auth(city, "aud")).json()
    assert listed["items"][0]["run_id"] == run["run_id"] and listed["items"][0]["n_pairs"] == run["n_pairs"]
    assert listed["items"][0]["params"]["min_score"] == 0.3

    page = client.get(f"/api/link-pairs/{run['run_id']}", params={"limit": 5, "offset": 3},
                      headers=auth(city, "bea")).json()
    assert page["total"] == run["n_pairs"] and len(page["items"]) == 5
    assert [(p["incident_id_a"], p["incident_id_b"]) for p in page["items"]] == [
        (p["incident_id_a"], p["incident_id_b"]) for p in run["pairs"][3:8]]
    scores = [p["score"] for p in page["items"]]
    assert scores == sorted(scores, reverse=True) and all(s >= 0.3 for s in scores)
    assert all(p["offense_a"] and p["occurred_b"] and p["area_a"] for p in page["items"])

    got = client.get(f"/api/link-pairs/{run['run_id']}/csv", headers=auth(city, "aud"))
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert got.content == direct.read_bytes()
    assert got.text.splitlines()[0] == "incident_id_a,incident_id_b,score"
    assert len(got.text.splitlines()) == run["n_pairs"] + 1
    digest = hashlib.sha256(got.content).hexdigest()
    assert got.headers["x-content-sha256"] == digest and got.headers["x-output-hash-matches"] == "true"
    entries = client.get("/api/ledger/entries", params={"limit": 50}, headers=auth(city, "aud")).json()["items"]
    made = next(e for e in entries if e["action"] == "link.pairs" and e["user"] == "ana")
    assert made["output_hash"] == digest
    actions = {(e["action"], e["user"]) for e in entries}
    assert {("link.list", "aud"), ("link.view", "bea"), ("link.export", "aud")} <= actions


def test_a_changed_stored_score_no_longer_matches_its_ledger_entry(client: TestClient, city: City,
                                                                   app: FastAPI) -> None:
    run = client.post("/api/link-pairs", json={"dataset": "synth", "min_score": 0.6},
                      headers=auth(city, "ana")).json()
    assert run["n_pairs"] >= 1
    app.state.ctx.store.execute("UPDATE link_pairs SET score = score - 0.01 WHERE run_id = ? AND incident_id_a = ? "
                                "AND incident_id_b = ?", [run["run_id"], run["pairs"][0]["incident_id_a"],
                                                          run["pairs"][0]["incident_id_b"]])
    got = client.get(f"/api/link-pairs/{run['run_id']}/csv", headers=auth(city, "aud"))
    assert got.status_code == 200 and got.headers["x-output-hash-matches"] == "false"


def test_pair_requests_are_refused_and_named(client: TestClient, city: City) -> None:
    r = client.post("/api/link-pairs", json={"dataset": "synth"}, headers=auth(city, "aud"))
    assert r.status_code == 403 and "link.pairs" in r.json()["error"]
    r = client.post("/api/link-pairs", json={"dataset": "synth", "min_score": 2}, headers=auth(city, "ana"))
    assert r.status_code == 422 and "min_score" in r.json()["error"]
    r = client.post("/api/link-pairs", json={"dataset": "nowhere"}, headers=auth(city, "ana"))
    assert r.status_code == 404 and "nowhere" in r.json()["error"]
    assert client.get("/api/link-pairs/nope", headers=auth(city, "ana")).status_code == 404
    # a series run is not a pair run
    r = client.get(f"/api/link-pairs/{city.series_run}/csv", headers=auth(city, "ana"))
    assert r.status_code == 404 and "pair run" in r.json()["error"]


def test_scoring_streams_its_progress_over_the_candidate_pairs(client: TestClient, city: City) -> None:
    import json

    headers = {**auth(city, "ana"), "Accept": "application/x-ndjson"}
    with client.stream("POST", "/api/link-pairs", json={"dataset": "synth", "min_score": 0.5}, headers=headers) as r:
        assert r.status_code == 200
        lines = [json.loads(x) for x in r.iter_lines() if x]
    progress, result = lines[:-1], lines[-1]["result"]
    assert progress and all(p["total"] == result["n_candidates"] for p in progress)
    done = [p["done"] for p in progress]
    assert done == sorted(done) and done[-1] == result["n_candidates"]
