"""Backtests through the service: run on the store's incidents, stored, listed and read back, all logged.

The figures the API returns must be the library's own rolling-origin figures on the same incidents
and study area, and the stored summary must still hash to the output hash its ledger entry holds.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crimelens.domain import TimeWindow
from crimelens.forecast import StudyArea, make_model, rolling_origin
from tests.api.city import City
from tests.api.conftest import auth

START = "2024-03-04T00:00:00Z"


@pytest.fixture(scope="module")
def backtest(client: TestClient, city: City) -> dict[str, object]:
    body = {"dataset": "synth", "models": ["naive", "weighted"], "start": START, "periods": 4,
            "coverages": [0.05, 0.2], "ceiling": False, "group_by": "area"}
    r = client.post("/api/backtests", json=body, headers=auth(city, "ana", "model choice"))
    assert r.status_code == 200, r.text
    out: dict[str, object] = r.json()
    return out


def test_a_backtest_gives_the_library_figures(backtest: dict[str, object], app: FastAPI) -> None:
    store = app.state.ctx.store
    table = store.incidents(dataset="synth")
    start = datetime(2024, 3, 4, tzinfo=UTC)
    area = StudyArea.from_activity(table, 150.0, period=TimeWindow(datetime(1900, 1, 1, tzinfo=UTC), start))
    direct = rolling_origin(table, {m: make_model(m) for m in ("naive", "weighted")}, area=area, start=start,
                            periods=4, horizon_days=7.0, coverages=[0.05, 0.2], ceiling=False)
    models = backtest["models"]
    assert isinstance(models, dict) and set(models) == {"naive", "weighted"}
    for m in ("naive", "weighted"):
        for c in (0.05, 0.2):
            mean, low, high = direct.mean(m, "pai", c)
            got = models[m]["pai"][f"{c:g}"]
            assert got["mean"] == pytest.approx(mean) and got["low"] == pytest.approx(low)
            assert got["high"] == pytest.approx(high)
    assert backtest["area"]["n_cells"] == area.n_cells  # type: ignore[index]
    assert backtest["n_periods"] == 4 and backtest["mark"]
    paired = backtest["paired"]
    assert isinstance(paired, dict) and len(paired) == 1 and set(next(iter(paired.values()))) == {"0.05", "0.2"}
    assert set(backtest["groups"]["models"]) == {"naive", "weighted"}  # type: ignore[index]


def test_a_stored_backtest_reads_back_whole_and_logged(backtest: dict[str, object], client: TestClient,
                                                       city: City, app: FastAPI) -> None:
    run_id = backtest["run_id"]
    listed = client.get("/api/backtests", headers=auth(city, "aud")).json()
    assert listed["total"] >= 1
    row = next(i for i in listed["items"] if i["run_id"] == run_id)
    assert row["models"] == ["naive", "weighted"] and row["n_periods"] == 4 and row["user_name"] == "ana"
    assert row["first_origin"].startswith("2024-03-04") and row["purpose"] == "model choice"

    shown = client.get(f"/api/backtests/{run_id}", headers=auth(city, "bea")).json()
    assert shown["output_hash_matches"] is True
    summary = shown["summary"]
    assert summary["models"]["naive"]["pai"]["0.05"] == backtest["models"]["naive"]["pai"]["0.05"]  # type: ignore[index]
    assert summary["coverages"] == [0.05, 0.2] and summary["paired"] == backtest["paired"]
    text = app.state.ctx.store.scalar("SELECT summary FROM forecast_backtests WHERE run_id = ?", [run_id])
    assert hashlib.sha256(text.encode()).hexdigest() == shown["output_hash"]

    entries = client.get("/api/ledger/entries", params={"limit": 50}, headers=auth(city, "aud")).json()["items"]
    actions = {(e["action"], e["user"]) for e in entries}
    assert {("forecast.backtest", "ana"), ("backtests.list", "aud"), ("backtests.view", "bea")} <= actions
    entry = next(e for e in entries if e["action"] == "forecast.backtest" and e["user"] == "ana")
    assert entry["output_hash"] == shown["output_hash"]


def test_backtest_requests_are_refused_and_named(client: TestClient, city: City) -> None:
    r = client.post("/api/backtests", json={"models": ["naive"], "start": START}, headers=auth(city, "aud"))
    assert r.status_code == 403 and "forecast.backtest" in r.json()["error"]
    r = client.post("/api/backtests", json={"models": ["oracle"], "start": START, "dataset": "synth"},
                    headers=auth(city, "ana"))
    assert r.status_code == 422 and "oracle" in r.json()["error"]
    r = client.post("/api/backtests", json={"models": ["naive"], "start": START, "periods": 0},
                    headers=auth(city, "ana"))
    assert r.status_code == 422 and "periods" in r.json()["error"]
    r = client.post("/api/backtests", json={"models": ["naive"], "start": START, "dataset": "nowhere"},
                    headers=auth(city, "ana"))
    assert r.status_code == 404 and "nowhere" in r.json()["error"]
    r = client.post("/api/backtests", json={"models": ["naive"], "start": "2001-01-01T00:00:00Z",
                                            "dataset": "synth", "periods": 1}, headers=auth(city, "ana"))
    assert r.status_code == 404 and "study area" in r.json()["error"]
    r = client.post("/api/backtests", json={"models": ["naive"], "start": START, "dataset": "synth",
                                            "params": {"weighted": {"half_life_days": 30}}},
                    headers=auth(city, "ana"))
    assert r.status_code == 422 and "parameters for ['weighted']" in r.json()["error"]


def test_a_backtest_takes_parameters_by_model(client: TestClient, city: City) -> None:
    body = {"dataset": "synth", "models": ["weighted"], "start": START, "periods": 2, "ceiling": False,
            "params": {"weighted": {"half_life_days": 30, "time_of_day": 0}}}
    r = client.post("/api/backtests", json=body, headers=auth(city, "ana", "model choice"))
    assert r.status_code == 200, r.text
    params = r.json()["models"]["weighted"]["params"]
    assert params["half_life_days"] == 30 and params["time_of_day"] == 0 and params["window_days"] == 2920.0
    # two settings of one model, each under its own label, scored on the same forecasts
    body = {**body, "models": ["weighted", "w30=weighted"], "params": {"w30": {"half_life_days": 30}}}
    r = client.post("/api/backtests", json=body, headers=auth(city, "ana", "model choice"))
    assert r.status_code == 200, r.text
    models = r.json()["models"]
    assert [models[m]["params"]["half_life_days"] for m in ("weighted", "w30")] == [730.0, 30]
    assert models["w30"]["class"] == "TimeWeightedCounts" and set(r.json()["paired"]) in (
        {"weighted / w30"}, {"w30 / weighted"})
    r = client.post("/api/backtests", json={**body, "versus": "w30"}, headers=auth(city, "ana", "model choice"))
    assert r.status_code == 200 and set(r.json()["paired"]) == {"weighted / w30"} and r.json()["versus"] == "w30"
    r = client.post("/api/backtests", json={**body, "models": ["weighted", "weighted"]},
                    headers=auth(city, "ana", "model choice"))
    assert r.status_code == 422 and "appears twice" in r.json()["error"]
    assert client.get("/api/backtests/nope", headers=auth(city, "ana")).status_code == 404


def test_a_streamed_backtest_reports_each_forecast_then_the_same_result(backtest: dict[str, object],
                                                                         client: TestClient, city: City) -> None:
    body = {"dataset": "synth", "models": ["naive", "weighted"], "start": START, "periods": 4,
            "coverages": [0.05, 0.2], "ceiling": False, "group_by": "area"}
    headers = {**auth(city, "ana", "model choice"), "Accept": "application/x-ndjson"}
    with client.stream("POST", "/api/backtests", json=body, headers=headers) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(x) for x in r.iter_lines() if x]
    progress, last = lines[:-1], lines[-1]
    assert [(p["done"], p["total"]) for p in progress] == [(k, 4) for k in range(1, 5)]
    result = last["result"]
    assert result["run_id"] != backtest["run_id"]
    def figures(doc: dict[str, object]) -> dict[str, object]:  # all but the timing
        return {m: {k: v for k, v in e.items() if k != "seconds_per_period"}
                for m, e in doc["models"].items()}  # type: ignore[attr-defined]

    assert figures(result) == figures(backtest) and result["paired"] == backtest["paired"]


def test_a_streamed_backtest_that_fails_ends_with_the_error_line(client: TestClient, city: City) -> None:
    headers = {**auth(city, "ana"), "Accept": "application/x-ndjson"}
    with client.stream("POST", "/api/backtests", json={"models": ["naive"], "start": START, "dataset": "nowhere"},
                       headers=headers) as r:
        lines = [json.loads(x) for x in r.iter_lines() if x]
    assert lines[-1]["ok"] is False and lines[-1]["status"] == 404 and "nowhere" in lines[-1]["error"]
    # the role is checked before anything streams: a refusal is a plain 403
    r = client.post("/api/backtests", json={"models": ["naive"], "start": START},
                    headers={**auth(city, "aud"), "Accept": "application/x-ndjson"})
    assert r.status_code == 403


def test_a_stored_backtest_downloads_as_json_csv_and_png(backtest: dict[str, object], client: TestClient,
                                                         city: City, app: FastAPI) -> None:
    import csv
    import io

    run_id = backtest["run_id"]
    got = client.get(f"/api/backtests/{run_id}/export", headers=auth(city, "bea"))
    assert got.status_code == 200 and got.headers["content-type"] == "application/json"
    # the stored summary byte for byte: its hash is the one in the run's ledger entry
    made = client.get("/api/ledger/entries", params={"action": "forecast.backtest", "limit": 50},
                      headers=auth(city, "aud")).json()["items"]
    digest = hashlib.sha256(got.content).hexdigest()
    assert digest == got.headers["x-content-sha256"] and digest in {e["output_hash"] for e in made}
    assert got.headers["x-output-hash-matches"] == "true"
    assert json.loads(got.content)["paired"] == backtest["paired"]

    text = client.get(f"/api/backtests/{run_id}/export", params={"format": "csv"}, headers=auth(city, "aud")).text
    head = [x for x in text.splitlines() if x.startswith("# ")]
    assert f"# run_id: {run_id}" in head and "# matches_ledger: true" in head
    rows = list(csv.DictReader(io.StringIO("\n".join(x for x in text.splitlines() if not x.startswith("#")))))
    want = backtest["models"]["weighted"]["pai"]["0.05"]  # type: ignore[index]
    row = next(r for r in rows if (r["model"], r["coverage"], r["metric"]) == ("weighted", "0.05", "pai"))
    assert (float(row["mean"]), float(row["low"]), float(row["high"])) == (want["mean"], want["low"], want["high"])
    # every stored coverage (the curve's and the ones asked for), every metric, every model
    summary = json.loads(got.content)
    n_covs = len(summary["models"]["naive"]["pai"])
    assert len(rows) == 2 * 3 * n_covs and n_covs > 2

    png = client.get(f"/api/backtests/{run_id}/export", params={"format": "png"}, headers=auth(city, "aud"))
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n" and len(png.content) > 10_000
    exports = client.get("/api/ledger/entries", params={"action": "backtests.export"},
                         headers=auth(city, "aud")).json()["items"]
    assert sorted(e["detail"]["format"] for e in exports if e["detail"]["run_id"] == run_id) == ["csv", "json", "png"]

    # a changed stored summary no longer matches; a wrong format or run is named
    app.state.ctx.store.execute("UPDATE forecast_backtests SET summary = replace(summary, '\"n_periods\": 4', "
                                "'\"n_periods\": 5') WHERE run_id = ?", [run_id])
    got = client.get(f"/api/backtests/{run_id}/export", params={"format": "csv"}, headers=auth(city, "aud"))
    assert got.headers["x-output-hash-matches"] == "false" and "# matches_ledger: false" in got.text
    assert client.get(f"/api/backtests/{run_id}/export", params={"format": "xlsx"},
                      headers=auth(city, "aud")).status_code == 422
    r = client.get("/api/backtests/nope/export", headers=auth(city, "aud"))
    assert r.status_code == 404 and "nope" in r.json()["error"]
