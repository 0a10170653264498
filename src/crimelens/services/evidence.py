"""Evidence use cases: intake, custody, verification, lineage, and redaction for release.

Every write lands with its ledger entry in one transaction. Content goes to the
content-addressed folder first (``settings.evidence_dir`` or ``<db>.evidence``);
if the database write then fails, newly written content is removed again.
Nothing here writes clear-text personal data to the store or the ledger: logs
keep SHA-256 hashes of redacted values.

Every evidence call is a ledger entry, refused or not: a call refused for what it asked (an
empty party, a time to come, an unknown item or case) is logged as a refused entry of its action
with the reason, as a role refusal is. A custody event is read, checked, stamped and written
under the store's write lock, so concurrent calls on one item form one chain in time order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, NoReturn

import pandas as pd

from crimelens.errors import InputError, InvalidParameterError, NotFoundError, SchemaError
from crimelens.evidence import (
    CUSTODY_KINDS,
    ContentStore,
    ContentWriter,
    CustodyEvent,
    CustodyGap,
    FaceRedactor,
    FrameLog,
    PiiSpan,
    StoredContent,
    TextRedactor,
    find_custody_gaps,
    party_name,
    same_party,
    sha256_file,
    sniff_mime,
)
from crimelens.governance import Actor
from crimelens.services._context import RESEARCH, Context, authorize, record_use, refuse
from crimelens.storage import _evidence as db
from crimelens.storage._evidence import EvidenceItem, RedactionRun

__all__ = [
    "DEFAULT_CLOCK_ALLOWANCE_S",
    "EMPTY_SHA256",
    "MAX_CLOCK_ALLOWANCE_S",
    "CaseVerification",
    "ItemCheck",
    "LedgerMismatch",
    "add_evidence",
    "case_items",
    "check_intake",
    "clock_allowance_s",
    "decide_review",
    "evidence_dir",
    "item_report",
    "lineage",
    "list_cases",
    "list_redaction_runs",
    "log_refusal",
    "open_content",
    "record_custody",
    "redact_image_file",
    "redact_item",
    "redact_text_file",
    "redact_video_file",
    "redaction_dir",
    "release_item_run",
    "release_run",
    "review_frame",
    "review_queue",
    "review_unit",
    "same_content_as",
    "show_case",
    "show_item",
    "show_redaction_run",
    "upload_writer",
    "verify_case",
]


def evidence_dir(ctx: Context) -> Path:
    """The content-addressed folder: ``settings.evidence_dir`` or ``<db>.evidence`` beside the store."""
    if ctx.settings.evidence_dir is not None:
        return Path(ctx.settings.evidence_dir)
    return Path(f"{ctx.store.path}.evidence")


def _content(ctx: Context) -> ContentStore:
    return ContentStore(evidence_dir(ctx))


def _now() -> datetime:
    return datetime.now(UTC)


#: How far past this machine's clock a stated intake or custody time may lie by default, in seconds
#: (``settings.custody_clock_allowance_s``); the most that may be configured is a day.
DEFAULT_CLOCK_ALLOWANCE_S = 300
MAX_CLOCK_ALLOWANCE_S = 86_400

#: The SHA-256 of zero bytes: what every empty file hashes to.
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def clock_allowance_s(ctx: Context, override: int | None = None) -> int:
    """The clock allowance to apply: ``override`` (a CLI option) or ``settings.custody_clock_allowance_s``.

    Refused outside 0 to :data:`MAX_CLOCK_ALLOWANCE_S` seconds: a negative allowance would refuse
    the present moment, and one past a day would let a handover dated on the wrong day (a mistyped
    date, local time stated as UTC) into the record.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from crimelens.config import Settings
    >>> clock_allowance_s(SimpleNamespace(settings=Settings()))
    300
    >>> clock_allowance_s(SimpleNamespace(settings=Settings()), -1)
    Traceback (most recent call last):
    ...
    crimelens.errors.InvalidParameterError: clock allowance: got -1 s; expected 0 to 86400 s ...
    """
    if override is None:
        value, where = ctx.settings.custody_clock_allowance_s, "CRIMELENS_CUSTODY_CLOCK_ALLOWANCE_S"
    else:
        value, where = override, "--clock-allowance-s"
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CLOCK_ALLOWANCE_S:
        raise InvalidParameterError(
            f"clock allowance: got {value!r} s; expected 0 to {MAX_CLOCK_ALLOWANCE_S} s (one day), the most "
            f"a stated time may lie past this machine's clock (default {DEFAULT_CLOCK_ALLOWANCE_S}; set by "
            f"{where}). A clock wrong by more than a day needs the stated time corrected, not a wider allowance")
    return value


#: How a refused time to come says the allowance can be widened, by the shell the call came through:
#: the command line takes an option; an API caller cannot widen the service's allowance.
_WIDEN_HINT = {
    "cli": "For a device clock that runs further ahead, give a larger allowance (--clock-allowance-s, or "
           f"CRIMELENS_CUSTODY_CLOCK_ALLOWANCE_S; at most {MAX_CLOCK_ALLOWANCE_S})",
    "api": "The service applies its own clock allowance and a caller cannot widen it: state the time by a "
           "clock that is right, or, if the service's clock is the one that is behind, ask whoever runs the "
           "service to correct it or raise its allowance",
}

Shell = Literal["cli", "api"]


def _aware(t: datetime | None, allowance_s: int = DEFAULT_CLOCK_ALLOWANCE_S, via: Shell = "cli") -> datetime:
    """The stated time of a custody event in UTC (now when none is given); a time to come is refused.

    A custody log records what happened: a handover dated next year would sort after every real
    one and make the record contradict itself. ``allowance_s`` seconds of lead are taken (five
    minutes by default), for a clock that runs slightly ahead on the device that stated the time.
    ``via`` is the shell the call came through: the refusal says what its caller can do.
    """
    if t is None:
        return _now()
    if t.tzinfo is None:
        raise InputError(f"event time {t.isoformat()}: got a naive time; expected a time with a UTC offset")
    when = t.astimezone(UTC)
    now = _now()
    if when > now + timedelta(seconds=allowance_s):
        ahead = (when - now).total_seconds()
        raise InvalidParameterError(
            f"event time {when.isoformat()}: got a time to come ({ahead:.0f} s past this machine's clock, now "
            f"{now.isoformat(timespec='seconds')}; the clock allowance is {allowance_s} s); expected the time "
            f"the event happened. {_WIDEN_HINT[via]}")
    return when


def _parse_time(value: datetime | str | None, what: str) -> datetime | None:
    """A stated time as given on the command line (ISO-8601 text) or already parsed; checked for an offset."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(f"{what}: got {value!r}; expected an ISO-8601 time with offset, e.g. "
                         "2024-05-01T14:30:00-05:00") from exc
    if t.tzinfo is None:
        raise InputError(f"{what}: got {value!r} without a UTC offset; expected e.g. 2024-05-01T14:30:00Z")
    return t


def _shown(value: object) -> object:
    """A value as a refused call's ledger entry records what was asked (times as text)."""
    return value.isoformat() if isinstance(value, datetime) else value


#: What a call refused for what it asked raises: bad input, or an unknown item or case.
_ASKED_WRONG = (InputError, NotFoundError)


def log_refusal(ctx: Context, error: Exception, *, action: str, actor: Actor, purpose: str | None,
                detail: Mapping[str, Any] | None = None, data_hash: str | None = None) -> NoReturn:
    """Log ``error`` as one refused ledger entry of ``action`` (the reason is its message), then raise it.

    For a refusal a shell finds before the service runs (an upload past the size limit)."""
    refuse(ctx, action=action, actor=actor, purpose=purpose, reason=str(error), error=error, data_hash=data_hash,
           detail={**dict(detail or {}), "error": type(error).__name__})


