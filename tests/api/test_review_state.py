"""A review decision against the deployment's state, and the mark of the output it decides.

An accept (or an override) makes an output actionable, so it is refused while the deployment is
suspended, decommissioned or under the global kill switch; a rejection stays possible. Once an item
is final, the stored forecast run it points to carries the decision in every later read and export.
Real forecast runs of the synthetic city, served in-process.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from crimelens.api import create_app
from crimelens.config import Settings
from crimelens.governance import PENDING_REVIEW_MARK
from tests.api.city import DEPLOYMENT, PURPOSE, City, copy_city
from tests.api.conftest import auth

REVIEW = "human review"


@pytest.fixture
def mine(city_template: City, tmp_path: Path) -> City:
    return copy_city(city_template, tmp_path / "own")


@pytest.fixture
def api(mine: City) -> Iterator[TestClient]:
    web = create_app(Settings(db=mine.db, failed_auth_per_minute=0))
    try:
        with TestClient(web, base_url="http://127.0.0.1") as c:
            yield c
    finally:
        web.state.close()


def _decide(api: TestClient, city: City, item: str, decision: str, **extra: Any) -> Any:
    return api.post(f"/api/review/{item}/decision", json={"decision": decision, "reason": "checked", **extra},
                    headers=auth(city, "sam", REVIEW))


def _mark(api: TestClient, city: City, run_id: str) -> tuple[str, str]:
    """The run's mark as the map layer and the CSV export give it."""
    layer = api.get(f"/api/forecasts/{run_id}/cells", headers=auth(city, "ana")).json()
    export = api.get(f"/api/forecasts/{run_id}/export?format=csv", headers=auth(city, "ana"))
    assert export.status_code == 200, export.text
    marks = {row["mark"] for row in csv.DictReader(io.StringIO(export.text))}  # a column, the same on every row
    assert len(marks) == 1, export.text[:500]
    return str(layer["properties"]["mark"]), marks.pop()


def _refused(api: TestClient, city: City) -> list[dict[str, Any]]:
    r = api.get("/api/ledger/entries?action=review.decide&limit=50", headers=auth(city, "aud", "oversight"))
    return [e for e in r.json()["items"] if e["outcome"] == "refused"]


def _new_item(api: TestClient, city: City) -> tuple[str, str]:
    """An operational forecast under the deployment: its run and its pending review item."""
    r = api.post("/api/forecasts", json={"dataset": "synth", "at": city.at},
                 headers=auth(city, "ana", PURPOSE, DEPLOYMENT))
    assert r.status_code == 200, r.text
    return r.json()["run_id"], f"r{r.json()['ledger_seq']}"


def test_accept_marks_the_stored_output_for_every_later_read(api: TestClient, mine: City) -> None:
    run_id, item = str(mine.extra["op_run"]), mine.review_item
    assert item is not None
    assert _mark(api, mine, run_id) == (PENDING_REVIEW_MARK, PENDING_REVIEW_MARK)  # also caches the layer
    r = _decide(api, mine, item, "accept")
    assert r.status_code == 200, r.text
    today = datetime.now(UTC).date().isoformat()
    expected = (f"accepted by sam on {today} (review {item}) — actionable under deployment {DEPLOYMENT} "
                "while it is active")
    assert r.json()["mark"] == expected and r.json()["marked_runs"] == [run_id]
    assert _mark(api, mine, run_id) == (expected, expected)
    entry = next(e for e in api.get("/api/ledger/entries?action=review.decide&limit=5",
                                    headers=auth(mine, "aud", "oversight")).json()["items"]
                 if e["seq"] == r.json()["ledger_seq"])
    assert entry["detail"] == {"mark": expected, "marked_runs": [run_id]}


def test_a_suspended_deployment_refuses_accept_and_override_but_not_reject(api: TestClient, mine: City) -> None:
    run_id, item = str(mine.extra["op_run"]), mine.review_item
    assert item is not None
    s = api.post(f"/api/deployments/{DEPLOYMENT}/suspend", json={"reason": "complaint under review"},
                 headers=auth(mine, "sam", "oversight"))
    assert s.status_code == 200, s.text
    for decision, extra in (("accept", {}), ("override", {"replacement": {"drop_cells": [1]}})):
        r = _decide(api, mine, item, decision, **extra)
        assert r.status_code == 403 and r.json()["type"] == "ApprovalRequiredError", r.text
        error = r.json()["error"]
        assert error.startswith(f"review {item}: {decision} refused: deployment '{DEPLOYMENT}' is suspended since ")
        assert "(complaint under review)" in error and "reject stays possible" in error
    refused = _refused(api, mine)
    assert [(e["detail"]["decision"], e["detail"]["deployment_state"], e["deployment"]) for e in refused] == [
        ("override", "suspended", DEPLOYMENT), ("accept", "suspended", DEPLOYMENT)]  # newest first
    assert _mark(api, mine, run_id) == (PENDING_REVIEW_MARK, PENDING_REVIEW_MARK)  # nothing became actionable
    r = _decide(api, mine, item, "reject")
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
    mark = r.json()["mark"]
    assert mark.startswith("rejected by sam on ") and mark.endswith(f"(review {item}) — do not act on it")
    assert _mark(api, mine, run_id) == (mark, mark)
    year = datetime.now(UTC).year
    report = api.get(f"/api/reports/annual/{year}").json()["data"]
    assert report["review_refused_not_active"] == {"accept": 1, "override": 1}
    assert report["review_decisions"] == {"reject": 1}
    assert report["review_while_not_active"] == []  # a rejection is always allowed: not listed as a lapse


def test_the_kill_switch_and_decommissioning_refuse_accepts(api: TestClient, mine: City) -> None:
    run_a, item_a = _new_item(api, mine)
    run_b, item_b = _new_item(api, mine)
    on = api.post("/api/killswitch", json={"engaged": True, "reason": "drill"}, headers=auth(mine, "bea", "oversight"))
    assert on.status_code == 200, on.text
    r = _decide(api, mine, item_a, "accept")
    assert r.status_code == 403 and "the global kill switch is engaged" in r.json()["error"]
    off = api.post("/api/killswitch", json={"engaged": False, "reason": "drill over"},
                   headers=auth(mine, "bea", "oversight"))
    assert off.status_code == 200, off.text
    assert _decide(api, mine, item_a, "accept").status_code == 200  # active again: the same accept goes through
    assert _mark(api, mine, run_a)[0].startswith("accepted by sam")
    gone = api.post(f"/api/deployments/{DEPLOYMENT}/transitions/decommission", json={"reason": "ended"},
                    headers=auth(mine, "bea", "oversight"))
    assert gone.status_code == 200, gone.text
    r = _decide(api, mine, item_b, "accept")
    assert r.status_code == 403 and f"deployment '{DEPLOYMENT}' is decommissioned since " in r.json()["error"]
    assert _mark(api, mine, run_b) == (PENDING_REVIEW_MARK, PENDING_REVIEW_MARK)
    assert [e["detail"]["deployment_state"] for e in _refused(api, mine)] == ["decommissioned", "kill switch"]
