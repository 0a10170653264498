"""The context every service receives, and the one gate every use goes through.

``authorize`` checks a use *before* the work is done; ``record_use`` checks it
again and writes the ledger entry (inside the caller's transaction, beside the
output); ``refuse`` logs a refused use and raises. A refusal is logged in its own
transaction, so it stays in the ledger even when the caller's transaction rolls
back because of it.

What is checked, in order:

1. a stated purpose (every use needs one; local use defaults to ``research``);
2. the role may perform the action (:func:`crimelens.governance.role_allows`);
3. governance changes need a registered, active user whose stored role is the
   role claimed (the first user, an administrator, bootstraps the table); so do
   the governance reads the public may not make (``ledger.export``, ``ledger.list``,
   ``review.list``, ``users.list``, ...) once the store has registered users;
4. with a deployment (operational use): the global kill switch is off, the
   deployment exists and is *active* (not draft, under comment or review,
   suspended or decommissioned) in the ``deployments`` table *and* in the ledger
   (its latest lifecycle entry: the table is not protected by the ledger, so an
   edited row does not reopen a suspended deployment), its approval has not
   lapsed, the user is registered with that role, the purpose and role are in its
   use policy and the model is the one approved;
5. without a deployment: allowed (research use on one's own machine, DESIGN.md),
   unless the output is marked actionable, which always needs an active deployment.

State is read from the store on every call: a suspension takes effect on the
very next call.
"""

from __future__ import annotations

import hashlib
import json
import threading
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn

from crimelens.config import Settings
from crimelens.domain import IncidentTable, incident_of
from crimelens.domain._time import in_zone
from crimelens.errors import (
    ApprovalRequiredError,
    CrimelensError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
)
from crimelens.governance import (
    PENDING_REVIEW_MARK,
    RESEARCH,
    RESEARCH_MARK,
    Actor,
    Ledger,
    LedgerEntry,
    LedgerReceipt,
    Role,
)
from crimelens.governance._policy import GOVERNANCE_PERMISSIONS, UsePolicy, role_allows
from crimelens.storage import DuckDBStore
from crimelens.storage import _governance as gov_db

__all__ = [
    "RECORDS",
    "RESEARCH",
    "RESEARCH_MARK",
    "Context",
    "authorize",
    "check_dataset",
    "check_records",
    "check_use",
    "count_records",
    "dataset_timezone",
    "deployment_problem",
    "ledger_state",
    "local_actor",
    "local_time",
    "open_context",
    "output_mark",
    "reading_zone",
    "record_use",
    "refuse",
    "retention_days",
    "sha256_hex",
    "standing_record",
    "submit_use",
]

#: Governance actions anyone may perform without being a registered user.
_OPEN_ACTIONS = frozenset({"deployments.comment", "complaints.file", "complaints.status", "report.annual",
                           "users.authenticate"})  # identify checks the token's user itself