@contextmanager
def _refusals_logged(ctx: Context, *, action: str, actor: Actor, purpose: str | None,
                     detail: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Log a call refused for what it asked (:data:`_ASKED_WRONG`) as a refused entry of ``action``.

    Role and purpose refusals are logged by :func:`authorize` itself; call it before this block."""
    try:
        yield
    except _ASKED_WRONG as exc:
        log_refusal(ctx, exc, action=action, actor=actor, purpose=purpose, detail=detail)


# --------------------------------------------------------------------------- intake
def add_evidence(
    ctx: Context,
    path: Path | StoredContent,
    *,
    case_id: str,
    actor: Actor,
    source: str,
    purpose: str | None = RESEARCH,
    description: str | None = None,
    location: str | None = None,
    received_at: datetime | str | None = None,
    parent_item_id: str | None = None,
    derivation: str | None = None,
    tool: str | None = None,
    tool_version: str | None = None,
    tool_params: dict[str, Any] | None = None,
    original_name: str | None = None,
    allow_empty: bool = False,
    clock_allowance: int | None = None,
    via: Shell = "cli",
) -> EvidenceItem:
    """Hash, store and register one file as evidence of ``case_id`` (its intake is a custody event).

    ``path`` is a file to copy in, or content already written through :func:`upload_writer` (an
    API upload; ``original_name`` is then the name it was sent with, kept as a name, never a path).
    Content newly stored here is removed again if the intake cannot be recorded.

    A derivative names ``parent_item_id``, a ``derivation`` ("redacted", "transcript",
    "frame", ...) and the ``tool`` and ``tool_version`` that made it.

    An empty file (0 bytes) is refused, and the refusal logged, unless ``allow_empty``: it is
    almost always a failed copy or export, and every empty file has the same hash
    (:data:`EMPTY_SHA256`). Taken in deliberately, its custody entry and ledger entry say so.
    ``received_at`` may lie at most ``clock_allowance`` seconds past this machine's clock
    (default ``settings.custody_clock_allowance_s``; the value used is in the ledger entry);
    received_at may also be ISO-8601 text (the command line's ``--at``). The call is checked against
    the caller's role first; a refusal for what it asked (an empty case or source, an unknown parent,
    a time to come, a file that is not there) is a refused ``evidence.add`` ledger entry; ``via`` is
    the shell the call came through ("api": a refused time says what an API caller can do).

    A ``path`` that is a symbolic link is taken in by the content it points to; the record says so:
    the intake's custody reason reads ``intake; read through the link 'x.txt' -> 'notes.txt'`` and
    its ledger entry's detail has ``link_target`` (what the link points to, as the link states it).
    """
    given = original_name or (None if isinstance(path, StoredContent) else Path(path).name)
    asked = {"case_id": case_id, "source": source, "original_name": given, "parent_item_id": parent_item_id,
             "received_at": _shown(received_at), "clock_allowance_s": clock_allowance}
    try:
        parent = check_intake(ctx, case_id=case_id, source=source, parent_item_id=parent_item_id,
                              derivation=derivation, tool=tool, tool_version=tool_version, actor=actor,
                              purpose=purpose)
        with _refusals_logged(ctx, action="evidence.add", actor=actor, purpose=purpose, detail=asked):
            allowance = clock_allowance_s(ctx, clock_allowance)
            stated = _parse_time(received_at, "intake time (--at, received_at)")
            if stated is not None:
                stated = _aware(stated, allowance, via)
    except BaseException:
        if isinstance(path, StoredContent) and path.is_new:
            _content(ctx).remove(path.sha256)
        raise
    link_target: str | None = None  # a path that is a symbolic link: what it points to
    if isinstance(path, StoredContent):
        stored = path
        name = Path((original_name or "").replace("\\", "/")).name.strip() or "upload"
        shown = name
        mime = sniff_mime(stored.path, name)
    else:
        file = Path(path)
        name = original_name or file.name
        shown = str(file)
        mime = sniff_mime(file) if file.is_file() else "application/octet-stream"
        link_target = os.readlink(file) if file.is_symlink() else None
        with _refusals_logged(ctx, action="evidence.add", actor=actor, purpose=purpose, detail=asked):
            stored = _content(ctx).put(file)
    if stored.size_bytes == 0 and not allow_empty:
        _refuse_empty(ctx, stored, shown=shown, name=name, case_id=case_id, source=source, actor=actor,
                      purpose=purpose)
    parent_item_id = parent.item_id if parent else None
    is_empty = stored.size_bytes == 0
    reason = (f"derived by {tool} {tool_version}" if parent else "intake") + (f"; {EMPTY_NOTE}" if is_empty else "")
    if link_target is not None:
        reason += f"; read through the link {name!r} -> {link_target!r}"
    try:
        with ctx.store.transaction():  # the store's write lock: ids and the time stamp in recording order
            when = stated if stated is not None else _now()
            item_id = db.next_item_id(ctx.store)
            event_id = db.next_event_id(ctx.store)
            # everything the item row and its intake custody row hold is recorded here, so that
            # verify_case can cross-check every stored field against this entry
            detail = {"item_id": item_id, "case_id": case_id, "size_bytes": stored.size_bytes,
                      "mime_type": mime, "source": source, "original_name": name,
                      "derivation": derivation, "parent_item_id": parent_item_id,
                      "parent_sha256": parent.sha256 if parent else None, "location": location,
                      "clock_allowance_s": allowance, "received_at": when.isoformat(),
                      "description_sha256": _vhash(description) if description is not None else None,
                      "intake_event_id": event_id, "intake_reason": reason}
            if is_empty:  # taken in on purpose (allow_empty): the ledger says so
                detail["deliberately_empty"] = True
            if link_target is not None:  # a link: the record says so
                detail["link_target"] = link_target
            same = [i.item_id for i in db.find_items_by_hash(ctx.store, stored.sha256, case_id)]
            if same:  # registered again (a second copy, or a mistake): both stay, the ledger says so
                detail["same_content_as"] = same
            seq = record_use(
                ctx, action="evidence.add", actor=actor, purpose=purpose,
                model=tool, model_version=tool_version, params=dict(tool_params or {}),
                inputs={"parent_sha256": parent.sha256} if parent else {},
                data_hash=stored.sha256, output_hash=stored.sha256, detail=detail,
            )
            item = EvidenceItem(
                item_id=item_id, case_id=case_id, sha256=stored.sha256, size_bytes=stored.size_bytes,
                mime_type=mime, original_name=name, source=source, description=description,
                added_at=when, added_by=actor.user, parent_item_id=parent_item_id,
                parent_sha256=parent.sha256 if parent else None, derivation=derivation, tool=tool,
                tool_version=tool_version,
                tool_params=json.dumps(tool_params, sort_keys=True) if tool_params is not None else None,
                ledger_seq=seq,
            )
            db.insert_item(ctx.store, item)
            db.insert_custody(ctx.store, {
                "event_id": event_id, "item_id": item_id, "kind": "intake", "from_party": source,
                "to_party": actor.user, "event_time": when, "reason": reason, "location": location,
                "recorded_at": _now(), "recorded_by": actor.user, "ledger_seq": seq,
            })
    except BaseException:
        if stored.is_new:
            _content(ctx).remove(stored.sha256)
        raise
    return item


#: What the intake's custody entry says of an item taken in empty on purpose.
EMPTY_NOTE = "deliberately taken in empty (0 bytes, allow_empty)"


def _refuse_empty(ctx: Context, stored: StoredContent, *, shown: str, name: str, case_id: str, source: str,
                  actor: Actor, purpose: str | None) -> NoReturn:
    """Refuse (and log as a refused ``evidence.add``) an intake of 0 bytes; its stored copy is removed."""
    if stored.is_new:
        _content(ctx).remove(stored.sha256)
    authorize(ctx, action="evidence.add", actor=actor, purpose=purpose)  # who may not add at all hears that
    error = InputError(
        f"evidence add {shown}: got 0 bytes (an empty file; SHA-256 {EMPTY_SHA256}, the hash of every empty "
        f"file); expected the item's contents. An empty file is almost always a failed copy or export: copy it "
        f"again from {source!r}, or, if the item really is empty, take it in deliberately with --allow-empty "
        "(API: allow_empty=true), which its custody record and ledger entry note")
    refuse(ctx, action="evidence.add", actor=actor, purpose=purpose, reason=str(error), error=error,
           data_hash=EMPTY_SHA256,
           detail={"case_id": case_id, "original_name": name, "source": source, "size_bytes": 0,
                   "error": type(error).__name__})


def same_content_as(ctx: Context, item: EvidenceItem) -> list[str]:
    """The case's other items with exactly this item's bytes (what its intake's ledger entry names)."""
    return [i.item_id for i in db.find_items_by_hash(ctx.store, item.sha256, item.case_id) if i.item_id != item.item_id]


def check_intake(ctx: Context, *, case_id: str, source: str, parent_item_id: str | None = None,
                 derivation: str | None = None, tool: str | None = None,
                 tool_version: str | None = None, actor: Actor | None = None,
                 purpose: str | None = RESEARCH) -> EvidenceItem | None:
    """Refuse an intake that cannot be recorded before its content is read; returns the parent.

    With ``actor``, the use is authorised first and a refusal is logged as a refused ``evidence.add``.
    """
    if actor is None:
        return _check_intake(ctx, case_id=case_id, source=source, parent_item_id=parent_item_id,
                             derivation=derivation, tool=tool, tool_version=tool_version)
    asked = {"case_id": case_id, "source": source, "parent_item_id": parent_item_id, "derivation": derivation,
             "tool": tool, "tool_version": tool_version}
    authorize(ctx, action="evidence.add", actor=actor, purpose=purpose, detail=asked)
    with _refusals_logged(ctx, action="evidence.add", actor=actor, purpose=purpose, detail=asked):
        return _check_intake(ctx, case_id=case_id, source=source, parent_item_id=parent_item_id,
                             derivation=derivation, tool=tool, tool_version=tool_version)


def _check_intake(ctx: Context, *, case_id: str, source: str, parent_item_id: str | None,
                  derivation: str | None, tool: str | None, tool_version: str | None) -> EvidenceItem | None:
    if not case_id or not case_id.strip():
        raise InputError("evidence add: got an empty case id; expected e.g. 'JA123456'")
    if not source or not source.strip():
        raise InputError("evidence add: got an empty source; expected where the item came from")
    if parent_item_id is None:
        return None
    parent = db.get_item(ctx.store, parent_item_id)
    if not derivation or not tool or not tool_version:
        raise InputError(
            f"evidence add --parent {parent_item_id}: a derivative needs derivation, tool and tool "
            f"version; got derivation={derivation!r}, tool={tool!r}, tool_version={tool_version!r}")
    return parent


def upload_writer(ctx: Context) -> ContentWriter:
    """A writer for content that arrives in chunks (an API upload) into the evidence folder."""
    return _content(ctx).writer()


def case_items(ctx: Context, case_id: str) -> list[EvidenceItem]:
    items = db.case_items(ctx.store, case_id)
    if not items:
        raise NotFoundError(f"case {case_id!r}: no evidence items in the store {ctx.store.path!r}")
    return items


def _events(ctx: Context, item_ids: Sequence[str]) -> dict[str, list[CustodyEvent]]:
    frame = db.custody_events(ctx.store, item_ids)
    out: dict[str, list[CustodyEvent]] = {i: [] for i in item_ids}
    for r in frame.to_dict("records"):
        out[str(r["item_id"])].append(CustodyEvent(
            item_id=str(r["item_id"]), kind=str(r["kind"]),
            from_party=r["from_party"] if isinstance(r["from_party"], str) else None,
            to_party=str(r["to_party"]), event_time=r["event_time"].to_pydatetime(),
            reason=r["reason"] if isinstance(r["reason"], str) else None,
            location=r["location"] if isinstance(r["location"], str) else None,
            event_id=int(r["event_id"]),
        ))
    return out


# --------------------------------------------------------------------------- custody
@dataclass(frozen=True)
class CustodyRecord:
    """A recorded custody event and the gaps the item's record shows after it.

    ``holder`` is the holder the record shows now (after every event, the later ones included);
    ``disagrees`` names the later event that no longer follows from the record when a late entry
    was recorded with ``return_follows`` (None otherwise).
    """

    event_id: int
    item_id: str
    kind: str
    from_party: str | None
    to_party: str
    event_time: datetime
    holder: str | None
    gaps: tuple[CustodyGap, ...]
    clock_allowance_s: int = DEFAULT_CLOCK_ALLOWANCE_S  # the tolerance the event time was checked with
    disagrees: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "item_id": self.item_id, "kind": self.kind,
                "from_party": self.from_party, "to_party": self.to_party,
                "event_time": self.event_time.isoformat(), "holder": self.holder,
                "gaps": [g.to_json() for g in self.gaps], "clock_allowance_s": self.clock_allowance_s,
                "disagrees": self.disagrees}


def _chain_break(item_id: str, events: Sequence[CustodyEvent], new: CustodyEvent,
                 later: Sequence[CustodyEvent]) -> tuple[CustodyEvent, list[CustodyGap]] | None:
    """The first event after ``new`` that the record would newly contradict were ``new`` inserted, and
    its new gaps; None when every later event still follows (or already did not, and still does not)."""
    if not later:
        return None
    had = {(g.kind, g.event_id) for g in find_custody_gaps(item_id, events).gaps}
    fresh: dict[int, list[CustodyGap]] = {}
    for g in find_custody_gaps(item_id, [*events, new]).gaps:
        if (g.kind, g.event_id) not in had and g.event_id is not None and g.event_id != new.event_id:
            fresh.setdefault(g.event_id, []).append(g)
    first = next((e for e in later if e.event_id in fresh), None)
    return None if first is None else (first, fresh[first.event_id])


def record_custody(
    ctx: Context,
    item_id: str,
    *,
    kind: str,
    to_party: str,
    actor: Actor,
    purpose: str | None = RESEARCH,
    from_party: str | None = None,
    reason: str | None = None,
    location: str | None = None,
    event_time: datetime | str | None = None,
    clock_allowance: int | None = None,
    return_follows: bool = False,
    via: Shell = "cli",
) -> CustodyRecord:
    """Record a check-out, check-in or transfer of an item.

    The event is checked against the record *at its time*: the custody events up to
    ``event_time`` (now, when none is given) are replayed in event-time order, and ``from_party``
    defaults to the holder they show then. A late paper entry (``event_time`` earlier than events
    already recorded) is thus checked against whoever held the item when it happened, not against
    today's holder. The holder is read, the event checked and stamped, and the event and its ledger
    entry written under the store's write lock, so concurrent calls serialise: each sees the events
    before it, and event ids follow the order of recording.

    Refused before anything is stored: a transfer that names a ``from_party`` who is not the holder
    at that time (a giver who does not hold it means the record, or the caller's view of it, is out
    of date); an event dated before the item's intake; a transfer, check-out or check-in to the party
    it comes from (names are trimmed and compared as the
    replay compares them); and an event that would break the chain after it: if inserting it makes a
    later event's giver (or its check-out/check-in state) contradict the record where it did not
    before, the later event is named. A handover whose return is entered next (paper records entered
    in time order) is recorded with ``return_follows=True``: the result's ``disagrees`` and the
    ledger entry's ``detail.disagrees`` name the later event, which is reported as a gap until the
    return is entered. A check-out or check-in that contradicts the record at its own time is
    recorded as stated (a custody log records what happened; the custodian took the item from
    whoever brought it) and the contradiction is returned as a gap and reported by
    :func:`verify_case`. ``event_time`` (a datetime, or ISO-8601 text) may lie at most
    ``clock_allowance`` seconds past this machine's clock (default
    ``settings.custody_clock_allowance_s``); the value applied is in the result and the ledger entry.
    ``via`` is the shell the call came through ("api": a refusal says what an API caller can do).

    Every refusal is a ledger entry: of ``evidence.<kind>`` (``evidence.custody`` for an unknown
    kind), outcome ``refused``, with the reason and what was asked.
    """
    kind = str(kind).strip().replace("-", "_")
    known = kind in CUSTODY_KINDS and kind != "intake"
    action = f"evidence.{kind}" if known else "evidence.custody"
    asked = {"item_id": item_id, "asked": {
        "kind": kind, "from": from_party, "to": to_party, "at": _shown(event_time), "reason": reason,
        "location": location, "clock_allowance_s": clock_allowance, "return_follows": return_follows}}
    authorize(ctx, action=action, actor=actor, purpose=purpose, detail=asked)
    with _refusals_logged(ctx, action=action, actor=actor, purpose=purpose, detail=asked):
        if not known:
            raise InvalidParameterError(
                f"custody event kind: got {kind!r}; expected 'check_out', 'check_in' or 'transfer'")
        allowance = clock_allowance_s(ctx, clock_allowance)
        if not to_party or not to_party.strip():
            raise InputError(f"custody event on {item_id}: got an empty 'to' party; expected a named person or "
                             "place")
        if from_party is not None and not from_party.strip():
            raise InputError(f"custody event on {item_id}: got an empty 'from' party; expected a named person or "
                             "place, or none for the holder the record shows")
        receiver = party_name(to_party)
        stated = _parse_time(event_time, "event time (--at, at)")
        if stated is not None:
            stated = _aware(stated, allowance, via)
        with ctx.store.transaction():  # the store's write lock: read, check, stamp and write as one
            item = db.get_item(ctx.store, item_id)
            events = _events(ctx, [item_id])[item_id]
            when = stated if stated is not None else _now()
            ordered = sorted(events, key=lambda e: (e.event_time, e.event_id))
            # the new event sorts after every event of the same time (it takes the next id)
            intake = next((e for e in ordered if e.kind == "intake"), None)
            if intake is not None and when < intake.event_time:
                raise InputError(
                    f"custody {kind.replace('_', '-')} of {item_id} at {when.isoformat()}: before the item's "
                    f"intake (event {intake.event_id} at {intake.event_time.isoformat()}); expected a time at or "
                    f"after the intake. A handover before the item reached the store belongs in the intake's "
                    f"source and description; if the time is wrong, correct --at (API: at)")
            earlier = [e for e in ordered if e.event_time <= when]
            later = [e for e in ordered if e.event_time > when]
            then = find_custody_gaps(item_id, earlier)
            if kind == "transfer" and from_party is not None and then.holder is not None \
                    and not same_party(from_party, then.holder):
                last = earlier[-1]
                at = "now" if not later else f"at {when.isoformat()}"
                raise InputError(
                    f"custody transfer of {item_id}: got from {from_party!r}, but the record shows "
                    f"{then.holder!r} holding the item {at} (event {last.event_id}, {last.kind} at "
                    f"{last.event_time.isoformat()}); expected the holder of record as the giver. If the item "
                    f"passed through other hands, record those handovers first; leave 'from' out to transfer "
                    f"from the holder of record")
            giver = party_name(from_party) if from_party is not None else then.holder
            if giver is not None and same_party(giver, receiver):
                word = kind.replace("_", "-")
                raise InputError(
                    f"custody {word} of {item_id}: got from {giver!r} to {receiver!r}, the same party (names "
                    f"are compared trimmed and case-folded); expected a handover to someone else. To note where "
                    f"the item is, use --location on a check-in; to correct a name, record the handover with "
                    f"the names the record uses")
            event_id = db.next_event_id(ctx.store)
            new = CustodyEvent(item_id, kind, giver, receiver, when, reason, location, event_id)
            broken = _chain_break(item_id, events, new, later)
            disagrees: dict[str, Any] | None = None
            if broken is not None:
                nxt, new_gaps = broken
                holder_after = find_custody_gaps(item_id, [*earlier, new]).holder
                disagrees = {"event_id": nxt.event_id, "kind": nxt.kind, "from": nxt.from_party,
                             "event_time": nxt.event_time.isoformat(), "holder_then": holder_after,
                             "gaps": [g.kind for g in new_gaps]}
                if not return_follows:
                    raise InputError(
                        f"custody {kind} of {item_id} at {when.isoformat()}: recording it would break the chain "
                        f"after it: event {nxt.event_id} ({nxt.kind} at {nxt.event_time.isoformat()}, given by "
                        f"{nxt.from_party!r}) would then follow a handover to {holder_after!r} with nothing "
                        f"between them ({', '.join(g.kind for g in new_gaps)}); expected an event that the "
                        f"later record still follows from. To enter paper records of a handover and its "
                        f"return dated before event {nxt.event_id}: enter a check-in return first and then "
                        f"this event, or enter this event with --return-follows (API: return_follows) and the "
                        f"return right after it; until the return is entered, event {nxt.event_id} is reported "
                        f"as a custody gap. If the time is wrong, correct --at")
            detail = {"item_id": item_id, "case_id": item.case_id, "event_id": event_id, "from": giver,
                      "to": receiver, "event_time": when.isoformat(), "reason": reason, "location": location,
                      "clock_allowance_s": allowance}
            if later:  # a late entry: how many recorded events it went before
                detail["n_later_events"] = len(later)
            if disagrees is not None:  # recorded with return_follows: the ledger names what now disagrees
                detail["return_follows"] = True
                detail["disagrees"] = disagrees
            seq = record_use(ctx, action=f"evidence.{kind}", actor=actor, purpose=purpose, data_hash=item.sha256,
                             detail=detail)
            db.insert_custody(ctx.store, {
                "event_id": event_id, "item_id": item_id, "kind": kind, "from_party": giver,
                "to_party": receiver, "event_time": when, "reason": reason, "location": location,
                "recorded_at": _now(), "recorded_by": actor.user, "ledger_seq": seq,
            })
            after = find_custody_gaps(item_id, _events(ctx, [item_id])[item_id])
    return CustodyRecord(event_id, item_id, kind, giver, receiver, when, after.holder, after.gaps, allowance,
                         disagrees)


# --------------------------------------------------------------------------- verification
@dataclass(frozen=True)
class ItemCheck:
    """Re-hash result for one item."""

    item_id: str
    expected_sha256: str
    actual_sha256: str | None
    ok: bool
    problems: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "expected_sha256": self.expected_sha256,
                "actual_sha256": self.actual_sha256, "ok": self.ok, "problems": list(self.problems)}


