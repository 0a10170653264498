"""Every public governance service writes exactly one well-formed ledger entry, ok or refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crimelens.errors import ApprovalRequiredError
from crimelens.governance import Actor, LedgerEntry
from crimelens.governance._policy import UsePolicy
from crimelens.services import governance as gs
from crimelens.services._context import Context, record_use
from tests.governance.conftest import CARD_TEXT, LOW_RISK, Clock, People, register, to_active

Step = Callable[[Context, People, Clock], Any]
Call = Callable[[Context, People, dict[str, Any]], Actor]


def _d2(state: str) -> Step:
    """Prepare a second deployment 'd2' in ``state``."""

    def go(c: Context, p: People, clock: Clock) -> None:
        gs.create_deployment(c, name="d2", model="KDEHotspot", model_version="1.0", description="second",
                             policy=UsePolicy(allowed_purposes=("patrol planning",)), actor=p.analyst)
        if state == "created":
            return
        gs.assess_impact(c, deployment="d2", answers=LOW_RISK, actor=p.analyst)
        if state == "draft":
            return
        gs.open_public_comment(c, deployment="d2", actor=p.sup1)
        clock.advance(days=31)
        if state == "public_comment":
            return
        gs.start_board_review(c, deployment="d2", actor=p.sup1)
        if state == "board_review":
            return
        for m, v in zip(p.board, ["reject", "reject", "approve"] if state == "rejected" else ["approve"] * 3,
                        strict=True):
            gs.vote(c, deployment="d2", choice=v, actor=m, reason="test vote")
        if state == "voted":
            return
        gs.close_review(c, deployment="d2", actor=p.board[0])

    return go


def _nothing(c: Context, p: People, clock: Clock) -> None:
    return None


def _recommendation(c: Context, p: People, clock: Clock) -> None:
    record_use(c, action="forecast.run", actor=p.analyst, purpose="patrol planning", deployment="hotspots")


def _call(fn: Callable[..., Any], who: str, **args: Any) -> Call:
    def go(c: Context, p: People, kw: dict[str, Any]) -> Actor:
        actor = {"admin": p.admin, "analyst": p.analyst, "sup": p.sup1, "board": p.board[0],
                 "auditor": p.auditor, "public": p.public}[who]
        resolved = {k: (v(c) if callable(v) else v) for k, v in args.items()}
        fn(c, actor=actor, **resolved, **kw)
        return actor

    return go


def _pending(c: Context) -> str:
    return str(c.store.scalar("SELECT item_id FROM review_items WHERE status = 'pending'"))


def _complaint(c: Context) -> str:
    return str(c.store.scalar("SELECT complaint_id FROM complaints"))


SCENARIOS: dict[str, tuple[Step, Call]] = {
    "activate": (_d2("approved"), _call(gs.activate, "admin", deployment="d2")),
    "add_user": (_nothing, _call(gs.add_user, "admin", name="newbie", role="analyst")),
    "annual_report": (_nothing, _call(gs.annual_report, "public", year=2026)),
    "assess_impact": (_d2("created"), _call(gs.assess_impact, "analyst", deployment="d2", answers=LOW_RISK)),
    "board_comment": (_d2("board_review"), _call(gs.board_comment, "board", deployment="d2", body="noted")),
    "close_review": (_d2("voted"), _call(gs.close_review, "board", deployment="d2")),
    "comment": (_d2("public_comment"), _call(gs.comment, "public", deployment="d2", body="why?")),
    "consistency_proof": (_nothing, _call(gs.consistency_proof, "auditor", old_size=3)),
    "create_deployment": (_nothing, _call(gs.create_deployment, "analyst", name="d3", model="KDEHotspot",
                                          model_version="1.0", description="third",
                                          policy=UsePolicy(allowed_purposes=("research",)))),
    "datasheet": (lambda c, p, k: gs.write_datasheet(c, dataset="ds", answers={"uses": "x"}, actor=p.analyst),
                  _call(gs.datasheet, "auditor", dataset="ds")),
    "decide_review": (_recommendation, _call(gs.decide_review, "sup", item_id=_pending, decision="accept",
                                             reason="checked the cells")),
    "decommission": (_nothing, _call(gs.decommission, "admin", deployment="hotspots", reason="ended")),
    # version 1.0's card is frozen under the active deployment: describe a version no deployment uses
    "describe_model": (lambda c, p, k: register(c, p, version="2.0"),
                       _call(gs.describe_model, "analyst", name="KDEHotspot", version="2.0",
                             sections={"caveats": CARD_TEXT["caveats"] + " More."})),
    "disable_user": (_nothing, _call(gs.disable_user, "admin", name="aud")),
    "engage_kill_switch": (_nothing, _call(gs.engage_kill_switch, "board", reason="drill")),
    "export_ledger": (_nothing, _call(gs.export_ledger, "auditor", path=lambda c: Path(str(c.store.path) + ".jsonl"))),
    "verify_export": (lambda c, p, k: gs.export_ledger(c, path=Path(str(c.store.path) + ".jsonl"), actor=p.auditor),
                      _call(gs.verify_export, "auditor", path=lambda c: Path(str(c.store.path) + ".jsonl"))),
    "file_complaint": (_nothing, _call(gs.file_complaint, "public", body="unfair", entry_seqs=[1])),
    "identify": (_nothing, lambda c, p, kw: _identify(c, p, kw)),
    "identify_deferred": (_nothing, lambda c, p, kw: _identify_deferred(c, p, kw)),
    "inclusion_proof": (_nothing, _call(gs.inclusion_proof, "auditor", seq=0)),
    "kill_switch_status": (_nothing, _call(gs.kill_switch_status, "public")),
    "ledger_entries": (_nothing, _call(gs.ledger_entries, "auditor", limit=5)),
    "ledger_head": (_nothing, _call(gs.ledger_head, "public")),
    "complaint_status": (lambda c, p, k: gs.file_complaint(c, body="x", actor=p.public),
                         _call(gs.complaint_status, "public", complaint_id=_complaint)),
    "list_complaints": (lambda c, p, k: gs.file_complaint(c, body="x", actor=p.public),
                        _call(gs.list_complaints, "board")),
    "list_deployments": (_nothing, _call(gs.list_deployments, "auditor")),
    "list_models": (_nothing, _call(gs.list_models, "auditor")),
    "list_users": (_nothing, _call(gs.list_users, "auditor")),
    "model_card": (_nothing, _call(gs.model_card, "auditor", name="KDEHotspot")),
    "open_public_comment": (_d2("draft"), _call(gs.open_public_comment, "sup", deployment="d2")),
    "purge_expired_outputs": (_nothing, _call(gs.purge_expired_outputs, "admin", deployment="hotspots")),
    "register_model": (_nothing, _call(gs.register_model, "analyst", name="KDEHotspot", version="9",
                                       params={}, evaluation={"metrics": {"pai_5pct": 6.0}})),
    "release_kill_switch": (lambda c, p, k: gs.engage_kill_switch(c, reason="drill", actor=p.board[0]),
                            _call(gs.release_kill_switch, "admin", reason="over")),
    "open_renewal": (_nothing, _call(gs.open_renewal, "sup", deployment="hotspots")),
    "renew": (lambda c, p, clock: (gs.open_renewal(c, deployment="hotspots", actor=p.sup1), clock.advance(days=30)),
              _call(gs.renew, "board", deployment="hotspots", reason="reviewed")),
    "report_incident": (_nothing, _call(gs.report_incident, "analyst", kind="error", severity="low",
                                        description="typo", deployment="hotspots")),
    "respond_complaint": (lambda c, p, k: gs.file_complaint(c, body="x", actor=p.public),
                          _call(gs.respond_complaint, "board", complaint_id=_complaint, response="answered")),
    "resume": (lambda c, p, k: gs.suspend(c, deployment="hotspots", reason="x", actor=p.sup1),
               _call(gs.resume, "admin", deployment="hotspots", reason="fixed")),
    "review_queue": (_nothing, _call(gs.review_queue, "auditor")),
    "revise": (_d2("rejected"), _call(gs.revise, "analyst", deployment="d2")),
    "rotate_token": (_nothing, _call(gs.rotate_token, "admin", name="ana")),
    "show_deployment": (_nothing, _call(gs.show_deployment, "public", deployment="hotspots")),
    "start_board_review": (_d2("public_comment"), _call(gs.start_board_review, "sup", deployment="d2")),
    "suspend": (_nothing, _call(gs.suspend, "sup", deployment="hotspots", reason="complaint")),
    "verify_ledger": (_nothing, _call(gs.verify_ledger, "auditor")),
    "vote": (_d2("board_review"), _call(gs.vote, "board", deployment="d2", choice="abstain", reason="test vote")),
    "write_datasheet": (_nothing, _call(gs.write_datasheet, "analyst", dataset="ds", answers={"uses": "x"})),
}


def _identify(c: Context, p: People, kw: dict[str, Any]) -> Actor:
    if "purpose" in kw:  # identify takes no purpose: it records its own ("authentication")
        raise ApprovalRequiredError("identify has no purpose argument")
    return gs.identify(c, p.tokens["ana"])


def _identify_deferred(c: Context, p: People, kw: dict[str, Any]) -> Actor:
    if "purpose" in kw:
        raise ApprovalRequiredError("identify_deferred has no purpose argument")
    actor, receipt = gs.identify_deferred(c, p.tokens["ana"])
    c.ledger.wait(receipt)  # the entry is only queued until someone waits for it
    return actor


def test_the_scenarios_cover_every_public_service() -> None:
    assert sorted(SCENARIOS) == sorted(gs.__all__)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_exactly_one_well_formed_entry(ctx: Context, people: People, clock: Clock, name: str) -> None:
    to_active(ctx, people, clock)
    prepare, call = SCENARIOS[name]
    prepare(ctx, people, clock)
    before = ctx.ledger.size()
    actor = call(ctx, people, {})
    assert ctx.ledger.size() == before + 1, f"{name} wrote {ctx.ledger.size() - before} entries"
    seq, entry = ctx.ledger.entries()[-1]
    payload = bytes(ctx.store.scalar("SELECT payload FROM ledger WHERE seq = ?", [seq]))
    assert payload.startswith(b'{"seq":%d,' % seq)
    assert LedgerEntry.from_payload(json.loads(payload)) == entry
    assert entry.outcome == "ok"
    assert entry.user == actor.user and entry.role == str(actor.role)
    assert entry.purpose.strip() and entry.at == clock()
    assert ctx.ledger.verify().ok


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(SCENARIOS) - {"identify", "identify_deferred"}))
def test_without_purpose_each_is_refused_and_logged(ctx: Context, people: People, clock: Clock, name: str) -> None:
    to_active(ctx, people, clock)
    prepare, call = SCENARIOS[name]
    prepare(ctx, people, clock)
    before = ctx.ledger.size()
    with pytest.raises(ApprovalRequiredError, match="no stated purpose"):
        call(ctx, people, {"purpose": ""})
    assert ctx.ledger.size() == before + 1
    _, entry = ctx.ledger.entries()[-1]
    assert entry.outcome == "refused" and entry.detail["reason"].startswith("no stated purpose")
