"""Board members added while a review is open cannot decide it: an administrator registers board
members, and the quorum counts them, so a member votes only in the rounds that open after they joined."""

from __future__ import annotations

import pytest

from crimelens.errors import ApprovalRequiredError
from crimelens.governance import Actor
from crimelens.services import governance as gs
from crimelens.services._context import Context
from tests.governance.conftest import Clock, People, to_review


def test_a_board_member_registered_during_a_review_cannot_vote_in_it(ctx: Context, people: People,
                                                                      clock: Clock) -> None:
    to_review(ctx, people, clock)
    clock.advance(hours=1)
    gs.add_user(ctx, name="ghost", role="board", actor=people.admin)
    ghost = Actor("ghost", "board")
    with pytest.raises(ApprovalRequiredError, match=r"registered at .* after review round 1 opened"):
        gs.vote(ctx, deployment="hotspots", choice="approve", actor=ghost, reason="yes")
    refused = gs.ledger_entries(ctx, actor=people.auditor, action="deployments.vote", limit=1)[0]
    assert (refused["outcome"], refused["user"]) == ("refused", "ghost")
    # the members who were on the board when the round opened vote as before, and decide it
    for member in people.board:
        gs.vote(ctx, deployment="hotspots", choice="reject", actor=member, reason="no")
    assert gs.close_review(ctx, deployment="hotspots", actor=people.board[0])["state"] == "rejected"
    # in the next round, which opens after they joined, the new member votes
    gs.revise(ctx, deployment="hotspots", actor=people.analyst)
    gs.open_public_comment(ctx, deployment="hotspots", actor=people.sup1)
    clock.advance(days=31)
    gs.start_board_review(ctx, deployment="hotspots", actor=people.sup1)
    gs.vote(ctx, deployment="hotspots", choice="approve", actor=ghost, reason="yes")