_READ_VERBS = frozenset({"list", "show", "card", "head", "proof", "verify", "export"})


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class _LedgerStates:
    """Each deployment's state as its latest lifecycle ledger entry records it, ``{name: (seq, state)}``,
    for the entries before ``upto``: :func:`ledger_state` reads only the entries appended since."""

    upto: int = 0
    states: dict[str, tuple[int, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Context:
    """The store, the settings, the ledger and a clock (tests pass a fixed one)."""

    store: DuckDBStore
    settings: Settings
    ledger: Ledger
    clock: Callable[[], datetime] = field(default=_utcnow)
    _ledger_states: _LedgerStates = field(default_factory=_LedgerStates, init=False, repr=False, compare=False)

    def now(self) -> datetime:
        return self.clock()


@contextmanager
def open_context(settings: Settings, *, clock: Callable[[], datetime] | None = None) -> Iterator[Context]:
    """Open the store named by the settings (migrating it) and bind the ledger and its signing key."""
    with DuckDBStore.open(settings.db) as store:
        yield Context(store=store, settings=settings, ledger=Ledger(store, settings.key_dir),
                      clock=clock or _utcnow)


def sha256_hex(data: bytes | str) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def _needs_registration(action: str) -> bool:
    if action not in GOVERNANCE_PERMISSIONS or action in _OPEN_ACTIONS:
        return False
    return action.rsplit(".", 1)[-1] not in _READ_VERBS


def _staff_read(action: str) -> bool:
    """A governance read that needs a staff role (``ledger.export``, ``review.list``, ``users.list``...):
    the public may not do it, so the role claimed must be a registered user's once the store has users."""
    allowed = GOVERNANCE_PERMISSIONS.get(action)
    return allowed is not None and action not in _OPEN_ACTIONS and Role.PUBLIC not in allowed


def check_use(
    ctx: Context,
    *,
    action: str,
    actor: Actor,
    purpose: str | None,
    deployment: str | None = None,
    actionable: bool = False,
    require_active: bool = True,
    model: str | None = None,
    model_version: str | None = None,
    share_to: str | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> tuple[str, CrimelensError] | None:
    """Why this use must be refused (reason, error), or None when it may go ahead. Logs nothing.

    ``inputs`` (the entry's: ``dataset``, ``offense``) are checked against the deployment's scope."""
    who = f"{action} by {actor.user} ({actor.role})"
    if not purpose or not str(purpose).strip():
        reason = "no stated purpose; every use needs one (e.g. --purpose research)"
        return reason, ApprovalRequiredError(f"{who}: refused: {reason}")
    if not role_allows(actor.role, action):
        reason = f"the role {str(actor.role)!r} may not perform {action!r}" + _who_may(action)
        return reason, PermissionDeniedError(f"{who}: refused: {reason}")
    store = ctx.store
    if _needs_registration(action):
        row = gov_db.user_row(store, actor.user)
        bootstrap = action == "users.add" and not store.scalar("SELECT count(*) FROM users")
        if not bootstrap:
            problem = _registration_problem(row, actor)
            if problem:
                return problem, PermissionDeniedError(f"{who}: refused: {problem}")
    elif _staff_read(action) and store.scalar("SELECT count(*) FROM users"):
        # a store with registered users: a role claimed through CRIMELENS_ROLE is not an account (a store
        # without users is one person's research store, where the local role stands)
        problem = _registration_problem(gov_db.user_row(store, actor.user), actor)
        if problem:
            roles = sorted(str(r) for r in GOVERNANCE_PERMISSIONS[action])
            problem += (f"; once a store has users, {action!r} needs a registered user with one of the roles "
                        f"{roles} (act as one with --as NAME)")
            return problem, PermissionDeniedError(f"{who}: refused: {problem}")
    if deployment is None:
        if share_to is not None:
            reason = f"sharing with {share_to!r} needs a deployment whose use policy allows it; got none"
            return reason, ApprovalRequiredError(f"{who}: refused: {reason}")
        if actionable:
            reason = "an actionable output needs an active deployment; got none (research use cannot be acted on)"
            return reason, ApprovalRequiredError(f"{who}: refused: {reason}")
        return None
    if not require_active:
        return None
    stopped = deployment_problem(ctx, deployment)
    if stopped is not None:
        reason, kind, _state = stopped
        return reason, kind(f"{who}: refused: {reason}")
    dep = gov_db.deployment_row(store, deployment)
    assert dep is not None  # deployment_problem names a missing one
    problem = _registration_problem(gov_db.user_row(store, actor.user), actor)
    if problem:
        return problem, PermissionDeniedError(f"{who}: refused: {problem}")
    policy = UsePolicy.from_mapping(json.loads(dep["policy"]))
    if not policy.allows_purpose(str(purpose)):
        reason = (f"purpose {purpose!r} is not allowed by the use policy of {deployment!r}; "
                  f"allowed: {list(policy.allowed_purposes)}")
        return reason, ApprovalRequiredError(f"{who}: refused: {reason}")
    if not policy.allows_role(str(actor.role)):
        reason = (f"role {str(actor.role)!r} is not allowed by the use policy of {deployment!r}; "
                  f"allowed: {list(policy.allowed_roles)}")
        return reason, PermissionDeniedError(f"{who}: refused: {reason}")
    if share_to is not None and not policy.allows_sharing(share_to):
        reason = (f"{share_to!r} is not on the sharing allow-list of {deployment!r}; "
                  f"allowed: {list(policy.sharing_allowlist)}")
        return reason, PermissionDeniedError(f"{who}: refused: {reason}")
    if model is not None and model != dep["model"]:
        reason = f"deployment {deployment!r} approves model {dep['model']!r}, got {model!r}"
        return reason, ApprovalRequiredError(f"{who}: refused: {reason}")
    if model_version is not None and model_version != dep["model_version"]:
        reason = (f"deployment {deployment!r} approves {dep['model']} version {dep['model_version']!r}, "
                  f"got {model_version!r}")
        return reason, ApprovalRequiredError(f"{who}: refused: {reason}")
    outside = policy.scope_problem(inputs) if inputs else None
    if outside is not None:
        reason = (f"{outside} of deployment {deployment!r}: its model card's figures were measured there, and "
                  "the board approved it on them (use it on other data as research, or propose a deployment "
                  "for that data)")
        return reason, ApprovalRequiredError(f"{who}: refused: {reason}")
    return None


def deployment_problem(ctx: Context, deployment: str) -> tuple[str, type[CrimelensError], str] | None:
    """Why nothing may be used or made actionable under ``deployment`` now, or None when it is active.

    Returns ``(reason, error class, state)``: the global kill switch is engaged (state
    ``"kill switch"``), the deployment does not exist (``"missing"``), is not active (its state:
    ``suspended``, ``decommissioned``, ...) or its approval has lapsed (``"lapsed"``). Read from the
    store on every call, so a suspension counts from the very next call.
    """
    store = ctx.store
    switch = gov_db.global_kill_switch(store)
    if switch is not None:
        reason = (f"the global kill switch is engaged since {utc_text(switch['changed_at'])} by {switch['by_user']}: "
                  f"{switch['reason']}")
        return reason, ApprovalRequiredError, "kill switch"
    dep = gov_db.deployment_row(store, deployment)
    if dep is None:
        return f"deployment {deployment!r} does not exist", NotFoundError, "missing"
    if dep["state"] != "active":
        since = dep["state_changed_at"]
        why = f" ({dep['state_reason']})" if dep.get("state_reason") else ""
        reason = (f"deployment {deployment!r} is {dep['state'].replace('_', ' ')} since {since}{why}; "
                  "expected an active deployment")
        return reason, ApprovalRequiredError, str(dep["state"])
    recorded = ledger_state(ctx, deployment)
    if recorded is None or recorded[1] != "active":
        said = (f"the ledger records no state change of {deployment!r}" if recorded is None else
                f"the ledger's entry {recorded[0]} says {recorded[1].replace('_', ' ')}")
        reason = (f"the deployments table says {deployment!r} is active but {said}: the table was changed outside "
                  "crimelens; refusing operational use until an administrator repairs it (the annual report "
                  "lists every row that disagrees with the ledger)")
        return reason, ApprovalRequiredError, TABLE_CHANGED
    until = dep.get("approved_until")
    if until is not None and ctx.now() >= until:
        reason = f"the approval of deployment {deployment!r} lapsed on {until}; the board must renew it"
        return reason, ApprovalRequiredError, "lapsed"
    return None


#: The state :func:`deployment_problem` gives when the ``deployments`` table says active and the ledger does not.
TABLE_CHANGED = "table changed outside crimelens"


def ledger_state(ctx: Context, deployment: str) -> tuple[int, str] | None:
    """``(entry, state)``: the deployment's state as its latest lifecycle entry in the ledger records it,
    or None when the ledger records no state change of it.

    The lifecycle entries are those the annual report rebuilds the deployments' states from
    (:data:`crimelens.governance._report.STATE_CHANGE_ACTIONS`, read by its ``ledger_state_changes``). One
    query per call, over the entries appended since the previous call on this context (all of them on
    the first): the ledger is append-only, so what was read stays read. Inside an open transaction the
    entries it appended are counted but not kept (the transaction may still roll back).
    """
    # imported here: the report module loads jinja2, which a command without a deployment never needs
    from crimelens.governance._report import STATE_CHANGE_ACTIONS, ledger_state_changes

    known = ctx._ledger_states
    with known.lock:  # never held while the store is queried: a transaction holds the store's lock
        upto, states = known.upto, dict(known.states)
    marks = ", ".join("?" for _ in STATE_CHANGE_ACTIONS)
    rows = list(ctx.store.iter_rows(
        f"WITH top AS (SELECT max(seq) AS n FROM ledger) "
        f"SELECT seq, payload FROM ledger WHERE seq >= ? AND action IN ({marks}) "
        "UNION ALL SELECT n, NULL FROM top", [upto, *STATE_CHANGE_ACTIONS]))
    entries: list[tuple[int, LedgerEntry]] = []
    for seq, payload in rows:
        if payload is None:  # the row of `top`: the newest entry read (None: an empty ledger)
            upto = upto if seq is None else max(upto, int(seq) + 1)
            continue
        try:
            entries.append((int(seq), LedgerEntry.from_payload(json.loads(bytes(payload)))))
        except (ValueError, TypeError, KeyError, CrimelensError):
            continue  # not an entry crimelens wrote: `ledger verify` names it
    for change in ledger_state_changes(entries):
        states[str(change["deployment"])] = (int(change["seq"]), str(change["to"]))
    if not ctx.store.in_transaction():
        with known.lock:
            if upto > known.upto:
                known.upto, known.states = upto, states
    return states.get(deployment)


def _registration_problem(row: Mapping[str, Any] | None, actor: Actor) -> str | None:
    if row is None:
        return f"{actor.user!r} is not a registered user (crimelens users add)"
    if not row["active"]:
        return f"user {actor.user!r} is disabled"
    if row["role"] != str(actor.role):
        return f"user {actor.user!r} is registered as {row['role']!r}, not {str(actor.role)!r}"
    return None


#: set on an exception :func:`refuse` raised: its refusal is in the ledger already
LOGGED_MARK = "_crimelens_refusal_logged"


def refuse(ctx: Context, *, action: str, actor: Actor, purpose: str | None, reason: str,
           error: Exception | None = None, **fields: Any) -> NoReturn:
    """Log a refused use, then raise (``error`` or an :class:`ApprovalRequiredError`).

    The refusal is committed in its own transaction when the caller is inside one,
    so it is not lost when the caller's transaction rolls back.
    """
    detail = {"reason": reason, **dict(fields.pop("detail", None) or {})}
    fields.pop("actionable", None)
    fields.pop("require_active", None)
    entry = LedgerEntry(action=action, user=actor.user, role=str(actor.role), purpose=purpose or "",
                        outcome="refused", detail=detail, at=ctx.now(), **fields)
    _append_surviving(ctx, entry)
    raised = error if error is not None else ApprovalRequiredError(f"{action}: refused: {reason}")
    raised.__dict__[LOGGED_MARK] = entry.action  # the API's error handler logs no second refusal
    raise raised


def _append_surviving(ctx: Context, entry: LedgerEntry) -> None:
    store = ctx.store
    if not store.in_transaction():
        ctx.ledger.append(entry)
        return
    key = ctx.ledger.signing_key()
    if not gov_db.run_beside(store, lambda side: Ledger(side, ctx.ledger.key_dir, key=key).append(entry)):
        ctx.ledger.append(entry)  # conflicts with the caller's own appends: join its transaction


def authorize(
    ctx: Context,
    *,
    action: str,
    actor: Actor,
    purpose: str | None,
    deployment: str | None = None,
    actionable: bool = False,
    require_active: bool = True,
    share_to: str | None = None,
    **fields: Any,
) -> None:
    """Refuse (and log) a use that may not go ahead; return quietly otherwise.

    ``share_to`` names the recipient when the use shares output outside the agency: it must
    be on the deployment's sharing allow-list.

    Call it before doing the work; :func:`record_use` repeats the check when the
    entry is written.

    Raises
    ------
    ApprovalRequiredError
        No purpose; deployment not active (draft, comment, review, suspended,
        decommissioned, lapsed); global kill switch; purpose outside the policy;
        actionable output without a deployment.
    PermissionDeniedError
        Role not allowed, user not registered or disabled.
    NotFoundError
        The deployment does not exist.
    """
    problem = check_use(ctx, action=action, actor=actor, purpose=purpose, deployment=deployment,
                        actionable=actionable, require_active=require_active,
                        model=fields.get("model"), model_version=fields.get("model_version"), share_to=share_to,
                        inputs=fields.get("inputs"))
    if problem is not None:
        reason, error = problem
        if share_to is not None:
            fields["detail"] = {**dict(fields.get("detail") or {}), "recipient": share_to}
        refuse(ctx, action=action, actor=actor, purpose=purpose, reason=reason, error=error,
               deployment=deployment, **fields)


def record_use(
    ctx: Context,
    *,
    action: str,
    actor: Actor,
    purpose: str | None,
    detail: Mapping[str, Any] | None = None,
    actionable: bool = False,
    require_active: bool = True,
    share_to: str | None = None,
    **fields: Any,
) -> int:
    """Check the use, then append its ledger entry; returns the entry's sequence number.

    ``share_to``: the recipient of shared output (checked against the sharing allow-list and
    recorded as ``detail["recipient"]``, which the annual report counts).

    With a deployment whose use policy marks ``action`` actionable (or
    ``actionable=True``), the output also enters the human review queue
    (item id ``r<seq>``) and nobody may act on it until a supervisor decides.
    """
    deployment = fields.get("deployment")
    detail = {**dict(detail or {}), **({"recipient": share_to} if share_to is not None else {})}
    authorize(ctx, action=action, actor=actor, purpose=purpose, actionable=actionable,
              require_active=require_active, share_to=share_to, detail=detail, **fields)
    entry = LedgerEntry(action=action, user=actor.user, role=str(actor.role), purpose=str(purpose),
                        detail=detail, at=ctx.now(), **fields)
    if deployment is None or not require_active or not _is_actionable(ctx, deployment, action, actionable):
        # joins the caller's transaction when there is one; otherwise the ledger's group commit
        return ctx.ledger.append(entry)
    with ctx.store.transaction():
        seq = ctx.ledger.append(entry)
        gov_db.add_review_item(
            ctx.store, item_id=f"r{seq}", deployment=deployment, action=action, source_seq=seq,
            requested_by=actor.user, summary={"detail": dict(detail or {}), "output_hash": fields.get("output_hash")},
            at=ctx.now(),
        )
    return seq


def submit_use(ctx: Context, *, action: str, actor: Actor, purpose: str | None,
               detail: Mapping[str, Any] | None = None) -> LedgerReceipt:
    """Check a use without a deployment and queue its ledger entry without waiting for the commit.

    The caller must :meth:`Ledger.wait` for the receipt before it answers anyone (the API
    does so before a response leaves); meanwhile the entry shares the next group commit
    with the entries other requests append.
    """
    authorize(ctx, action=action, actor=actor, purpose=purpose, detail=dict(detail or {}))
    entry = LedgerEntry(action=action, user=actor.user, role=str(actor.role), purpose=str(purpose),
                        detail=dict(detail or {}), at=ctx.now())
    return ctx.ledger.submit(entry)


def output_mark(ctx: Context, *, action: str, purpose: str | None, deployment: str | None,
                actionable: bool = False) -> str | None:
    """The mark an output carries: research use's, the pending-review mark for an output that enters
    the human-review queue (see :func:`record_use`), or None for an operational, non-actionable one."""
    if deployment is None or (purpose or "") == RESEARCH:
        return RESEARCH_MARK
    return PENDING_REVIEW_MARK if _is_actionable(ctx, deployment, action, actionable) else None


def _is_actionable(ctx: Context, deployment: str, action: str, actionable: bool) -> bool:
    if actionable:
        return True
    dep = gov_db.deployment_row(ctx.store, deployment)
    return dep is not None and UsePolicy.from_mapping(json.loads(dep["policy"])).is_actionable(action)


def retention_days(ctx: Context, deployment: str, data_class: str) -> int | None:
    """How long the deployment's use policy keeps ``data_class`` (None: the policy sets no limit).

    Services that store outputs under a deployment delete them after this many days.
    """
    dep = gov_db.deployment_row(ctx.store, deployment)
    if dep is None:
        raise NotFoundError(f"deployment {deployment!r}: not found")
    value = UsePolicy.from_mapping(json.loads(dep["policy"])).retention_days.get(data_class)
    return None if value is None else int(value)


def check_dataset(ctx: Context, dataset: str | None, what: str, *, ingested: bool = False) -> None:
    """A dataset named by the caller must be in the store: a mistyped name would read as empty.

    ``ingested`` also counts a dataset whose every row was quarantined (the summary and the
    quarantine list show those).
    """
    if dataset is None:
        return
    names = ctx.store.datasets()
    if ingested:
        names = sorted(set(names) | set(ctx.store.ingests()["dataset"].astype(str)))
    if dataset not in names:
        holds = f"it holds {names}" if names else "it holds no incidents yet (crimelens ingest FILE)"
        raise NotFoundError(f"{what}: no dataset {dataset!r} in the store {str(ctx.store.path)!r}; {holds}")


def local_actor(settings: Settings) -> Actor:
    """The person at this machine, from the settings."""
    return Actor.local(settings.user, Role(settings.role))


def dataset_timezone(ctx: Context, dataset: str) -> str | None:
    """The IANA zone the dataset's files were read in (their layouts' ``[source] timezone``), or None
    when its files name different zones or none (a layout whose times carry their own offset says
    UTC, the zone a time without one would be read in)."""
    zones = set()
    for (text,) in ctx.store.iter_rows("SELECT DISTINCT mapping FROM ingests WHERE dataset = ?", [dataset]):
        try:
            zones.add(str(tomllib.loads(text or "").get("source", {}).get("timezone", "UTC")))
        except tomllib.TOMLDecodeError:
            return None
    return zones.pop() if len(zones) == 1 else None


#: How an analysis counts the store's records: each incident once, or every record.
RECORDS = ("incident", "all")


def check_records(records: str) -> None:
    """Refuse a ``records`` setting other than :data:`RECORDS`."""
    if records not in RECORDS:
        raise InvalidParameterError(f"--records: got {records!r}; expected 'incident' (each incident once) "
                                    "or 'all' (every record)")


def count_records(table: IncidentTable, records: str) -> tuple[IncidentTable, int]:
    """``table`` with each incident once (``records="incident"``) or every record (``"all"``), and how
    many records were left out.

    An ingest numbers the rows of a repeated source id ``ID``, ``ID#2``, ``ID#3``... (one row per
    victim or offence, as Cincinnati's export has, at jittered coordinates): those are records of one
    incident, and ``"incident"`` keeps the lowest-numbered one present. Ids without such a suffix are
    never left out, so data without repeated ids is the same either way.
    """
    check_records(records)
    if records == "all":
        return table, 0
    further = table.further_records()
    n = int(further.sum())
    return (table.select(mask=~further) if n else table), n


def standing_record(ctx: Context, dataset: str, incident_id: str) -> str:
    """The record that stands for ``incident_id``'s incident (see ``count_records``): ``ID`` when asked
    for ``ID#2`` and ``ID`` is stored, else the lowest-numbered record stored; any other id is itself."""
    base = incident_of(incident_id)
    if base == incident_id:
        return incident_id
    rows = [str(r) for (r,) in ctx.store.iter_rows(
        "SELECT incident_id FROM incidents WHERE dataset = ? AND (incident_id = ? OR starts_with(incident_id, ?))",
        [dataset, base, base + "#"])]
    numbered = {(1 if r == base else int(r.rsplit("#", 1)[1])): r for r in rows if incident_of(r) == base}
    return numbered[min(numbered)] if numbered else incident_id


def reading_zone(ctx: Context, dataset: str | None) -> str:
    """The zone a date or a time without an offset is read in for ``dataset`` (the store's only
    dataset when None): the zone its files were read in, else UTC. "2018-01-01" given for Chicago's
    incidents means midnight in Chicago, the day an analyst there means."""
    if dataset is None:
        names = ctx.store.datasets()
        if len(names) != 1:
            return "UTC"
        dataset = names[0]
    return dataset_timezone(ctx, dataset) or "UTC"


def _who_may(action: str) -> str:
    """The roles that may perform ``action``, said after a refusal (a board member read "the role
    'admin' may not perform 'deployments.vote'" and nothing about who may).

    >>> _who_may("deployments.vote"), _who_may("deployments.no_such_step")
    ('; only board members may', '')
    >>> _who_may("killswitch.release")
    '; only board members and administrators may'

    """
    names = {"analyst": "analysts", "supervisor": "supervisors", "board": "board members", "auditor": "auditors",
             "admin": "administrators", "public": "the public"}
    allowed = [names.get(r.value, r.value) for r in Role if role_allows(r, action)]
    if not allowed:
        return ""
    return "; only " + (allowed[0] if len(allowed) == 1 else ", ".join(allowed[:-1]) + " and " + allowed[-1]) + " may"


def utc_text(value: datetime | None) -> str:
    """``value`` for a person: to the second, in UTC, with the zone named ("?" for None).

    >>> from datetime import UTC, datetime, timedelta, timezone
    >>> utc_text(datetime(2026, 11, 29, 12, 11, 39, 889883, tzinfo=UTC))
    '2026-11-29 12:11:39 UTC'
    >>> utc_text(datetime(2026, 11, 29, 6, 0, tzinfo=timezone(timedelta(hours=-6))))
    '2026-11-29 12:00:00 UTC'
    """
    if value is None:
        return "?"
    t = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def local_time(value: datetime | None, zone: str | None) -> str | None:
    """``value`` as ISO-8601 in ``zone`` (UTC if None or unknown); None stays None."""
    return None if value is None else in_zone(value, zone)[0].isoformat()
