"""authorize / record_use: refusals are refused AND logged; research use stays allowed; suspension is immediate."""

from __future__ import annotations

import pytest

from crimelens.errors import ApprovalRequiredError, NotFoundError, PermissionDeniedError
from crimelens.governance import Actor, Role
from crimelens.services import governance as gs
from crimelens.services._context import Context, authorize, record_use
from tests.governance.conftest import Clock, People, to_active, to_review


def _last(ctx: Context) -> tuple[int, object]:
    return ctx.ledger.entries()[-1]


def test_research_use_by_a_named_local_user_is_allowed_without_registration(ctx: Context) -> None:
    actor = Actor("local-analyst", Role.ANALYST)
    authorize(ctx, action="forecast.run", actor=actor, purpose="research")
    seq = record_use(ctx, action="forecast.run", actor=actor, purpose="research", model="KDEHotspot",
                     params={"bandwidth_m": 250.0})
    seq_, entry = ctx.ledger.entries()[-1]
    assert seq == seq_ and entry.outcome == "ok" and entry.user == "local-analyst"
    assert ctx.ledger.verify().ok


@pytest.mark.parametrize("purpose", [None, "", "   "])
def test_missing_purpose_is_refused_and_logged(ctx: Context, purpose: str | None) -> None:
    before = ctx.ledger.size()
    with pytest.raises(ApprovalRequiredError, match="no stated purpose"):
        authorize(ctx, action="forecast.run", actor=Actor("ana"), purpose=purpose)
    assert ctx.ledger.size() == before + 1
    _, entry = ctx.ledger.entries()[-1]
    assert entry.outcome == "refused" and "no stated purpose" in entry.detail["reason"]


def test_wrong_role_is_refused_and_logged(ctx: Context) -> None:
    with pytest.raises(PermissionDeniedError, match="auditor"):
        record_use(ctx, action="forecast.run", actor=Actor("aud", Role.AUDITOR), purpose="research")
    _, entry = ctx.ledger.entries()[-1]
    assert entry.outcome == "refused" and entry.role == "auditor" and entry.action == "forecast.run"


def test_auditor_may_audit_and_read(ctx: Context) -> None:
    authorize(ctx, action="audit.fairness", actor=Actor("aud", Role.AUDITOR), purpose="oversight")
    authorize(ctx, action="ledger.verify", actor=Actor("aud", Role.AUDITOR), purpose="oversight")


def test_refusal_survives_the_callers_rollback(ctx: Context) -> None:
    before = ctx.ledger.size()
    with pytest.raises(ApprovalRequiredError), ctx.store.transaction():
        ctx.store.execute("CREATE TABLE scratch_output (x INTEGER)")
        record_use(ctx, action="forecast.run", actor=Actor("ana"), purpose="")
    assert ctx.ledger.size() == before + 1  # the output rolled back, the refusal did not
    assert not ctx.store.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'scratch_output'")
    assert ctx.ledger.verify().ok


def test_actionable_output_without_deployment_is_refused(ctx: Context) -> None:
    with pytest.raises(ApprovalRequiredError, match="actionable"):
        authorize(ctx, action="forecast.run", actor=Actor("ana"), purpose="research", actionable=True)
    assert _last(ctx)[1].outcome == "refused"  # type: ignore[attr-defined]


def test_unknown_deployment_is_refused_and_logged(ctx: Context) -> None:
    with pytest.raises(NotFoundError, match="nowhere"):
        authorize(ctx, action="forecast.run", actor=Actor("ana"), purpose="patrol planning", deployment="nowhere")
    assert _last(ctx)[1].deployment == "nowhere"  # type: ignore[attr-defined]


def test_deployment_in_review_is_refused(ctx: Context, people: People, clock: Clock) -> None:
    to_review(ctx, people, clock)
    with pytest.raises(ApprovalRequiredError, match="board review"):
        authorize(ctx, action="forecast.run", actor=people.analyst, purpose="patrol planning", deployment="hotspots")
    _, e = ctx.ledger.entries()[-1]
    assert e.outcome == "refused" and e.deployment == "hotspots"


