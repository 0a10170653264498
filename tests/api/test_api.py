"""The API on a real store: shapes, errors, pagination, the ledger behind each call, research marks."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from crimelens.api import create_app
from crimelens.config import Settings
from crimelens.governance import PENDING_REVIEW_MARK
from crimelens.services import RESEARCH_MARK
from tests.api.city import DEPLOYMENT, PURPOSE, City
from tests.api.conftest import auth


def _ledger(client: TestClient, city: City, action: str) -> list[dict[str, Any]]:
    r = client.get(f"/api/ledger/entries?action={action}&limit=20", headers=auth(city, "aud", "oversight"))
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def test_openapi_lists_every_api_route_with_the_error_shape(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["components"]["schemas"]["Error"]["required"] == ["ok", "error", "type", "status"]
    assert "/api/forecasts/{run_id}/cells" in doc["paths"] and "/api/review/{item_id}/decision" in doc["paths"]
    assert all(p.startswith("/api/") for p in doc["paths"])  # pages are not API operations
    op = doc["paths"]["/api/forecasts"]["post"]
    assert {p["name"] for p in op["parameters"]} >= {"X-Purpose", "X-Deployment"}
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_errors_have_one_shape_and_the_class_status(client: TestClient, city: City) -> None:
    cases = [
        (client.get("/api/forecasts"), 401, "NotAuthenticatedError"),
        (client.get("/api/forecasts", headers={"Authorization": "Bearer clk_nope.nope", "X-Purpose": "x"}),
         401, "NotAuthenticatedError"),
        (client.get("/api/forecasts", headers={"Authorization": f"Bearer {city.tokens['ana']}"}),
         403, "ApprovalRequiredError"),
        (client.get("/api/forecasts/nope/cells", headers=auth(city, "ana")), 404, "NotFoundError"),
        (client.get("/api/forecasts?limit=0", headers=auth(city, "ana")), 422, "RequestValidationError"),
        (client.post("/api/forecasts", json={"at": "2024-04-01T00:00:00Z", "model": "nope"},
                     headers=auth(city, "ana")), 422, "InvalidParameterError"),
        (client.post("/api/forecasts", json={"at": "2024-04-01T00:00:00Z", "params": {"halflife": 30}},
                     headers=auth(city, "ana")), 422, "InvalidParameterError"),
        (client.get("/api/no-such-route", headers=auth(city, "ana")), 404, "HTTPError"),
    ]
    for response, status, kind in cases:
        body = response.json()
        assert response.status_code == status, (status, body)
        assert body == {"ok": False, "error": body["error"], "type": kind, "status": status}
        assert body["error"]
    assert "expected" in cases[0][0].json()["error"] and "X-Purpose" in cases[2][0].json()["error"]


def test_forecast_layer_is_geojson_of_the_stored_run(client: TestClient, city: City) -> None:
    r = client.get(f"/api/forecasts/{city.forecast_run}/cells", headers=auth(city, "ana"))
    assert r.status_code == 200
    layer = r.json()
    props = layer["properties"]
    n = len(layer["features"])
    assert n == props["n_cells"] > 10
    flagged = [f for f in layer["features"] if f["properties"]["flagged"]]
    assert len(flagged) == props["n_flagged"] == max(1, round(0.05 * n))
    # the flagged cells are exactly the top-ranked ones, and risk falls with rank
    assert {f["properties"]["rank"] for f in flagged} == set(range(1, len(flagged) + 1))
    by_rank = sorted(layer["features"], key=lambda f: f["properties"]["rank"])
    risks = [f["properties"]["risk"] for f in by_rank]
    assert risks == sorted(risks, reverse=True)
    ring = by_rank[0]["geometry"]["coordinates"][0]
    assert len(ring) == 5 and ring[0] == ring[-1] and -90 < ring[0][0] < -85 and 40 < ring[0][1] < 43  # UTM 16N
    assert props["mark"] == RESEARCH_MARK and props["model_version"]
    ev = client.get(f"/api/forecasts/{city.forecast_run}/evaluation", headers=auth(city, "ana")).json()
    assert ev["n_recorded_in_window"] > 0
    top5 = next(s for s in ev["scores"] if s["coverage"] == 0.05)
    assert 0 < top5["hit_rate"] <= 1 and abs(top5["pai"] - top5["hit_rate"] / (top5["n_flagged"] / n)) < 1e-9
    # per area group (the synthetic city's areas carry one): the groups' captures add up to the whole
    bg = ev["by_group"]
    assert bg["by"] == "group" and set(bg["groups"]) == {"group_a", "group_b"}
    k = bg["coverages"].index(0.05)
    inside = ev["n_recorded_in_window"] - ev["n_outside_study_area"]
    assert sum(g["n"] for g in bg["groups"].values()) == inside
    captured = sum(g["hit_rate"][k] * g["n"] for g in bg["groups"].values() if g["n"])
    assert abs(captured - top5["captured"]) < 1e-9
    # any incident column works too; a name that is neither a column nor an area attribute is refused
    by_premise = client.get(f"/api/forecasts/{city.forecast_run}/evaluation?group_by=premise",
                            headers=auth(city, "ana")).json()["by_group"]
    assert sum(g["n"] for g in by_premise["groups"].values()) == inside
    bad = client.get(f"/api/forecasts/{city.forecast_run}/evaluation?group_by=race", headers=auth(city, "ana"))
    assert bad.status_code == 422 and "area" in bad.json()["error"]


def test_every_call_is_in_the_ledger_with_its_purpose(client: TestClient, city: City) -> None:
    client.get(f"/api/forecasts/{city.forecast_run}/cells", headers=auth(city, "ana", "weekly briefing"))
    views = [e for e in _ledger(client, city, "forecast.view") if e["purpose"] == "weekly briefing"]
    assert views and views[0]["user"] == "ana" and views[0]["detail"]["run_id"] == city.forecast_run
    auths = _ledger(client, city, "users.authenticate")
    assert any(e["outcome"] == "refused" for e in auths)  # the bad token above (or any) is logged too


def test_pagination_on_lists(client: TestClient, city: City) -> None:
    h = auth(city, "ana")
    first = client.get("/api/incidents?dataset=synth&limit=7&offset=0", headers=h).json()
    second = client.get("/api/incidents?dataset=synth&limit=7&offset=7", headers=h).json()
    both = client.get("/api/incidents?dataset=synth&limit=14&offset=0", headers=h).json()
    assert first["total"] == second["total"] == both["total"] > 14
    assert [i["incident_id"] for i in first["items"] + second["items"]] == [i["incident_id"] for i in both["items"]]
    assert all(-90 < i["lon"] < -85 for i in both["items"])
    one = client.get("/api/incidents?dataset=synth&limit=1&offset=0", headers=h)  # a one-point transform
    assert one.status_code == 200 and one.json()["items"] == both["items"][:1]
    led = client.get("/api/ledger/entries?limit=3&offset=0", headers=h).json()
    assert len(led["items"]) == 3 and led["items"][0]["seq"] > led["items"][1]["seq"] > led["items"][2]["seq"]


def test_similar_incidents_and_series(client: TestClient, city: City) -> None:
    h = auth(city, "ana")
    sim = client.get(f"/api/incidents/{city.incident_id}/similar?dataset=synth&k=5", headers=h)
    assert sim.status_code == 200, sim.text
    body = sim.json()
    assert body["mark"] == RESEARCH_MARK and 1 <= len(body["matches"]) <= 5
    assert all(m["drivers"] for m in body["matches"])
    # each match and the incident itself come with what the analyst's map and table show
    assert body["incident"]["incident_id"] == city.incident_id
    for m in [body["incident"], *(x["place"] for x in body["matches"])]:
        assert m["offense"] and m["occurred_from"] and m["area"] and -90 < m["lon"] < -85 and 20 < m["lat"] < 50
    assert [x["place"]["incident_id"] for x in body["matches"]] == [x["incident_id"] for x in body["matches"]]
    runs = client.get("/api/series-runs", headers=h).json()
    assert city.series_run in [r["run_id"] for r in runs["items"]]
    detail = client.get(f"/api/series-runs/{city.series_run}/series/{city.series_id}", headers=h).json()
    members = detail["members"]
    assert len(members) == detail["series"]["n_members"] >= 2
    assert [m["position"] for m in members] == list(range(len(members)))
    assert all(m["explanation"] and -90 < m["lon"] < -85 for m in members)
    assert detail["run"]["linker_id"] == city.extra["linker_id"]


def test_review_decision_lands_in_the_ledger(client: TestClient, city: City) -> None:
    assert city.review_item is not None
    queue = client.get("/api/review", headers=auth(city, "sam", "human review")).json()
    assert city.review_item in [i["item_id"] for i in queue["items"]]
    denied = client.post(f"/api/review/{city.review_item}/decision", json={"decision": "accept", "reason": "ok"},
                         headers=auth(city, "ana", "human review"))
    assert denied.status_code == 403 and denied.json()["type"] == "PermissionDeniedError"
    r = client.post(f"/api/review/{city.review_item}/decision",
                    json={"decision": "reject", "reason": "area already covered by a community scheme"},
                    headers=auth(city, "sam", "human review"))
    assert r.status_code == 200, r.text
    seq = r.json()["ledger_seq"]
    entry = next(e for e in _ledger(client, city, "review.decide") if e["seq"] == seq)
    assert entry["user"] == "sam" and entry["decision"]["reason"] == "area already covered by a community scheme"
    verify = client.post("/api/ledger/verify", headers=auth(city, "aud", "oversight")).json()
    assert verify["report"]["ok"] is True and verify["report"]["n_entries"] > seq


def test_operational_server_refuses_model_use_without_a_deployment(city: City, tmp_path: Any) -> None:
    from tests.api.city import copy_city

    mine = copy_city(city, tmp_path)
    web = create_app(Settings(db=mine.db), require_deployment=True)
    try:
        with TestClient(web, base_url="http://127.0.0.1") as c:
            body = {"dataset": "synth", "at": city.at}
            r = c.post("/api/forecasts", json=body, headers=auth(mine, "ana"))
            assert r.status_code == 403 and "X-Deployment" in r.json()["error"]
            wrong = c.post("/api/forecasts", json=body, headers=auth(mine, "ana", "research", DEPLOYMENT))
            assert wrong.status_code == 403 and "purpose 'research' is not allowed" in wrong.json()["error"]
            tuned = c.post("/api/forecasts", json={**body, "params": {"time_of_day": 0}},
                           headers=auth(mine, "ana", PURPOSE, DEPLOYMENT))
            assert tuned.status_code == 403 and "custom parameters ['time_of_day']" in tuned.json()["error"]
            ok = c.post("/api/forecasts", json=body, headers=auth(mine, "ana", PURPOSE, DEPLOYMENT))
            assert ok.status_code == 200, ok.text
            # operational output: no research mark; it waits for review, and says so
            assert ok.json()["mark"] == PENDING_REVIEW_MARK
            queue = c.get("/api/review", headers=auth(mine, "sam", "human review")).json()
            assert any(int(i["source_seq"]) == ok.json()["ledger_seq"] for i in queue["items"])
    finally:
        web.state.close()


def test_no_response_leaves_before_its_ledger_entries_are_committed(client: TestClient, city: City) -> None:
    """The authentication entry is only queued; the barrier commits it before any response is sent."""
    ledger = client.app.state.ctx.ledger  # type: ignore[attr-defined]
    h = auth(city, "ana", "barrier check")
    # a request that ends in an error writes no use entry: its authentication entry is committed anyway
    size, heads = ledger.size(), len(ledger.heads())
    r = client.get("/api/forecasts/no-such-run/cells", headers=h)
    assert r.status_code == 404
    assert ledger.size() == size + 1 and len(ledger.heads()) == heads + 1
    last = ledger.entry(size)
    assert (last.action, last.user, last.purpose) == ("users.authenticate", "ana", "authentication")
    # a served request: the authentication and the use entry share one commit and one signed head
    size, heads = ledger.size(), len(ledger.heads())
    r = client.get(f"/api/forecasts/{city.forecast_run}/cells", headers=h)
    assert r.status_code == 200
    assert ledger.size() == size + 2 and len(ledger.heads()) == heads + 1
    assert [ledger.entry(size + i).action for i in range(2)] == ["users.authenticate", "forecast.view"]
    assert ledger.verify().ok


def test_serve_builds_the_similar_cache_at_start_up(city: City, tmp_path_factory: Any) -> None:
    """``crimelens serve`` warms the similar-incident cache of each dataset with a linker in a thread."""
    from crimelens.services import linkage as lk
    from tests.api.city import copy_city

    mine = copy_city(city, tmp_path_factory.mktemp("warm"))
    web = create_app(Settings(db=mine.db), warm=True)
    try:
        with TestClient(web, base_url="http://127.0.0.1") as c:
            web.state.warmer.join(timeout=120)
            assert not web.state.warmer.is_alive()
            store = web.state.ctx.store
            built = lk._SNAPSHOTS.get(store, {})
            assert [d for d, _ in built] == ["synth"]  # built before any request asked for it
            n = next(iter(built.values())).n_incidents
            assert n == store.count_incidents(dataset="synth") > 100
            r = c.get(f"/api/incidents/{mine.incident_id}/similar?dataset=synth&k=5", headers=auth(mine, "ana"))
            assert r.status_code == 200 and len(r.json()["matches"]) == 5
    finally:
        web.state.close()


def test_an_administrator_backs_up_the_running_store(client: TestClient, city: City, tmp_path: Any) -> None:
    from crimelens.services.store import verify_backup

    out = city.db.parent / "backup"  # under CRIMELENS_BACKUP_ROOT's default, the store's folder
    r = client.post("/api/store/backup", json={"folder": str(out)}, headers=auth(city, "ada", "backup"))
    assert r.status_code == 200, r.text
    made = r.json()["backup"]
    assert made["tables"]["incidents"] > 0 and made["ledger_entries"] > 0
    check = verify_backup(out)
    assert check.ok, check.problems
    assert check.ledger_root == made["ledger_root"]
    # the service keeps serving from the live store, which records the backup
    entries = client.get("/api/ledger/entries?limit=10", headers=auth(city, "aud", "oversight")).json()["items"]
    assert any(e["action"] == "store.backup" and e["user"] == "ada" for e in entries)
    again = client.post("/api/store/backup", json={"folder": str(out)}, headers=auth(city, "ada", "backup"))
    assert again.status_code == 422 and "not empty" in again.json()["error"]
