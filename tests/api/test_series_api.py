"""Linker training and series building through the service, with their progress streamed; a stored
series run exported as the files QGIS opens, checked against the run's ledger entry."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.city import City
from tests.api.conftest import auth

#: the stages a training run with a cut-off goes through, in order
STAGES = ["reading incidents", "preparing features", "counting pairs", "sampling pairs", "fitting", "held-out pairs",
          "held-out top-k", "held-out series"]


def _stream(client: TestClient, path: str, body: dict[str, Any], headers: dict[str, str]) -> list[dict[str, Any]]:
    with client.stream("POST", path, json=body, headers={**headers, "Accept": "application/x-ndjson"}) as r:
        assert r.status_code == 200, r.read()
        return [json.loads(x) for x in r.iter_lines() if x]


def test_training_streams_each_stage_then_the_linker(client: TestClient, city: City) -> None:
    body = {"dataset": "synth", "cutoff": "2024-03-15T00:00:00Z", "radius_m": 1500, "window_days": 45}
    lines = _stream(client, "/api/linkers", body, auth(city, "ana", "series review"))
    progress, result = lines[:-1], lines[-1]["result"]
    assert result["linker_id"] != city.extra["linker_id"] and result["evaluation"]["auc"] is not None
    stages = [p["stage"] for p in progress]
    assert list(dict.fromkeys(stages)) == STAGES  # every stage, in order, none revisited
    for stage in STAGES:
        mine = [p for p in progress if p["stage"] == stage]
        done = [p["done"] for p in mine]
        assert done == sorted(done) and done[-1] == mine[-1]["total"] > 0, stage
    passes = [p["total"] for p in progress if p["stage"] in ("counting pairs", "sampling pairs")]
    assert set(passes) == {result["training"]["n_candidate_pairs"]}
    # the body's block settings reached the linker
    r = client.get("/api/ledger/entries", params={"action": "link.train", "limit": 1}, headers=auth(city, "aud"))
    params = r.json()["items"][0]["params"]
    assert (params["radius_m"], params["window_days"]) == (1500, 45)


def test_series_building_streams_scoring_clustering_and_describing(client: TestClient, city: City) -> None:
    lines = _stream(client, "/api/series-runs", {"dataset": "synth", "threshold": 0.6,
                                                 "linker_id": city.extra["linker_id"]}, auth(city, "ana"))
    progress, result = lines[:-1], lines[-1]["result"]
    stages = [p["stage"] for p in progress]
    assert list(dict.fromkeys(stages)) == ["reading incidents", "indexing candidate pairs", "scoring candidate pairs",
                                           "clustering", "describing series", "storing series"]
    assert [(p["done"], p["total"]) for p in progress if p["stage"] == "storing series"] == [(k, 3) for k in range(4)]
    indexing = [(p["done"], p["total"]) for p in progress if p["stage"] == "indexing candidate pairs"]
    n_incidents = indexing[0][1]
    assert indexing[0] == (0, n_incidents) and indexing[-1] == (n_incidents, n_incidents) and len(indexing) > 2
    assert [d for d, _ in indexing] == sorted(d for d, _ in indexing)
    scoring = [p for p in progress if p["stage"] == "scoring candidate pairs"]
    assert {p["total"] for p in scoring} == {result["n_candidates"]}
    assert scoring[-1]["done"] == result["n_candidates"]
    assert [(p["done"], p["total"]) for p in progress if p["stage"] == "reading incidents"] == [(0, 2), (1, 2), (2, 2)]
    assert [(p["done"], p["total"]) for p in progress if p["stage"] == "clustering"] == [(0, 1), (1, 1)]
    described = [p for p in progress if p["stage"] == "describing series"]
    assert described[-1]["done"] == described[-1]["total"] == result["n_series"] >= 1
    assert result["run_id"].startswith("ls-")


def _members(client: TestClient, city: City, run: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    series = client.get(f"/api/series-runs/{run}", params={"limit": 500}, headers=auth(city, "aud")).json()["items"]
    members = []
    for s in series:
        members += client.get(f"/api/series-runs/{run}/series/{s['series_id']}",
                              headers=auth(city, "aud")).json()["members"]
    return series, members


def test_a_series_run_exports_as_geopackage_geojson_and_csv(client: TestClient, city: City,
                                                            tmp_path: Path) -> None:
    run = city.series_run
    series, members = _members(client, city, run)
    assert series and members
    got = client.get(f"/api/series-runs/{run}/export", headers=auth(city, "bea"))
    assert got.status_code == 200 and got.headers["content-type"] == "application/geopackage+sqlite3"
    assert got.headers["x-output-hash-matches"] == "true"
    gpkg = tmp_path / "series.gpkg"
    gpkg.write_bytes(got.content)
    layers = {str(n): str(g) for n, g in pyogrio.list_layers(gpkg)}
    assert layers == {"series": "Polygon", "series_members": "Point", "series_links": "LineString"}
    info = pyogrio.read_info(gpkg, layer="series_members")
    assert info["features"] == len(members) and info["crs"] == "EPSG:32616"
    meta, _, geom, fields = pyogrio.raw.read(gpkg, layer="series_members", return_fids=True)
    col = dict(zip(meta["fields"], fields, strict=True))
    assert sorted(col["incident_id"]) == sorted(m["incident_id"] for m in members)
    # the points are the incidents' stored places (data CRS), their lon/lat the same places in WGS84
    import shapely

    pts = shapely.from_wkb(geom)
    xy = {m["incident_id"]: (m["x_m"], m["y_m"]) for m in members}
    for k, pid in enumerate(col["incident_id"]):
        assert np.allclose([pts[k].x, pts[k].y], xy[pid])
    ll = {m["incident_id"]: (m["lon"], m["lat"]) for m in members}
    assert all(np.allclose([col["lon"][k], col["lat"][k]], ll[p]) for k, p in enumerate(col["incident_id"]))
    hulls = pyogrio.raw.read(gpkg, layer="series")
    heads = dict(zip(hulls[0]["fields"], hulls[3], strict=True))
    assert sorted(heads["series_id"]) == sorted(s["series_id"] for s in series)
    by_id = {s["series_id"]: s for s in series}
    assert all(by_id[sid]["n_members"] == n for sid, n in zip(heads["series_id"], heads["n_members"], strict=True))
    # each hull covers its members
    polys = dict(zip(heads["series_id"], shapely.from_wkb(hulls[2]), strict=True))
    assert all(polys[s].covers(pts[k]) for k, s in enumerate(col["series_id"]))
    assert pyogrio.read_info(gpkg, layer="series")["layer_metadata"]["run_id"] == run

    gj = client.get(f"/api/series-runs/{run}/export", params={"format": "geojson"}, headers=auth(city, "aud"))
    assert gj.status_code == 200 and gj.headers["content-type"] == "application/geo+json"
    doc = gj.json()
    assert len(doc["features"]) == len(members)
    f = doc["features"][0]
    assert np.allclose(f["geometry"]["coordinates"], ll[f["properties"]["incident_id"]])
    assert {"series_id", "cohesion", "n_members", "drivers"} <= set(f["properties"])

    text = client.get(f"/api/series-runs/{run}/export", params={"format": "csv"}, headers=auth(city, "aud")).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["run_id"] for r in rows} == {run} and {r["matches_ledger"] for r in rows} == {"true"}
    assert len(rows) == len(members) and rows[0]["crs"] == "EPSG:32616"
    mine = next(m for m in members if m["incident_id"] == rows[0]["incident_id"])
    assert rows[0]["offense"] == mine["offense"] and float(rows[0]["x_m"]) == mine["x_m"]
    entries = client.get("/api/ledger/entries", params={"action": "link.export"}, headers=auth(city, "aud")).json()
    assert {e["user"] for e in entries["items"] if e["detail"].get("run_id") == run} >= {"bea", "aud"}


def test_a_changed_stored_series_no_longer_matches_and_errors_are_named(client: TestClient, city: City,
                                                                        app: FastAPI) -> None:
    run = client.post("/api/series-runs", json={"dataset": "synth", "threshold": 0.5}, headers=auth(city, "ana")).json()
    got = client.get(f"/api/series-runs/{run['run_id']}/export", params={"format": "csv"}, headers=auth(city, "aud"))
    assert got.headers["x-output-hash-matches"] == "true"
    app.state.ctx.store.execute("UPDATE link_series_members SET explanation = replace(explanation, "
                                "'\"mean_probability\": 0.', '\"mean_probability\": 0.9') WHERE run_id = ?",
                                [run["run_id"]])
    got = client.get(f"/api/series-runs/{run['run_id']}/export", params={"format": "csv"}, headers=auth(city, "aud"))
    assert got.status_code == 200 and got.headers["x-output-hash-matches"] == "false"
    assert {r["matches_ledger"] for r in csv.DictReader(io.StringIO(got.text))} == {"false"}
    r = client.get("/api/series-runs/nope/export", headers=auth(city, "aud"))
    assert r.status_code == 404 and "series run 'nope'" in r.json()["error"]
    r = client.get(f"/api/series-runs/{run['run_id']}/export", params={"format": "shp"}, headers=auth(city, "aud"))
    assert r.status_code == 422
    pairs = client.post("/api/link-pairs", json={"dataset": "synth", "min_score": 0.9}, headers=auth(city, "ana"))
    r = client.get(f"/api/series-runs/{pairs.json()['run_id']}/export", headers=auth(city, "aud"))
    assert r.status_code == 404 and "series run" in r.json()["error"]


def test_the_series_of_an_incident_is_found_in_a_run(client: TestClient, city: City) -> None:
    """The dashboard listed a run's 200 largest series and no way to reach the others (854 on a tester's run)."""
    run = city.series_run
    found = client.get(f"/api/series-runs/{run}", params={"incident": city.incident_id}, headers=auth(city, "aud"))
    assert found.status_code == 200, found.text
    (only,) = found.json()["items"]
    assert only["series_id"] == city.series_id and found.json()["total"] == 1
    none = client.get(f"/api/series-runs/{run}", params={"incident": "no-such-incident"}, headers=auth(city, "aud"))
    assert none.json()["items"] == [] and none.json()["total"] == 0

