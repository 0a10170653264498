"""What the public sees of the governance record: the annual report carries no free text from
requests, counts complaints answered (not answers written) and votes as counted, and every view
says what a deployment's state means now (kill switch, lapsed approval)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from crimelens.errors import ApprovalRequiredError, CrimelensError, InputError
from crimelens.governance._policy import UsePolicy
from crimelens.services import evidence as ev
from crimelens.services import governance as gs
from crimelens.services._context import Context, record_use
from tests.governance.conftest import CARD_TEXT, Clock, People, propose, to_active, to_review

CASE = "SA-2026-0418 (sexual assault, victim Jane Doe)"


def test_the_public_report_names_no_case_file_person_or_path(ctx: Context, people: People, tmp_path: Path) -> None:
    with pytest.raises(CrimelensError):
        ev.verify_case(ctx, CASE, actor=people.analyst)
    empty = tmp_path / "interview_minor_JaneDoe_2011-04-02.mp4"
    empty.write_bytes(b"")
    with pytest.raises(CrimelensError):
        ev.add_evidence(ctx, empty, case_id="SA-2026-0418", actor=people.analyst, source="interview room 2")
    # a research use (no deployment) with a purpose typed freely
    record_use(ctx, action="forecast.run", actor=people.analyst, purpose="check on Jane Doe's street")
    reasons = [e["detail"]["reason"] for e in gs.ledger_entries(ctx, actor=people.auditor, limit=None)
               if e["outcome"] == "refused"]
    assert any("Jane Doe" in r for r in reasons)  # the staff ledger keeps the full reasons
    report = gs.annual_report(ctx, year=2026, actor=people.public)
    text = json.dumps(report.data, default=str) + report.html
    for secret in ("Jane Doe", "JaneDoe", "SA-2026-0418", str(ctx.store.path), ".mp4"):
        assert secret not in text, secret
    refusals = {(r["action"], r["category"]): r["n"] for r in report.data["refusals"]}
    assert set(refusals) >= {("evidence.verify", "not found"), ("evidence.add", "invalid or incomplete request")}
    assert {"deployment": "research (no deployment)", "purpose": "other purpose (free text, withheld)",
            "action": "forecast.run", "n": 1} in report.data["uses"]


def test_an_answered_complaint_keeps_its_answer_and_is_counted_once(ctx: Context, people: People,
                                                                    clock: Clock) -> None:
    to_active(ctx, people, clock)
    first = gs.file_complaint(ctx, body="Why my block?", deployment="hotspots", actor=people.public)
    gs.file_complaint(ctx, body="And mine?", deployment="hotspots", actor=people.public)
    gs.respond_complaint(ctx, complaint_id=first["complaint_id"], response="We reviewed it", actor=people.board[0])
    for member in (people.board[1], people.board[0]):
        with pytest.raises(InputError, match="already answered"):
            gs.respond_complaint(ctx, complaint_id=first["complaint_id"], response="Something else", actor=member)
    status = gs.complaint_status(ctx, complaint_id=first["complaint_id"], actor=people.public)
    assert (status["status"], status["response"]) == ("answered", "We reviewed it")
    answers = gs.ledger_entries(ctx, actor=people.auditor, action="complaints.respond", limit=None)
    assert [e["outcome"] for e in answers] == ["ok", "refused", "refused"]
    assert answers[0]["detail"]["by"] == "bea"
    assert answers[0]["detail"]["response_sha256"] == hashlib.sha256(b"We reviewed it").hexdigest()
    d = gs.annual_report(ctx, year=2026, actor=people.public).data
    assert (d["complaints"]["filed"], d["complaints"]["answered"]) == (2, 1)


def test_every_view_gives_the_effective_state_and_the_kill_switch(ctx: Context, people: People, clock: Clock) -> None:
    to_active(ctx, people, clock)
    assert gs.kill_switch_status(ctx, actor=people.public) == {"engaged": False}
    gs.engage_kill_switch(ctx, reason="test", actor=people.sup1)
    row = gs.list_deployments(ctx, actor=people.public)[0]
    assert row["state"] == "active"
    assert row["effective_state"].startswith("blocked: kill switch engaged at ") and "by sam (test)" in row["effective_state"]
    shown = gs.show_deployment(ctx, deployment="hotspots", actor=people.public)
    assert shown["effective_state"] == row["effective_state"] and shown["kill_switch"]["engaged"] is True
    status = gs.kill_switch_status(ctx, actor=people.public)
    assert (status["engaged"], status["by"], status["reason"]) == (True, "sam", "test")
    gs.release_kill_switch(ctx, reason="over", actor=people.board[0])
    report = gs.annual_report(ctx, year=2026, actor=people.public).data  # reading the switch is no switching
    assert [k["action"] for k in report["kill_switch"]] == ["killswitch.engage", "killswitch.release"]
    assert gs.list_deployments(ctx, actor=people.public)[0]["effective_state"] == "active"
    clock.advance(days=366)  # the policy's approval_days is 365
    row = gs.list_deployments(ctx, actor=people.public)[0]
    assert row["state"] == "active" and row["effective_state"].startswith("lapsed: approval ended ")


def test_a_renewal_keeps_the_suspensions_reason_and_time(ctx: Context, people: People, clock: Clock) -> None:
    to_active(ctx, people, clock)
    before = gs.suspend(ctx, deployment="hotspots", reason="complaint under review", actor=people.sup1)
    clock.advance(hours=2)
    after = gs.open_renewal(ctx, deployment="hotspots", actor=people.sup1)
    assert (after["state"], after["state_reason"], after["state_changed_at"]) == (
        "suspended", "complaint under review", before["state_changed_at"])
    assert after["renewal_opened_at"] == clock.t
    events = gs.show_deployment(ctx, deployment="hotspots", actor=people.auditor)["events"]
    assert events[-1]["reason"] == "renewal comment opened"  # recorded as an event


def test_an_approved_card_cannot_be_rewritten(ctx: Context, people: People, clock: Clock) -> None:
    to_active(ctx, people, clock)
    with pytest.raises(ApprovalRequiredError, match=r"hotspots \(active\)"):
        gs.describe_model(ctx, name="KDEHotspot", version="1.0", actor=people.analyst,
                          sections={"intended_use": "Any use, including decisions about individual people.",
                                    "caveats": "None."})
    card = gs.model_card(ctx, name="KDEHotspot", version="1.0", actor=people.public)
    assert card.text["intended_use"] == CARD_TEXT["intended_use"]
    entry = gs.ledger_entries(ctx, actor=people.auditor, action="models.describe", limit=1)[0]
    assert entry["outcome"] == "refused"
    assert entry["detail"]["old_text_sha256"] != entry["detail"]["text_sha256"]
    assert gs.list_deployments(ctx, actor=people.public)[0]["effective_state"] == "active"


def test_the_report_counts_votes_as_counted_and_no_ledger_export_as_sharing(ctx: Context, people: People,
                                                                           clock: Clock, tmp_path: Path) -> None:
    to_review(ctx, people, clock)
    bea, bob, bo = people.board
    for member, choice in ((bea, "reject"), (bob, "reject"), (bo, "approve"), (bea, "approve")):
        gs.vote(ctx, deployment="hotspots", choice=choice, actor=member, reason="r")
    row = gs.close_review(ctx, deployment="hotspots", actor=bea)
    assert (row["state"], row["state_reason"]) == ("approved", "board vote: 2 for, 1 against, 0 abstaining")
    gs.export_ledger(ctx, path=tmp_path / "l.jsonl", actor=people.auditor)
    d = gs.annual_report(ctx, year=2026, actor=people.public).data
    assert [(v["voter"], v["vote"], v["round"]) for v in d["votes"]] == [
        ("bob", "reject", 1), ("bo", "approve", 1), ("bea", "approve", 1)]
    assert d["votes_cast"] == 4
    assert d["sharing"] == [] and d["ledger_exports"] == 1


def test_revise_is_logged_as_revise(ctx: Context, people: People, clock: Clock) -> None:
    to_review(ctx, people, clock)
    for member in people.board:
        gs.vote(ctx, deployment="hotspots", choice="reject", actor=member, reason="no")
    gs.close_review(ctx, deployment="hotspots", actor=people.board[0])
    gs.revise(ctx, deployment="hotspots", actor=people.analyst)
    entries = gs.ledger_entries(ctx, actor=people.auditor, action="deployments.revise", limit=None)
    assert [(e["outcome"], e["detail"]["to"]) for e in entries] == [("ok", "draft")]


def test_the_proposer_cannot_lower_the_comment_period_or_the_quorum(ctx: Context, people: People, clock: Clock,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRIMELENS_GOVERNANCE_DEMO", raising=False)
    quick = UsePolicy(allowed_purposes=("patrol planning",), min_comment_days=0, board_quorum=1)
    propose(ctx, people, policy=quick)
    gs.open_public_comment(ctx, deployment="hotspots", actor=people.sup1)
    clock.advance(days=1)
    with pytest.raises(ApprovalRequiredError, match="runs 14 days"):
        gs.start_board_review(ctx, deployment="hotspots", actor=people.sup1)
    clock.advance(days=13)
    gs.start_board_review(ctx, deployment="hotspots", actor=people.sup1)
    gs.vote(ctx, deployment="hotspots", choice="approve", actor=people.board[0], reason="fine")
    with pytest.raises(ApprovalRequiredError, match=r"the quorum is 2 \(the use policy's 1, at least a majority of "
                                                    r"the 3 board members\)"):
        gs.close_review(ctx, deployment="hotspots", actor=people.board[0])
    gs.vote(ctx, deployment="hotspots", choice="approve", actor=people.board[1], reason="fine")
    assert gs.close_review(ctx, deployment="hotspots", actor=people.board[0])["state"] == "approved"
    closed = gs.ledger_entries(ctx, actor=people.auditor, action="deployments.close_review", limit=1)[0]
    assert closed["detail"]["floors"] == {"min_comment_days": 14, "board_quorum": 2, "board_members": 3,
                                          "demo": False}


def test_the_demo_setting_lowers_the_floors_and_says_so(ctx: Context, people: People, clock: Clock,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIMELENS_GOVERNANCE_DEMO", "1")
    propose(ctx, people, policy=UsePolicy(allowed_purposes=("patrol planning",), min_comment_days=0, board_quorum=1))
    gs.open_public_comment(ctx, deployment="hotspots", actor=people.sup1)
    gs.start_board_review(ctx, deployment="hotspots", actor=people.sup1)
    entry = gs.ledger_entries(ctx, actor=people.auditor, action="deployments.start_review", limit=1)[0]
    assert entry["outcome"] == "ok" and entry["detail"]["floors"]["demo"] is True
