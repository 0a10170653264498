"""Review decisions against the deployment's state; the report's count of decisions taken out of state;
governance reads by a claimed local role once a store has users."""

from __future__ import annotations

from pathlib import Path

import pytest

from crimelens.config import Settings
from crimelens.errors import ApprovalRequiredError, PermissionDeniedError
from crimelens.governance import Actor, Role
from crimelens.governance._policy import UsePolicy
from crimelens.services import governance as gs
from crimelens.services._context import Context, open_context, record_use
from tests.governance.conftest import Clock, People, to_active


def _recommend(ctx: Context, people: People) -> str:
    return f"r{record_use(ctx, action='forecast.run', actor=people.analyst, purpose='patrol planning', deployment='hotspots')}"


def _refusal(ctx: Context) -> dict[str, object]:
    _seq, entry = ctx.ledger.entries()[-1]
    assert entry.action == "review.decide" and entry.outcome == "refused"
    return dict(entry.detail)


@pytest.mark.parametrize("stop", ["suspend", "kill switch", "decommission", "lapse"])
def test_accept_and_override_need_an_active_deployment_reject_does_not(ctx: Context, people: People, clock: Clock,
                                                                       stop: str) -> None:
    to_active(ctx, people, clock)
    item = _recommend(ctx, people)
    state = {"suspend": "suspended", "kill switch": "kill switch", "decommission": "decommissioned",
             "lapse": "lapsed"}[stop]
    if stop == "suspend":
        gs.suspend(ctx, deployment="hotspots", reason="complaint", actor=people.sup2)
    elif stop == "kill switch":
        gs.engage_kill_switch(ctx, reason="drill", actor=people.board[0])
    elif stop == "decommission":
        gs.decommission(ctx, deployment="hotspots", reason="ended", actor=people.board[0])
    else:
        clock.advance(days=366)  # the approval lasts 365 days
    words = {"suspended": "deployment 'hotspots' is suspended since", "kill switch": "global kill switch is engaged",
             "decommissioned": "deployment 'hotspots' is decommissioned since",
             "lapsed": "the approval of deployment 'hotspots' lapsed on"}[state]
    for decision, replacement in (("accept", None), ("override", {"drop_cells": [3]})):
        before = ctx.ledger.size()
        with pytest.raises(ApprovalRequiredError, match=f"review {item}: {decision} refused: .*{words}"):
            gs.decide_review(ctx, item_id=item, decision=decision, reason="looks right", actor=people.sup1,
                             replacement=replacement)
        assert ctx.ledger.size() == before + 1
        assert _refusal(ctx) == {"reason": _refusal(ctx)["reason"], "item_id": item, "decision": decision,
                                 "deployment_state": state}
    assert gs.review_queue(ctx, actor=people.auditor)[0]["decisions"] == []  # nothing was recorded as decided
    out = gs.decide_review(ctx, item_id=item, decision="reject", reason="not while stopped", actor=people.sup1)
    assert out.status == "rejected" and out.mark is not None and out.mark.endswith("— do not act on it")
    assert out.marked_runs == ()  # this recommendation was logged without a stored run


def test_under_the_two_person_rule_the_second_accept_is_refused_after_a_suspension(
        ctx: Context, people: People, clock: Clock) -> None:
    policy = UsePolicy(allowed_purposes=("patrol planning",), actionable_actions=("forecast.run",), two_person_rule=True)
    to_active(ctx, people, clock, policy=policy)
    item = _recommend(ctx, people)
    assert gs.decide_review(ctx, item_id=item, decision="accept", reason="fine", actor=people.sup1).status == "pending"
    gs.suspend(ctx, deployment="hotspots", reason="incident", actor=people.sup1)
    with pytest.raises(ApprovalRequiredError, match="suspended"):
        gs.decide_review(ctx, item_id=item, decision="accept", reason="agree", actor=people.sup2)
    gs.resume(ctx, deployment="hotspots", reason="resolved", actor=people.board[0])
    done = gs.decide_review(ctx, item_id=item, decision="accept", reason="agree", actor=people.sup2)
    assert done.status == "accepted"
    assert done.mark == ("accepted by sam and sue on 2026-04-02 (review "
                         f"{item}) — actionable under deployment hotspots while it is active")
    # the report counts two supervisors' decisions and one output decided for good (it said "accept 2" only)
    report = gs.annual_report(ctx, year=2026, actor=people.public)
    assert report.data["review_decisions"] == {"accept": 2}
    assert report.data["review_by_deployment"] == [
        {"deployment": "hotspots", "decisions": {"accept": 2}, "outputs_decided": {"accept": 1}}]
    assert "<td>hotspots</td><td>accept 2</td><td>accept 1</td>" in report.html


