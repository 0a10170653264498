"""A board member's vote carries the member's reason (the public record shows it), and a deployment's
record states what its next step requires now: the comment days and the quorum actually enforced,
beside the policy's own figures (a board member read "Board quorum: 1 votes" and "renew after 0
days" on a deployment whose steps required 2 of 3 members and 14 days)."""

from __future__ import annotations

import pytest

from crimelens.errors import ApprovalRequiredError, InputError, PermissionDeniedError
from crimelens.governance import Actor
from crimelens.governance._policy import DEMO_SETTING, UsePolicy
from crimelens.services import governance as gs
from crimelens.services._context import Context
from tests.governance.conftest import Clock, People, propose, to_review

LAX = UsePolicy(allowed_purposes=("patrol planning",), min_comment_days=0, board_quorum=1,
                actionable_actions=("forecast.run",))


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_vote_without_a_reason_is_refused_and_logged(ctx: Context, people: People, clock: Clock,
                                                       reason: str | None) -> None:
    to_review(ctx, people, clock)
    with pytest.raises(InputError, match="got no reason; expected a sentence saying why"):
        gs.vote(ctx, deployment="hotspots", choice="approve", actor=people.board[0], reason=reason)
    refused = gs.ledger_entries(ctx, actor=people.auditor, action="deployments.vote", limit=1)[0]
    assert (refused["outcome"], refused["user"]) == ("refused", people.board[0].user)
    assert gs.show_deployment(ctx, deployment="hotspots", actor=people.auditor)["votes"] == []
    # with one, the vote stands on the record with its reason, as written (trimmed)
    gs.vote(ctx, deployment="hotspots", choice="approve", actor=people.board[0], reason="  controls adequate ")
    (vote,) = gs.show_deployment(ctx, deployment="hotspots", actor=people.public)["votes"]
    assert (vote["voter"], vote["vote"], vote["reason"]) == (people.board[0].user, "approve", "controls adequate")


def test_the_record_states_the_enforced_floors_beside_the_policys(ctx: Context, people: People, clock: Clock,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEMO_SETTING, raising=False)
    propose(ctx, people, policy=LAX)
    floors = gs.show_deployment(ctx, deployment="hotspots", actor=people.public)["floors"]
    # three active board members: a majority is 2, whatever the policy says
    assert floors["policy"] == {"min_comment_days": 0, "board_quorum": 1}
    assert floors["required"] == {"min_comment_days": 14, "board_quorum": 2, "board_members": 3, "demo": False}
    assert floors["note"] == ("Public comment: at least 14 days (the policy says 0; never fewer than 14); board quorum: "
                              "2 votes of 3 board members (the policy says 1; never fewer than a majority of the "
                              "board).")
    # and what it states is what the steps enforce: 13 days are refused, one vote is short of the quorum
    gs.open_public_comment(ctx, deployment="hotspots", actor=people.sup1)
    clock.advance(days=13)
    with pytest.raises(ApprovalRequiredError, match="runs 14 days"):
        gs.start_board_review(ctx, deployment="hotspots", actor=people.sup1)
    clock.advance(days=1, seconds=1)
    gs.start_board_review(ctx, deployment="hotspots", actor=people.sup1)
    gs.vote(ctx, deployment="hotspots", choice="approve", actor=people.board[0], reason="adequate")
    with pytest.raises(ApprovalRequiredError, match="got 1 board vote; the quorum is 2"):
        gs.close_review(ctx, deployment="hotspots", actor=people.board[0])


def test_under_the_demonstration_setting_the_record_says_what_it_lowered(ctx: Context, people: People,
                                                                         clock: Clock,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEMO_SETTING, "1")
    propose(ctx, people, policy=LAX)
    floors = gs.show_deployment(ctx, deployment="hotspots", actor=people.public)["floors"]
    assert floors["required"] == {"min_comment_days": 0, "board_quorum": 1, "board_members": 3, "demo": True}
    assert "lowered by the demonstration setting" in floors["note"] and "at least 14 days" in floors["note"]
    # a review that ran under it and was rejected is not called an approval
    gs.open_public_comment(ctx, deployment="hotspots", actor=people.sup1)
    gs.start_board_review(ctx, deployment="hotspots", actor=people.sup1)
    gs.vote(ctx, deployment="hotspots", choice="reject", actor=people.board[0], reason="no report plan")
    assert gs.close_review(ctx, deployment="hotspots", actor=people.board[0])["state"] == "rejected"
    monkeypatch.delenv(DEMO_SETTING)
    note = gs.show_deployment(ctx, deployment="hotspots", actor=people.public)["floors"]["note"]
    assert "was reached under these lowered floors" in note and "approved as a demonstration" not in note
    assert "Its approval" not in note


def test_the_record_and_the_report_say_who_joined_the_board_and_when(ctx: Context, people: People,
                                                                      clock: Clock) -> None:
    """An administrator registers board members: the public sees how long each voter has been on the
    board, and the annual report lists the members registered that year and by whom."""
    gs.add_user(ctx, name="cara", role="board", actor=people.admin)
    joined = clock()
    clock.advance(days=1)
    to_review(ctx, people, clock)
    gs.vote(ctx, deployment="hotspots", choice="approve", actor=Actor("cara", "board"), reason="adequate")
    (vote,) = gs.show_deployment(ctx, deployment="hotspots", actor=people.public)["votes"]
    assert vote["voter"] == "cara" and vote["member_since"] == joined
    report = gs.annual_report(ctx, year=joined.year, actor=people.public)
    added = [b for b in report.data["board_members_registered"] if b["name"] == "cara"]
    assert [(b["by"], b["at"]) for b in added] == [("ada", joined.isoformat(timespec="seconds"))]
    assert "<td>cara</td><td>ada</td>" in report.html


def test_a_refusal_for_the_role_says_who_may(ctx: Context, people: People, clock: Clock) -> None:
    """The refusal named the action only ("the role 'admin' may not perform 'deployments.vote'")."""
    to_review(ctx, people, clock)
    with pytest.raises(PermissionDeniedError, match=r"may not perform 'deployments\.vote'; only board members may$"):
        gs.vote(ctx, deployment="hotspots", choice="approve", actor=people.admin, reason="looks fine")
    refused = gs.ledger_entries(ctx, actor=people.auditor, action="deployments.vote", limit=1)[0]
    assert refused["detail"]["reason"].endswith("; only board members may")