@dataclass(frozen=True)
class LedgerMismatch:
    """A stored evidence row that disagrees with the ledger entry behind it, or an entry whose row is gone.

    ``kind``: ``ledger_mismatch`` (``field`` differs: ``store_value`` against ``ledger_value``),
    ``ledger_missing`` (the row points at no entry), ``ledger_wrong_entry`` (the row points at an
    entry of another action, item or outcome), ``ledger_shared_entry`` (two rows point at one
    entry), ``row_missing`` (an entry of the case that no row stands for: deleted or re-pointed).
    ``event_id`` is None for an item row.
    """

    item_id: str
    kind: str
    message: str
    event_id: int | None = None
    ledger_seq: int | None = None
    field: str | None = None
    store_value: Any = None
    ledger_value: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "kind": self.kind, "event_id": self.event_id,
                "ledger_seq": self.ledger_seq, "field": self.field, "store_value": _shown(self.store_value),
                "ledger_value": _shown(self.ledger_value), "message": self.message}


@dataclass(frozen=True)
class CaseVerification:
    """Integrity, custody and ledger cross-check of every item of a case, computed once.

    ``mismatches`` lists every disagreement between the stored rows and the ledger; each is also
    a problem of its item (item rows) or a gap (custody rows). ``notes`` say what could not be
    cross-checked (entries written before the ledger recorded a field) and what is possible but worth
    a look (a derivative received before its parent's intake); they do not fail the case.
    """

    case_id: str
    items: tuple[ItemCheck, ...]
    gaps: tuple[CustodyGap, ...]
    ledger_seq: int = -1
    checked_at: datetime = field(default_factory=_now)
    mismatches: tuple[LedgerMismatch, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(i.ok for i in self.items) and not self.gaps and not self.mismatches

    @property
    def failed_items(self) -> list[str]:
        return [i.item_id for i in self.items if not i.ok]

    def to_json(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "ok": self.ok, "n_items": len(self.items),
                "failed_items": self.failed_items, "items": [i.to_json() for i in self.items],
                "gaps": [g.to_json() for g in self.gaps],
                "ledger_mismatches": [m.to_json() for m in self.mismatches], "notes": list(self.notes),
                "ledger_seq": self.ledger_seq, "checked_at": self.checked_at.isoformat()}


def verify_case(ctx: Context, case_id: str, *, actor: Actor, purpose: str | None = RESEARCH,
                progress: Callable[[int, int], None] | None = None) -> CaseVerification:
    """Re-hash every item of a case, replay its custody and cross-check every row with the ledger.

    Each item row is compared field by field with its ``evidence.add`` entry (case, hash, size,
    type, original name, source, parent, derivation, tool, version, parameters, who took it in;
    for entries written since they are recorded, the intake time and a hash of the description);
    each custody row with its entry (kind, from, to, time, reason, location, item, case, who
    recorded it, and the event id where recorded). A row must point at an entry of its own action
    and item, one row per entry; an intake or custody entry of the case (or of one of its items)
    that no row stands for is reported as a row gone missing, and an item named by the case's
    entries is checked even when its row now names another case. The ledger's own integrity is
    ``crimelens ledger verify``.
    """
    asked = {"case_id": case_id}
    authorize(ctx, action="evidence.verify", actor=actor, purpose=purpose, detail=asked)
    with _refusals_logged(ctx, action="evidence.verify", actor=actor, purpose=purpose, detail=asked):
        result = _verify(ctx, case_id, progress)
    with ctx.store.transaction():
        seq = record_use(ctx, action="evidence.verify", actor=actor, purpose=purpose,
                         detail={"case_id": case_id, "ok": result.ok, "n_items": len(result.items),
                                 "failed_items": result.failed_items, "n_gaps": len(result.gaps),
                                 "n_ledger_mismatches": len(result.mismatches)})
    return dataclasses.replace(result, ledger_seq=seq)


def _verify(ctx: Context, case_id: str, progress: Callable[[int, int], None] | None) -> CaseVerification:
    store = _content(ctx)
    items = {i.item_id: i for i in db.case_items(ctx.store, case_id)}
    entries = db.case_ledger_payloads(ctx.store, case_id, list(items))
    named = {str(e["detail"]["item_id"]) for e in entries.values() if e.get("detail", {}).get("item_id")}
    items.update(db.items_by_id(ctx.store, sorted(named - set(items))))  # moved to another case
    if not items and not entries:
        raise NotFoundError(f"case {case_id!r}: no evidence items in the store {ctx.store.path!r}")
    rows = db.custody_rows(ctx.store, list(items))
    wanted = {i.ledger_seq for i in items.values()} | {int(r["ledger_seq"]) for r in rows}
    payloads = {**db.ledger_payloads(ctx.store, sorted(wanted - set(entries))), **entries}
    events = _events(ctx, list(items))
    problems: dict[str, list[str]] = {i: [] for i in items}
    actual: dict[str, str | None] = {}
    mismatches: list[LedgerMismatch] = []
    gaps: list[CustodyGap] = []
    chronology: list[str] = []  # notes: what is possible but worth a look (a derivative older than its parent)
    stands_for: dict[int, list[str]] = {}  # entry seq -> the rows that rightly point at it ("item:EV1", "event:3")

    for n, item_id in enumerate(sorted(items), start=1):
        item = items[item_id]
        got = store.rehash(item.sha256)
        actual[item_id] = None if got is None else got[0]
        if got is None:
            problems[item_id].append(f"{item_id} ({item.original_name}): stored content is missing from "
                                     f"{store.path_for(item.sha256)}")
        elif got[0] != item.sha256:
            problems[item_id].append(f"{item_id} ({item.original_name}): SHA-256 mismatch: intake "
                                     f"{item.sha256}, now {got[0]}")
        elif got[1] != item.size_bytes:
            problems[item_id].append(f"{item_id}: size {got[1]} bytes, intake recorded {item.size_bytes}")
        found = _item_mismatches(item, payloads.get(item.ledger_seq))
        if not any(m.kind in _UNMATCHED for m in found):
            stands_for.setdefault(item.ledger_seq, []).append(f"item:{item_id}")
        mismatches += found
        problems[item_id] += [m.message for m in found]
        intakes = [e for e in events[item_id] if e.kind == "intake"]
        if intakes and min(e.event_time for e in intakes) != item.added_at:
            first = min(intakes, key=lambda e: (e.event_time, e.event_id))
            problems[item_id].append(f"{item_id}: taken in at {item.added_at.isoformat()} by its item row, but "
                                     f"its intake custody event {first.event_id} is dated "
                                     f"{first.event_time.isoformat()}")
        if item.parent_item_id is not None:
            parent = items.get(item.parent_item_id) or db.items_by_id(ctx.store, [item.parent_item_id]).get(
                item.parent_item_id)
            if parent is None:
                problems[item_id].append(f"{item_id}: its parent {item.parent_item_id} is not in the store")
            elif parent.sha256 != item.parent_sha256:
                problems[item_id].append(f"{item_id}: parent {parent.item_id} has hash {parent.sha256}, the "
                                         f"derivative records {item.parent_sha256}")
            elif item.added_at < parent.added_at:
                chronology.append(
                    f"{item_id} (a {item.derivation or 'derivative'} of {parent.item_id}) was received at "
                    f"{item.added_at.isoformat()}, before its parent's intake at {parent.added_at.isoformat()}: "
                    f"it was made from the content before the store held it, or one of the two times is wrong; "
                    f"check both against the paper record")
        gaps.extend(find_custody_gaps(item_id, events[item_id]).gaps)
        if progress is not None:
            progress(n, len(items))

    for row in rows:
        item = items[str(row["item_id"])]
        seq = int(row["ledger_seq"])
        found = _custody_mismatches(row, seq, payloads.get(seq), item)
        if not any(m.kind in _UNMATCHED for m in found):
            stands_for.setdefault(seq, []).append(f"event:{row['event_id']}")
        mismatches += found
        gaps += [CustodyGap(m.item_id, m.kind, m.event_id, m.message) for m in found]

    for seq, entry in sorted(entries.items()):
        lost = _lost_rows(seq, entry, stands_for.get(seq, []), items)
        mismatches += lost
        for m in lost:
            if m.field == "item row":  # the item fails (with no row at all, it is listed from its entry)
                problems.setdefault(m.item_id, []).append(m.message)
                actual.setdefault(m.item_id, None)
            else:
                gaps.append(CustodyGap(m.item_id, m.kind, m.event_id, m.message))
    for seq, users in stands_for.items():
        events_at = [u for u in users if u.startswith("event:")]
        for extra in events_at[1:]:
            m = LedgerMismatch(_row_item(rows, extra), "ledger_shared_entry",
                               f"event {extra[6:]} points at ledger entry {seq}, which already stands for "
                               f"{events_at[0].replace(':', ' ')}; expected one custody row per entry",
                               event_id=int(extra[6:]), ledger_seq=seq, field="ledger_seq")
            mismatches.append(m)
            gaps.append(CustodyGap(m.item_id, m.kind, m.event_id, m.message))

    checks = tuple(ItemCheck(i, items[i].sha256 if i in items else _entry_hash(entries, i), actual[i],
                             not problems[i], tuple(problems[i])) for i in sorted(problems))
    return CaseVerification(case_id, checks, tuple(gaps), mismatches=tuple(mismatches),
                            notes=tuple(chronology) + _unchecked_notes(payloads, items, rows))


#: Mismatch kinds that mean the row does not rightly point at its entry (the entry then has no row).
_UNMATCHED = ("ledger_missing", "ledger_wrong_entry")


def _row_item(rows: list[dict[str, Any]], who: str) -> str:
    event_id = int(who.split(":", 1)[1])
    return next(str(r["item_id"]) for r in rows if int(r["event_id"]) == event_id)


def _entry_hash(entries: Mapping[int, Mapping[str, Any]], item_id: str) -> str:
    return next((str(e.get("output_hash")) for e in entries.values()
                 if e.get("action") == "evidence.add" and e.get("detail", {}).get("item_id") == item_id), "")


def _describe(entry: Mapping[str, Any]) -> str:
    """A ledger entry in a few words: action, item, outcome, and a handover's parties and time."""
    d = entry.get("detail") or {}
    what = f"{entry.get('action')} of {d.get('item_id') or d.get('case_id') or '?'}"
    if "to" in d:
        what += f" ({d.get('from')!r} -> {d.get('to')!r} at {d.get('event_time')})"
    elif entry.get("action") == "evidence.add":
        what += f" ({d.get('original_name')!r} into case {d.get('case_id')!r})"
    return what if entry.get("outcome") == "ok" else f"a {entry.get('outcome')} {what}"


def _differs(store_value: Any, ledger_value: Any) -> bool:
    if isinstance(store_value, datetime):
        try:
            return not isinstance(ledger_value, str) or datetime.fromisoformat(ledger_value) != store_value
        except ValueError:
            return True
    return bool(store_value != ledger_value)


def _compare(item_id: str, what: str, seq: int, event_id: int | None,
             pairs: Sequence[tuple[str, Any, Any]]) -> list[LedgerMismatch]:
    out = []
    for name, mine, recorded in pairs:
        if _differs(mine, recorded):
            out.append(LedgerMismatch(
                item_id, "ledger_mismatch",
                f"{what}: {name} is {_shown(mine)!r} in the store; ledger entry {seq} records {_shown(recorded)!r}",
                event_id=event_id, ledger_seq=seq, field=name, store_value=mine, ledger_value=recorded))
    return out


def _item_mismatches(item: EvidenceItem, entry: Mapping[str, Any] | None) -> list[LedgerMismatch]:
    seq, what = item.ledger_seq, f"item {item.item_id}"
    if entry is None:
        return [LedgerMismatch(item.item_id, "ledger_missing",
                               f"{what}: its intake ledger entry {seq} does not exist", ledger_seq=seq,
                               field="ledger_seq", store_value=seq)]
    d = entry.get("detail") or {}
    if entry.get("action") != "evidence.add" or entry.get("outcome") != "ok" or d.get("item_id") != item.item_id:
        return [LedgerMismatch(item.item_id, "ledger_wrong_entry",
                               f"{what} points at ledger entry {seq}, which records {_describe(entry)}; expected "
                               f"the evidence.add entry of {item.item_id}", ledger_seq=seq, field="ledger_seq",
                               store_value=seq, ledger_value=_describe(entry))]
    params = json.loads(item.tool_params) if item.tool_params else {}
    pairs: list[tuple[str, Any, Any]] = [
        ("case_id", item.case_id, d.get("case_id")), ("sha256", item.sha256, entry.get("output_hash")),
        ("size_bytes", item.size_bytes, d.get("size_bytes")), ("mime_type", item.mime_type, d.get("mime_type")),
        ("original_name", item.original_name, d.get("original_name")), ("source", item.source, d.get("source")),
        ("parent_item_id", item.parent_item_id, d.get("parent_item_id")),
        ("parent_sha256", item.parent_sha256, d.get("parent_sha256")),
        ("derivation", item.derivation, d.get("derivation")), ("tool", item.tool, entry.get("model")),
        ("tool_version", item.tool_version, entry.get("model_version")),
        ("tool_params", params, dict(entry.get("params") or {})), ("added_by", item.added_by, entry.get("user"))]
    if "received_at" in d:
        pairs.append(("added_at", item.added_at, d["received_at"]))
    if "description_sha256" in d:
        pairs.append(("description_sha256", _vhash(item.description) if item.description is not None else None,
                      d["description_sha256"]))
    return _compare(item.item_id, what, seq, None, pairs)


def _intake_reason(entry: Mapping[str, Any]) -> str:
    """The reason an intake's custody row was given, as its ``evidence.add`` entry implies it."""
    d = entry.get("detail") or {}
    if "intake_reason" in d:
        return str(d["intake_reason"])
    base = f"derived by {entry.get('model')} {entry.get('model_version')}" if d.get("parent_item_id") else "intake"
    return base + (f"; {EMPTY_NOTE}" if d.get("deliberately_empty") else "")


def _custody_mismatches(row: Mapping[str, Any], seq: int, entry: Mapping[str, Any] | None,
                        item: EvidenceItem) -> list[LedgerMismatch]:
    event_id, item_id, kind = int(row["event_id"]), str(row["item_id"]), str(row["kind"])
    what = f"event {event_id} ({kind} of {item_id})"
    if entry is None:
        return [LedgerMismatch(item_id, "ledger_missing",
                               f"custody event {event_id} has no matching ledger entry (seq {seq}): {what} points "
                               "at an entry that does not exist", event_id=event_id, ledger_seq=seq,
                               field="ledger_seq", store_value=seq)]
    expected = "evidence.add" if kind == "intake" else f"evidence.{kind}"
    d = entry.get("detail") or {}
    if entry.get("action") != expected or entry.get("outcome") != "ok" or d.get("item_id") != item_id:
        return [LedgerMismatch(item_id, "ledger_wrong_entry",
                               f"{what} points at ledger entry {seq}, which records {_describe(entry)}; expected "
                               f"an {expected} entry of {item_id}", event_id=event_id, ledger_seq=seq,
                               field="ledger_seq", store_value=seq, ledger_value=_describe(entry))]
    common = [("to_party", row["to_party"], d.get("to") if kind != "intake" else entry.get("user")),
              ("location", row["location"], d.get("location")), ("recorded_by", row["recorded_by"], entry.get("user"))]
    if kind == "intake":
        pairs = [("from_party", row["from_party"], d.get("source")), *common,
                 ("reason", row["reason"], _intake_reason(entry))]
        if "received_at" in d:
            pairs.append(("event_time", row["event_time"], d["received_at"]))
        if "intake_event_id" in d:
            pairs.append(("event_id", event_id, d["intake_event_id"]))
    else:
        pairs = [("from_party", row["from_party"], d.get("from")), *common,
                 ("event_time", row["event_time"], d.get("event_time")), ("reason", row["reason"], d.get("reason")),
                 ("case_id", item.case_id, d.get("case_id"))]
        if "event_id" in d:
            pairs.append(("event_id", event_id, d["event_id"]))
    return _compare(item_id, what, seq, event_id, pairs)


def _lost_rows(seq: int, entry: Mapping[str, Any], standing: list[str],
               items: Mapping[str, EvidenceItem]) -> list[LedgerMismatch]:
    """What is missing for one intake or custody entry of the case that not every row it needs stands for."""
    d = entry.get("detail") or {}
    item_id = str(d.get("item_id"))
    recorded = f"ledger entry {seq} records {_describe(entry)}"
    out: list[LedgerMismatch] = []
    if entry.get("action") == "evidence.add":
        if not any(u.startswith("item:") for u in standing):
            if item_id not in items:
                out.append(LedgerMismatch(item_id, "row_missing", f"{item_id}: {recorded}, but the store has no "
                                          "row for the item (deleted?)", ledger_seq=seq, field="item row",
                                          ledger_value=d.get("case_id")))
            else:
                out.append(LedgerMismatch(item_id, "row_missing", f"{item_id}: {recorded}, but the item's row "
                                          f"points at entry {items[item_id].ledger_seq}", ledger_seq=seq,
                                          field="item row", store_value=items[item_id].ledger_seq, ledger_value=seq))
        if not any(u.startswith("event:") for u in standing):
            out.append(LedgerMismatch(item_id, "row_missing", f"intake of {item_id}: {recorded}, but no intake "
                                      "custody row stands for it (deleted or re-pointed?)",
                                      event_id=d.get("intake_event_id"), ledger_seq=seq, field="custody row"))
    elif not standing:
        out.append(LedgerMismatch(item_id, "row_missing", f"{recorded}, but no custody row stands for it (deleted "
                                  "or re-pointed?)", event_id=d.get("event_id"), ledger_seq=seq,
                                  field="custody row"))
    return out


def _unchecked_notes(payloads: Mapping[int, Mapping[str, Any]], items: Mapping[str, EvidenceItem],
                     rows: list[dict[str, Any]]) -> tuple[str, ...]:
    """What the ledger entries behind the case's rows do not record, so could not be cross-checked."""
    def recorded(seq: int) -> Mapping[str, Any] | None:
        entry = payloads.get(seq)
        return None if entry is None else entry.get("detail") or {}

    old_adds = sorted(i.item_id for i in items.values()
                      if (d := recorded(i.ledger_seq)) is not None and "received_at" not in d)
    old_events = sorted(int(r["event_id"]) for r in rows
                        if r["kind"] != "intake" and (d := recorded(int(r["ledger_seq"]))) is not None
                        and "event_id" not in d)
    notes = []
    if old_adds:
        notes.append(f"intake time, description and intake event id of {', '.join(old_adds)} not cross-checked: "
                     "their evidence.add entries were written before the ledger recorded them (the item row's "
                     "time is compared with its intake row's instead)")
    if old_events:
        notes.append(f"event ids of custody events {', '.join(map(str, old_events))} not cross-checked: their "
                     "entries were written before the ledger recorded them (the rows are matched to their entries "
                     "by ledger_seq)")
    return tuple(notes)


def lineage(ctx: Context, item_id: str) -> list[EvidenceItem]:
    """The item, its parent, the parent's parent, ... up to the original."""
    chain = [db.get_item(ctx.store, item_id)]
    while chain[-1].parent_item_id is not None:
        if len(chain) > 100:
            raise InputError(f"evidence item {item_id}: lineage longer than 100 steps (a cycle?)")
        chain.append(db.get_item(ctx.store, chain[-1].parent_item_id))
    return chain


def item_report(ctx: Context, item_id: str) -> dict[str, Any]:
    """An item, its custody events and state, its lineage and its derivatives (in any case: a
    derivative filed in another case is listed too, ``derivative_items`` saying which case)."""
    item = db.get_item(ctx.store, item_id)
    events = _events(ctx, [item_id])[item_id]
    state = find_custody_gaps(item_id, events)
    chain = lineage(ctx, item_id)
    kids = ctx.store.query("SELECT item_id, case_id, derivation FROM evidence_items WHERE parent_item_id = ? "
                           "ORDER BY item_id", [item_id]).to_dict("records")
    children = [{"item_id": str(k["item_id"]), "case_id": str(k["case_id"]),
                 "derivation": k["derivation"] if isinstance(k["derivation"], str) else None} for k in kids]
    return {
        "item": item.to_json(),
        "holder": state.holder,
        "checked_out": state.is_checked_out,
        "custody": [{"event_id": e.event_id, "kind": e.kind, "from": e.from_party, "to": e.to_party,
                     "event_time": e.event_time.isoformat(), "reason": e.reason, "location": e.location}
                    for e in sorted(events, key=lambda e: (e.event_time, e.event_id))],
        "gaps": [g.to_json() for g in state.gaps],
        "lineage": [{"item_id": i.item_id, "sha256": i.sha256, "derivation": i.derivation,
                     "tool": i.tool, "tool_version": i.tool_version} for i in chain],
        "original_sha256": chain[-1].sha256,
        "derivatives": [c["item_id"] for c in children],
        "derivative_items": children,
        "redaction": _redaction_state(ctx, item_id),
    }


def _redaction_state(ctx: Context, item_id: str) -> dict[str, Any] | None:
    """For an item that a redaction run wrote (an image's or a video's redacted copy is filed as an item when
    it is made, before any review): the run, whether it is released, and its units' review states, so that
    nobody reads a copy still under review, or one whose review rejected it, as a released one. None for any
    other item."""
    runs = ctx.store.query("SELECT run_id, status FROM redaction_runs WHERE output_item_id = ? ORDER BY run_id",
                           [item_id]).to_dict("records")
    if not runs:
        return None
    run_id, status = str(runs[-1]["run_id"]), str(runs[-1]["status"])
    units = ctx.store.query("SELECT status, count(*) AS n FROM redaction_review WHERE run_id = ? GROUP BY status",
                            [run_id]).to_dict("records")
    counts = {str(u["status"]): int(u["n"]) for u in units}
    released = status == "released"
    if released:
        note = "released after review"
    else:
        open_ = {k: counts.get(k, 0) for k in ("pending", "rejected") if counts.get(k, 0)}
        why = ", ".join(f"{n} unit(s) {k}" for k, n in open_.items()) or "every unit reviewed, not yet released"
        note = f"NOT RELEASED: under review ({why}); not for release until `redact release {run_id}`"
    return {"run_id": run_id, "run_status": status, "released": released, "units": counts, "note": note}


# --------------------------------------------------------------------------- reading (logged)
def list_cases(ctx: Context, *, actor: Actor, purpose: str | None = RESEARCH) -> list[dict[str, Any]]:
    """Every case with evidence: item and derivative counts, bytes, first and last intake (ISO 8601 with
    the UTC offset, as the API and ``evidence show`` give times)."""
    authorize(ctx, action="evidence.list", actor=actor, purpose=purpose)
    rows = [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.items()}
            for r in db.case_summaries(ctx.store)]
    record_use(ctx, action="evidence.list", actor=actor, purpose=purpose, detail={"n_cases": len(rows)})
    return rows


