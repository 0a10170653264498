"""A near-repeat alert under a deployment is operational use: checked, marked, reviewed and purged as the
deployment's policy says. Before, the API authorised the X-Deployment header and then made a research alert
(mark 'research — not for operational use', ledger deployment None) that retention never purged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from crimelens import __version__
from crimelens.api import create_app
from crimelens.config import Settings
from crimelens.governance import Actor, Role
from crimelens.governance._aia import AIA_QUESTIONS
from crimelens.governance._policy import UsePolicy
from crimelens.services import governance as gs
from crimelens.services import nearrepeat as nr
from crimelens.services._context import PENDING_REVIEW_MARK, open_context
from crimelens.storage import _governance as gov_db
from tests.api.city import DEPLOYMENT, PURPOSE, City, Clock, copy_city
from tests.api.conftest import auth

ANA, SAM, ADA = Actor("ana", Role.ANALYST), Actor("sam", Role.SUPERVISOR), Actor("ada", Role.ADMIN)


def _knox_deployment(db: Path, clock: Clock) -> None:
    """An active deployment of the Knox test whose alerts wait for review and are kept 30 days."""
    with open_context(Settings(db=db), clock=clock) as ctx:
        gs.register_model(ctx, name="KnoxTest", version=__version__, params={}, actor=ANA,
                          evaluation={"metrics": {"knox_ratio_100m_7d": 1.4}, "data": "synthetic city Knox tables",
                                      "groups": {}},
                          training_dataset="synth", card_text={
                              "intended_use": "Warn neighbours after a burglary (demonstration).",
                              "factors": "None: a space-time count.", "ethical_considerations": "Recorded data.",
                              "caveats": "Synthetic data."})
        policy = UsePolicy(allowed_purposes=(PURPOSE,), min_comment_days=0, board_quorum=3,
                           actionable_actions=("nearrepeat.alert",), retention_days={"outputs": 30})
        gs.create_deployment(ctx, name="nr-alerts", model="KnoxTest", model_version=__version__,
                             description="Near-repeat alerts", policy=policy, actor=ANA)
        low = {q.qid: min(q.choices, key=q.choices.__getitem__) for q in AIA_QUESTIONS}
        gs.assess_impact(ctx, deployment="nr-alerts", answers=low, actor=ANA)
        gs.open_public_comment(ctx, deployment="nr-alerts", actor=SAM)
        clock.advance(days=14)
        gs.start_board_review(ctx, deployment="nr-alerts", actor=SAM)
        for member in ("bea", "bob", "bo"):
            gs.vote(ctx, deployment="nr-alerts", choice="approve", actor=Actor(member, Role.BOARD),
                    reason="controls adequate")
        gs.close_review(ctx, deployment="nr-alerts", actor=Actor("bea", Role.BOARD))
        gs.activate(ctx, deployment="nr-alerts", actor=ADA)


def test_an_alert_under_a_deployment_is_operational_reviewed_and_purged(city_template: City, tmp_path: Path) -> None:
    city = copy_city(city_template, tmp_path / "store")
    clock = Clock(datetime.now(UTC) + timedelta(days=20))
    _knox_deployment(city.db, clock)
    with open_context(Settings(db=city.db), clock=clock) as ctx:
        run = nr.nearrepeat_alert(ctx, city.incident_id, actor=ANA, purpose=PURPOSE, dataset="synth",
                                  permutations=19, deployment="nr-alerts")
        assert run.mark == PENDING_REVIEW_MARK and run.to_dict()["deployment"] == "nr-alerts"
        entry = json.loads(ctx.store.query("SELECT decode(payload) AS p FROM ledger WHERE seq = ?",
                                           [run.ledger_seq])["p"][0])
        assert entry["deployment"] == "nr-alerts" and entry["detail"]["mark"] == PENDING_REVIEW_MARK
        (item,) = [r for r in gov_db.review_items(ctx.store, deployment="nr-alerts")
                   if int(r["source_seq"]) == run.ledger_seq]
        assert item["status"] == "pending" and item["action"] == "nearrepeat.alert"
    # 31 days on, the policy's 30 days are over: the alert goes, and its review with it
    clock.advance(days=31)
    with open_context(Settings(db=city.db), clock=clock) as ctx:
        done = gs.purge_expired_outputs(ctx, actor=ADA, deployment="nr-alerts")
        (purged,) = done["deployments"][0]["purged"]
        assert purged["output_id"] == run.alert_id and purged["rows"] == {"nearrepeat_alerts": 1}
        assert purged["review_items_closed"] == [item["item_id"]]
        assert ctx.store.scalar("SELECT count(*) FROM nearrepeat_alerts WHERE alert_id = ?", [run.alert_id]) == 0


def test_the_api_refuses_an_alert_under_a_deployment_of_another_model_and_a_simulation_under_any(
        city_template: City, tmp_path: Path) -> None:
    city = copy_city(city_template, tmp_path / "store")
    web = create_app(Settings(db=city.db))
    with TestClient(web, base_url="http://127.0.0.1") as client:
        before = client.get("/api/ledger/entries", params={"limit": 1}, headers=auth(city, "aud")).json()
        r = client.post(f"/api/incidents/{city.incident_id}/nearrepeat", json={"dataset": "synth", "permutations": 19},
                        headers=auth(city, "ana", PURPOSE, DEPLOYMENT))
        assert r.status_code in (403, 409, 422), r.text
        assert "approves model" in r.json()["error"] and "got 'KnoxTest'" in r.json()["error"]
        r = client.post("/api/feedback/simulations", json={"scenario": "ensign-urn"},
                        headers=auth(city, "ana", PURPOSE, DEPLOYMENT))
        assert r.status_code == 422, r.text
        assert "runs under no deployment" in r.json()["error"]
        entries = client.get("/api/ledger/entries", params={"limit": 5}, headers=auth(city, "aud")).json()["items"]
        refused = [(e["action"], e["outcome"], e.get("deployment")) for e in entries if e["seq"] > before["items"][0]["seq"]]
        assert ("nearrepeat.alert", "refused", DEPLOYMENT) in refused
        assert ("feedback.simulate", "refused", DEPLOYMENT) in refused
    web.state.close()
    with open_context(Settings(db=city.db)) as ctx:
        assert ctx.store.scalar("SELECT count(*) FROM nearrepeat_alerts") == 0
