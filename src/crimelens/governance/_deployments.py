"""The deployment state machine.

::

    draft ──open_comment──▶ public_comment ──start_review (≥ min days)──▶ board_review
      ▲                                                                  │ close_review
      └────────────revise──── rejected ◀──── (majority against) ─────────┤
                                                                         ▼ (quorum, majority for,
    decommissioned ◀── decommission (from any state)           approved     required controls)
                                                                 │ activate
                            suspended ◀──suspend / incident──  active ──open_renewal──▶ active, open for
                                 └──────────resume──────────────▶         comment ──renew (board, ≥ min
                                                                                days)──▶ active

Only ``active`` deployments may be used; every transition is made by an allowed
role and written to the ledger. The comment period and the board review cannot
be skipped: there is no edge that jumps them, and ``start_review`` refuses
before the minimum number of days has passed. Renewal goes back to the public
too: ``open_renewal`` opens a comment period while the deployment keeps running,
and the board's ``renew`` is refused until it has lasted the same minimum. This follows San Francisco's
Chapter 19B and the ACLU CCOPS model bill (approval by the governing body after
public notice, before use) and NYC's POST Act (use policy published first).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from crimelens.errors import ApprovalRequiredError

__all__ = ["TRANSITIONS", "DeploymentState", "next_state"]


class DeploymentState(StrEnum):
    DRAFT = "draft"
    PUBLIC_COMMENT = "public_comment"
    BOARD_REVIEW = "board_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DECOMMISSIONED = "decommissioned"


S = DeploymentState
_LIVE = frozenset(S) - {S.DECOMMISSIONED}

#: transition -> (states it may start from, state it leads to)
TRANSITIONS: Mapping[str, tuple[frozenset[DeploymentState], DeploymentState | None]] = {
    "open_comment": (frozenset({S.DRAFT}), S.PUBLIC_COMMENT),
    "start_review": (frozenset({S.PUBLIC_COMMENT}), S.BOARD_REVIEW),
    "approve": (frozenset({S.BOARD_REVIEW}), S.APPROVED),
    "reject": (frozenset({S.BOARD_REVIEW}), S.REJECTED),
    "revise": (frozenset({S.REJECTED}), S.DRAFT),
    "activate": (frozenset({S.APPROVED}), S.ACTIVE),
    "suspend": (frozenset({S.ACTIVE}), S.SUSPENDED),
    "resume": (frozenset({S.SUSPENDED}), S.ACTIVE),
    "open_renewal": (frozenset({S.ACTIVE, S.SUSPENDED}), None),  # None: stays where it is
    "renew": (frozenset({S.ACTIVE, S.SUSPENDED}), None),
    "decommission": (_LIVE, S.DECOMMISSIONED),
}

_PATH = "draft → public_comment → board_review → approved → active"


def next_state(name: str, current: str, transition: str) -> DeploymentState:
    """The state ``transition`` leads to from ``current``; raises when it is not allowed.

    Examples
    --------
    >>> next_state("d", "draft", "open_comment")
    <DeploymentState.PUBLIC_COMMENT: 'public_comment'>
    >>> next_state("d", "draft", "activate")
    Traceback (most recent call last):
    ...
    crimelens.errors.ApprovalRequiredError: deployment 'd': cannot activate from draft; allowed from approved (the path is draft → public_comment → board_review → approved → active)
    """
    if transition not in TRANSITIONS:
        raise ApprovalRequiredError(f"deployment {name!r}: unknown transition {transition!r}; expected one of {sorted(TRANSITIONS)}")
    sources, target = TRANSITIONS[transition]
    state = DeploymentState(current)
    if state not in sources:
        allowed = ", ".join(sorted(str(s) for s in sources))
        raise ApprovalRequiredError(
            f"deployment {name!r}: cannot {transition.replace('_', ' ')} from {state}; allowed from {allowed} "
            f"(the path is {_PATH})"
        )
    return state if target is None else target