def show_case(ctx: Context, case_id: str, *, actor: Actor, purpose: str | None = RESEARCH) -> dict[str, Any]:
    """A case's items, each with its holder, whether it is checked out, and its custody gaps."""
    authorize(ctx, action="evidence.show", actor=actor, purpose=purpose, detail={"case_id": case_id})
    with _refusals_logged(ctx, action="evidence.show", actor=actor, purpose=purpose, detail={"case_id": case_id}):
        items = case_items(ctx, case_id)
    events = _events(ctx, [i.item_id for i in items])
    rows = []
    for item in items:
        state = find_custody_gaps(item.item_id, events[item.item_id])
        rows.append({**item.to_json(), "holder": state.holder, "checked_out": state.is_checked_out,
                     "n_custody_events": len(events[item.item_id]), "gaps": [g.to_json() for g in state.gaps]})
    record_use(ctx, action="evidence.show", actor=actor, purpose=purpose,
               detail={"case_id": case_id, "n_items": len(rows)})
    return {"case_id": case_id, "items": rows}


def show_item(ctx: Context, item_id: str, *, actor: Actor, purpose: str | None = RESEARCH) -> dict[str, Any]:
    """:func:`item_report`, checked against the caller's role and logged."""
    authorize(ctx, action="evidence.show", actor=actor, purpose=purpose, detail={"item_id": item_id})
    with _refusals_logged(ctx, action="evidence.show", actor=actor, purpose=purpose, detail={"item_id": item_id}):
        report = item_report(ctx, item_id)
    record_use(ctx, action="evidence.show", actor=actor, purpose=purpose, data_hash=report["item"]["sha256"],
               detail={"item_id": item_id, "case_id": report["item"]["case_id"]})
    return report


