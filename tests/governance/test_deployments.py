"""The deployment state machine: no skipped comment period or board review; each illegal move refused and logged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from crimelens.errors import ApprovalRequiredError, CrimelensError, PermissionDeniedError
from crimelens.governance._policy import UsePolicy
from crimelens.services import governance as gs
from crimelens.services._context import Context
from crimelens.storage import _governance as db
from tests.governance.conftest import (
    HIGH_RISK,
    Clock,
    People,
    propose,
    register,
    to_active,
    to_review,
)

Move = Callable[[Context, People], Any]

MOVES: dict[str, Move] = {
    "start_review": lambda c, p: gs.start_board_review(c, deployment="hotspots", actor=p.sup1),
    "close_review": lambda c, p: gs.close_review(c, deployment="hotspots", actor=p.board[0]),
    "activate": lambda c, p: gs.activate(c, deployment="hotspots", actor=p.admin),
    "suspend": lambda c, p: gs.suspend(c, deployment="hotspots", reason="test", actor=p.sup1),
    "resume": lambda c, p: gs.resume(c, deployment="hotspots", reason="test", actor=p.admin),
    "renew": lambda c, p: gs.renew(c, deployment="hotspots", reason="test", actor=p.board[0]),
    "open_comment": lambda c, p: gs.open_public_comment(c, deployment="hotspots", actor=p.sup1),
    "open_renewal": lambda c, p: gs.open_renewal(c, deployment="hotspots", actor=p.sup1),
    "vote": lambda c, p: gs.vote(c, deployment="hotspots", choice="approve", actor=p.board[0], reason="test vote"),
    "board_comment": lambda c, p: gs.board_comment(c, deployment="hotspots", body="ok", actor=p.board[0]),
    "comment": lambda c, p: gs.comment(c, deployment="hotspots", body="please no", actor=p.public),
    "revise": lambda c, p: gs.revise(c, deployment="hotspots", actor=p.analyst),
}


def _state(ctx: Context) -> str:
    row = db.deployment_row(ctx.store, "hotspots")
    assert row is not None
    return str(row["state"])


def _assert_refused(ctx: Context, people: People, move: str) -> None:
    state, size = _state(ctx), ctx.ledger.size()
    with pytest.raises(CrimelensError):
        MOVES[move](ctx, people)
    assert _state(ctx) == state, f"{move} changed the state"
    assert ctx.ledger.size() == size + 1, f"{move} wrote {ctx.ledger.size() - size} entries"
    _, entry = ctx.ledger.entries()[-1]
    assert entry.outcome == "refused" and entry.deployment == "hotspots"


ILLEGAL_FROM_DRAFT = ["start_review", "close_review", "activate", "suspend", "resume", "open_renewal", "renew", "vote",
                      "board_comment", "comment", "revise"]


@pytest.mark.parametrize("move", ILLEGAL_FROM_DRAFT)
def test_illegal_from_draft(ctx: Context, people: People, move: str) -> None:
    propose(ctx, people)
    _assert_refused(ctx, people, move)


ILLEGAL_FROM_COMMENT = ["start_review", "close_review", "activate", "suspend", "resume", "renew", "vote",
                        "board_comment", "open_comment"]


@pytest.mark.parametrize("move", ILLEGAL_FROM_COMMENT)
def test_illegal_during_public_comment(ctx: Context, people: People, clock: Clock, move: str) -> None:
    """start_review is illegal here only because the 30 days have not passed: the period cannot be skipped."""
    propose(ctx, people)
    gs.open_public_comment(ctx, deployment="hotspots", actor=people.sup1)
    clock.advance(days=29, hours=23)
    _assert_refused(ctx, people, move)


ILLEGAL_FROM_REVIEW = ["activate", "suspend", "resume", "renew", "open_comment", "start_review", "comment",
                       "close_review"]


@pytest.mark.parametrize("move", ILLEGAL_FROM_REVIEW)
def test_illegal_during_board_review(ctx: Context, people: People, clock: Clock, move: str) -> None:
    """close_review is illegal here because no votes were cast (quorum 3)."""
    to_review(ctx, people, clock)
    _assert_refused(ctx, people, move)


@pytest.mark.parametrize("move", ["suspend", "resume", "vote", "open_comment", "start_review", "close_review"])
def test_illegal_when_approved(ctx: Context, people: People, clock: Clock, move: str) -> None:
    to_review(ctx, people, clock)
    for m in people.board:
        gs.vote(ctx, deployment="hotspots", choice="approve", actor=m, reason="test vote")
    gs.close_review(ctx, deployment="hotspots", actor=people.board[0])
    assert _state(ctx) == "approved"
    _assert_refused(ctx, people, move)


@pytest.mark.parametrize("move", ["activate", "resume", "open_comment", "open_renewal", "renew", "vote"])
def test_nothing_moves_a_decommissioned_deployment(ctx: Context, people: People, clock: Clock, move: str) -> None:
    to_active(ctx, people, clock)
    gs.decommission(ctx, deployment="hotspots", reason="contract ended", actor=people.admin)
    _assert_refused(ctx, people, move)


def test_open_comment_needs_assessment_and_complete_card(ctx: Context, people: People) -> None:
    register(ctx, people, version="2.0", text=False)
    gs.create_deployment(ctx, name="hotspots", model="KDEHotspot", model_version="2.0", description="d",
                         policy=UsePolicy(allowed_purposes=("patrol planning",)), actor=people.analyst)
    with pytest.raises(ApprovalRequiredError, match="impact assessment"):
        MOVES["open_comment"](ctx, people)
    from tests.governance.conftest import LOW_RISK

    gs.assess_impact(ctx, deployment="hotspots", answers=LOW_RISK, actor=people.analyst)
    with pytest.raises(ApprovalRequiredError, match="intended_use"):
        MOVES["open_comment"](ctx, people)
    assert _state(ctx) == "draft"


def test_the_whole_path_and_its_ledger_trail(ctx: Context, people: People, clock: Clock) -> None:
    propose(ctx, people)
    gs.open_public_comment(ctx, deployment="hotspots", actor=people.sup1)
    gs.comment(ctx, deployment="hotspots", body="Will this send more patrols to my street?", actor=people.public)
    clock.advance(days=30)
    gs.start_board_review(ctx, deployment="hotspots", actor=people.sup1)
    gs.board_comment(ctx, deployment="hotspots", body="Show the exposure audit.", actor=people.board[0])
    gs.vote(ctx, deployment="hotspots", choice="approve", actor=people.board[0], reason="test vote")
    gs.vote(ctx, deployment="hotspots", choice="reject", actor=people.board[1], reason="feedback loop risk")
    gs.vote(ctx, deployment="hotspots", choice="approve", actor=people.board[2], reason="test vote")
    gs.close_review(ctx, deployment="hotspots", actor=people.board[1])
    gs.activate(ctx, deployment="hotspots", actor=people.admin)
    shown = gs.show_deployment(ctx, deployment="hotspots", actor=people.auditor)
    assert [e["to_state"] for e in shown["events"]] == ["draft", "public_comment", "board_review", "approved", "active"]
    assert [c["stage"] for c in shown["comments"]] == ["public", "board"]
    assert {v["voter"]: v["vote"] for v in shown["votes"]} == {"bea": "approve", "bob": "reject", "bo": "approve"}
    assert ctx.ledger.verify().ok


def test_majority_against_rejects_and_revise_starts_over(ctx: Context, people: People, clock: Clock) -> None:
    to_review(ctx, people, clock)
    for m, v in zip(people.board, ["reject", "reject", "approve"], strict=True):
        gs.vote(ctx, deployment="hotspots", choice=v, actor=m, reason="test vote")
    gs.close_review(ctx, deployment="hotspots", actor=people.board[0])
    assert _state(ctx) == "rejected"
    _assert_refused(ctx, people, "activate")
    gs.revise(ctx, deployment="hotspots", actor=people.analyst)
    assert _state(ctx) == "draft"


def test_high_impact_needs_review_and_two_person_rule_before_approval(ctx: Context, people: People, clock: Clock) -> None:
    to_review(ctx, people, clock, policy=UsePolicy(allowed_purposes=("patrol planning",)), answers=HIGH_RISK)
    for m in people.board:
        gs.vote(ctx, deployment="hotspots", choice="approve", actor=m, reason="test vote")
    with pytest.raises(ApprovalRequiredError, match="two_person_rule"):
        gs.close_review(ctx, deployment="hotspots", actor=people.board[0])
    assert _state(ctx) == "board_review"


@pytest.mark.parametrize(("who", "move"), [("admin", "vote"), ("analyst", "activate"), ("board", "activate"),
                                           ("auditor", "suspend"), ("analyst", "open_comment")])
def test_roles_without_permission_are_refused(ctx: Context, people: People, clock: Clock, who: str, move: str) -> None:
    to_review(ctx, people, clock)
    actor = {"admin": people.admin, "analyst": people.analyst, "board": people.board[0], "auditor": people.auditor}[who]
    size = ctx.ledger.size()
    moves: dict[str, Move] = {
        "vote": lambda c, p: gs.vote(c, deployment="hotspots", choice="approve", actor=actor, reason="test vote"),
        "activate": lambda c, p: gs.activate(c, deployment="hotspots", actor=actor),
        "suspend": lambda c, p: gs.suspend(c, deployment="hotspots", reason="x", actor=actor),
        "open_comment": lambda c, p: gs.open_public_comment(c, deployment="hotspots", actor=actor),
    }
    with pytest.raises(PermissionDeniedError):
        moves[move](ctx, people)
    assert ctx.ledger.size() == size + 1 and ctx.ledger.entries()[-1][1].outcome == "refused"


def test_high_severity_incident_suspends_at_once(ctx: Context, people: People, clock: Clock) -> None:
    to_active(ctx, people, clock)
    out = gs.report_incident(ctx, kind="harm", severity="high", description="wrong area flagged for weeks",
                             deployment="hotspots", actor=people.analyst)
    assert out["suspended"] and _state(ctx) == "suspended"
    low = gs.report_incident(ctx, kind="error", severity="low", description="typo in card",
                             deployment="hotspots", actor=people.analyst)
    assert not low["suspended"]


def test_renewal_goes_back_to_the_public_first(ctx: Context, people: People, clock: Clock) -> None:
    to_active(ctx, people, clock)
    # no renewal without a renewal comment period; the refusal is logged and nothing changes
    _assert_refused(ctx, people, "renew")
    _assert_refused(ctx, people, "comment")  # and no comment while none is open
    before = db.deployment_row(ctx.store, "hotspots")
    assert before is not None
    gs.open_renewal(ctx, deployment="hotspots", actor=people.sup1)
    _assert_refused(ctx, people, "open_renewal")  # one period at a time
    assert _state(ctx) == "active"  # the deployment keeps running meanwhile
    gs.comment(ctx, deployment="hotspots", body="Patrols doubled on my block this year.", actor=people.public)
    clock.advance(days=29)
    _assert_refused(ctx, people, "renew")  # the policy's 30 days have not passed
    clock.advance(days=1)
    row = gs.renew(ctx, deployment="hotspots", reason="annual report read; comments answered", actor=people.board[1])
    assert row["renewal_opened_at"] is None and row["approved_until"] > before["approved_until"]
    _, entry = ctx.ledger.entries()[-1]
    assert (entry.action, entry.outcome, entry.detail["renewal_comments"]) == ("deployments.renew", "ok", 1)
    comments = db.deployment_comments(ctx.store, "hotspots")
    assert [(c["stage"], c["author"]) for c in comments][-1] == ("renewal", people.public.user)
    # the period closed with the renewal: the next one must be opened again
    _assert_refused(ctx, people, "comment")
    _assert_refused(ctx, people, "renew")
