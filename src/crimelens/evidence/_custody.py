"""Chain of custody: events, the holder they imply, and the gaps between them.

Each item's custody is a sequence of events in time order: ``intake`` (the
item enters the store; ``to_party`` is its custodian), ``check_out`` (the
holder hands it to someone for examination or court), ``check_in`` (it comes
back), ``transfer`` (one holder hands it to another). Every event names who
gave it (``from_party``), who took it (``to_party``), when, why and where
(SWGDE "Best Practices for Maintaining the Integrity of Imagery"; NIST
SP 800-86 §3.1.3 "documenting the chain of custody").

A *gap* is a place where the record cannot be true as written:

* ``no_intake`` – the item has no intake event at all;
* ``holder_mismatch`` – an event's giver is not the person who, by the record,
  held the item (a missing transfer in between);
* ``check_in_without_check_out`` / ``check_out_while_out``;
* ``event_before_intake`` – a custody event dated before the item's intake (each such event is
  named, with its time and the intake's);
* ``duplicate_intake``.

Failure modes: gaps are found only from what is recorded. A handover that
happened and was never recorded *between two consistent events* (A gives to B,
B secretly gives to C and C back to B) is invisible, as on paper. Names are
compared after trimming (inner runs of white space count as one space) and case-folding, so
"Det. Ruiz" and "Ruiz" differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["CUSTODY_KINDS", "CustodyEvent", "CustodyGap", "CustodyState", "find_custody_gaps", "party_name",
           "same_party"]

CUSTODY_KINDS = ("intake", "check_out", "check_in", "transfer")


@dataclass(frozen=True, slots=True)
class CustodyEvent:
    """One recorded handling of an item."""

    item_id: str
    kind: str
    from_party: str | None
    to_party: str
    event_time: datetime
    reason: str | None = None
    location: str | None = None
    event_id: int = 0


@dataclass(frozen=True, slots=True)
class CustodyGap:
    """A point where the custody record is inconsistent."""

    item_id: str
    kind: str
    event_id: int | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "kind": self.kind, "event_id": self.event_id,
                "message": self.message}


@dataclass(frozen=True, slots=True)
class CustodyState:
    """Who holds an item after its recorded events, and whether it is checked out."""

    holder: str | None
    is_checked_out: bool
    gaps: tuple[CustodyGap, ...]


def party_name(name: str) -> str:
    """A party's name as it is stored: trimmed, inner runs of white space made one space.

    Examples
    --------
    >>> party_name("  Det.   Ruiz ")
    'Det. Ruiz'
    """
    return " ".join(name.split())


def same_party(a: str | None, b: str | None) -> bool:
    """Whether two names are one party to the checker: equal after trimming, collapsing white space and
    case-folding.

    Examples
    --------
    >>> same_party("  det. RUIZ ", "Det. Ruiz"), same_party("Ruiz", "Det. Ruiz")
    (True, False)
    """
    return party_name(a or "").casefold() == party_name(b or "").casefold()


_same = same_party


def find_custody_gaps(item_id: str, events: Sequence[CustodyEvent]) -> CustodyState:
    """Replay ``events`` (sorted by time, then id) and report every gap.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> t = lambda h: datetime(2024, 5, 1, h, tzinfo=UTC)
    >>> evs = [CustodyEvent("E1", "intake", "scene", "custodian", t(9), event_id=1),
    ...        CustodyEvent("E1", "check_out", "custodian", "lab", t(10), event_id=2),
    ...        CustodyEvent("E1", "check_in", "court", "custodian", t(12), event_id=3)]
    >>> [g.kind for g in find_custody_gaps("E1", evs).gaps]
    ['holder_mismatch']
    """
    ordered = sorted(events, key=lambda e: (e.event_time, e.event_id))
    first_intake = next((e for e in ordered if e.kind == "intake"), None)
    gaps: list[CustodyGap] = []
    holder: str | None = None
    out = False
    intake_time: datetime | None = None
    for ev in ordered:
        if ev.kind not in CUSTODY_KINDS:
            gaps.append(CustodyGap(item_id, "unknown_event", ev.event_id,
                                   f"event {ev.event_id}: kind {ev.kind!r} is not one of {CUSTODY_KINDS}"))
            continue
        if ev.kind == "intake":
            if intake_time is not None:
                gaps.append(CustodyGap(item_id, "duplicate_intake", ev.event_id,
                                       f"event {ev.event_id}: a second intake at {ev.event_time.isoformat()}"))
            else:
                intake_time = ev.event_time
            holder, out = ev.to_party, False
            continue
        if intake_time is None:
            if first_intake is not None:  # the item has an intake: this event is dated before it
                gaps.append(CustodyGap(
                    item_id, "event_before_intake", ev.event_id,
                    f"event {ev.event_id} ({ev.kind}) is dated {ev.event_time.isoformat()}, earlier than the "
                    f"intake (event {first_intake.event_id}) at {first_intake.event_time.isoformat()}"))
            elif ev is ordered[0]:
                gaps.append(CustodyGap(item_id, "no_intake", ev.event_id,
                                       f"event {ev.event_id} ({ev.kind} at {ev.event_time.isoformat()}): the item "
                                       "has no intake event; expected its intake before any handling"))
        if holder is not None and not _same(ev.from_party, holder):
            gaps.append(CustodyGap(
                item_id, "holder_mismatch", ev.event_id,
                f"event {ev.event_id} ({ev.kind} at {ev.event_time.isoformat()}): given by "
                f"{ev.from_party!r}, but the record says {holder!r} held the item; a transfer "
                f"{holder!r} -> {ev.from_party!r} is missing",
            ))
        if ev.kind == "check_out":
            if out:
                gaps.append(CustodyGap(item_id, "check_out_while_out", ev.event_id,
                                       f"event {ev.event_id}: checked out at {ev.event_time.isoformat()} "
                                       f"while already checked out (no check-in recorded)"))
            out = True
        elif ev.kind == "check_in":
            if not out:
                gaps.append(CustodyGap(item_id, "check_in_without_check_out", ev.event_id,
                                       f"event {ev.event_id}: checked in at {ev.event_time.isoformat()} "
                                       f"without a check-out before it"))
            out = False
        holder = ev.to_party
    if not ordered:
        gaps.append(CustodyGap(item_id, "no_intake", None, "no custody events recorded at all"))
    return CustodyState(holder, out, tuple(gaps))