def open_content(ctx: Context, item_id: str, *, actor: Actor, purpose: str | None = RESEARCH,
                 byte_range: str | None = None) -> tuple[EvidenceItem, Path]:
    """The stored file of an item, for a copy to leave the store (logged as ``evidence.download``).

    The copy is re-hashed first: content that no longer matches its intake hash is refused.
    ``byte_range`` is the HTTP ``Range`` a download asked for (recorded in the entry: which bytes left).
    """
    asked = {"item_id": item_id, **({"range": byte_range} if byte_range is not None else {})}
    authorize(ctx, action="evidence.download", actor=actor, purpose=purpose, detail=asked)
    with _refusals_logged(ctx, action="evidence.download", actor=actor, purpose=purpose, detail=asked):
        item = db.get_item(ctx.store, item_id)
    path = _verified_content(ctx, item, action="evidence.download", actor=actor, purpose=purpose)
    record_use(ctx, action="evidence.download", actor=actor, purpose=purpose, data_hash=item.sha256,
               output_hash=item.sha256, detail={**asked, "case_id": item.case_id, "size_bytes": item.size_bytes})
    return item, path


# --------------------------------------------------------------------------- redaction
def _source_item(ctx: Context, case_id: str | None, sha: str, name: str) -> EvidenceItem | None:
    if case_id is None:
        return None
    found = db.find_items_by_hash(ctx.store, sha, case_id)
    if not found:
        raise NotFoundError(
            f"{name}: SHA-256 {sha} is not an evidence item of case {case_id!r}; add it first "
            f"(crimelens evidence add {name} --case {case_id})")
    return found[0]


