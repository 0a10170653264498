"""The public annual report, recomputed from the ledger.

Modelled on San Francisco's Chapter 19B annual surveillance report and the CCOPS
model bill: what was deployed and who approved it, how it was used and for what,
what was shared with whom, how often people overrode it, complaints and
incidents, per-group accuracy from the model cards, and the signed ledger head
the figures were computed against. Every count is computed here from ledger
entries; nothing is read from a counter kept elsewhere, so an auditor who
re-runs the report on a verified ledger gets the same numbers.

**Tables the ledger does not protect.** ``ledger verify`` proves the ledger's entries,
not the store's other tables (``deployments``, ``deployment_events``, ``models``): an
operator can edit those and the ledger still verifies. So the deployments' state, their
timeline, their use policy and the floors each step applied are rebuilt here from the
ledger entries that made them (``deployments.create`` ... ``deployments.decommission``,
and the automatic suspension an ``incidents.report`` makes); the tables are only compared
with them, and every row where they disagree is listed in the report ("Where the store's
tables disagree with the ledger"). A model card's per-group figures are not in any ledger
entry: the service ties them to the ledger through the backtest that measured them (the
stored summary whose SHA-256 that backtest's entry recorded) where there is one, and the
report says next to the figures when it cannot.

**A ledger that fails verification.** The report is only as good as the ledger it counts. The
service verifies the ledger first (the check ``ledger verify`` makes) and passes the result in
(``verification``): it is recorded in the JSON (``ledger_verification``), and when it fails the
report opens with a statement naming the problem, saying that its figures come from entries that no
longer match the signed heads and cannot be relied on, and the table differences no longer say a
table was changed: the ledger itself fails, so either side may be the changed one.

**Every entry in one table.** Each ledger entry of the year is counted in exactly one table: model
uses, audits, reads (of outputs, data, cards, deployments, the ledger: ``*.list``, ``*.show``,
``ledger.head``, ``ledger.proof`` ...), other operations, governance actions (users, models and
cards, deployments' steps, votes, comments, review decisions, complaints, incidents, the kill
switch, exports, reports, sign-ins) or refused requests; ``entries.by_table`` sums to
``entries.total``. The sections on decisions, votes, complaints ... detail some of those entries.

**Refusal categories** are decided on structured facts, never on text a user typed: the
fixed wording of the refusal site (each reason is matched, from its start, against the
templates in :data:`_REFUSAL_TEMPLATES`, with every quoted value skipped as a value), then
the error class an entry records (``detail.error``). Before, the reason's words were
searched anywhere, so a purpose "check suspended licences" refused by the use policy was
published as "deployment not active".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2

from crimelens import errors
from crimelens.governance._ledger import LedgerEntry

__all__ = ["FIRST_REPORT_YEAR", "MODEL_USE_ACTIONS", "STATE_CHANGE_ACTIONS", "AnnualReport", "build_annual_report",
           "floors_record", "ledger_state_changes", "refusal_category", "render_pdf"]

FIRST_REPORT_YEAR = 2000  # the API takes years from here; no ledger entry can be older

_GOV = ("users.", "models.", "datasheets.", "deployments.", "killswitch.", "review.", "incidents.",
        "complaints.", "ledger.", "report.")

#: Actions that run a model to make an output: the report's "uses". (The API's ``MODEL_USE_ACTIONS``
#: are those an operational-only server refuses without a deployment; these add the backtest, risk
#: models, the near-repeat test and the redaction detectors, which run models too.)
MODEL_USE_ACTIONS = frozenset({
    "forecast.run", "forecast.backtest", "link.similar", "link.series", "link.train", "link.pairs",
    "nearrepeat.alert", "nearrepeat.knox", "feedback.simulate", "risk.fit", "risk.score",
    "redact.text", "redact.image", "redact.video",
})
#: Audits of models and their outputs (run by staff or oversight): listed apart from uses.
_AUDIT_ACTIONS = frozenset({"audit.fairness", "feedback.exposure"})
#: The last word of an action that reads what is stored (outputs, data, cards) without making anything.
_READ_VERBS = frozenset({"view", "list", "show", "status", "card", "inspect", "download", "verify", "head",
                         "proof"})
_ROLE_GROUPS = {"analyst": "staff", "supervisor": "staff", "admin": "staff", "auditor": "oversight",
                "board": "oversight", "public": "public"}

#: The actions that record a deployment's state change (or, for open_renewal and renew, an event that
#: keeps the state), each with ``detail.from``, ``detail.to`` and ``detail.reason``.
TRANSITION_ACTIONS = ("deployments.create", "deployments.open_comment", "deployments.start_review",
                      "deployments.close_review", "deployments.revise", "deployments.activate",
                      "deployments.suspend", "deployments.resume", "deployments.open_renewal",
                      "deployments.renew", "deployments.decommission")
#: ... and the incident report that suspends a deployment automatically (``detail.suspended``).
STATE_CHANGE_ACTIONS = (*TRANSITION_ACTIONS, "incidents.report")


@dataclass(frozen=True, slots=True)
class AnnualReport:
    year: int
    data: Mapping[str, Any]
    html: str


# refusals --------------------------------------------------------------------------------------------------
NOT_ACTIVE = "deployment not active"
NOT_PERMITTED = "not permitted for the role or user"
SCOPE = "purpose or scope outside the use policy"
NOT_FOUND = "not found"
OUT_OF_ORDER = "out of order (state or timing)"
INVALID = "invalid or incomplete request"
OTHER = "other"

#: A value a refusal quotes with Python's repr: a purpose, a name, a case id. Skipped as one token.
_Q = r"""(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""

#: (category, the fixed wording a refusal site's reason starts with), tried in order; each is matched
#: from the reason's first character, with ``_Q`` where the site quotes a value. A reason's free text
#: (a purpose, a suspension's reason, a file name) is inside a quoted value or after the words matched,
#: so it never decides the category.
_REFUSAL_TEMPLATES: tuple[tuple[str, str], ...] = (
    # the use gate: crimelens.services._context.check_use and deployment_problem
    (NOT_ACTIVE, r"the global kill switch is engaged since "),
    (NOT_ACTIVE, rf"deployment {_Q} is [a-z ]+ since "),
    (NOT_ACTIVE, rf"the approval of deployment {_Q} lapsed on "),
    (NOT_FOUND, rf"deployment {_Q} does not exist"),
    (NOT_ACTIVE, rf"the deployments table says {_Q} is active but (?:the ledger records no state change of {_Q}"
                 r"|the ledger's entry \d+ says [a-z ]+): "),
    (INVALID, r"no stated purpose; "),
    (NOT_PERMITTED, rf"the role {_Q} may not perform {_Q}"),
    (NOT_PERMITTED, rf"{_Q} is not a registered user"),
    (NOT_PERMITTED, rf"user {_Q} is disabled"),
    (NOT_PERMITTED, rf"user {_Q} is registered as {_Q}, not {_Q}"),
    (SCOPE, rf"purpose {_Q} is not allowed by the use policy of {_Q}"),
    (NOT_PERMITTED, rf"role {_Q} is not allowed by the use policy of {_Q}"),
    (SCOPE, rf"{_Q} is not on the sharing allow-list of {_Q}"),
    (SCOPE, rf"sharing with {_Q} needs a deployment whose use policy allows it"),
    (SCOPE, r"an actionable output needs an active deployment; got none"),
    (SCOPE, rf"deployment {_Q} approves "),
    (SCOPE, rf"(?:every [a-z_]+|[a-z_]+ {_Q}) is outside the use policy's "),
    (SCOPE, r"this server serves operational use only"),
    # governance services (crimelens.services.governance) and the state machine
    (INVALID, rf"deployment {_Q}: unknown transition "),
    (OUT_OF_ORDER, rf"deployment {_Q}: "),
    (OUT_OF_ORDER, rf"deployment {_Q} already exists"),
    (OUT_OF_ORDER, r"deployment is [a-z_]+, not "),
    (INVALID, r"empty (?:comment|complaint|response|description|deployment name)"),
    (INVALID, r"no reason given; "),
    (INVALID, rf"got (?:vote|kind|severity|decision) {_Q}; expected one of "),
    (INVALID, rf"unknown (?:role {_Q}|card sections \[|sections \[|questions \[)"),
    (INVALID, r"evaluation\['metrics'\] must map |evaluation has no metrics"),
    (INVALID, r"rm-[0-9a-f]{12} names a crimelens risk model"),
    (INVALID, r"the use policy names no allowed purpose"),
    (INVALID, r"an override must say what is decided instead"),
    (INVALID, r"unreadable export: "),
    (INVALID, r"the first user must be an administrator"),
    (INVALID, rf"user name {_Q} (?:is empty or contains|differs from the existing user)"),
    (OUT_OF_ORDER, rf"user {_Q} already exists"),
    (OUT_OF_ORDER, r"model .+ version .+ is already registered; register a new version$"),
    (NOT_FOUND, r"model .+ version .+ is not registered \(crimelens models register\)$"),
    (NOT_FOUND, rf"model {_Q}(?: version {_Q})?: not registered; "),
    (NOT_FOUND, rf"no (?:user|complaint) {_Q}$"),
    (NOT_FOUND, rf"review item {_Q}: not in the review queue"),
    # the ledger's proofs (crimelens.governance._ledger: inclusion_proof, consistency_proof)
    (INVALID, r"ledger proof: got (?:entry|old size|new size|tree size|size) "),
    (NOT_FOUND, r"signed head at tree size -?\d+: none was signed at that size"),
    (NOT_FOUND, r"ledger: empty, nothing to prove"),
    (NOT_FOUND, r"ledger: got \d+ stored entries; the proof needs "),
    (NOT_FOUND, r"ledger entries \[[0-9, ]*\] do not exist"),
    (NOT_FOUND, r"ledger entry \d+: not found"),
    (NOT_FOUND, r"the ledger is empty"),
    (NOT_PERMITTED, r"members of the public are not registered users"),
    (NOT_PERMITTED, rf"user {_Q} is the last active administrator"),
    (NOT_PERMITTED, r"an administrator cannot disable their own account"),
    (NOT_PERMITTED, r"malformed token$|unknown, revoked or disabled token [0-9a-f]+$"),
    (NOT_PERMITTED, r".+ produced this recommendation and may not review it$"),
    (NOT_PERMITTED, rf"board member {_Q} was registered at \S+, after review round \d+ opened at "),
    (OUT_OF_ORDER, r".+ has already decided on \S+; the second decision must be someone else's$"),
    (OUT_OF_ORDER, r"item \S+ is already [a-z]+$"),
    (OUT_OF_ORDER, r"already answered; an answer is not replaced"),
    (OUT_OF_ORDER, r"the card of .+ is the one the public commented on and the board reviewed for deployments "),
    (OUT_OF_ORDER, r"run \S+: \d+ review item\(s\) pending or rejected"),
)
_COMPILED = tuple((category, re.compile(pattern, re.DOTALL)) for category, pattern in _REFUSAL_TEMPLATES)


def _error_category(name: str | None) -> str | None:
    """The category of an error class recorded by name (``detail.error``), or None for one that says
    nothing about the kind of refusal (``ApprovalRequiredError`` covers several)."""
    if name == "RequestValidationError":
        return INVALID
    cls = getattr(errors, name or "", None)
    if not isinstance(cls, type):
        return None
    if issubclass(cls, errors.InputError):
        return INVALID
    if issubclass(cls, errors.NotFoundError):
        return NOT_FOUND
    if issubclass(cls, errors.PermissionDeniedError):
        return NOT_PERMITTED
    return None


def refusal_category(reason: str, *, action: str = "", detail: Mapping[str, Any] | None = None) -> str:
    """The generic category the public report gives a refusal (never its reason, which stays with staff).

    Decided on structured facts: the fixed wording a refusal site writes (each template of
    :data:`_REFUSAL_TEMPLATES` is matched from the reason's start, with quoted values skipped as
    values), then what the entry records (a review decision refused for its deployment's state,
    the error class in ``detail.error``); ``"other"`` when none applies. Words a user typed (a
    purpose, a case id, a suspension's reason) never decide it.

    >>> refusal_category("purpose 'check suspended licences' is not allowed by the use policy of 'hot'; "
    ...                  "allowed: ['patrol planning']")
    'purpose or scope outside the use policy'
    >>> refusal_category("deployment 'hot' is suspended since 2026-03-01 (purpose not allowed)")
    'deployment not active'
    >>> refusal_category("case 'SA-1 (victim Jane Doe)': no evidence items in the store '/srv/g.duckdb'",
    ...                  detail={"error": "NotFoundError"})
    'not found'
    """
    for category, pattern in _COMPILED:
        if pattern.match(reason):
            return category
    detail = detail or {}
    if action == "review.decide" and detail.get("deployment_state"):
        return NOT_ACTIVE
    return _error_category(str(detail.get("error") or "")) or OTHER


# the ledger's record of deployments ------------------------------------------------------------------------
def ledger_state_changes(history: Iterable[tuple[int, LedgerEntry]]) -> list[dict[str, Any]]:
    """Every deployment state change the ledger records, in ledger order, as ``deployments show``
    lists them: the completed entries of :data:`TRANSITION_ACTIONS` (``from``, ``to``, ``reason`` from
    their detail; ``open_renewal`` and ``renew`` keep the state) and each ``incidents.report`` that
    suspended its deployment. Each is ``seq, at, deployment, from, to, by_user, by_role, reason, action``."""
    out: list[dict[str, Any]] = []
    for seq, e in sorted(history, key=lambda x: x[0]):
        if e.outcome != "ok" or e.deployment is None or not isinstance(e.detail, Mapping):
            continue
        if e.action in TRANSITION_ACTIONS and e.detail.get("to") is not None:
            change = {"from": e.detail.get("from"), "to": str(e.detail["to"]), "reason": e.detail.get("reason")}
        elif e.action == "incidents.report" and e.detail.get("suspended") is True:
            change = {"from": "active", "to": "suspended",
                      "reason": (f"suspended automatically: {e.detail.get('severity')} {e.detail.get('kind')} "
                                 f"incident {e.detail.get('report_id')}")}
        else:
            continue
        out.append({"seq": seq, "at": e.at, "deployment": e.deployment, **change, "by_user": e.user,
                    "by_role": e.role, "action": e.action})
    return out


def _duration(seconds: float) -> str:
    """A comment period's length in words: "94 s", "3 h 5 min", "14 days 2 h"."""
    s = round(seconds)
    if s < 120:
        return f"{s} s"
    if s < 2 * 3600:
        return f"{s // 60} min"
    if s < 2 * 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} days {s % 86400 // 3600} h"


def floors_record(entries: Iterable[tuple[int, LedgerEntry]], *, policy: Mapping[str, Any] | None = None,
                  floor_days: int = 14, required: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What one deployment's ledger entries say about the floors its steps applied and how long its
    comment periods ran.

    ``entries`` are the deployment's entries (any; those of ``open_comment``, ``start_review``,
    ``close_review``, ``open_renewal`` and ``renew`` are read). Each ``start_review``,
    ``close_review`` and ``renew`` entry records the floors it applied (``detail.floors``:
    ``min_comment_days``, ``board_quorum``, ``board_members``, ``demo``). Returns ``policy``
    (the policy's own ``min_comment_days`` and ``board_quorum``), ``applied`` (one row per step),
    ``comment_periods`` (opened, closed, seconds, the floor applied), ``demo_lowered`` (whether
    any step ran under the demonstration setting) and ``note``, a sentence for the public record.
    ``required`` (optional: ``min_comment_days``, ``board_quorum``, ``board_members``, ``demo``) is
    what the next step requires now; given, it is returned too and the note says it (a record read
    before any review said only the comment floor, and its page printed the policy's quorum).
    """
    applied: list[dict[str, Any]] = []
    periods: list[dict[str, Any]] = []
    opened: dict[str, tuple[int, datetime]] = {}
    for seq, e in sorted(entries, key=lambda x: x[0]):
        if e.outcome != "ok" or not isinstance(e.detail, Mapping):
            continue
        step = e.action.removeprefix("deployments.")
        if step in ("open_comment", "open_renewal"):
            opened["public" if step == "open_comment" else "renewal"] = (seq, e.at)
        floors = e.detail.get("floors")
        if step in ("start_review", "close_review", "renew") and isinstance(floors, Mapping):
            applied.append({"seq": seq, "at": e.at.isoformat(timespec="seconds"), "step": step,
                            "min_comment_days": floors.get("min_comment_days"),
                            "board_quorum": floors.get("board_quorum"),
                            "board_members": floors.get("board_members"), "demo": bool(floors.get("demo")),
                            "to": e.detail.get("to")})
        kind = {"start_review": "public", "renew": "renewal"}.get(step)
        if kind is not None and kind in opened:
            open_seq, at = opened.pop(kind)
            periods.append({"stage": kind, "opened_seq": open_seq, "opened": at.isoformat(timespec="seconds"),
                            "closed_seq": seq, "closed": e.at.isoformat(timespec="seconds"),
                            "seconds": (e.at - at).total_seconds(), "ran": _duration((e.at - at).total_seconds()),
                            "floor_days": floors.get("min_comment_days") if isinstance(floors, Mapping) else None,
                            "demo": bool(isinstance(floors, Mapping) and floors.get("demo"))})
    demo = any(a["demo"] for a in applied)
    pol = {k: (policy or {}).get(k) for k in ("min_comment_days", "board_quorum")}
    if demo:
        eased = [a for a in applied if a["demo"]]
        ran = "".join(f" The {p['stage']} comment period ran {p['ran']} (entries {p['opened_seq']} to {p['closed_seq']})."
                      for p in periods if p["demo"])
        approved = [a["seq"] for a in eased if (a["step"], a["to"]) == ("close_review", "approved") or a["step"] == "renew"]
        rejected = [a["seq"] for a in eased if (a["step"], a["to"]) == ("close_review", "rejected")]
        if approved:
            outcome = (f" Its approval (entr{'y' if len(approved) == 1 else 'ies'} "
                       f"{', '.join(map(str, approved))}) was given as a demonstration, not under the agency's rules.")
        elif rejected:
            outcome = (f" The board's rejection (entr{'y' if len(rejected) == 1 else 'ies'} "
                       f"{', '.join(map(str, rejected))}) was reached under these lowered floors.")
        else:
            outcome = " An approval reached under these floors would be a demonstration, not one under the agency's rules."
        note = (f"The demonstration setting (CRIMELENS_GOVERNANCE_DEMO) lowered the floors for this deployment: its "
                f"steps required {min(int(a['min_comment_days'] or 0) for a in eased)} days of public comment (the "
                f"rules require at least {floor_days}) and a quorum of "
                f"{_votes(min(int(a['board_quorum'] or 0) for a in eased))} with no floor of a board majority "
                f"(entries {', '.join(str(a['seq']) for a in eased)}).{ran}{outcome}")
    elif required is not None:
        note = _required_note(required, pol, floor_days)
    elif applied:
        last = applied[-1]
        note = (f"Public comment: at least {last['min_comment_days']} days (the policy says "
                f"{pol['min_comment_days']}; never fewer than {floor_days}); board quorum {last['board_quorum']} "
                f"of {last['board_members']} members.")
    else:
        days = max(int(pol["min_comment_days"] or 0), floor_days)
        note = (f"Public comment: at least {days} days (the policy says {pol['min_comment_days']}; never fewer "
                f"than {floor_days}).")
    out = {"policy": pol, "floor_days": floor_days, "applied": applied, "comment_periods": periods,
           "demo_lowered": demo, "note": note}
    if required is not None:
        out["required"] = dict(required)
    return out


def _votes(n: int) -> str:
    """``n`` votes in words.

    >>> _votes(1), _votes(2)
    ('1 vote', '2 votes')
    """
    return f"{n} vote{'' if n == 1 else 's'}"


def _required_note(required: Mapping[str, Any], pol: Mapping[str, Any], floor_days: int) -> str:
    """What the next step of a deployment requires now, beside its policy's figures.

    >>> _required_note({"min_comment_days": 14, "board_quorum": 2, "board_members": 3, "demo": False},
    ...                {"min_comment_days": 0, "board_quorum": 1}, 14)
    'Public comment: at least 14 days (the policy says 0; never fewer than 14); board quorum: 2 votes of 3 board members (the policy says 1; never fewer than a majority of the board).'
    """
    days, quorum, members = required["min_comment_days"], int(required["board_quorum"]), required["board_members"]
    if required.get("demo"):
        return (f"Public comment: at least {days} days and board quorum: {_votes(quorum)}, lowered by the "
                f"demonstration setting (CRIMELENS_GOVERNANCE_DEMO; the rules require at least {floor_days} days "
                "and a majority of the board). An approval reached under it is a demonstration, not one under the "
                "agency's rules.")
    return (f"Public comment: at least {days} days (the policy says {pol['min_comment_days']}; never fewer than "
            f"{floor_days}); board quorum: {_votes(quorum)} of {members} board member{'' if members == 1 else 's'} "
            f"(the policy says {pol['board_quorum']}; never fewer than a majority of the board).")


def _ledger_deployments(history: Sequence[tuple[int, LedgerEntry]],
                        changes: Sequence[Mapping[str, Any]], floor_days: int) -> dict[str, dict[str, Any]]:
    """Each deployment as its ledger entries describe it: model, version, policy (from
    ``deployments.create``), state and since when (the last change), approval (from the
    ``close_review`` that approved it and each ``renew``: the entry's time plus the policy's
    ``approval_days``), and the floors its steps applied (:func:`floors_record`)."""
    out: dict[str, dict[str, Any]] = {}
    by_dep: dict[str, list[tuple[int, LedgerEntry]]] = {}
    for seq, e in history:
        if e.deployment is not None:
            by_dep.setdefault(e.deployment, []).append((seq, e))
    entries = dict(history)
    for c in changes:
        name = str(c["deployment"])
        e = entries[int(c["seq"])]
        d = out.setdefault(name, {"name": name, "model": None, "model_version": None, "policy": {},
                                  "state": None, "since": None, "approved_until": None, "created_seq": None})
        if c["action"] == "deployments.create":
            policy = e.detail.get("policy")
            d.update(model=e.model, model_version=e.model_version, created_seq=int(c["seq"]),
                     policy=dict(policy) if isinstance(policy, Mapping) else {})
        if c["to"] != d["state"]:
            d["since"] = c["at"]
        d["state"] = c["to"]
        days = d["policy"].get("approval_days", 365)
        if (c["action"] == "deployments.close_review" and c["to"] == "approved") or c["action"] == "deployments.renew":
            d["approved_until"] = c["at"] + timedelta(days=int(days))
    for name, d in out.items():
        d["floors"] = floors_record(by_dep.get(name, []), policy=d["policy"], floor_days=floor_days)
    return out


def _when(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return str(value)


def _as_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value)) if value is not None else None
    except ValueError:
        return None


def _table_differences(ledger_deps: Mapping[str, Mapping[str, Any]], changes: Sequence[Mapping[str, Any]],
                       table_deps: Sequence[Mapping[str, Any]],
                       table_events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every row of ``deployments`` and ``deployment_events`` that disagrees with the ledger."""
    diffs: list[dict[str, Any]] = []

    def differ(table: str, row: str, column: str, stored: Any, ledger: Any) -> None:
        diffs.append({"table": table, "row": row, "column": column,
                      "table_value": "—" if stored is None else str(stored),
                      "ledger_value": "—" if ledger is None else str(ledger)})

    stored_deps = {str(r["name"]): r for r in table_deps}
    for name in sorted(set(stored_deps) | set(ledger_deps)):
        row, led = stored_deps.get(name), ledger_deps.get(name)
        if row is None:
            differ("deployments", name, "(row)", "missing", f"recorded from entry {led['created_seq']}"
                   if led and led.get("created_seq") is not None else "recorded")
            continue
        if led is None:
            differ("deployments", name, "(row)", "present", "no entry records this deployment")
            continue
        for column in ("state", "model", "model_version"):
            if led.get(column) is not None and str(row.get(column)) != str(led[column]):
                differ("deployments", name, column, row.get(column), led[column])
        stored_until, ledger_until = _as_time(row.get("approved_until")), led.get("approved_until")
        if (stored_until is None) != (ledger_until is None) or (
                stored_until is not None and ledger_until is not None
                and abs((stored_until - ledger_until).total_seconds()) > 60):
            differ("deployments", name, "approved_until", _when(stored_until), _when(ledger_until))
    by_seq = {int(c["seq"]): c for c in changes}
    seen: set[int] = set()
    for ev in sorted(table_events, key=lambda r: int(r.get("ledger_seq") or -1)):
        seq = int(ev.get("ledger_seq") or -1)
        key = f"{ev.get('deployment')}, entry {seq}"
        c = by_seq.get(seq)
        if c is None or str(c["deployment"]) != str(ev.get("deployment")):
            differ("deployment_events", key, "(row)", f"{ev.get('from_state') or '—'} → {ev.get('to_state')}",
                   "no entry records this change")
            continue
        seen.add(seq)
        for column, ledger_key in (("from_state", "from"), ("to_state", "to"), ("by_user", "by_user"),
                                   ("by_role", "by_role"), ("reason", "reason")):
            if (ev.get(column) or None) != (c.get(ledger_key) or None):
                differ("deployment_events", key, column, ev.get(column), c.get(ledger_key))
    for seq, c in sorted(by_seq.items()):
        if seq not in seen:
            differ("deployment_events", f"{c['deployment']}, entry {seq}", "(row)", "missing",
                   f"{c['from'] or '—'} → {c['to']} ({c['action']})")
    return diffs


def _figures_differences(card: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The per-group figures where the model registry's card and the ledger-tied record differ."""
    stored, ledger = card.get("stored") or {}, card.get("ledger")
    if ledger is None:
        return []
    out: list[dict[str, Any]] = []
    row_name = f"{card.get('model')} {card.get('version')}"
    for factor in sorted(set(stored) | set(ledger)):
        s_groups, l_groups = stored.get(factor) or {}, ledger.get(factor) or {}
        for group in sorted(set(s_groups) | set(l_groups)):
            s_vals, l_vals = s_groups.get(group) or {}, l_groups.get(group) or {}
            for metric in sorted(set(s_vals) | set(l_vals)):
                a, b = s_vals.get(metric), l_vals.get(metric)
                same = (a is None and b is None) or (
                    isinstance(a, int | float) and isinstance(b, int | float) and math.isclose(a, b, rel_tol=1e-9))
                if not same:
                    out.append({"table": "models (evaluation)", "row": row_name,
                                "column": f"{factor} / {group} / {metric}", "table_value": _fig(a, metric),
                                "ledger_value": _fig(b, metric)})
    return out


def _card_text_differences(card_texts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each model whose stored card text (``models.card_text``) does not hash to the ``text_sha256`` that
    the last ledger entry recording it (``models.describe``, or ``models.register`` for a card given at
    registration) holds. Each item of ``card_texts``: ``model``, ``version``, ``seq`` and ``action`` of that
    entry, ``ledger_sha256`` and ``table_sha256`` (None when the model's row is gone)."""
    out: list[dict[str, Any]] = []
    for c in sorted(card_texts, key=lambda c: (str(c["model"]), str(c["version"]))):
        stored, recorded = c.get("table_sha256"), str(c["ledger_sha256"])
        if stored == recorded:
            continue
        out.append({"table": "models", "row": f"{c['model']} {c['version']}",
                    "column": "card_text" if stored is not None else "(row)",
                    "table_value": f"SHA-256 {stored[:16]}…" if stored is not None else "missing",
                    "ledger_value": f"SHA-256 {recorded[:16]}… (entry {c['seq']}, {c['action']})"})
    return out


def _verification_statement(verification: Mapping[str, Any] | None) -> str | None:
    """The statement the report opens with when its ledger fails verification (None when it verifies).

    >>> _verification_statement({"ok": False, "n_entries": 67, "problem": "entry 62 is missing"})[:60]
    'The ledger fails verification: entry 62 is missing. The figu'
    """
    if verification is None or verification.get("ok"):
        return None
    return (f"The ledger fails verification: {verification.get('problem') or 'no reason given'}. The figures in "
            "this report are counted from ledger entries that no longer match the ledger's signed heads, so they "
            "cannot be relied on: an entry may have been changed, removed or added after it was signed. Where the "
            "store's tables disagree with the ledger, either may be the changed side. Check an export or backup "
            "made earlier (crimelens ledger verify --export FILE --public-key HEX) and ask the agency what "
            "happened.")


# uses and reads --------------------------------------------------------------------------------------------
def _is_use(action: str) -> bool:
    return not action.startswith(_GOV)


def _role_group(role: str) -> str:
    return _ROLE_GROUPS.get(role, role or "unknown")


def _state_history(state_changes: Sequence[Mapping[str, Any]],
                   kill_switch_history: Sequence[tuple[int, bool]]) -> Callable[[str | None, int], str | None]:
    """``state_at(deployment, seq)``: the state the deployment was in when entry ``seq`` was written
    (the last change logged before it), ``"kill switch"`` while the global kill switch was engaged,
    or None when nothing is known (no deployment, or no change logged before ``seq``)."""
    by_dep: dict[str, list[tuple[int, str]]] = {}
    for change in sorted(state_changes, key=lambda c: int(c["seq"])):
        by_dep.setdefault(str(change["deployment"]), []).append((int(change["seq"]), str(change["to"])))
    switches = sorted(kill_switch_history)

    def state_at(deployment: str | None, seq: int) -> str | None:
        if deployment is None:
            return None
        engaged = [on for s, on in switches if s < seq]
        if engaged and engaged[-1]:
            return "kill switch"
        before = [state for s, state in by_dep.get(deployment, []) if s < seq]
        return before[-1] if before else None

    return state_at


def _public_purpose(entry: LedgerEntry, allowed: Mapping[str, frozenset[str]]) -> str:
    """A use's purpose as the public report prints it: a purpose of the deployment's published policy
    as is; any other (research uses type theirs freely) as a category, since it is free text."""
    if entry.deployment is not None and entry.purpose in allowed.get(entry.deployment, frozenset()):
        return entry.purpose
    return "other purpose (free text, withheld)" if entry.purpose else "none given"


# figures ---------------------------------------------------------------------------------------------------
_METRIC = re.compile(r"^(hit_rate|pai|pei|pai_ratio_to_naive)_([0-9.]+)(_low|_high)?$")
_METRIC_WORDS = {
    "hit_rate": "share of the group's recorded test incidents inside the {pct} of cells the forecast flags",
    "pai": "predictive accuracy index: hit rate divided by the share of area flagged ({pct} of cells)",
    "pei": "predictive efficiency index: hit rate as a share of the best possible with {pct} of cells",
    "pai_ratio_to_naive": "PAI ({pct} of cells) divided by the naive count forecast's PAI",
}
_COUNT_WORDS = {"n": "the group's recorded test incidents scored (in the study area)",
                "n_recorded": "the group's recorded test incidents",
                "n_outside": "the group's recorded test incidents outside the study area (not scored)"}


def _fig(value: Any, metric: str = "") -> str:
    """A figure as the report prints it: counts as integers, other numbers to 3 significant figures,
    nothing as "—", booleans as yes/no."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float) and not (isinstance(value, float) and not math.isfinite(value)):
        if metric == "n" or metric.startswith("n_") or isinstance(value, int):
            return f"{round(value):,}"
        if value == 0:
            return "0"
        text = f"{value:.3g}"
        return f"{value:,.0f}" if "e+" in text else (f"{value:.2e}" if "e-" in text else text)
    return str(value)


def _metric_explained(metric: str) -> str:
    m = _METRIC.match(metric)
    if m is None:
        return _COUNT_WORDS.get(metric, metric)
    base, coverage, bound = m.groups()
    pct = f"{float(coverage) * 100:g} %"
    words = _METRIC_WORDS[base].format(pct=pct)
    return words + {"_low": " — lower end of its 95 % interval", "_high": " — upper end of its 95 % interval",
                    None: ""}[bound]


def _figure_table(factors: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Per factor: the metric columns (in the card's order), their explanations and each group's row."""
    out = []
    for factor, groups in factors.items():
        names: list[str] = []
        for vals in groups.values():
            names += [str(m) for m in vals if str(m) not in names]
        out.append({"factor": factor, "columns": names,
                    "explained": [{"column": n, "meaning": _metric_explained(n)} for n in names],
                    "rows": [{"group": g, "cells": [_fig(vals.get(n), n) for n in names]} for g, vals in groups.items()]})
    return out


def build_annual_report(
    year: int,
    entries: Sequence[tuple[int, LedgerEntry]],
    *,
    history: Sequence[tuple[int, LedgerEntry]],
    deployments: Sequence[Mapping[str, Any]],
    state_changes: Sequence[Mapping[str, Any]],
    cards: Sequence[Mapping[str, Any]],
    head: Mapping[str, Any] | None,
    generated_at: datetime,
    kill_switch_history: Sequence[tuple[int, bool]] = (),
    floor_days: int = 14,
    verification: Mapping[str, Any] | None = None,
    card_texts: Sequence[Mapping[str, Any]] = (),
) -> AnnualReport:
    """Compute the report's figures from the year's ledger entries and render them.

    ``history`` is every entry of the whole ledger (to now) of :data:`STATE_CHANGE_ACTIONS` (and
    any other entry of the deployments, for :func:`floors_record`): the deployments' model,
    policy, state, approval and timeline are rebuilt from it (:func:`ledger_state_changes`); a
    change logged by one of ``entries`` is in the year's timeline, in ledger order, with the
    action that logged it. ``deployments`` (rows of the ``deployments`` table) and
    ``state_changes`` (``deployment_events`` rows, with ``deployment``) are the store's tables,
    which the ledger does not protect: they are only compared with the ledger, and every row that
    disagrees is listed (``table_differences``).

    ``cards`` has one mapping per deployment: ``deployment``, ``model``, ``version``, ``stored``
    (the registry card's per-group figures, factor -> group -> metric -> value), ``ledger`` (the
    same figures from a record whose hash a ledger entry holds, or None when there is none) and
    ``source`` (where those come from, or why there are none). The report prints the ledger's
    figures where there are some, and says next to the others that they are not tied to it.

    ``kill_switch_history`` is every completed ``killswitch.*`` entry of the whole ledger as
    ``(seq, engaged)``. With the state changes it gives the state each review decision was taken
    in: decisions taken while their deployment was not active (suspended, decommissioned, ...) or
    the global kill switch was engaged are listed apart (``review_while_not_active``; since such
    accepts and overrides are refused, these come from ledgers written before the refusal existed),
    and accepts and overrides refused for that reason are counted (``review_refused_not_active``).
    Model uses (:data:`MODEL_USE_ACTIONS`) made under a deployment that the ledger's entries say was not
    active then (or that no entry created) are listed the same way (``uses_while_not_active``): crimelens
    refuses them, so each means a table was changed (a ``deployments.state`` set to active by hand) or
    a use was logged outside the use gate.

    ``verification`` is what ``ledger verify`` found (``ok``, ``n_entries``, ``first_bad``, ``problem``):
    recorded as ``ledger_verification``; when it failed, the report opens with a statement naming the
    problem (``warning``) and the table differences do not say which side changed. ``card_texts`` (see
    :func:`_card_text_differences`) compare each card's stored text with the hash its ledger entry recorded.

    Every entry of ``entries`` is counted in exactly one table (``entries.by_table``: ``model_uses``,
    ``audits``, ``reads``, ``other_operations``, ``governance_actions``, ``refused``), which sum to
    ``entries.total``.
    """
    changes = ledger_state_changes(history)
    ledger_deps = _ledger_deployments(history, changes, floor_days)
    allowed_purposes = {name: frozenset(str(p) for p in d["policy"].get("allowed_purposes") or ())
                        for name, d in ledger_deps.items()}
    uses: Counter[tuple[str, str, str]] = Counter()
    reads: Counter[tuple[str, str]] = Counter()
    audits: Counter[tuple[str, str]] = Counter()
    other_ops: Counter[tuple[str, str]] = Counter()
    governance_ops: Counter[tuple[str, str]] = Counter()
    refusals: Counter[tuple[str, str]] = Counter()
    uses_inactive: list[dict[str, Any]] = []
    ledger_exports = 0
    answered: set[str] = set()
    effective_votes: dict[tuple[str, int, str], dict[str, Any]] = {}
    n_votes_cast = 0
    refusal_actions: Counter[str] = Counter()
    sharing: Counter[tuple[str, str]] = Counter()
    decisions: Counter[str] = Counter()
    # per deployment: each supervisor's decision, and each output decided for good (under the two-person
    # rule an output takes two agreeing decisions, so "accept 4" can be 2 accepted outputs)
    by_dep_decisions: dict[str, Counter[str]] = {}
    by_dep_final: dict[str, Counter[str]] = {}
    overrides_by_dep: Counter[str] = Counter()
    incidents: list[dict[str, Any]] = []
    complaints_filed: Counter[str] = Counter()
    kill_switch: list[dict[str, Any]] = []
    comments: Counter[tuple[str, str]] = Counter()
    refused_inactive: Counter[str] = Counter()
    review_inactive: list[dict[str, Any]] = []
    board_added: list[dict[str, Any]] = []
    state_at = _state_history(changes, kill_switch_history)
    n_ok = n_refused = 0
    for seq, e in entries:
        detail = e.detail if isinstance(e.detail, Mapping) else {}
        if e.outcome == "refused":
            n_refused += 1
            refusals[(e.action, refusal_category(str(detail.get("reason", "")), action=e.action,
                                                 detail=detail))] += 1
            refusal_actions[e.action] += 1
            if e.action == "review.decide" and detail.get("deployment_state"):
                refused_inactive[str(detail.get("decision"))] += 1
            continue
        n_ok += 1
        a = e.action
        if a == "users.add" and detail.get("role") == "board":
            # an administrator registers board members: who joined the board, when and by whom is public
            board_added.append({"seq": seq, "at": e.at.isoformat(timespec="seconds"), "name": detail.get("name"),
                                "by": e.user})
        # every completed entry lands in exactly one table: a model use, an audit, a read, another operation
        # or a governance action (the sections below detail some of the governance actions)
        if _is_use(a) and a in MODEL_USE_ACTIONS:
            uses[(e.deployment or "research (no deployment)", _public_purpose(e, allowed_purposes), a)] += 1
            if e.deployment is not None:
                state = state_at(e.deployment, seq) if e.deployment in ledger_deps else "not created in the ledger"
                if state is not None and state != "active":
                    uses_inactive.append({"seq": seq, "at": e.at.isoformat(timespec="seconds"),
                                          "deployment": e.deployment, "action": a, "by": e.user, "state": state})
        elif _is_use(a) and a in _AUDIT_ACTIONS:
            audits[(_role_group(e.role), a)] += 1
        elif a.rsplit(".", 1)[-1] in _READ_VERBS:
            reads[(_role_group(e.role), a)] += 1
        elif _is_use(a):
            other_ops[(_role_group(e.role), a)] += 1
        else:
            governance_ops[(_role_group(e.role), a)] += 1
        if _is_use(a):
            recipient = detail.get("recipient")
            if recipient or a.endswith((".share", ".export")):  # outputs leaving crimelens
                sharing[(e.deployment or "-", str(recipient or "unspecified"))] += 1
        elif a == "ledger.export":
            ledger_exports += 1  # the audit trail itself, for oversight: not a sharing of outputs
        if a == "review.decide" and e.decision:
            decisions[str(e.decision.get("decision"))] += 1
            by_dep_decisions.setdefault(e.deployment or "-", Counter())[str(e.decision.get("decision"))] += 1
            if e.decision.get("final"):
                by_dep_final.setdefault(e.deployment or "-", Counter())[str(e.decision.get("decision"))] += 1
            if e.decision.get("decision") == "override":
                overrides_by_dep[e.deployment or "-"] += 1
            state = state_at(e.deployment, seq)
            # a rejection makes nothing actionable: it is allowed in any state, so it is not listed here
            if state is not None and state != "active" and e.decision.get("decision") != "reject":
                review_inactive.append({"seq": seq, "at": e.at.isoformat(timespec="seconds"),
                                        "deployment": e.deployment, "item_id": e.decision.get("item_id"),
                                        "decision": e.decision.get("decision"), "by": e.user, "state": state})
        elif a == "deployments.comment":
            comments[(e.deployment or "-", str(detail.get("stage", "public")))] += 1
        elif a == "deployments.board_comment":
            comments[(e.deployment or "-", "board")] += 1
        elif a == "deployments.vote" and e.decision:
            # a later vote by the same member in the same review round replaces theirs (as close_review counts)
            n_votes_cast += 1
            key = (e.deployment or "-", int(e.decision.get("round") or 0), e.user)
            effective_votes.pop(key, None)
            effective_votes[key] = {"seq": seq, "deployment": e.deployment, "round": key[1], "voter": e.user,
                                    "vote": e.decision.get("vote")}
        elif a == "incidents.report":
            incidents.append({"seq": seq, "at": e.at.isoformat(timespec="seconds"), "deployment": e.deployment,
                              "kind": detail.get("kind"), "severity": detail.get("severity"),
                              "suspended": detail.get("suspended")})
        elif a == "complaints.file":
            complaints_filed[e.deployment or "-"] += 1
        elif a == "complaints.respond":
            answered.add(str(detail.get("complaint_id")))  # complaints answered, not answers written
        elif a in ("killswitch.engage", "killswitch.release"):
            kill_switch.append({"seq": seq, "at": e.at.isoformat(timespec="seconds"), "action": a,
                                "by": e.user, "reason": detail.get("reason")})
    in_year = {seq for seq, e in entries if e.outcome == "ok"}
    events = [{"seq": c["seq"], "at": c["at"].isoformat(timespec="seconds"), "deployment": c["deployment"],
               "from": c["from"], "to": c["to"], "by": f"{c['by_user']} ({c['by_role']})", "reason": c["reason"],
               "action": c["action"]} for c in changes if c["seq"] in in_year]
    differences = _table_differences(ledger_deps, changes, deployments, state_changes)
    differences += _card_text_differences(card_texts)
    figures = []
    for card in cards:
        tied = card.get("ledger") is not None
        differences += [*card.get("differences", ()), *_figures_differences(card)]
        factors: Mapping[str, Any] = (card.get("ledger") if tied else card.get("stored")) or {}
        figures.append({"deployment": card.get("deployment"), "model": card.get("model"),
                        "version": card.get("version"), "tied_to_ledger": tied, "source": card.get("source"),
                        "factors": factors, "tables": _figure_table(factors)})
    year_end = datetime(year + 1, 1, 1, tzinfo=UTC)
    complete = generated_at >= year_end
    dep_rows = [{"name": d["name"], "model": d["model"], "model_version": d["model_version"], "state": d["state"],
                 "since": _when(d["since"]), "approved_until": _when(d["approved_until"]),
                 "created_seq": d["created_seq"], "floors": d["floors"]}
                for d in sorted(ledger_deps.values(), key=lambda d: d["name"])]
    by_table = {"model_uses": sum(uses.values()), "audits": sum(audits.values()), "reads": sum(reads.values()),
                "other_operations": sum(other_ops.values()), "governance_actions": sum(governance_ops.values()),
                "refused": sum(refusals.values())}
    verified = None if verification is None else {
        "ok": bool(verification.get("ok")), "n_entries": verification.get("n_entries"),
        "first_bad": verification.get("first_bad"), "problem": verification.get("problem")}
    data: dict[str, Any] = {
        "year": year,
        # first, where a reader of the JSON looks: None, or why the figures below cannot be relied on
        "warning": _verification_statement(verified),
        "ledger_verification": verified,
        "generated_at": generated_at.isoformat(timespec="seconds"),
        # a report of the current year runs to the moment it was made; it says so
        "covers": {"start": f"{year}-01-01", "end": (year_end - timedelta(days=1)).date().isoformat() if complete
                   else generated_at.isoformat(timespec="seconds"), "complete": complete},
        "entries": {"total": len(entries), "ok": n_ok, "refused": n_refused, "by_table": by_table},
        "deployments": dep_rows,
        "demo_floors": sorted(d["name"] for d in dep_rows if d["floors"]["demo_lowered"]),
        "deployment_events": events,
        "table_differences": differences,
        "votes": sorted(effective_votes.values(), key=lambda v: int(v["seq"])),
        "votes_cast": n_votes_cast,
        "comments": [{"deployment": d, "public": comments[(d, "public")], "renewal": comments[(d, "renewal")],
                      "board": comments[(d, "board")]} for d in sorted({d for d, _ in comments})],
        "uses": [{"deployment": d, "purpose": p, "action": a, "n": n} for (d, p, a), n in sorted(uses.items())],
        "audits": [{"by": r, "action": a, "n": n} for (r, a), n in sorted(audits.items())],
        "reads": [{"by": r, "action": a, "n": n} for (r, a), n in sorted(reads.items())],
        "other_operations": [{"by": r, "action": a, "n": n} for (r, a), n in sorted(other_ops.items())],
        "governance_actions": [{"by": r, "action": a, "n": n} for (r, a), n in sorted(governance_ops.items())],
        "uses_while_not_active": uses_inactive,
        "refusals": [{"action": a, "category": c, "n": n} for (a, c), n in sorted(refusals.items())],
        "refusals_by_action": dict(sorted(refusal_actions.items())),
        "sharing": [{"deployment": d, "recipient": r, "n": n} for (d, r), n in sorted(sharing.items())],
        "ledger_exports": ledger_exports,
        "review_decisions": dict(sorted(decisions.items())),
        "overrides_by_deployment": dict(sorted(overrides_by_dep.items())),
        "board_members_registered": board_added,
        "review_by_deployment": [
            {"deployment": dep, "decisions": dict(sorted(by_dep_decisions[dep].items())),
             "outputs_decided": dict(sorted(by_dep_final.get(dep, Counter()).items()))}
            for dep in sorted(by_dep_decisions)],
        "review_while_not_active": review_inactive,
        "review_while_not_active_by_decision": dict(sorted(Counter(str(r["decision"]) for r in review_inactive).items())),
        "review_refused_not_active": dict(sorted(refused_inactive.items())),
        "complaints": {"filed": sum(complaints_filed.values()), "by_deployment": dict(complaints_filed),
                       "answered": len(answered)},
        "incidents": incidents,
        "kill_switch": kill_switch,
        "group_metrics": figures,
        "ledger_head": dict(head) if head else None,
    }
    return AnnualReport(year, data, _TEMPLATE.render(d=data, fig=_fig))


_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_TEMPLATE = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>crimelens annual report {{ d.year }}</title>
<style>body{font-family:system-ui,sans-serif;max-width:64rem;margin:2rem auto;line-height:1.45}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #999;padding:.2rem .5rem;text-align:left}
td.num{text-align:right}code{word-break:break-all}.warn{border-left:4px solid #b00;padding:.3rem .6rem;background:#fff4f4}
.alarm{border:3px solid #b00;padding:.3rem .8rem;background:#fff0f0;margin:1rem 0}</style></head><body>
<h1>Annual report {{ d.year }}</h1>
{% if d.warning %}<div class="alarm" id="ledger-fails"><h2>Warning: the ledger fails verification</h2>
<p><b>{{ d.warning }}</b></p></div>
{% elif d.ledger_verification %}<p>The ledger verifies: {{ fig(d.ledger_verification.n_entries) }} entries, checked
against its signed heads when this report was generated.</p>{% else %}<p class="warn">The ledger was not verified
for this report.</p>{% endif %}
<p>Generated {{ d.generated_at }} from the usage ledger. The figures below are counted from ledger entries, and
the deployments' states, timelines and use policies are rebuilt from the entries that made them; anyone with
the ledger can recompute them (<code>crimelens report annual --year {{ d.year }}</code>) after verifying it
(<code>crimelens ledger verify</code>). The ledger does not protect the store's other tables: where one of them
disagrees with the ledger, this report uses the ledger's figure and lists the rows in "Where the store's tables
disagree with the ledger". A figure that cannot be tied to the ledger says so where it is printed.</p>
<p>Covers {{ d.covers.start }} to {{ d.covers.end }}{% if not d.covers.complete %}: the year is not over,
so every figure runs to the moment this report was generated{% endif %}.</p>
<p>Ledger entries in {{ d.year }}: {{ d.entries.total }} ({{ d.entries.ok }} completed, {{ d.entries.refused }} refused).
Each is counted in exactly one of the tables "Model uses by purpose" ({{ d.entries.by_table.model_uses }}), "Audits of
the models" ({{ d.entries.by_table.audits }}), "Reads" ({{ d.entries.by_table.reads }}), "Other operations"
({{ d.entries.by_table.other_operations }}), "Governance actions" ({{ d.entries.by_table.governance_actions }}) and
"Refused requests" ({{ d.entries.by_table.refused }}), which add up to {{ d.entries.by_table.values() | sum }}.</p>

<h2 id="table-differences">Where the store's tables disagree with the ledger</h2>
{% if d.table_differences and d.warning %}<p class="warn">{{ d.table_differences | length }} stored value(s) differ from what
the ledger records. This report prints the ledger's, but the ledger itself fails verification (see the warning
above), so either may be the changed side: the table, or the ledger entry it is compared with. Ask the agency
why.</p>
{% elif d.table_differences %}<p class="warn">{{ d.table_differences | length }} stored value(s) differ from what the ledger records.
This report prints the ledger's; the rows below were changed outside crimelens, or written by a step the ledger did
not record. Ask the agency why.</p>{% endif %}
{% if d.table_differences %}
<table><tr><th>table</th><th>row</th><th>column</th><th>the table says</th><th>the ledger says</th></tr>
{% for x in d.table_differences %}<tr><td>{{ x.table }}</td><td>{{ x.row }}</td><td>{{ x.column }}</td><td>{{ x.table_value }}</td><td>{{ x.ledger_value }}</td></tr>{% endfor %}
</table>{% else %}<p>None: the deployments, their state changes, the model cards' text and the cards' figures that
are tied to the ledger agree with it.</p>{% endif %}

<h2>Deployments and their approvals</h2>
<p>State, model and approval as the ledger records them (state now, at the time this report was generated).</p>
<table><tr><th>deployment</th><th>model</th><th>version</th><th>state</th><th>since</th><th>approved until</th></tr>
{% for x in d.deployments %}<tr><td>{{ x.name }}</td><td>{{ x.model or "—" }}</td><td>{{ x.model_version or "—" }}</td><td>{{ x.state or "—" }}</td><td>{{ x.since or "—" }}</td><td>{{ x.approved_until or "—" }}</td></tr>{% else %}<tr><td colspan="6">none</td></tr>{% endfor %}
</table>
<h3>Comment periods and quorums</h3>
{% if d.demo_floors %}<p class="warn">Floors lowered by the demonstration setting for: {{ d.demo_floors | join(", ") }}.
Under that setting a deployment can go from public comment to approval without the 14 days of comment and the
board majority the rules require; such an approval is a demonstration, not an approval under the rules.</p>{% endif %}
{% for x in d.deployments %}<p><b>{{ x.name }}</b>: {{ x.floors.note }}</p>
{% if x.floors.comment_periods %}<ul>{% for p in x.floors.comment_periods %}<li>{{ p.stage }} comment period: opened {{ p.opened }} (entry {{ p.opened_seq }}), closed {{ p.closed }} (entry {{ p.closed_seq }}), ran {{ p.ran }}; floor applied {{ fig(p.floor_days, "n") }} days{% if p.demo %} (demonstration setting){% endif %}</li>{% endfor %}</ul>{% endif %}
{% endfor %}
<h3>Decisions this year</h3>
<table><tr><th>entry</th><th>when</th><th>deployment</th><th>from</th><th>to</th><th>by</th><th>reason</th><th>logged as</th></tr>
{% for x in d.deployment_events %}<tr><td>{{ x.seq }}</td><td>{{ x.at }}</td><td>{{ x.deployment }}</td><td>{{ x.from or "—" }}</td><td>{{ x.to }}</td><td>{{ x.by }}</td><td>{{ x.reason or "—" }}</td><td>{{ x.action }}</td></tr>{% else %}<tr><td colspan="8">none</td></tr>{% endfor %}
</table>
<h3>Board votes</h3>
<p>Each member's vote as counted in each review round (a later vote replaces the member's earlier one in
the same round); {{ d.votes_cast }} votes were cast in all.</p>
<table><tr><th>entry</th><th>deployment</th><th>round</th><th>member</th><th>vote</th></tr>
{% for x in d.votes %}<tr><td>{{ x.seq }}</td><td>{{ x.deployment }}</td><td>{{ x.round }}</td><td>{{ x.voter }}</td><td>{{ x.vote }}</td></tr>{% else %}<tr><td colspan="5">none</td></tr>{% endfor %}
</table>

<h3>Comments</h3>
<table><tr><th>deployment</th><th>public comments (before approval)</th><th>public comments on a renewal</th><th>board comments</th></tr>
{% for x in d.comments %}<tr><td>{{ x.deployment }}</td><td>{{ x.public }}</td><td>{{ x.renewal }}</td><td>{{ x.board }}</td></tr>{% else %}<tr><td colspan="4">none</td></tr>{% endfor %}
</table>

<h2>Model uses by purpose</h2>
<p>Each run of a model that made an output (a forecast, a linkage, a near-repeat alert, a risk score, a
redaction, a backtest), by deployment and purpose. Research uses (no deployment) cannot be acted on.</p>
<table><tr><th>deployment</th><th>purpose</th><th>action</th><th>uses</th></tr>
{% for x in d.uses %}<tr><td>{{ x.deployment }}</td><td>{{ x.purpose }}</td><td>{{ x.action }}</td><td class="num">{{ x.n }}</td></tr>{% else %}<tr><td colspan="4">none</td></tr>{% endfor %}
</table>
<h3 id="uses-while-not-active">Model uses while the deployment was not active</h3>
{% if d.uses_while_not_active %}<p class="warn">{{ d.uses_while_not_active | length }} model use(s) ran under a deployment
that the ledger's entries say was not active at the time (suspended, decommissioned, not yet approved, or under the
global kill switch), or that no ledger entry created. crimelens refuses such uses, so each means the store's
deployment record was changed outside crimelens (see "Where the store's tables disagree with the ledger") or the
use was logged outside the use gate. They are counted among the uses above. Ask the agency why.</p>
<table><tr><th>entry</th><th>when</th><th>deployment</th><th>action</th><th>by</th><th>state per the ledger</th></tr>
{% for x in d.uses_while_not_active %}<tr><td>{{ x.seq }}</td><td>{{ x.at }}</td><td>{{ x.deployment }}</td><td>{{ x.action }}</td><td>{{ x.by }}</td><td>{{ x.state }}</td></tr>{% endfor %}
</table>{% else %}<p>None: every model use under a deployment ran while the ledger records it as active.</p>{% endif %}
<h3>Audits of the models</h3>
<table><tr><th>by</th><th>action</th><th>n</th></tr>
{% for x in d.audits %}<tr><td>{{ x.by }}</td><td>{{ x.action }}</td><td class="num">{{ x.n }}</td></tr>{% else %}<tr><td colspan="3">none</td></tr>{% endfor %}
</table>
<h3>Reads of stored outputs and data, by role</h3>
<p>Reading what is stored (a forecast already made, a dataset's status, a card, a deployment's record, the review
queue, the ledger's head, entries and proofs) runs no model and is not a use.
"staff": analysts, supervisors, administrators; "oversight": auditors and board members; "public": without an account.</p>
<table><tr><th>by</th><th>action</th><th>reads</th></tr>
{% for x in d.reads %}<tr><td>{{ x.by }}</td><td>{{ x.action }}</td><td class="num">{{ x.n }}</td></tr>{% else %}<tr><td colspan="3">none</td></tr>{% endfor %}
</table>
<h3>Other operations</h3>
<p>Loading data, taking in evidence and recording its custody, exports, labels, backups.</p>
<table><tr><th>by</th><th>action</th><th>n</th></tr>
{% for x in d.other_operations %}<tr><td>{{ x.by }}</td><td>{{ x.action }}</td><td class="num">{{ x.n }}</td></tr>{% else %}<tr><td colspan="3">none</td></tr>{% endfor %}
</table>
<h3>Governance actions</h3>
<p>Registering users and sign-ins, registering and describing models, each step of a deployment, votes and comments,
review decisions, incidents, complaints, the kill switch, ledger exports and reports. The sections below detail
several of them.</p>
<table><tr><th>by</th><th>action</th><th>n</th></tr>
{% for x in d.governance_actions %}<tr><td>{{ x.by }}</td><td>{{ x.action }}</td><td class="num">{{ x.n }}</td></tr>{% else %}<tr><td colspan="3">none</td></tr>{% endfor %}
</table>
<h3>Refused requests</h3>
<p>By action and a generic category, decided from how each refusal was made, never from what was typed; the
reasons themselves (which can name cases, files and people) stay in the staff ledger.</p>
<table><tr><th>action</th><th>category</th><th>n</th></tr>
{% for x in d.refusals %}<tr><td>{{ x.action }}</td><td>{{ x.category }}</td><td class="num">{{ x.n }}</td></tr>{% else %}<tr><td colspan="3">none</td></tr>{% endfor %}
</table>

<h2>Sharing</h2>
<table><tr><th>deployment</th><th>recipient</th><th>n</th></tr>
{% for x in d.sharing %}<tr><td>{{ x.deployment }}</td><td>{{ x.recipient }}</td><td class="num">{{ x.n }}</td></tr>{% else %}<tr><td colspan="3">none</td></tr>{% endfor %}
</table>
<p>Ledger exports (the audit trail, for oversight; not a sharing of outputs): {{ d.ledger_exports }}.</p>

<h2>Board membership</h2>
<p>Board members are registered by an administrator. Members registered this year (a member votes only in
review rounds that open after they joined):</p>
<table><tr><th>entry</th><th>registered (UTC)</th><th>member</th><th>registered by</th></tr>
{% for b in d.board_members_registered %}<tr><td>{{ b.seq }}</td><td>{{ b.at }}</td><td>{{ b.name }}</td><td>{{ b.by }}</td></tr>{% else %}<tr><td colspan="4">none</td></tr>{% endfor %}
</table>

<h2>Human review</h2>
<table><tr><th>decision</th><th>n</th></tr>
{% for k, v in d.review_decisions.items() %}<tr><td>{{ k }}</td><td class="num">{{ v }}</td></tr>{% else %}<tr><td colspan="2">none</td></tr>{% endfor %}
</table>
<p>Each row counts one supervisor's decision; under the two-person rule an output is decided for good
only when a second supervisor agrees, so outputs decided can be fewer than decisions.</p>
<table><tr><th>deployment</th><th>decisions (accept, override, reject)</th><th>outputs decided for good</th></tr>
{% for r in d.review_by_deployment %}<tr><td>{{ r.deployment }}</td><td>{% for k, v in r.decisions.items() %}{{ k }} {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}</td><td>{% for k, v in r.outputs_decided.items() %}{{ k }} {{ v }}{% if not loop.last %}, {% endif %}{% else %}none yet{% endfor %}</td></tr>{% else %}<tr><td colspan="3">none</td></tr>{% endfor %}
</table>
<p>Overrides by deployment: {% for k, v in d.overrides_by_deployment.items() %}{{ k }}: {{ v }}{% if not loop.last %}, {% endif %}{% else %}none{% endfor %}.</p>
<p>Accepts and overrides refused because their deployment was not active (suspended, decommissioned,
lapsed, or under the global kill switch): {% for k, v in d.review_refused_not_active.items() %}{{ k }}: {{ v }}{% if not loop.last %}, {% endif %}{% else %}none{% endfor %}.</p>
<p>Accepts and overrides taken while their deployment was not active (rejections, always allowed, are not listed): {{ d.review_while_not_active | length }}{% if d.review_while_not_active %} ({% for k, v in d.review_while_not_active_by_decision.items() %}{{ k }}: {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}).
An accept or override taken then made an output actionable that should not have been; crimelens now refuses them.</p>
<table><tr><th>entry</th><th>when</th><th>deployment</th><th>item</th><th>decision</th><th>by</th><th>deployment state</th></tr>
{% for x in d.review_while_not_active %}<tr><td>{{ x.seq }}</td><td>{{ x.at }}</td><td>{{ x.deployment }}</td><td>{{ x.item_id }}</td><td>{{ x.decision }}</td><td>{{ x.by }}</td><td>{{ x.state }}</td></tr>{% endfor %}
</table>{% else %}.</p>{% endif %}

<h2>Complaints</h2>
<p>Filed: {{ d.complaints.filed }}; answered: {{ d.complaints.answered }}.</p>

<h2>Incidents and suspensions</h2>
<table><tr><th>entry</th><th>when</th><th>deployment</th><th>kind</th><th>severity</th><th>suspended the deployment</th></tr>
{% for x in d.incidents %}<tr><td>{{ x.seq }}</td><td>{{ x.at }}</td><td>{{ x.deployment or "—" }}</td><td>{{ x.kind or "—" }}</td><td>{{ x.severity or "—" }}</td><td>{{ fig(x.suspended) }}</td></tr>{% else %}<tr><td colspan="6">none</td></tr>{% endfor %}
</table>
{% if d.kill_switch %}<h3>Global kill switch</h3><ul>{% for x in d.kill_switch %}<li>{{ x.at }} {{ x.action }} by {{ x.by }}: {{ x.reason or "—" }}</li>{% endfor %}</ul>{% endif %}

<h2>Accuracy per group (from the model cards)</h2>
<p>How much of each group's recorded incidents the cells the forecast flags cover. Figures are rounded to 3
significant figures; counts are whole numbers.</p>
{% for c in d.group_metrics %}<h3>{{ c.deployment }}: {{ c.model }} {{ c.version }}</h3>
{% if c.tied_to_ledger %}<p>Tied to the ledger: {{ c.source }}</p>{% else %}<p class="warn">Not tied to the ledger: {{ c.source }}
These figures are read from the model registry, which the ledger does not protect; they are not recounted from ledger entries.</p>{% endif %}
{% if not c.tables %}<p>No per-group results were measured.</p>{% endif %}
{% for t in c.tables %}<h4>{{ t.factor }}</h4><table><tr><th>group</th>{% for col in t.columns %}<th>{{ col }}</th>{% endfor %}</tr>
{% for r in t.rows %}<tr><th>{{ r.group }}</th>{% for v in r.cells %}<td class="num">{{ v }}</td>{% endfor %}</tr>{% endfor %}
</table>
<dl>{% for e in t.explained %}<dt>{{ e.column }}</dt><dd>{{ e.meaning }}</dd>{% endfor %}</dl>{% endfor %}{% else %}<p>No deployment.</p>{% endfor %}

<h2>Signed ledger head</h2>
{% if d.ledger_head %}<p>Tree size {{ d.ledger_head.tree_size }}, root <code>{{ d.ledger_head.root_hash }}</code>,
signed with key {{ d.ledger_head.key_id }} (public key <code>{{ d.ledger_head.public_key }}</code>),
signature <code>{{ d.ledger_head.signature }}</code>.</p>{% else %}<p>The ledger is empty.</p>{% endif %}
</body></html>
"""
)


_PDF_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
)


def render_pdf(report: AnnualReport) -> bytes | None:
    """The report as PDF through fpdf2 (pure Python, from PyPI); None when it is not installed.

    The layout is the HTML report's, simplified (no stylesheet). With a DejaVu font on the
    system every character prints; without one, characters outside Latin-1 become '?'.
    """
    try:
        from fpdf import FPDF
    except ImportError:
        return None
    html = report.html
    body = html[html.index("<body>") + len("<body>") : html.index("</body>")]
    body = body.replace("<code>", "").replace("</code>", "").replace("<table>", '<table border="1" width="100%">')
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    font = next((f for f in _PDF_FONTS if f.exists()), None)
    if font is not None:
        pdf.add_font("DejaVu", "", str(font))
        bold = font.with_name("DejaVuSans-Bold.ttf")
        if bold.exists():
            pdf.add_font("DejaVu", "B", str(bold))
        pdf.set_font("DejaVu", size=9)
        family = "DejaVu"
    else:
        body = body.encode("latin-1", "replace").decode("latin-1")
        pdf.set_font("Helvetica", size=9)
        family = "Helvetica"
    pdf.write_html(body, font_family=family)
    return bytes(pdf.output())