def test_the_report_lists_decisions_an_older_ledger_took_while_the_deployment_was_not_active(
        ctx: Context, people: People, clock: Clock) -> None:
    to_active(ctx, people, clock)
    items = [_recommend(ctx, people) for _ in range(3)]
    gs.decide_review(ctx, item_id=items[0], decision="accept", reason="fine", actor=people.sup1)
    gs.suspend(ctx, deployment="hotspots", reason="complaint", actor=people.sup1)
    clock.advance(minutes=1)
    # what crimelens wrote before accepts were refused: a decision entry under a suspended deployment
    old = record_use(ctx, action="review.decide", actor=people.sup1, purpose="human review", deployment="hotspots",
                     require_active=False, decision={"item_id": items[1], "decision": "accept", "reason": "y",
                                                     "replacement": None, "final": True, "source_seq": 0})
    with pytest.raises(ApprovalRequiredError):
        gs.decide_review(ctx, item_id=items[2], decision="accept", reason="y", actor=people.sup1)
    gs.decide_review(ctx, item_id=items[2], decision="reject", reason="suspended", actor=people.sup1)
    gs.resume(ctx, deployment="hotspots", reason="resolved", actor=people.board[0])
    gs.engage_kill_switch(ctx, reason="drill", actor=people.board[0])
    kill = record_use(ctx, action="review.decide", actor=people.sup2, purpose="human review", deployment="hotspots",
                      require_active=False, decision={"item_id": items[1], "decision": "override", "reason": "z",
                                                      "replacement": {"x": 1}, "final": True, "source_seq": 0})
    d = gs.annual_report(ctx, year=2026, actor=people.public).data
    assert d["review_decisions"] == {"accept": 2, "override": 1, "reject": 1}
    # the rejection taken while suspended (always allowed: it makes nothing actionable) is not listed
    assert [(x["seq"], x["decision"], x["state"]) for x in d["review_while_not_active"]] == [
        (old, "accept", "suspended"), (kill, "override", "kill switch")]
    assert d["review_while_not_active_by_decision"] == {"accept": 1, "override": 1}
    assert d["review_refused_not_active"] == {"accept": 1}
    html = " ".join(gs.annual_report(ctx, year=2026, actor=people.public).html.split())
    assert ("Accepts and overrides taken while their deployment was not active (rejections, always allowed, are "
            "not listed): 2 (accept: 1, override: 1)") in html
    assert "Accepts and overrides refused because their deployment was not active" in html


def test_governance_reads_need_a_registered_user_once_the_store_has_users(ctx: Context, people: People,
                                                                          tmp_path: Path) -> None:
    claimed = Actor("fakeadmin", Role.ADMIN)  # CRIMELENS_USER=fakeadmin CRIMELENS_ROLE=admin
    before = ctx.ledger.size()
    with pytest.raises(PermissionDeniedError, match=r"'fakeadmin' is not a registered user .*; once a store has users, "
                                                    r"'ledger.export' needs a registered user"):
        gs.export_ledger(ctx, path=tmp_path / "l.jsonl", actor=claimed)
    assert not (tmp_path / "l.jsonl").exists() and ctx.ledger.size() == before + 1
    for read in (lambda a: gs.ledger_entries(ctx, actor=a), lambda a: gs.review_queue(ctx, actor=a),
                 lambda a: gs.list_users(ctx, actor=a)):
        with pytest.raises(PermissionDeniedError, match="not a registered user"):
            read(claimed)
    with pytest.raises(PermissionDeniedError, match="registered as 'analyst', not 'auditor'"):
        gs.ledger_entries(ctx, actor=Actor("ana", Role.AUDITOR))  # a registered name with another role
    assert gs.export_ledger(ctx, path=tmp_path / "l.jsonl", actor=people.auditor)["entries"] > 0
    # what the public may read needs no account; the ledger's head, its verification, the report
    assert gs.ledger_head(ctx, actor=claimed)["tree_size"] > 0
    assert gs.verify_ledger(ctx, actor=Actor("someone", Role.ANALYST)).ok
    # a research store on one's own machine has no users: the local role stands there
    me = Actor("local-analyst", Role.ANALYST)
    with open_context(Settings(db=tmp_path / "mine.duckdb")) as mine:
        record_use(mine, action="forecast.run", actor=me, purpose="research")
        assert gs.export_ledger(mine, path=tmp_path / "mine.jsonl", actor=me)["entries"] == 1
        assert len(gs.ledger_entries(mine, actor=me)) == 2 and gs.review_queue(mine, actor=me) == []