def _read_jsonl(path: Path) -> list[tuple[str, str]]:
    docs: list[tuple[str, str]] = []
    seen: set[str] = set()
    with Path(path).open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SchemaError(f"{path} line {n}: not JSON ({exc.msg}); expected one object per line") from exc
            if not isinstance(row, dict) or not isinstance(row.get("text"), str) or "report_id" not in row:
                raise SchemaError(f"{path} line {n}: got keys {sorted(row) if isinstance(row, dict) else type(row).__name__}; "
                                  'expected {"report_id": ..., "text": "..."}')
            rid = str(row["report_id"])
            if rid in seen:
                raise SchemaError(f"{path} line {n}: report_id {rid!r} repeats; expected unique ids")
            seen.add(rid)
            docs.append((rid, row["text"]))
    return docs


def _vhash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def redact_text_file(
    ctx: Context,
    src: Path,
    dst: Path,
    *,
    actor: Actor,
    purpose: str | None = RESEARCH,
    redactor: TextRedactor | None = None,
    case_id: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    input_name: str | None = None,
) -> RedactionRun:
    """Detect and redact PII in a JSONL file of ``{"report_id", "text"}`` lines.

    Each output line adds ``"entities"`` (start, end, type, recogniser, score)
    and ``"redacted"``. Every document enters the review queue; nothing is
    released until :func:`release_run`.
    """
    src, dst = Path(src), Path(dst)
    red = redactor or TextRedactor()
    docs = _read_jsonl(src)
    in_sha, _ = sha256_file(src)
    source_item = _source_item(ctx, case_id, in_sha, input_name or src.name)
    log_rows: list[dict[str, Any]] = []
    dst.parent.mkdir(parents=True, exist_ok=True)
    batch = 64
    with dst.open("w", encoding="utf-8") as out:
        for b in range(0, len(docs), batch):
            chunk = docs[b:b + batch]
            spans = red.detect_many([t for _, t in chunk])
            for (rid, text), found in zip(chunk, spans, strict=True):
                res = red.redact(text, found)
                out.write(json.dumps({
                    "report_id": rid, "text": text,
                    "entities": [{"start": s.start, "end": s.end, "type": s.type,
                                  "recogniser": s.recogniser, "score": round(s.score, 3)} for s in found],
                    "redacted": res.text, "review": "pending",
                }, ensure_ascii=False) + "\n")
                log_rows += [{"unit": rid, "idx": k, "type": s.type, "start_pos": s.start, "end_pos": s.end,
                              "recogniser": s.recogniser, "score": s.score, "replacement": rep,
                              "value_sha256": _vhash(text[s.start:s.end])}
                             for k, (s, rep) in enumerate(zip(found, res.replacements, strict=True))]
            if progress is not None:
                progress(min(b + batch, len(docs)), len(docs))
    out_sha, _ = sha256_file(dst)
    return _save_run(ctx, kind="text", src=src, dst=dst, in_sha=in_sha, out_sha=out_sha, tool=red.tool,
                     tool_version=red.version, params=red.get_params(), n_units=len(docs),
                     log_rows=log_rows, review_units=[rid for rid, _ in docs], actor=actor,
                     purpose=purpose, case_id=case_id, source_item=source_item, output_item=None,
                     detail={"ner": red.ner_}, input_name=input_name)


def _save_run(ctx: Context, *, kind: str, src: Path, dst: Path, in_sha: str, out_sha: str, tool: str,
              tool_version: str, params: dict[str, Any], n_units: int, log_rows: list[dict[str, Any]],
              review_units: Sequence[str], actor: Actor, purpose: str | None, case_id: str | None,
              source_item: EvidenceItem | None, output_item: EvidenceItem | None,
              detail: dict[str, Any], input_name: str | None = None) -> RedactionRun:
    with ctx.store.transaction():
        run_id = db.next_run_id(ctx.store)
        seq = record_use(
            ctx, action=f"redact.{kind}", actor=actor, purpose=purpose, model=tool,
            model_version=tool_version, params=params, data_hash=in_sha, output_hash=out_sha,
            detail={"run_id": run_id, "n_units": n_units, "n_detections": len(log_rows),
                    "n_review": len(review_units), "case_id": case_id,
                    "source_item_id": source_item.item_id if source_item else None,
                    "output_item_id": output_item.item_id if output_item else None, **detail},
        )
        run = RedactionRun(
            run_id=run_id, kind=kind, input_name=input_name or src.name, input_sha256=in_sha, output_name=dst.name,
            output_sha256=out_sha, tool=tool, tool_version=tool_version,
            params=json.dumps(params, sort_keys=True), n_units=n_units, n_detections=len(log_rows),
            case_id=case_id, source_item_id=source_item.item_id if source_item else None,
            output_item_id=output_item.item_id if output_item else None, status="pending_review",
            created_at=_now(), created_by=actor.user, ledger_seq=seq,
        )
        db.insert_run(ctx.store, run)
        db.insert_redaction_log(ctx.store, [{"run_id": run_id, **r} for r in log_rows])
        db.insert_review_units(ctx.store, run_id, list(review_units))
    return run