def test_active_deployment_enforces_its_use_policy(ctx: Context, people: People, clock: Clock) -> None:
    to_active(ctx, people, clock)
    authorize(ctx, action="forecast.run", actor=people.analyst, purpose="patrol planning", deployment="hotspots",
              model="KDEHotspot", model_version="1.0")
    with pytest.raises(ApprovalRequiredError, match="purpose 'immigration'"):
        authorize(ctx, action="forecast.run", actor=people.analyst, purpose="immigration", deployment="hotspots")
    with pytest.raises(ApprovalRequiredError, match="approves model"):
        authorize(ctx, action="forecast.run", actor=people.analyst, purpose="patrol planning",
                  deployment="hotspots", model="OtherModel")
    with pytest.raises(PermissionDeniedError, match="not a registered user"):
        authorize(ctx, action="forecast.run", actor=Actor("mallory"), purpose="patrol planning", deployment="hotspots")
    with pytest.raises(PermissionDeniedError, match="registered as 'analyst'"):
        authorize(ctx, action="forecast.run", actor=Actor("ana", Role.ADMIN), purpose="patrol planning",
                  deployment="hotspots")
    refused = [e for _, e in ctx.ledger.entries(action="forecast.run") if e.outcome == "refused"]
    assert len(refused) == 4


def test_suspension_takes_effect_on_the_very_next_call(ctx: Context, people: People, clock: Clock) -> None:
    to_active(ctx, people, clock)
    use = {"action": "forecast.run", "actor": people.analyst, "purpose": "patrol planning", "deployment": "hotspots"}
    record_use(ctx, **use)
    gs.suspend(ctx, deployment="hotspots", reason="complaint about over-patrolling", actor=people.sup1)
    with pytest.raises(ApprovalRequiredError, match="suspended"):
        record_use(ctx, **use)
    gs.resume(ctx, deployment="hotspots", reason="reviewed", actor=people.board[0])
    record_use(ctx, **use)


def test_global_kill_switch_blocks_every_deployment_but_not_research(ctx: Context, people: People, clock: Clock) -> None:
    to_active(ctx, people, clock)
    gs.engage_kill_switch(ctx, reason="data breach under investigation", actor=people.board[1])
    with pytest.raises(ApprovalRequiredError, match="global kill switch"):
        authorize(ctx, action="forecast.run", actor=people.analyst, purpose="patrol planning", deployment="hotspots")
    authorize(ctx, action="forecast.run", actor=people.analyst, purpose="research")
    gs.release_kill_switch(ctx, reason="contained", actor=people.admin)
    authorize(ctx, action="forecast.run", actor=people.analyst, purpose="patrol planning", deployment="hotspots")


def test_lapsed_approval_is_refused_until_renewed(ctx: Context, people: People, clock: Clock) -> None:
    to_active(ctx, people, clock)
    clock.advance(days=366)
    with pytest.raises(ApprovalRequiredError, match="lapsed"):
        authorize(ctx, action="forecast.run", actor=people.analyst, purpose="patrol planning", deployment="hotspots")
    gs.open_renewal(ctx, deployment="hotspots", actor=people.sup1)
    clock.advance(days=30)
    gs.renew(ctx, deployment="hotspots", reason="annual review done", actor=people.board[2])
    authorize(ctx, action="forecast.run", actor=people.analyst, purpose="patrol planning", deployment="hotspots")


def test_actionable_output_enters_review_queue(ctx: Context, people: People, clock: Clock) -> None:
    to_active(ctx, people, clock)
    seq = record_use(ctx, action="forecast.run", actor=people.analyst, purpose="patrol planning",
                     deployment="hotspots", output_hash="ee" * 32, detail={"cells": 12})
    queue = gs.review_queue(ctx, actor=people.sup1)
    assert [(q["item_id"], q["source_seq"], q["status"]) for q in queue] == [(f"r{seq}", seq, "pending")]


def test_sharing_follows_the_allow_list_and_is_counted(ctx: Context, people: People, clock: Clock) -> None:
    from crimelens.governance._policy import UsePolicy
    from crimelens.services._context import retention_days

    policy = UsePolicy(allowed_purposes=("patrol planning",), sharing_allowlist=("district-3",),
                       retention_days={"outputs": 90})
    to_active(ctx, people, clock, policy=policy)
    use = {"action": "forecast.share", "actor": people.analyst, "purpose": "patrol planning", "deployment": "hotspots"}
    record_use(ctx, share_to="district-3", **use)
    with pytest.raises(PermissionDeniedError, match="allow-list"):
        record_use(ctx, share_to="vendor-x", **use)
    with pytest.raises(ApprovalRequiredError, match="needs a deployment"):
        authorize(ctx, action="forecast.share", actor=people.analyst, purpose="research", share_to="district-3")
    shared = [(e.outcome, e.detail.get("recipient")) for _, e in ctx.ledger.entries(action="forecast.share")]
    assert shared == [("ok", "district-3"), ("refused", "vendor-x"), ("refused", "district-3")]
    assert retention_days(ctx, "hotspots", "outputs") == 90
    assert retention_days(ctx, "hotspots", "video") is None
