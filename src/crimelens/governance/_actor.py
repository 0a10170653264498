"""Who acts: a named user with a role."""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

__all__ = ["PENDING_REVIEW_MARK", "RESEARCH", "RESEARCH_MARK", "Actor", "Role", "review_mark"]

#: The purpose recorded for local analysis when no other is given (see DESIGN.md).
RESEARCH = "research"
#: The mark every output made for research carries.
RESEARCH_MARK = "research — not for operational use"
#: The mark an actionable output carries: it is in the human-review queue, and nobody may act on
#: it until a supervisor accepts it (the item is ``r<ledger seq>`` of the output's entry).
PENDING_REVIEW_MARK = "awaiting human review — do not act on it until a supervisor accepts it"


def review_mark(status: str, *, reviewers: Sequence[str], on: date, item_id: str, deployment: str | None) -> str:
    """The mark an output carries once its review item is final, replacing :data:`PENDING_REVIEW_MARK`.

    Examples
    --------
    >>> review_mark("accepted", reviewers=["sam"], on=date(2026, 3, 2), item_id="r30", deployment="hot")
    'accepted by sam on 2026-03-02 (review r30) — actionable under deployment hot while it is active'
    >>> review_mark("rejected", reviewers=["sam", "sue"], on=date(2026, 3, 2), item_id="r30", deployment="hot")
    'rejected by sam and sue on 2026-03-02 (review r30) — do not act on it'
    """
    head = f"{status} by {' and '.join(reviewers)} on {on.isoformat()} (review {item_id})"
    if status == "accepted":
        return f"{head} — actionable under deployment {deployment} while it is active"
    if status == "overridden":
        return f"{head} — act on the reviewer's replacement decision, not on this output"
    return f"{head} — do not act on it"


class Role(StrEnum):
    """The roles crimelens knows. The auditor reads everything and changes nothing.

    ``public`` is not a staff role: it may only comment during public comment and file complaints.
    """

    ANALYST = "analyst"
    SUPERVISOR = "supervisor"
    BOARD = "board"  # oversight-board member
    AUDITOR = "auditor"
    ADMIN = "admin"
    PUBLIC = "public"  # a member of the public: may comment on deployments and file complaints


@dataclass(frozen=True, slots=True)
class Actor:
    """A named user acting in a role. Every ledger entry names one."""

    user: str
    role: Role = Role.ANALYST

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", Role(self.role))
        if not self.user or not self.user.strip():
            from crimelens.errors import InputError

            raise InputError("Actor: got an empty user name; expected a named user")

    @classmethod
    def local(cls, user: str | None = None, role: str | Role = Role.ANALYST) -> Actor:
        """The person at this machine (CLI or Python API use)."""
        try:
            default = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry in some containers
            default = "local"
        return cls(user or default, Role(role))