def _box_rows(logs: Sequence[FrameLog]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for f in logs:
        kinds = list(f.kinds) + ["held"] * (len(f.redacted_boxes) - len(f.kinds))
        for k, (box, kind) in enumerate(zip(f.redacted_boxes, kinds, strict=True)):
            rows.append({"unit": str(f.frame), "idx": k, "type": kind if kind != "held" else "face",
                         "box_x": box[0], "box_y": box[1], "box_w": box[2], "box_h": box[3],
                         "recogniser": "haar_cascade" if kind != "held" else "held_from_previous",
                         "score": None, "replacement": "pixelate+blur", "value_sha256": None})
    return rows


def _media_derivative(ctx: Context, dst: Path, source_item: EvidenceItem | None, tool: str, version: str,
                      params: dict[str, Any], actor: Actor, purpose: str | None) -> EvidenceItem | None:
    if source_item is None:
        return None
    return add_evidence(ctx, dst, case_id=source_item.case_id, actor=actor, purpose=purpose,
                        source=f"{tool} {version}", description=f"redacted copy of {source_item.item_id}",
                        parent_item_id=source_item.item_id, derivation="redacted", tool=tool,
                        tool_version=version, tool_params=params)


def redact_image_file(ctx: Context, src: Path, dst: Path, *, actor: Actor, purpose: str | None = RESEARCH,
                      redactor: FaceRedactor | None = None, case_id: str | None = None,
                      input_name: str | None = None) -> RedactionRun:
    """Blur the faces in one image; with ``case_id``, the copy becomes a derivative of the item."""
    src, dst = Path(src), Path(dst)
    red = redactor or FaceRedactor()
    in_sha, _ = sha256_file(src) if src.is_file() else ("", 0)
    if not src.is_file():
        raise NotFoundError(f"image {str(src)!r}: not found")
    source_item = _source_item(ctx, case_id, in_sha, input_name or src.name)
    log = red.redact_image_file(src, dst)
    out_sha, _ = sha256_file(dst)
    with ctx.store.transaction():
        out_item = _media_derivative(ctx, dst, source_item, red.tool, red.version, red.get_params(), actor,
                                     purpose)
        return _save_run(ctx, kind="image", src=src, dst=dst, in_sha=in_sha, out_sha=out_sha,
                         tool=red.tool, tool_version=red.version, params=red.get_params(), n_units=1,
                         log_rows=_box_rows([log]), review_units=["0"], actor=actor, purpose=purpose,
                         case_id=case_id, source_item=source_item, output_item=out_item,
                         detail={"frames": [log.to_json()]}, input_name=input_name)


def redact_video_file(ctx: Context, src: Path, dst: Path, *, actor: Actor, purpose: str | None = RESEARCH,
                      redactor: FaceRedactor | None = None, case_id: str | None = None,
                      log_path: Path | None = None,
                      progress: Callable[[int, int], None] | None = None,
                      input_name: str | None = None) -> tuple[RedactionRun, Path]:
    """Blur faces frame by frame; writes one JSON log line per frame to ``log_path``.

    Returns the run and the path of the per-frame log (default ``<dst>.frames.jsonl``).
    """
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise NotFoundError(f"video {str(src)!r}: not found")
    red = redactor or FaceRedactor()
    in_sha, _ = sha256_file(src)
    source_item = _source_item(ctx, case_id, in_sha, input_name or src.name)
    result = red.redact_video(src, dst, progress=progress)
    log_path = Path(log_path) if log_path is not None else dst.with_name(dst.name + ".frames.jsonl")
    with log_path.open("w", encoding="utf-8") as fh:
        for f in result.frames:
            fh.write(json.dumps(f.to_json()) + "\n")
    out_sha, _ = sha256_file(dst)
    log_sha, _ = sha256_file(log_path)
    with ctx.store.transaction():
        out_item = _media_derivative(ctx, dst, source_item, red.tool, red.version, red.get_params(), actor,
                                     purpose)
        run = _save_run(ctx, kind="video", src=src, dst=dst, in_sha=in_sha, out_sha=out_sha,
                        tool=red.tool,
                        tool_version=red.version, params=red.get_params(), n_units=result.n_frames,
                        log_rows=_box_rows(result.frames),
                        review_units=[str(i) for i in result.review_frames],
                        actor=actor, purpose=purpose, case_id=case_id, source_item=source_item,
                        output_item=out_item,
                        detail={"frame_log_sha256": log_sha, "fps": result.fps, "codec": result.codec,
                                "width": result.width, "height": result.height}, input_name=input_name)
    return run, log_path


# --------------------------------------------------------------------------- review and release
def review_queue(ctx: Context, run_id: str, *, status: str | None = None,
                 unit: str | None = None) -> list[dict[str, Any]]:
    """Review items of a run (or its one ``unit``) with their logged detections (types, spans or boxes;
    no clear text)."""
    db.get_run(ctx.store, run_id)
    queue = db.review_queue(ctx.store, run_id, status=status, unit=unit)
    by_unit: dict[str, list[dict[str, Any]]] = {}
    for d in db.run_log(ctx.store, run_id, unit=unit).to_dict("records"):
        by_unit.setdefault(str(d["unit"]), []).append(_detection(d))
    return [{"unit": r["unit"], "status": r["status"],
             "reviewer": r["reviewer"] if isinstance(r["reviewer"], str) else None,
             "correction": json.loads(r["correction"]) if isinstance(r["correction"], str) else None,
             "detections": by_unit.get(str(r["unit"]), [])} for r in queue.to_dict("records")]


def _detection(row: dict[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": str(row["type"]), "recogniser": str(row["recogniser"])}
    for k in ("idx", "start_pos", "end_pos", "box_x", "box_y", "box_w", "box_h"):
        v = row[k]
        out[k] = None if pd.isna(v) else int(v)
    return out


def decide_review(
    ctx: Context, run_id: str, unit: str, *, status: Literal["confirmed", "corrected", "rejected"],
    actor: Actor, purpose: str | None = RESEARCH, add: Sequence[tuple[int, int, str]] = (),
    remove: Sequence[int] = (), note: str | None = None,
) -> dict[str, Any]:
    """A person's decision on one review item: confirm, correct (add/remove spans) or reject."""
    if status not in ("confirmed", "corrected", "rejected"):
        raise InvalidParameterError(f"review status: got {status!r}; expected confirmed, corrected or rejected")
    run = db.get_run(ctx.store, run_id)
    if run.status == "released":
        raise InputError(f"review of {run_id}/{unit}: the run is released; its decisions are closed "
                         "(redact the item again for a new review)")
    bad = [list(a) for a in add if not 0 <= int(a[0]) < int(a[1])]
    if bad:
        raise InputError(f"review of {run_id}/{unit}: added spans {bad}: expected 0 <= start < end")
    if (add or remove) and status != "corrected":
        raise InputError(f"review of {run_id}/{unit}: corrections given with status {status!r}; "
                         "expected status 'corrected'")
    if status == "corrected" and run.kind != "text":
        raise InputError(f"review of {run_id}/{unit}: corrections apply to text runs; for {run.kind} "
                         "runs reject the frame and redact again")
    if status == "corrected" and not (add or remove):
        raise InputError(f"review of {run_id}/{unit}: status 'corrected' needs --add or --remove")
    if remove:
        log = db.run_log(ctx.store, run_id)
        known = sorted(int(i) for i in log.loc[log["unit"] == unit, "idx"])
        unknown = sorted({int(i) for i in remove} - set(known))
        if unknown:
            raise InputError(f"review of {run_id}/{unit}: --remove {unknown}: no such detection; expected one of "
                             f"the item's detections {known}" if known else
                             f"review of {run_id}/{unit}: --remove {unknown}: the item has no detections to undo")
    correction = {"add": [list(a) for a in add], "remove": list(remove)} if status == "corrected" else None
    when = _now()
    with ctx.store.transaction():
        db.set_review(ctx.store, run_id, unit, status=status, reviewer=actor.user, decided_at=when,
                      correction=correction, note=note)
        record_use(ctx, action="redact.review", actor=actor, purpose=purpose,
                   decision={"status": status, "reviewer": actor.user, "note": note},
                   detail={"run_id": run_id, "unit": unit, "n_added": len(add), "n_removed": len(remove)})
    return {"run_id": run_id, "unit": unit, "status": status, "reviewer": actor.user,
            "correction": correction}


def release_run(ctx: Context, run_id: str, *, actor: Actor, purpose: str | None = RESEARCH,
                src: Path | None = None, dst: Path | None = None) -> dict[str, Any]:
    """Release a reviewed run. Refused (and logged) while any item is pending or rejected.

    Text runs re-read the original ``src`` (its hash must match the run's input)
    and write ``dst`` with ``{"report_id", "redacted"}`` lines, the reviewers'
    corrections applied; no original text goes into the release file.
    """
    run = db.get_run(ctx.store, run_id)
    queue = db.review_queue(ctx.store, run_id)
    open_units = queue[queue["status"].isin(["pending", "rejected"])]["unit"].tolist()
    if open_units:
        refuse(ctx, action="redact.release", actor=actor, purpose=purpose,
               reason=f"run {run_id}: {len(open_units)} review item(s) pending or rejected "
                      f"(first: {open_units[:5]}); a person must confirm or correct each before release",
               detail={"run_id": run_id})
    out_sha = run.output_sha256
    out_item = None
    if run.kind == "text":
        if src is None or dst is None:
            raise InputError(f"release of text run {run_id}: needs the original file and an output path")
        in_sha, _ = sha256_file(Path(src))
        if in_sha != run.input_sha256:
            raise InputError(f"release of {run_id}: {src} has SHA-256 {in_sha}; the run redacted "
                             f"{run.input_sha256} ({run.input_name})")
        params = json.loads(run.params)
        red = TextRedactor(types=params.get("types"), ner="none", mode=params.get("mode", "placeholder"))
        log = db.run_log(ctx.store, run_id)
        fixes = {r["unit"]: json.loads(r["correction"]) for r in queue.to_dict("records")
                 if isinstance(r["correction"], str)}
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        with Path(dst).open("w", encoding="utf-8") as out:
            for rid, text in _read_jsonl(Path(src)):
                rows = log[log["unit"] == rid]
                fix = fixes.get(rid, {"add": [], "remove": []})
                spans = [PiiSpan(int(r["start_pos"]), int(r["end_pos"]), str(r["type"]), str(r["recogniser"]), 1.0)
                         for r in rows.to_dict("records") if int(r["idx"]) not in set(fix["remove"])]
                spans += [PiiSpan(int(a), int(b), str(t), "reviewer", 1.0) for a, b, t in fix["add"]]
                spans = _non_overlapping(spans, len(text))
                out.write(json.dumps({"report_id": rid, "redacted": red.redact(text, spans).text},
                                     ensure_ascii=False) + "\n")
        out_sha, _ = sha256_file(Path(dst))
        if run.source_item_id is not None:
            out_item = _media_derivative(ctx, Path(dst), db.get_item(ctx.store, run.source_item_id), run.tool,
                                         run.tool_version, json.loads(run.params), actor, purpose)
    with ctx.store.transaction():
        db.set_run_status(ctx.store, run_id, "released")
        seq = record_use(ctx, action="redact.release", actor=actor, purpose=purpose, data_hash=run.input_sha256,
                         output_hash=out_sha, detail={"run_id": run_id, "n_reviewed": len(queue),
                                                      "output_item_id": out_item.item_id if out_item else None})
    return {"run_id": run_id, "status": "released", "output_sha256": out_sha, "ledger_seq": seq,
            "output_item_id": out_item.item_id if out_item else run.output_item_id}


def _non_overlapping(spans: list[PiiSpan], n: int) -> list[PiiSpan]:
    for s in spans:
        if not 0 <= s.start < s.end <= n:
            raise InputError(f"redaction span {s.start}:{s.end}: outside the text of {n} characters")
    merged: list[PiiSpan] = []
    for s in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and s.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = PiiSpan(last.start, max(last.end, s.end), last.type, last.recogniser, 1.0)
        else:
            merged.append(s)
    return merged


# --------------------------------------------------------------------------- redaction through the service
#: What the service redacts, by the item's file name: narratives (JSONL), still images and video.
TEXT_SUFFIXES = (".jsonl",)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".avi", ".mp4", ".m4v", ".mov")


def redaction_dir(ctx: Context) -> Path:
    """Where the service keeps redaction working files: beside the evidence content, never served."""
    return evidence_dir(ctx) / "redaction"


def _verified_content(ctx: Context, item: EvidenceItem, *, action: str, actor: Actor,
                      purpose: str | None) -> Path:
    """The item's stored file, re-hashed first; refused (and logged) when it no longer matches intake."""
    store = _content(ctx)
    got = store.rehash(item.sha256)
    if got is None or got[0] != item.sha256:
        found = "missing" if got is None else f"hash {got[0]}"
        refuse(ctx, action=action, actor=actor, purpose=purpose, data_hash=item.sha256,
               reason=f"stored content of {item.item_id} is {found}",
               error=NotFoundError(f"evidence item {item.item_id}: stored content is {found}; expected hash "
                                   f"{item.sha256} (run 'crimelens evidence verify {item.case_id}')"))
    return store.path_for(item.sha256)


def redact_item(ctx: Context, item_id: str, *, actor: Actor, purpose: str | None = RESEARCH,
                mode: Literal["placeholder", "pseudonym"] = "placeholder",
                ner: Literal["auto", "spacy", "none"] = "auto", plates: bool = False,
                progress: Callable[[int, int], None] | None = None) -> RedactionRun:
    """Redact an evidence item in place in the store: a JSONL of narratives (every document queued for
    review), an image (faces blurred; the copy becomes the item's derivative, queued for review) or a
    video (faces blurred frame by frame into an MJPG AVI derivative; the first, last and every
    ``review_every``-th frame and the frames where detections change are queued for review;
    ``progress(frames done, frames)``).

    The stored content is re-hashed first. The text run's working file, which holds the original
    text beside the detections, stays in :func:`redaction_dir`; a reviewer reads one document at a
    time through :func:`review_unit`, and only :func:`release_item_run` makes a file to hand out.
    """
    item = db.get_item(ctx.store, item_id)
    name = item.original_name.lower()
    kind = ("text" if name.endswith(TEXT_SUFFIXES) else "image" if name.endswith(IMAGE_SUFFIXES)
            else "video" if name.endswith(VIDEO_SUFFIXES) else None)
    if kind is None:
        raise InputError(f"evidence item {item_id} ({item.original_name}): the service redacts narratives "
                         f"({', '.join(TEXT_SUFFIXES)}), images ({', '.join(IMAGE_SUFFIXES)}) and video "
                         f"({', '.join(VIDEO_SUFFIXES)})")
    authorize(ctx, action=f"redact.{kind}", actor=actor, purpose=purpose)
    src = _verified_content(ctx, item, action=f"redact.{kind}", actor=actor, purpose=purpose)
    work = redaction_dir(ctx)
    work.mkdir(parents=True, exist_ok=True)
    stem = Path(item.original_name).stem or item_id
    if kind == "text":
        dst = work / f"{item_id}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.review.jsonl"
        return redact_text_file(ctx, src, dst, actor=actor, purpose=purpose,
                                redactor=TextRedactor(mode=mode, ner=ner), case_id=item.case_id,
                                input_name=item.original_name)
    if kind == "video":
        stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
        # the frame log stays with the working files (its hash is in the ledger); the copy goes to the
        # content store as the item's derivative, named after the original
        with tempfile.TemporaryDirectory(prefix=f"{item_id}-", dir=work) as tmp:
            run, _ = redact_video_file(ctx, src, Path(tmp) / f"{stem}.redacted.avi", actor=actor, purpose=purpose,
                                       redactor=FaceRedactor(plates=plates), case_id=item.case_id,
                                       log_path=work / f"{item_id}-{stamp}.frames.jsonl", progress=progress,
                                       input_name=item.original_name)
        return run
    dst = work / f"{stem}.redacted.png"
    try:
        return redact_image_file(ctx, src, dst, actor=actor, purpose=purpose,
                                 redactor=FaceRedactor(plates=plates), case_id=item.case_id,
                                 input_name=item.original_name)
    finally:
        dst.unlink(missing_ok=True)  # the redacted copy now lives in the content store as a derivative


def list_redaction_runs(ctx: Context, *, actor: Actor, purpose: str | None = RESEARCH,
                        case_id: str | None = None) -> list[dict[str, Any]]:
    """Redaction runs, newest first, with their review counts (no text; checked and logged)."""
    authorize(ctx, action="redact.list", actor=actor, purpose=purpose)
    where, params = ("", []) if case_id is None else ("WHERE r.case_id = ?", [case_id])
    frame = ctx.store.query(
        "SELECT r.run_id, r.kind, r.input_name, r.case_id, r.source_item_id, r.output_item_id, r.status, "
        "r.n_units, r.n_detections, r.created_at, r.created_by, r.ledger_seq, "
        "count(v.unit) FILTER (WHERE v.status = 'pending') AS n_pending, "
        "count(v.unit) FILTER (WHERE v.status = 'rejected') AS n_rejected, count(v.unit) AS n_review "
        f"FROM redaction_runs r LEFT JOIN redaction_review v USING (run_id) {where} "
        "GROUP BY ALL ORDER BY r.created_at DESC, r.run_id DESC", params)
    rows = [{str(k): (None if v is None or (isinstance(v, float) and v != v) else
                      v.isoformat() if isinstance(v, datetime) else int(v) if str(k).startswith("n_") else v)
             for k, v in r.items()} for r in frame.to_dict("records")]
    record_use(ctx, action="redact.list", actor=actor, purpose=purpose, detail={"case_id": case_id, "n": len(rows)})
    return rows


def show_redaction_run(ctx: Context, run_id: str, *, actor: Actor,
                       purpose: str | None = RESEARCH) -> dict[str, Any]:
    """A run and its review queue: per unit the status, reviewer and detections (types and spans or
    boxes, never the text; checked and logged)."""
    authorize(ctx, action="redact.show", actor=actor, purpose=purpose)
    run = db.get_run(ctx.store, run_id)
    queue = review_queue(ctx, run_id)
    record_use(ctx, action="redact.show", actor=actor, purpose=purpose, output_hash=run.output_sha256,
               detail={"run_id": run_id})
    open_units = [q["unit"] for q in queue if q["status"] in ("pending", "rejected")]
    return {"ok": True, "run": run.to_json(), "queue": queue, "n_open": len(open_units),
            "releasable": run.status != "released" and not open_units}


def review_unit(ctx: Context, run_id: str, unit: str, *, actor: Actor,
                purpose: str | None = RESEARCH) -> dict[str, Any]:
    """One review item as its reviewer needs it: for a text run the original document and every
    detection's span; for an image run the redacted copy's item and the boxes. Reading the clear text
    is ``redact.inspect`` (staff), logged with the document's id."""
    authorize(ctx, action="redact.inspect", actor=actor, purpose=purpose)
    run = db.get_run(ctx.store, run_id)
    queue = review_queue(ctx, run_id, unit=unit)
    if not queue:
        raise NotFoundError(f"review item {unit!r}: not in redaction run {run_id} ({run.n_units} "
                            f"{'documents' if run.kind == 'text' else 'frames'}; GET /api/redactions/{run_id} lists them)")
    out: dict[str, Any] = {"ok": True, "run_id": run_id, "kind": run.kind, **queue[0]}
    if run.kind == "text":
        if run.source_item_id is None:
            raise InputError(f"redaction run {run_id} was made from a file outside the evidence store; review "
                             f"it with 'crimelens redact review {run_id}'")
        item = db.get_item(ctx.store, run.source_item_id)
        src = _verified_content(ctx, item, action="redact.inspect", actor=actor, purpose=purpose)
        text = dict(_read_jsonl(src)).get(unit)
        if text is None:
            raise NotFoundError(f"review item {unit!r}: not a report_id of {item.original_name}")
        out["text"] = text
        out["data_hash"] = _vhash(text)
    else:
        out["output_item_id"] = run.output_item_id
        if run.kind == "video":
            out["frame"] = int(unit)
    record_use(ctx, action="redact.inspect", actor=actor, purpose=purpose, data_hash=out.get("data_hash"),
               detail={"run_id": run_id, "unit": unit})
    return out


def review_frame(ctx: Context, run_id: str, unit: str, *, actor: Actor, purpose: str | None = RESEARCH) -> bytes:
    """One queued frame of a video run's redacted copy as PNG, for its reviewer: read from the copy in
    the content store (re-hashed first), never from the original. Logged as ``redact.inspect``."""
    import cv2

    authorize(ctx, action="redact.inspect", actor=actor, purpose=purpose)
    run = db.get_run(ctx.store, run_id)
    if run.kind != "video":
        raise InputError(f"redaction run {run_id} is a {run.kind} run; frames are for video runs "
                         f"(GET /api/redactions/{run_id}/units/{unit} gives the {run.kind} item)")
    if not review_queue(ctx, run_id, unit=unit):
        raise NotFoundError(f"review item {unit!r}: not a queued frame of redaction run {run_id} ({run.n_units} "
                            f"frames; GET /api/redactions/{run_id} lists the queued ones)")
    if run.output_item_id is None:
        raise InputError(f"redaction run {run_id} was made from a file outside the evidence store; its frames "
                         "are in the copy 'crimelens redact video' wrote")
    item = db.get_item(ctx.store, run.output_item_id)
    path = _verified_content(ctx, item, action="redact.inspect", actor=actor, purpose=purpose)
    cap = cv2.VideoCapture(str(path))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(unit))
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok:
        raise NotFoundError(f"redaction run {run_id}: frame {unit} cannot be read from the redacted copy "
                            f"{item.item_id} ({run.n_units} frames)")
    done, png = cv2.imencode(".png", frame)
    if not done:
        raise InputError(f"redaction run {run_id}: frame {unit} could not be encoded as PNG")
    data = png.tobytes()
    record_use(ctx, action="redact.inspect", actor=actor, purpose=purpose, data_hash=item.sha256,
               output_hash=hashlib.sha256(data).hexdigest(), detail={"run_id": run_id, "unit": unit, "frame": True})
    return data


def release_item_run(ctx: Context, run_id: str, *, actor: Actor, purpose: str | None = RESEARCH) -> dict[str, Any]:
    """Release a reviewed run made from an evidence item: for text, the release file (``report_id`` and
    ``redacted`` only, the reviewers' corrections applied) becomes a derivative item of the case."""
    run = db.get_run(ctx.store, run_id)
    if run.status == "released":
        raise InputError(f"redaction run {run_id}: already released (item {run.output_item_id})")
    if run.kind != "text":
        return release_run(ctx, run_id, actor=actor, purpose=purpose)
    if run.source_item_id is None:
        raise InputError(f"redaction run {run_id} was made from a file outside the evidence store; release it "
                         f"with 'crimelens redact release {run_id} --in ORIGINAL --out FILE'")
    item = db.get_item(ctx.store, run.source_item_id)
    src = _verified_content(ctx, item, action="redact.release", actor=actor, purpose=purpose)
    work = redaction_dir(ctx)
    work.mkdir(parents=True, exist_ok=True)
    dst = work / f"{Path(item.original_name).stem}.released.jsonl"
    try:
        return release_run(ctx, run_id, actor=actor, purpose=purpose, src=src, dst=dst)
    finally:
        dst.unlink(missing_ok=True)  # the release is in the content store as a derivative item
