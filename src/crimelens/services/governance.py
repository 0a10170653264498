"""Governance use cases: ledger, users, registry and cards, deployments, review, incidents, report.

Every public function here writes exactly one ledger entry: the entry for the use
(``outcome="ok"``), or, when the use is refused, the refusal (``outcome="refused"``)
before the error is raised. Functions take ``actor`` and ``purpose`` like every
other service; governance changes need a registered user (see
:mod:`crimelens.services._context`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crimelens.errors import (
    ApprovalRequiredError,
    InputError,
    InvalidParameterError,
    LedgerIntegrityError,
    NotFoundError,
    PermissionDeniedError,
)
from crimelens.governance import Actor, LedgerReceipt, Role, VerifyReport, review_mark
from crimelens.governance._aia import AssessmentResult, assess, missing_controls
from crimelens.governance._cards import CARD_FREE_TEXT, DATASHEET_QUESTIONS, Datasheet, ModelCard
from crimelens.governance._deployments import DeploymentState, next_state
from crimelens.governance._ledger import PublishedHead
from crimelens.governance._ledger import export_ledger as _export
from crimelens.governance._ledger import verify_export as _verify_export
from crimelens.governance._policy import (
    DEMO_SETTING,
    MIN_COMMENT_DAYS_FLOOR,
    SEVERITIES,
    UsePolicy,
    board_quorum_floor,
    role_allows,
)
from crimelens.governance._report import (
    FIRST_REPORT_YEAR,
    STATE_CHANGE_ACTIONS,
    AnnualReport,
    build_annual_report,
    floors_record,
    render_pdf,
)
from crimelens.services._context import (
    Context,
    authorize,
    check_use,
    deployment_problem,
    record_use,
    refuse,
    submit_use,
    utc_text,
)
from crimelens.storage import _governance as db
from crimelens.storage._forecast import set_output_mark

#: The ids ``crimelens risk fit`` gives its models.
_RISK_MODEL_ID = re.compile(r"rm-[0-9a-f]{12}")

__all__ = [
    "activate",
    "add_user",
    "annual_report",
    "assess_impact",
    "board_comment",
    "close_review",
    "comment",
    "complaint_status",
    "consistency_proof",
    "create_deployment",
    "datasheet",
    "decide_review",
    "decommission",
    "describe_model",
    "disable_user",
    "engage_kill_switch",
    "export_ledger",
    "file_complaint",
    "identify",
    "identify_deferred",
    "inclusion_proof",
    "kill_switch_status",
    "ledger_entries",
    "ledger_head",
    "list_complaints",
    "list_deployments",
    "list_models",
    "list_users",
    "model_card",
    "open_public_comment",
    "open_renewal",
    "purge_expired_outputs",
    "register_model",
    "release_kill_switch",
    "renew",
    "report_incident",
    "respond_complaint",
    "resume",
    "review_queue",
    "revise",
    "rotate_token",
    "show_deployment",
    "start_board_review",
    "suspend",
    "verify_export",
    "verify_ledger",
    "vote",
    "write_datasheet",
]

ADMIN_PURPOSE = "administration"
OVERSIGHT_PURPOSE = "oversight"


# helpers ------------------------------------------------------------------------------------
def _token_parts(token: str) -> tuple[str, str]:
    if not token.startswith("clk_") or "." not in token:
        raise PermissionDeniedError("API token: got a malformed token; expected 'clk_<id>.<secret>'")
    token_id = token[4:].split(".", 1)[0]
    return token_id, hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_token() -> tuple[str, str, str]:
    token_id = secrets.token_hex(6)
    token = f"clk_{token_id}.{secrets.token_urlsafe(32)}"
    return token, token_id, hashlib.sha256(token.encode("utf-8")).hexdigest()


def _dep(ctx: Context, name: str, *, action: str, actor: Actor, purpose: str | None) -> dict[str, Any]:
    row = db.deployment_row(ctx.store, name)
    if row is None:
        refuse(ctx, action=action, actor=actor, purpose=purpose, reason=f"deployment {name!r} does not exist",
               error=NotFoundError(f"deployment {name!r}: not found; see `crimelens deployments list`"),
               deployment=name)
    return row


def _policy(row: Mapping[str, Any]) -> UsePolicy:
    return UsePolicy.from_mapping(json.loads(row["policy"]))


def _transition(
    ctx: Context,
    *,
    name: str,
    transition: str,
    action: str,
    actor: Actor,
    purpose: str | None,
    reason: str | None = None,
    check: Any = None,
    updates: Mapping[str, Any] | None = None,
    detail: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Move a deployment along one edge of the state machine, or refuse and log why."""
    authorize(ctx, action=action, actor=actor, purpose=purpose, deployment=name, require_active=False)
    row = _dep(ctx, name, action=action, actor=actor, purpose=purpose)
    try:
        target = next_state(name, row["state"], transition)
        if check is not None:
            check(row)
    except (ApprovalRequiredError, InputError) as exc:
        refuse(ctx, action=action, actor=actor, purpose=purpose, reason=str(exc), error=exc, deployment=name,
               detail={"state": row["state"], "transition": transition})
    now = ctx.now()
    changes = str(target) != row["state"]
    # an edge that keeps the state (open_renewal, renew) is an event, not a state change: the stored
    # state's reason and time (e.g. why and since when it is suspended) stay as they are
    values: dict[str, Any] = {"state": str(target), "state_changed_at": now, "state_reason": reason} if changes else {}
    values.update(updates or {})
    with ctx.store.transaction():
        if values:
            db.update_deployment(ctx.store, name, **values)
        seq = record_use(ctx, action=action, actor=actor, purpose=purpose, deployment=name,
                         require_active=False,
                         detail={"from": row["state"], "to": str(target), "reason": reason, **(detail or {})})
        db.add_deployment_event(ctx.store, deployment=name, from_state=row["state"], to_state=str(target),
                                by_user=actor.user, by_role=str(actor.role), reason=reason, at=now, ledger_seq=seq)
    out = db.deployment_row(ctx.store, name)
    assert out is not None
    return out


def _require_reason(ctx: Context, reason: str | None, *, action: str, actor: Actor, purpose: str | None,
                    **fields: Any) -> str:
    if not reason or not reason.strip():
        refuse(ctx, action=action, actor=actor, purpose=purpose, reason="no reason given; this action needs one",
               error=InputError(f"{action}: got an empty reason; expected a sentence saying why"), **fields)
    return reason.strip()


# ledger ---------------------------------------------------------------------------------------
#: Why a verification that finds the ledger bad is not written to it (``VerifyReport.not_logged``).
NOT_LOGGED_BAD = ("the ledger does not verify, so nothing was appended to it: an entry needs a head signed over "
                  "the entries as they are now, which would make the damage look signed (the next verify reports "
                  "it again)")
#: Why a verification of a store whose signing key is not here is not logged.
NOT_LOGGED_NO_KEY = ("the store's signing key ({key_file}) is not here, so this check was read-only and is not "
                     "logged (checked against the public keys stored in the ledger{given})")


def verify_ledger(ctx: Context, *, actor: Actor, purpose: str | None = OVERSIGHT_PURPOSE,
                  public_key: bytes | None = None) -> VerifyReport:
    """Recompute the ledger from its stored entries; the report names the first entry that does not match.

    A ledger that verifies gets the verification logged (after the check, so it does not change what
    was checked). Nothing is written otherwise, and the report says why (``not_logged``): a ledger that
    does not verify gets no new signed head over the damage, so every later verify finds it again; a
    store copied without its key folder is checked read-only against the public keys in its ledger
    (and ``public_key``), and no key is made for it.
    """
    keyless = not ctx.ledger.has_signing_key()
    if keyless:  # a refusal could not be signed either: raise it unlogged
        problem = check_use(ctx, action="ledger.verify", actor=actor, purpose=purpose)
        if problem is not None:
            raise problem[1]
    else:
        authorize(ctx, action="ledger.verify", actor=actor, purpose=purpose)
    report = ctx.ledger.verify(public_key=public_key)
    if keyless:
        given = " and the key you gave" if public_key is not None else ""
        return dataclasses.replace(report, not_logged=NOT_LOGGED_NO_KEY.format(key_file=ctx.ledger.key_file,
                                                                               given=given))
    if not report.ok:
        return dataclasses.replace(report, not_logged=NOT_LOGGED_BAD)
    record_use(ctx, action="ledger.verify", actor=actor, purpose=purpose,
               detail={"ok": report.ok, "n_entries": report.n_entries, "first_bad": report.first_bad,
                       "root_hash": report.root_hash})
    return report


def export_ledger(ctx: Context, *, path: Path, actor: Actor,
                  purpose: str | None = OVERSIGHT_PURPOSE) -> dict[str, Any]:
    """Write the whole ledger (entries + signed head + public key) as JSON lines for offline checking."""
    authorize(ctx, action="ledger.export", actor=actor, purpose=purpose)
    try:
        out = _export(ctx.ledger, path)
    except (NotFoundError, OSError) as exc:
        refuse(ctx, action="ledger.export", actor=actor, purpose=purpose, reason=str(exc),
               error=exc if isinstance(exc, NotFoundError) else InputError(f"ledger export {path}: {exc}"))
    record_use(ctx, action="ledger.export", actor=actor, purpose=purpose,
               detail={"entries": out["entries"], "tree_size": out["tree_size"], "root_hash": out["root_hash"]})
    return out


def _unreadable_export(path: Path, exc: Exception) -> InputError:
    return InputError(f"ledger export {path}: got an unreadable file ({exc}); expected the JSON lines "
                      "written by `crimelens ledger export`")


def verify_export(ctx: Context, *, path: Path, actor: Actor, public_key: bytes | None = None,
                  purpose: str | None = OVERSIGHT_PURPOSE) -> VerifyReport:
    """Check an exported ledger file against this store: the file must be signed with one of the store's
    ledger keys (unless ``public_key``, a key you trust, is given), so an edited export re-signed with
    another key is refused. The check is logged in this store's ledger.
    """
    authorize(ctx, action="ledger.verify", actor=actor, purpose=purpose)
    keys = {str(k): bytes(v) for k, v in ctx.store.iter_rows("SELECT key_id, public_key FROM ledger_keys")}
    try:
        report = _verify_export(path, public_key, store_keys=keys)
    except (OSError, ValueError, KeyError) as exc:
        refuse(ctx, action="ledger.verify", actor=actor, purpose=purpose, reason=f"unreadable export: {exc}",
               error=_unreadable_export(path, exc))
    record_use(ctx, action="ledger.verify", actor=actor, purpose=purpose,
               detail={"export": str(path), "ok": report.ok, "first_bad": report.first_bad,
                       "root_hash": report.root_hash, "key_id": report.key_id, "key_source": report.key_source})
    return report


def check_export(path: Path, *, public_key: bytes | None = None) -> VerifyReport:
    """Check an exported ledger file with no store at all (a journalist holding only the file); logs
    nothing, so it is not one of this module's services (kept out of ``__all__``).

    Without ``public_key`` the signature is checked against the key inside the file, which proves
    integrity but not origin: the report says so (``warning``).
    """
    try:
        return _verify_export(path, public_key)
    except (OSError, ValueError, KeyError) as exc:
        raise _unreadable_export(path, exc) from exc


def ledger_head(ctx: Context, *, actor: Actor, purpose: str | None = OVERSIGHT_PURPOSE) -> dict[str, Any]:
    """The latest signed tree head with the public key: what an outsider needs to check the ledger."""
    authorize(ctx, action="ledger.head", actor=actor, purpose=purpose)
    head = ctx.ledger.latest_head()
    if head is None:
        refuse(ctx, action="ledger.head", actor=actor, purpose=purpose, reason="the ledger is empty",
               error=NotFoundError("ledger head: the ledger is empty; nothing has been signed"))
    out = head.to_json(ctx.ledger.public_key(head.key_id))
    record_use(ctx, action="ledger.head", actor=actor, purpose=purpose,
               detail={"tree_size": head.tree_size, "root_hash": out["root_hash"]})
    return out


def inclusion_proof(ctx: Context, *, seq: int, actor: Actor, tree_size: int | None = None,
                    purpose: str | None = OVERSIGHT_PURPOSE) -> dict[str, Any]:
    """RFC 6962 audit path for entry ``seq`` against a signed head.

    Everyone may ask for one (``ledger.proof``); the entry's payload comes with it only for a role that
    may read entries (``ledger.list``). For anyone else it is withheld (``payload`` None,
    ``payload_withheld`` saying why): case names, free-text purposes and refusal reasons are staff-only,
    and the leaf hash and audit path are what an outsider checks against the signed head."""
    authorize(ctx, action="ledger.proof", actor=actor, purpose=purpose)
    try:
        proof = ctx.ledger.inclusion_proof(seq, tree_size)
    except (InputError, NotFoundError) as exc:
        refuse(ctx, action="ledger.proof", actor=actor, purpose=purpose, reason=str(exc), error=exc)
    withheld = not role_allows(actor.role, "ledger.list")
    if withheld:
        proof["payload"] = None
        proof["payload_withheld"] = (
            f"the entry's content is readable by staff, auditors and the board only (role {actor.role.value!r} "
            "may not read entries): this proof shows that the entry with this leaf hash is in the signed "
            "ledger; whoever holds the entry checks that SHA-256(0x00 || entry) is the leaf hash")
    record_use(ctx, action="ledger.proof", actor=actor, purpose=purpose,
               detail={"type": "inclusion", "leaf_index": seq, "tree_size": proof["tree_size"],
                       "payload_withheld": withheld})
    return proof


def consistency_proof(ctx: Context, *, actor: Actor, old_size: int | None = None, new_size: int | None = None,
                      purpose: str | None = OVERSIGHT_PURPOSE, root: str | None = None,
                      head: Mapping[str, Any] | None = None, source: str | None = None) -> dict[str, Any]:
    """RFC 6962 consistency proof from the tree at ``old_size`` to the signed head at ``new_size``
    (default the newest), with both roots and the signed heads (:meth:`Ledger.consistency_proof`).

    Everyone may ask for one (``ledger.proof``, as for an inclusion proof). ``root`` (64 hex digits)
    or ``head`` (a signed head as ``ledger head --json`` writes it; ``source`` names its file) is a
    head the agency published at ``old_size`` (with ``head``, ``old_size`` may be left out): the proof
    is then held to it, and a store whose tree at that size has another root, or no tree that large,
    raises :class:`~crimelens.errors.LedgerIntegrityError` naming both roots (exit 4). Every answer and
    refusal is logged; a mismatch as a refused ``ledger.proof`` with the published root.
    """
    authorize(ctx, action="ledger.proof", actor=actor, purpose=purpose)
    detail: dict[str, Any] = {"type": "consistency", "old_size": old_size}
    try:
        published = None
        if head is not None:
            published = PublishedHead.from_json(head, source=source or "the published head")
            if root is not None and root.strip().lower() != published.root_hash.hex():
                raise InputError(f"ledger proof: got --root {root} and {published.source} with root "
                                 f"{published.root_hash.hex()}; expected one published root (give either)")
            old_size = published.tree_size if old_size is None else old_size
        elif root is not None:
            if old_size is None:
                raise InputError("ledger proof: got --root without --from; expected the size of the published "
                                 "head whose root it is")
            published = PublishedHead.from_root(old_size, root, source=source or f"the published root at size {old_size}")
        if old_size is None:
            raise InputError("ledger proof: got no old size; expected --from M (or --head FILE, a published head)")
        detail["old_size"] = old_size
        if published is not None:
            detail.update(published_root=published.root_hash.hex(), published_key_id=published.key_id)
        proof = ctx.ledger.consistency_proof(old_size, new_size, published=published)
    except LedgerIntegrityError as exc:
        refuse(ctx, action="ledger.proof", actor=actor, purpose=purpose, reason=str(exc), error=exc,
               detail={**detail, "matches_published": False})
    except (InputError, NotFoundError) as exc:
        refuse(ctx, action="ledger.proof", actor=actor, purpose=purpose, reason=str(exc), error=exc, detail=detail)
    detail["new_size"] = proof["new_size"]
    if published is not None:
        detail["matches_published"] = True
    record_use(ctx, action="ledger.proof", actor=actor, purpose=purpose, detail=detail)
    return proof


def ledger_entries(ctx: Context, *, actor: Actor, purpose: str | None = OVERSIGHT_PURPOSE,
                   action: str | None = None, deployment: str | None = None,
                   limit: int | None = 100, from_seq: int | None = None, since: datetime | None = None,
                   until: datetime | None = None) -> list[dict[str, Any]]:
    """Entries (newest last) with their sequence numbers.

    ``limit`` keeps the newest that many of the matching entries; with ``from_seq`` it keeps the
    first that many from that sequence number on. ``since`` and ``until`` bound the time (UTC,
    ``until`` excluded).
    """
    if limit is not None and limit < 1:
        raise InvalidParameterError(f"ledger list: limit {limit}; expected 1 or more")
    if from_seq is not None and from_seq < 0:
        raise InvalidParameterError(f"ledger list: from {from_seq}; expected a sequence number, 0 or more")
    if since is not None and until is not None and until <= since:
        raise InvalidParameterError(f"ledger list: until {until.isoformat()} is not after since {since.isoformat()}")
    authorize(ctx, action="ledger.list", actor=actor, purpose=purpose)
    rows = ctx.ledger.entries(action=action, deployment=deployment, limit=limit, from_seq=from_seq, since=since,
                              until=until, newest=from_seq is None)
    record_use(ctx, action="ledger.list", actor=actor, purpose=purpose,
               detail={"filter_action": action, "filter_deployment": deployment, "from_seq": from_seq,
                       "since": since.isoformat() if since else None, "until": until.isoformat() if until else None,
                       "n": len(rows)})
    return [{"seq": s, **e.to_payload()} for s, e in rows]


# users ------------------------------------------------------------------------------------------
def _unprintable(c: str) -> bool:
    """Control, format (e.g. right-to-left override U+202E), separator and unassigned characters."""
    return unicodedata.category(c)[0] in "CZ" and c != " "


def add_user(ctx: Context, *, name: str, role: str | Role, actor: Actor,
             purpose: str | None = ADMIN_PURPOSE) -> tuple[dict[str, Any], str]:
    """Register a user; returns the user and their API token (shown once, stored only as a hash).

    The first user of a store must be an administrator and may add themself.
    """
    try:
        r = Role(role)
    except ValueError:
        refuse(ctx, action="users.add", actor=actor, purpose=purpose, reason=f"unknown role {role!r}",
               error=InputError(f"users add: got role {role!r}; expected one of {[x.value for x in Role if x is not Role.PUBLIC]}"))
    authorize(ctx, action="users.add", actor=actor, purpose=purpose)
    first = not ctx.store.scalar("SELECT count(*) FROM users")
    problem = None
    if r is Role.PUBLIC:
        problem = "members of the public are not registered users"
    elif first and r is not Role.ADMIN:
        problem = f"the first user must be an administrator; got role {r.value!r}"
    elif not name or not name.strip() or ":" in name:
        problem = f"user name {name!r} is empty or contains ':'"
    elif name != name.strip() or (bad := next((c for c in name if _unprintable(c)), None)) is not None:
        what = "leading or trailing spaces" if name != name.strip() else f"the character U+{ord(bad or ' '):04X}"
        problem = (f"user name {name!r} contains {what}; expected printable characters (no control, "
                   "line-break or text-direction characters, which make one name display as another)")
    elif db.user_row(ctx.store, name) is not None:
        problem = f"user {name!r} already exists"
    elif (alike := db.user_named_alike(ctx.store, name)) is not None:
        problem = (f"user name {name!r} differs from the existing user {alike!r} only by case; expected a name "
                   "that differs in more than case (user names are compared ignoring case)")
    if problem:
        refuse(ctx, action="users.add", actor=actor, purpose=purpose, reason=problem,
               error=InputError(f"users add {name!r}: {problem}"))
    token, token_id, digest = _new_token()
    with ctx.store.transaction():
        db.insert_user(ctx.store, name=name, role=r.value, token_id=token_id, token_sha256=digest,
                       created_at=ctx.now(), created_by=actor.user)
        record_use(ctx, action="users.add", actor=actor, purpose=purpose,
                   detail={"name": name, "role": r.value, "token_id": token_id})
    user = db.user_row(ctx.store, name)
    assert user is not None
    return {k: user[k] for k in ("name", "role", "active", "created_at", "created_by", "token_id")}, token


def disable_user(ctx: Context, *, name: str, actor: Actor, purpose: str | None = ADMIN_PURPOSE) -> None:
    """Disable ``name``: their token stops at once.

    Refused (and logged) when the user is not registered, when it is the caller's own account
    (another administrator must do it), and when it would leave no active administrator (nobody
    could then add, re-key or disable users). The checks run inside the transaction that disables,
    so two administrators disabling each other at once cannot both succeed.
    """
    authorize(ctx, action="users.disable", actor=actor, purpose=purpose)
    with ctx.store.transaction():
        row = db.user_row(ctx.store, name)
        if row is None:
            refuse(ctx, action="users.disable", actor=actor, purpose=purpose, reason=f"no user {name!r}",
                   error=NotFoundError(f"user {name!r}: not registered"))
        problem = None
        if row["role"] == Role.ADMIN.value and row["active"] and db.active_admins(ctx.store) == [name]:
            problem = (f"user {name!r} is the last active administrator; disabling them would leave nobody to "
                       "add, re-key or disable users: add another administrator first")
        elif name == actor.user:
            problem = "an administrator cannot disable their own account; ask another administrator"
        if problem is not None:
            refuse(ctx, action="users.disable", actor=actor, purpose=purpose, reason=problem,
                   error=PermissionDeniedError(f"users disable {name!r} by {actor.user}: refused: {problem}"),
                   detail={"name": name})
        db.set_user(ctx.store, name, active=False)
        record_use(ctx, action="users.disable", actor=actor, purpose=purpose, detail={"name": name})


def rotate_token(ctx: Context, *, name: str, actor: Actor, purpose: str | None = ADMIN_PURPOSE) -> str:
    """A new API token for ``name``; the old one stops working at once. Refused for a disabled user,
    whose tokens never work (a token printed for them would look usable)."""
    authorize(ctx, action="users.rotate_token", actor=actor, purpose=purpose)
    row = db.user_row(ctx.store, name)
    if row is None:
        refuse(ctx, action="users.rotate_token", actor=actor, purpose=purpose, reason=f"no user {name!r}",
               error=NotFoundError(f"user {name!r}: not registered"))
    if not row["active"]:
        why = f"user {name!r} is disabled; a token for them would never be accepted"
        refuse(ctx, action="users.rotate_token", actor=actor, purpose=purpose, reason=why,
               error=InputError(f"users rotate-token {name!r}: {why}"), detail={"name": name})
    token, token_id, digest = _new_token()
    with ctx.store.transaction():
        db.set_user(ctx.store, name, token_id=token_id, token_sha256=digest)
        record_use(ctx, action="users.rotate_token", actor=actor, purpose=purpose,
                   detail={"name": name, "token_id": token_id})
    return token


def list_users(ctx: Context, *, actor: Actor, purpose: str | None = ADMIN_PURPOSE) -> list[dict[str, Any]]:
    authorize(ctx, action="users.list", actor=actor, purpose=purpose)
    rows = db.users(ctx.store)
    record_use(ctx, action="users.list", actor=actor, purpose=purpose, detail={"n": len(rows)})
    return rows


def identify(ctx: Context, token: str) -> Actor:
    """The registered user an API token belongs to (constant-time hash comparison).

    Every attempt is logged: a failure as a refused ``users.authenticate`` entry, a
    success as an ``ok`` one naming the user.
    """
    actor, receipt = identify_deferred(ctx, token)
    ctx.ledger.wait(receipt)
    return actor


def token_is_valid(ctx: Context, token: str) -> bool:
    """Whether ``token`` names an active user, without logging anything (not a service: kept out of
    ``__all__``, whose every function writes one ledger entry).

    For the API's failed sign-in budget: once an address has spent it, a valid token still
    signs in (through :func:`identify_deferred`, logged), a bad one is refused unlogged.
    """
    import hmac

    try:
        token_id, digest = _token_parts(token)
    except PermissionDeniedError:
        return False
    row = db.find_user_by_token_id(ctx.store, token_id)
    return row is not None and hmac.compare_digest(str(row["token_sha256"]), digest) and bool(row["active"])


def identify_deferred(ctx: Context, token: str) -> tuple[Actor, LedgerReceipt]:
    """:func:`identify`, but the success entry is only queued: wait for the receipt before answering.

    A failure is logged and committed before the error is raised, as in :func:`identify`.
    """
    import hmac

    try:
        token_id, digest = _token_parts(token)
    except PermissionDeniedError as exc:
        refuse(ctx, action="users.authenticate", actor=Actor("unknown", Role.PUBLIC), purpose="authentication",
               reason="malformed token", error=exc)
    row = db.find_user_by_token_id(ctx.store, token_id)
    if row is None or not hmac.compare_digest(str(row["token_sha256"]), digest) or not row["active"]:
        refuse(ctx, action="users.authenticate", actor=Actor("unknown", Role.PUBLIC), purpose="authentication",
               reason=f"unknown, revoked or disabled token {token_id}",
               error=PermissionDeniedError(f"API token {token_id}: unknown, revoked or its user is disabled"))
    actor = Actor(str(row["name"]), Role(str(row["role"])))
    receipt = submit_use(ctx, action="users.authenticate", actor=actor, purpose="authentication",
                         detail={"token_id": token_id})
    return actor, receipt


# models, cards, datasheets ------------------------------------------------------------------------
def register_model(
    ctx: Context,
    *,
    name: str,
    version: str,
    params: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    actor: Actor,
    purpose: str | None = "model registration",
    kind: str | None = None,
    training_dataset: str | None = None,
    training_data_hash: str | None = None,
    code_version: str | None = None,
    artefact_hash: str | None = None,
    card_text: Mapping[str, str] | None = None,
    measured_by: str | None = None,
) -> ModelCard:
    """Register a fitted model with its parameters, data snapshot, code version and measured evaluation.

    ``evaluation`` holds ``metrics`` (name -> value), ``data`` (what it was evaluated on) and
    ``groups`` (factor -> group -> metric -> value, with ``n``): the card's numbers.
    ``measured_by`` names the crimelens run that measured them (``register_backtested``,
    ``register_risk_model``); without it the card's evaluation data says the figures were
    supplied by the registering user and not measured by crimelens. A version named like a
    stored risk model (``rm-...``) is refused here: ``register_risk_model`` takes its figures
    from its own card, so nobody can put other numbers on it.
    """
    authorize(ctx, action="models.register", actor=actor, purpose=purpose, model=name, model_version=version)
    unknown = sorted(set(card_text or {}) - set(CARD_FREE_TEXT))
    problem = None
    if unknown:
        problem = f"unknown card sections {unknown}; expected some of {list(CARD_FREE_TEXT)}"
    elif not isinstance(evaluation.get("metrics", {}), Mapping):
        problem = "evaluation['metrics'] must map metric names to values"
    elif not evaluation.get("metrics"):
        problem = "evaluation has no metrics; expected the model's measured figures (a card without them says nothing)"
    elif measured_by is None and _RISK_MODEL_ID.fullmatch(version):
        problem = (f"{version} names a crimelens risk model; register it with `crimelens risk register {version}`, "
                   "which puts the figures its fit measured on its card (figures given here are refused)")
    elif ctx.store.scalar("SELECT count(*) FROM models WHERE name = ? AND version = ?", [name, version]):
        problem = f"model {name} version {version} is already registered; register a new version"
    if problem:
        refuse(ctx, action="models.register", actor=actor, purpose=purpose, reason=problem,
               error=InputError(f"models register {name} {version}: {problem}"), model=name, model_version=version)
    data = evaluation.get("data", {})
    data = dict(data) if isinstance(data, Mapping) else ({"description": data} if data else {})
    data["figures"] = (f"measured by crimelens: {measured_by}" if measured_by is not None else
                       f"supplied by {actor.user} at registration; not measured by crimelens")
    evaluation = {**evaluation, "data": data}
    with ctx.store.transaction():
        seq = record_use(ctx, action="models.register", actor=actor, purpose=purpose, model=name,
                         model_version=version, params=dict(params), data_hash=training_data_hash,
                         artefact_hash=artefact_hash, detail={"code_version": code_version,
                                                              "training_dataset": training_dataset,
                                                              "text_sha256": _text_sha256(card_text or {})})
        db.insert_model(ctx.store, {
            "name": name, "version": version, "kind": kind, "params": dict(params),
            "training_dataset": training_dataset, "training_data_hash": training_data_hash,
            "code_version": code_version, "artefact_hash": artefact_hash, "evaluation": dict(evaluation),
            "card_text": dict(card_text or {}), "registered_at": ctx.now(), "registered_by": actor.user,
            "ledger_seq": seq,
        })
    return _card(ctx, name, version)


def _card(ctx: Context, name: str, version: str | None) -> ModelCard:
    row = db.model_row(ctx.store, name, version)
    details = {"name": row["name"], "version": row["version"], "kind": row["kind"],
               "parameters": row["params"], "code_version": row["code_version"],
               "artefact_hash": row["artefact_hash"], "registered_at": str(row["registered_at"]),
               "registered_by": row["registered_by"], "ledger_entry": row["ledger_seq"]}
    training = {"dataset": row["training_dataset"], "snapshot_sha256": row["training_data_hash"]}
    if row["training_dataset"]:
        training["datasheet"] = f"crimelens models datasheet {row['training_dataset']}"
    return ModelCard(str(row["name"]), str(row["version"]), details, row["evaluation"], training,
                     {k: str(v) for k, v in row["card_text"].items()})


def describe_model(ctx: Context, *, name: str, version: str, sections: Mapping[str, str], actor: Actor,
                   purpose: str | None = "model documentation") -> ModelCard:
    """Write the free-text card sections (intended use, factors, ethical considerations, caveats)."""
    authorize(ctx, action="models.describe", actor=actor, purpose=purpose, model=name, model_version=version)
    unknown = sorted(set(sections) - set(CARD_FREE_TEXT))
    if unknown:
        refuse(ctx, action="models.describe", actor=actor, purpose=purpose, reason=f"unknown sections {unknown}",
               error=InputError(f"models describe: got sections {unknown}; expected some of {list(CARD_FREE_TEXT)}"),
               model=name, model_version=version)
    try:
        row = db.model_row(ctx.store, name, version)
    except NotFoundError as exc:
        refuse(ctx, action="models.describe", actor=actor, purpose=purpose, reason=str(exc), error=exc,
               model=name, model_version=version)
    text = {**row["card_text"], **{k: v.strip() for k, v in sections.items()}}
    hashes = {"old_text_sha256": _text_sha256(row["card_text"]), "text_sha256": _text_sha256(text)}
    locked = [d for d in db.deployments(ctx.store)
              if d["model"] == name and d["model_version"] == version and d["state"] in CARD_LOCKED_STATES]
    if locked and text != row["card_text"]:
        names = ", ".join(f"{d['name']} ({d['state']})" for d in locked)
        why = (f"the card of {name} {version} is the one the public commented on and the board reviewed for "
               f"deployments {names}; it cannot change while they stand: register a new version and propose "
               "it, or decommission them first")
        refuse(ctx, action="models.describe", actor=actor, purpose=purpose, reason=why,
               error=ApprovalRequiredError(f"models describe {name} {version}: refused: {why}"),
               model=name, model_version=version, detail={"sections": sorted(sections), **hashes})
    with ctx.store.transaction():
        db.set_model_card_text(ctx.store, name, version, text)
        record_use(ctx, action="models.describe", actor=actor, purpose=purpose, model=name,
                   model_version=version, detail={"sections": sorted(sections), **hashes})
    return _card(ctx, name, version)


#: The deployment states in which a model card is frozen: from public comment on, the card is what the
#: public commented on and the board approved; it may change again only in draft, after a rejection
#: or once every deployment of it is decommissioned.
CARD_LOCKED_STATES = frozenset({DeploymentState.PUBLIC_COMMENT, DeploymentState.BOARD_REVIEW,
                                DeploymentState.APPROVED, DeploymentState.ACTIVE, DeploymentState.SUSPENDED})


def _text_sha256(text: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(dict(text), sort_keys=True).encode()).hexdigest()


def _card_text_records(ctx: Context) -> dict[tuple[str, str], tuple[int, str, str]]:
    """(model, version) -> (seq, action, text_sha256) of the last completed ledger entry that recorded the
    hash of the card's text: a ``models.describe``, or the ``models.register`` of a card written at
    registration (registrations logged before they recorded it have none: nothing to compare)."""
    out: dict[tuple[str, str], tuple[int, str, str]] = {}
    for seq, e in ctx.ledger.entries(action="models.*"):
        sha = e.detail.get("text_sha256") if isinstance(e.detail, Mapping) else None
        if (e.outcome == "ok" and e.action in ("models.register", "models.describe") and e.model is not None
                and isinstance(sha, str)):
            out[(e.model, str(e.model_version))] = (seq, e.action, sha)
    return out


def _card_text_check(text: Mapping[str, Any], record: tuple[int, str, str] | None) -> tuple[bool | None, str]:
    """Whether a card's stored text hashes to what its ledger entry recorded, and a sentence saying so."""
    if record is None:
        return None, ("no ledger entry records the hash of this card's text (registered before registrations "
                      "recorded it, and not described since), so it cannot be checked against the ledger")
    seq, action, recorded = record
    stored = _text_sha256(text)
    if stored == recorded:
        return True, f"the text matches the SHA-256 that ledger entry {seq} ({action}) recorded"
    return False, (f"WARNING: the stored text does not match the ledger: it hashes to SHA-256 {stored[:16]}…, "
                   f"but ledger entry {seq} ({action}) recorded {recorded[:16]}…; the text was changed outside "
                   "crimelens after that entry (or the entry was), so it is not the text that entry recorded")


def model_card(ctx: Context, *, name: str, actor: Actor, version: str | None = None,
               purpose: str | None = OVERSIGHT_PURPOSE) -> ModelCard:
    """A registered model's card. Its ``model_details`` carry ``text_ledger_check``: whether the stored
    free text hashes to the ``text_sha256`` that the last ``models.describe`` (or the registration) recorded
    in the ledger, which protects it; a text edited in the store's tables says so there (and in the entry,
    ``text_matches_ledger``)."""
    authorize(ctx, action="models.card", actor=actor, purpose=purpose, model=name, model_version=version)
    try:
        card = _card(ctx, name, version)
    except NotFoundError as exc:
        refuse(ctx, action="models.card", actor=actor, purpose=purpose, reason=str(exc), error=exc, model=name)
    matches, check = _card_text_check(card.text, _card_text_records(ctx).get((card.name, card.version)))
    card = dataclasses.replace(card, details={**card.details, "text_ledger_check": check})
    record_use(ctx, action="models.card", actor=actor, purpose=purpose, model=card.name,
               model_version=card.version, detail={"missing": card.missing_sections(), "text_matches_ledger": matches})
    return card


def list_models(ctx: Context, *, actor: Actor, purpose: str | None = OVERSIGHT_PURPOSE) -> list[dict[str, Any]]:
    authorize(ctx, action="models.list", actor=actor, purpose=purpose)
    rows = db.models(ctx.store)
    record_use(ctx, action="models.list", actor=actor, purpose=purpose, detail={"n": len(rows)})
    return rows


def write_datasheet(ctx: Context, *, dataset: str, answers: Mapping[str, str], actor: Actor,
                    purpose: str | None = "data documentation") -> Datasheet:
    """Record people's answers to the datasheet questions (merged with earlier answers)."""
    authorize(ctx, action="datasheets.write", actor=actor, purpose=purpose)
    keys = [k for k, _, _ in DATASHEET_QUESTIONS]
    unknown = sorted(set(answers) - set(keys))
    if unknown:
        refuse(ctx, action="datasheets.write", actor=actor, purpose=purpose, reason=f"unknown questions {unknown}",
               error=InputError(f"datasheet {dataset!r}: got questions {unknown}; expected some of {keys}"))
    merged = {**db.get_datasheet_answers(ctx.store, dataset), **{k: v.strip() for k, v in answers.items()}}
    with ctx.store.transaction():
        db.upsert_datasheet(ctx.store, dataset, merged, ctx.now(), actor.user)
        record_use(ctx, action="datasheets.write", actor=actor, purpose=purpose,
                   detail={"dataset": dataset, "questions": sorted(answers)})
    return _datasheet(ctx, dataset)


def _datasheet(ctx: Context, dataset: str) -> Datasheet:
    s = ctx.store
    n = int(s.scalar("SELECT count(*) FROM incidents WHERE dataset = ?", [dataset]))
    measured: dict[str, Any] = {"incidents": n}
    if n:
        lo, hi = next(iter(s.iter_rows(
            "SELECT min(occurred_from), max(occurred_to) FROM incidents WHERE dataset = ?", [dataset])))
        measured["occurred_from"] = str(lo)
        measured["occurred_to"] = str(hi)
        measured["offenses"] = {str(o): int(c) for o, c in s.iter_rows(
            "SELECT offense, count(*) FROM incidents WHERE dataset = ? GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
            [dataset])}
        measured["areas"] = int(s.scalar("SELECT count(DISTINCT area) FROM incidents WHERE dataset = ?", [dataset]))
        measured["share_with_reported_at"] = round(float(s.scalar(
            "SELECT avg(CASE WHEN reported_at IS NULL THEN 0 ELSE 1 END) FROM incidents WHERE dataset = ?",
            [dataset])), 4)
        measured["crs"] = str(s.scalar("SELECT any_value(crs) FROM incidents WHERE dataset = ?", [dataset]))
    ingests = list(s.iter_rows(
        "SELECT file, file_sha256, n_read, n_landed, n_quarantined, transform_accuracy_m FROM ingests"
        " WHERE dataset = ? ORDER BY started_at", [dataset]))
    if ingests:
        measured["files"] = [{"file": f, "sha256": h, "read": r, "landed": la, "quarantined": q,
                              "projection_accuracy_m": a} for f, h, r, la, q, a in ingests]
        measured["quarantined_rows"] = int(sum(int(q) for *_, q, _a in ingests))
    answers = db.get_datasheet_answers(s, dataset)
    if not n and not ingests and not answers:
        raise NotFoundError(f"dataset {dataset!r}: no incidents, ingests or datasheet answers in the store")
    return Datasheet(dataset, measured, answers)


def datasheet(ctx: Context, *, dataset: str, actor: Actor, purpose: str | None = OVERSIGHT_PURPOSE) -> Datasheet:
    """The datasheet of a dataset: counts from the store plus people's answers."""
    authorize(ctx, action="datasheets.show", actor=actor, purpose=purpose)
    try:
        sheet = _datasheet(ctx, dataset)
    except NotFoundError as exc:
        refuse(ctx, action="datasheets.show", actor=actor, purpose=purpose, reason=str(exc), error=exc)
    record_use(ctx, action="datasheets.show", actor=actor, purpose=purpose,
               detail={"dataset": dataset, "missing": sheet.missing()})
    return sheet


# deployments ----------------------------------------------------------------------------------------
def create_deployment(ctx: Context, *, name: str, model: str, model_version: str, description: str,
                      policy: UsePolicy, actor: Actor, purpose: str | None = "deployment proposal") -> dict[str, Any]:
    """Propose a deployment of a registered model under a use policy; it starts as a draft."""
    authorize(ctx, action="deployments.create", actor=actor, purpose=purpose, deployment=name,
              require_active=False, model=model, model_version=model_version)
    problem = None
    if not name or not name.strip():
        problem = "empty deployment name"
    elif db.deployment_row(ctx.store, name) is not None:
        problem = f"deployment {name!r} already exists"
    elif not ctx.store.scalar("SELECT count(*) FROM models WHERE name = ? AND version = ?", [model, model_version]):
        problem = f"model {model} version {model_version} is not registered (crimelens models register)"
    elif not policy.allowed_purposes:
        problem = "the use policy names no allowed purpose"
    elif not description.strip():
        problem = "empty description; the public must be told what the deployment is for"
    if problem:
        refuse(ctx, action="deployments.create", actor=actor, purpose=purpose, reason=problem,
               error=InputError(f"deployments create {name!r}: {problem}"), deployment=name)
    policy = _scoped_to_card(ctx, policy, model, model_version)
    now = ctx.now()
    with ctx.store.transaction():
        db.insert_deployment(ctx.store, {
            "name": name, "model": model, "model_version": model_version, "description": description,
            "state": DeploymentState.DRAFT.value, "policy": json.dumps(policy.to_json(), sort_keys=True),
            "assessment": None, "review_round": 0, "created_at": now, "created_by": actor.user,
            "state_changed_at": now, "state_reason": "proposed",
        })
        seq = record_use(ctx, action="deployments.create", actor=actor, purpose=purpose, deployment=name,
                         require_active=False, model=model, model_version=model_version,
                         detail={"from": None, "to": "draft", "reason": "proposed", "description": description,
                                 "policy": policy.to_json()})
        db.add_deployment_event(ctx.store, deployment=name, from_state=None, to_state="draft",
                                by_user=actor.user, by_role=str(actor.role), reason="proposed", at=now,
                                ledger_seq=seq)
    row = db.deployment_row(ctx.store, name)
    assert row is not None
    return row


def _scoped_to_card(ctx: Context, policy: UsePolicy, model: str, version: str) -> UsePolicy:
    """``policy`` with the datasets and offences the model card's figures were measured on, where it
    names none: a deployment approved on a card's figures serves that data, not any (an explicit
    list in the policy stands, for the board to weigh against the card)."""
    raw = ctx.store.scalar("SELECT evaluation FROM models WHERE name = ? AND version = ?", [model, version])
    data = (json.loads(str(raw)) if raw else {}).get("data") or {}
    if not isinstance(data, dict):
        return policy
    fill: dict[str, tuple[str, ...]] = {}
    for key, field_name in (("dataset", "datasets"), ("offense", "offenses")):
        if not getattr(policy, field_name) and isinstance(data.get(key), str) and data[key]:
            fill[field_name] = (data[key],)
    return dataclasses.replace(policy, **fill) if fill else policy  # type: ignore[arg-type]


def assess_impact(ctx: Context, *, deployment: str, answers: Mapping[str, str], actor: Actor,
                  purpose: str | None = "impact assessment") -> AssessmentResult:
    """Score the AIA questionnaire for a draft deployment and store the result."""
    authorize(ctx, action="deployments.assess", actor=actor, purpose=purpose, deployment=deployment,
              require_active=False)
    row = _dep(ctx, deployment, action="deployments.assess", actor=actor, purpose=purpose)
    try:
        if row["state"] != DeploymentState.DRAFT:
            raise ApprovalRequiredError(
                f"deployment {deployment!r}: the impact assessment is made in draft; it is {row['state']}")
        result = assess(answers)
    except (InputError, ApprovalRequiredError) as exc:
        refuse(ctx, action="deployments.assess", actor=actor, purpose=purpose, reason=str(exc), error=exc,
               deployment=deployment)
    with ctx.store.transaction():
        db.update_deployment(ctx.store, deployment, assessment=json.dumps(result.to_json(), sort_keys=True))
        record_use(ctx, action="deployments.assess", actor=actor, purpose=purpose, deployment=deployment,
                   require_active=False, detail=result.to_json())
    return result


def open_public_comment(ctx: Context, *, deployment: str, actor: Actor,
                        purpose: str | None = "public notice") -> dict[str, Any]:
    """draft -> public_comment. Needs a completed impact assessment and a complete model card."""
    def check(row: Mapping[str, Any]) -> None:
        if not row.get("assessment"):
            raise ApprovalRequiredError(f"deployment {deployment!r}: no impact assessment yet (deployments assess)")
        card = _card(ctx, str(row["model"]), str(row["model_version"]))
        missing = card.missing_sections()
        if missing:
            raise ApprovalRequiredError(
                f"deployment {deployment!r}: the model card of {card.name} {card.version} lacks {missing}; "
                "write them before public comment (models describe)")

    return _transition(ctx, name=deployment, transition="open_comment", action="deployments.open_comment",
                       actor=actor, purpose=purpose, reason="public comment opened", check=check,
                       updates={"comment_opened_at": ctx.now()})


def _demo() -> bool:
    return os.environ.get(DEMO_SETTING, "").strip().lower() in ("1", "true", "yes", "on")


def _floors(ctx: Context, policy: UsePolicy) -> dict[str, Any]:
    """The comment period and quorum a deployment's steps require: its policy's, but never below the
    floors the proposer cannot lower (:data:`MIN_COMMENT_DAYS_FLOOR` days; a majority of the active
    board members), unless the demonstration setting (:data:`DEMO_SETTING`) is on. Recorded in the
    ledger entry of each step that checks them."""
    n_board = int(ctx.store.scalar("SELECT count(*) FROM users WHERE role = 'board' AND active"))
    demo = _demo()
    days_floor = 0 if demo else MIN_COMMENT_DAYS_FLOOR
    quorum_floor = 1 if demo else board_quorum_floor(n_board)
    return {"min_comment_days": max(policy.min_comment_days, days_floor),
            "board_quorum": max(policy.board_quorum, quorum_floor), "board_members": n_board,
            "demo": demo}


def _period_over(ctx: Context, deployment: str, row: Mapping[str, Any], column: str, what: str) -> None:
    """Raise unless the comment period opened at ``row[column]`` has run the required minimum days
    (the policy's, not below the floor: :func:`_floors`)."""
    opened = row.get(column)
    days = _floors(ctx, _policy(row))["min_comment_days"]
    if opened is None or ctx.now() < opened + timedelta(days=days):
        raise ApprovalRequiredError(
            f"deployment {deployment!r}: the {what} runs {days} days from {utc_text(opened)}; "
            f"it is now {utc_text(ctx.now())}; expected at least {utc_text(opened + timedelta(days=days)) if opened else '?'}")


def _renewal_open(row: Mapping[str, Any]) -> bool:
    return row.get("renewal_opened_at") is not None and row["state"] in (DeploymentState.ACTIVE,
                                                                         DeploymentState.SUSPENDED)


def comment(ctx: Context, *, deployment: str, body: str, actor: Actor,
            purpose: str | None = "public comment") -> int:
    """A comment from anyone (the public included) while the deployment is open for comment:
    before the board's first review (stage ``public``) or before a renewal (stage ``renewal``)."""
    authorize(ctx, action="deployments.comment", actor=actor, purpose=purpose, deployment=deployment,
              require_active=False)
    row = _dep(ctx, deployment, action="deployments.comment", actor=actor, purpose=purpose)
    renewal = _renewal_open(row)
    if (row["state"] != DeploymentState.PUBLIC_COMMENT and not renewal) or not body.strip():
        why = "empty comment" if not body.strip() else (
            f"deployment is {row['state']}, not open for public comment (nor for comment on a renewal)")
        refuse(ctx, action="deployments.comment", actor=actor, purpose=purpose, reason=why,
               error=ApprovalRequiredError(f"comment on {deployment!r}: {why}"), deployment=deployment)
    stage = "renewal" if renewal else "public"
    with ctx.store.transaction():
        seq = record_use(ctx, action="deployments.comment", actor=actor, purpose=purpose, deployment=deployment,
                         require_active=False, detail={"body_sha256": hashlib.sha256(body.encode()).hexdigest(),
                                                       "stage": stage})
        db.add_comment(ctx.store, deployment=deployment, stage=stage, author=actor.user, role=str(actor.role),
                       body=body.strip(), at=ctx.now(), ledger_seq=seq)
    return seq


def start_board_review(ctx: Context, *, deployment: str, actor: Actor,
                       purpose: str | None = "oversight review") -> dict[str, Any]:
    """public_comment -> board_review, once the minimum comment period has passed."""
    def check(row: Mapping[str, Any]) -> None:
        _period_over(ctx, deployment, row, "comment_opened_at", "public comment period")

    row = db.deployment_row(ctx.store, deployment)
    next_round = (int(row["review_round"]) + 1) if row else 1
    return _transition(ctx, name=deployment, transition="start_review", action="deployments.start_review",
                       actor=actor, purpose=purpose, reason="board review opened", check=check,
                       updates={"review_opened_at": ctx.now(), "review_round": next_round},
                       detail={"floors": _floors(ctx, _policy(row))} if row else None)


def board_comment(ctx: Context, *, deployment: str, body: str, actor: Actor,
                  purpose: str | None = OVERSIGHT_PURPOSE) -> int:
    """A board member's recorded comment during board review."""
    authorize(ctx, action="deployments.board_comment", actor=actor, purpose=purpose, deployment=deployment,
              require_active=False)
    row = _dep(ctx, deployment, action="deployments.board_comment", actor=actor, purpose=purpose)
    if row["state"] != DeploymentState.BOARD_REVIEW or not body.strip():
        why = "empty comment" if not body.strip() else f"deployment is {row['state']}, not under board review"
        refuse(ctx, action="deployments.board_comment", actor=actor, purpose=purpose, reason=why,
               error=ApprovalRequiredError(f"board comment on {deployment!r}: {why}"), deployment=deployment)
    with ctx.store.transaction():
        seq = record_use(ctx, action="deployments.board_comment", actor=actor, purpose=purpose,
                         deployment=deployment, require_active=False, detail={"body": body.strip()})
        db.add_comment(ctx.store, deployment=deployment, stage="board", author=actor.user, role=str(actor.role),
                       body=body.strip(), at=ctx.now(), ledger_seq=seq)
    return seq


VOTES = ("approve", "reject", "abstain")


def vote(ctx: Context, *, deployment: str, choice: str, actor: Actor, reason: str | None = None,
         purpose: str | None = OVERSIGHT_PURPOSE) -> int:
    """A board member's vote in the current review round (a later vote replaces theirs), with the
    member's reason: it stands on the public record beside the vote (refused, and logged, without one)."""
    authorize(ctx, action="deployments.vote", actor=actor, purpose=purpose, deployment=deployment,
              require_active=False)
    row = _dep(ctx, deployment, action="deployments.vote", actor=actor, purpose=purpose)
    why, reason_missing = None, False
    if choice not in VOTES:
        why = f"got vote {choice!r}; expected one of {VOTES}"
    elif row["state"] != DeploymentState.BOARD_REVIEW:
        why = f"deployment is {row['state']}, not under board review"
    elif ((member := db.user_row(ctx.store, actor.user)) is not None and row.get("review_opened_at") is not None
          and member["created_at"] > row["review_opened_at"]):
        # an administrator registers board members: one added while a review is open could decide it
        why = (f"board member {actor.user!r} was registered at {utc_text(member['created_at'])}, after review "
               f"round {int(row['review_round'])} opened at {utc_text(row['review_opened_at'])}; a member votes "
               "in the rounds that open after they joined, so that members added during a review cannot decide it")
    elif reason_missing := not (reason and reason.strip()):
        why = "got no reason; expected a sentence saying why, which the public record shows beside the vote"
    if why:
        refuse(ctx, action="deployments.vote", actor=actor, purpose=purpose, reason=why,
               error=(InputError if reason_missing else ApprovalRequiredError)(f"vote on {deployment!r}: {why}"),
               deployment=deployment)
    assert reason is not None
    with ctx.store.transaction():
        seq = record_use(ctx, action="deployments.vote", actor=actor, purpose=purpose, deployment=deployment,
                         require_active=False, decision={"vote": choice, "reason": reason.strip(),
                                                         "round": int(row["review_round"])})
        db.add_board_vote(ctx.store, deployment=deployment, review_round=int(row["review_round"]),
                          voter=actor.user, vote=choice, reason=reason.strip(), at=ctx.now(), ledger_seq=seq)
    return seq


def close_review(ctx: Context, *, deployment: str, actor: Actor,
                 purpose: str | None = OVERSIGHT_PURPOSE) -> dict[str, Any]:
    """board_review -> approved or rejected, from the recorded votes.

    Needs at least ``board_quorum`` votes (abstentions count to the quorum). Approved when
    more approve than reject (level IV impact: no vote against) and the use policy has the
    controls the impact level requires; rejected when at least as many reject.
    """
    row = db.deployment_row(ctx.store, deployment)
    votes = db.board_votes(ctx.store, deployment, int(row["review_round"])) if row else []
    n_for = sum(v["vote"] == "approve" for v in votes)
    n_against = sum(v["vote"] == "reject" for v in votes)
    level = json.loads(row["assessment"])["level"] if row and row.get("assessment") else None
    approve = n_for > n_against and not (level == "IV" and n_against > 0)

    floors = _floors(ctx, _policy(row)) if row else None

    def check(r: Mapping[str, Any]) -> None:
        policy = _policy(r)
        quorum = _floors(ctx, policy)["board_quorum"]
        if len(votes) < quorum:
            raise ApprovalRequiredError(
                f"deployment {deployment!r}: got {len(votes)} board vote{'' if len(votes) == 1 else 's'}; the quorum is "
                f"{quorum} (the use policy's "
                f"{policy.board_quorum}, at least a majority of the {floors['board_members'] if floors else '?'} "
                "board members)")
        if approve:
            missing = missing_controls(level or "IV", policy)
            if missing:
                raise ApprovalRequiredError(
                    f"deployment {deployment!r}: impact level {level} requires controls the use policy lacks: "
                    + "; ".join(missing))

    now = ctx.now()
    policy = _policy(row) if row else UsePolicy(allowed_purposes=("-",))
    updates = {"approved_at": now, "approved_until": now + timedelta(days=policy.approval_days)} if approve else {}
    return _transition(ctx, name=deployment, transition="approve" if approve else "reject",
                       action="deployments.close_review", actor=actor, purpose=purpose,
                       reason=f"board vote: {n_for} for, {n_against} against, {len(votes) - n_for - n_against} abstaining",
                       check=check, updates=updates,
                       detail={"votes": {v["voter"]: v["vote"] for v in votes}, "impact_level": level,
                               "floors": floors})


def revise(ctx: Context, *, deployment: str, actor: Actor, purpose: str | None = "deployment proposal") -> dict[str, Any]:
    """rejected -> draft, to change the proposal and go through comment and review again."""
    return _transition(ctx, name=deployment, transition="revise", action="deployments.revise", actor=actor,
                       purpose=purpose, reason="returned to draft after rejection",
                       updates={"comment_opened_at": None, "review_opened_at": None})


def activate(ctx: Context, *, deployment: str, actor: Actor, purpose: str | None = ADMIN_PURPOSE) -> dict[str, Any]:
    """approved -> active."""
    return _transition(ctx, name=deployment, transition="activate", action="deployments.activate", actor=actor,
                       purpose=purpose, reason="activated after board approval")


def suspend(ctx: Context, *, deployment: str, reason: str, actor: Actor,
            purpose: str | None = OVERSIGHT_PURPOSE) -> dict[str, Any]:
    """The kill switch of one deployment: active -> suspended, effective on the next call."""
    why = _require_reason(ctx, reason, action="deployments.suspend", actor=actor, purpose=purpose,
                          deployment=deployment)
    return _transition(ctx, name=deployment, transition="suspend", action="deployments.suspend", actor=actor,
                       purpose=purpose, reason=why)


def resume(ctx: Context, *, deployment: str, reason: str, actor: Actor,
           purpose: str | None = OVERSIGHT_PURPOSE) -> dict[str, Any]:
    """suspended -> active, with a reason (e.g. the incident was resolved)."""
    why = _require_reason(ctx, reason, action="deployments.resume", actor=actor, purpose=purpose,
                          deployment=deployment)

    def check(row: Mapping[str, Any]) -> None:
        until = row.get("approved_until")
        if until is not None and ctx.now() >= until:
            raise ApprovalRequiredError(f"deployment {deployment!r}: its approval lapsed on {until}; renew it first")

    return _transition(ctx, name=deployment, transition="resume", action="deployments.resume", actor=actor,
                       purpose=purpose, reason=why, check=check)


def open_renewal(ctx: Context, *, deployment: str, actor: Actor,
                 purpose: str | None = "public notice") -> dict[str, Any]:
    """Open the public comment period a renewal needs; the deployment keeps running meanwhile."""
    def check(row: Mapping[str, Any]) -> None:
        if row.get("renewal_opened_at") is not None:
            raise ApprovalRequiredError(
                f"deployment {deployment!r}: a renewal comment period is already open since {utc_text(row['renewal_opened_at'])}")

    return _transition(ctx, name=deployment, transition="open_renewal", action="deployments.open_renewal",
                       actor=actor, purpose=purpose, reason="renewal comment opened", check=check,
                       updates={"renewal_opened_at": ctx.now()})


def renew(ctx: Context, *, deployment: str, reason: str, actor: Actor,
          purpose: str | None = OVERSIGHT_PURPOSE) -> dict[str, Any]:
    """The board renews an approval for another ``approval_days``, once a renewal comment period
    (``open_renewal``) has run at least the policy's ``min_comment_days``; that closes it."""
    why = _require_reason(ctx, reason, action="deployments.renew", actor=actor, purpose=purpose,
                          deployment=deployment)

    def check(row: Mapping[str, Any]) -> None:
        if row.get("renewal_opened_at") is None:
            raise ApprovalRequiredError(
                f"deployment {deployment!r}: no renewal comment period is open; a renewal goes back to the "
                "public first (deployments open-renewal)")
        _period_over(ctx, deployment, row, "renewal_opened_at", "renewal comment period")

    row = db.deployment_row(ctx.store, deployment)
    days = _policy(row).approval_days if row else 365
    opened = row.get("renewal_opened_at") if row else None
    n = 0 if opened is None else sum(c["stage"] == "renewal" and c["posted_at"] >= opened
                                     for c in db.deployment_comments(ctx.store, deployment))
    return _transition(ctx, name=deployment, transition="renew", action="deployments.renew", actor=actor,
                       purpose=purpose, reason=why, check=check,
                       updates={"approved_until": ctx.now() + timedelta(days=days), "renewal_opened_at": None},
                       detail={"renewal_comments": n, "floors": _floors(ctx, _policy(row)) if row else None})


def decommission(ctx: Context, *, deployment: str, reason: str, actor: Actor,
                 purpose: str | None = OVERSIGHT_PURPOSE) -> dict[str, Any]:
    why = _require_reason(ctx, reason, action="deployments.decommission", actor=actor, purpose=purpose,
                          deployment=deployment)
    return _transition(ctx, name=deployment, transition="decommission", action="deployments.decommission",
                       actor=actor, purpose=purpose, reason=why)


def purge_expired_outputs(ctx: Context, *, actor: Actor, deployment: str | None = None, dry_run: bool = False,
                          purpose: str | None = ADMIN_PURPOSE) -> dict[str, Any]:
    """Delete the outputs a deployment's use policy no longer lets the store keep.

    For each deployment (or the one named) whose policy sets ``retention_days["outputs"]``,
    the outputs made under it (forecast runs, near-repeat alerts, linkage pair and series
    runs) whose ledger entry is older than that many days are deleted, in one transaction
    with one ``deployments.purge`` ledger entry that lists each output, the entry that
    logged it and the rows removed. A review still pending on a deleted output is closed with the
    status ``purged`` (named in the entry, ``review_items_closed``): nobody can decide on an output
    that is gone. The ledger entries themselves stay: the record that an
    output existed, with its hash, outlives the output. Research outputs (no deployment) and
    inputs (incidents) are not touched. ``dry_run`` lists without deleting (and is logged too).
    """
    fields: dict[str, Any] = {"deployment": deployment} if deployment else {}
    authorize(ctx, action="deployments.purge", actor=actor, purpose=purpose, require_active=False, **fields)
    names = [deployment] if deployment else [str(r["name"]) for r in db.deployments(ctx.store)]
    rows = [_dep(ctx, n, action="deployments.purge", actor=actor, purpose=purpose) for n in names]
    now = ctx.now()
    report: dict[str, Any] = {"at": now.isoformat(), "dry_run": dry_run, "deployments": []}
    with ctx.store.transaction():
        for row in rows:
            days = _policy(row).retention_days.get("outputs")
            item: dict[str, Any] = {"deployment": row["name"], "retention_days": days, "cutoff": None,
                                    "purged": []}
            report["deployments"].append(item)
            if days is None:
                continue
            cutoff = now - timedelta(days=int(days))
            item["cutoff"] = cutoff.isoformat()
            for e in db.outputs_logged_before(ctx.store, row["name"], cutoff):
                if not e["output_id"]:
                    continue
                counts = db.delete_output(ctx.store, e["action"], e["output_id"], dry_run=dry_run)
                if sum(counts.values()) == 0:
                    continue  # purged before
                # a review still pending on a deleted output could only be decided unseen: it is closed as purged
                pending = [r["item_id"] for r in db.review_items(ctx.store, status="pending", deployment=row["name"])
                           if int(r["source_seq"]) == int(e["seq"])]
                if not dry_run:
                    for review in pending:
                        db.set_review_status(ctx.store, review, "purged", now)
                item["purged"].append({"action": e["action"], "output_id": e["output_id"], "ledger_seq": e["seq"],
                                       "logged_at": e["at_utc"].isoformat(), "rows": counts,
                                       **({"review_items_closed": pending} if pending else {})})
        n = sum(len(d["purged"]) for d in report["deployments"])
        seq = record_use(ctx, action="deployments.purge", actor=actor, purpose=purpose, require_active=False,
                         detail={"dry_run": dry_run, "n_outputs": n,
                                 "deployments": [{"deployment": d["deployment"], "retention_days": d["retention_days"],
                                                  "cutoff": d["cutoff"],
                                                  "purged": [[p["action"], p["output_id"], p["ledger_seq"]]
                                                             for p in d["purged"]],
                                                  "review_items_closed": [r for p in d["purged"]
                                                                          for r in p.get("review_items_closed", [])]}
                                                 for d in report["deployments"]]},
                         **fields)
    if not dry_run:
        from crimelens.services.dashboard import forget_outputs

        forget_outputs(ctx, [p["output_id"] for d in report["deployments"] for p in d["purged"]])
    report["n_outputs"] = n
    report["ledger_seq"] = seq
    return report


def effective_state(ctx: Context, row: Mapping[str, Any], switch: Mapping[str, Any] | None) -> str:
    """What a deployment's stored ``state`` means now: ``"active"`` only when it may be used; an
    active deployment under the global kill switch reads ``"blocked: kill switch engaged at ... by ...
    (reason)"``, one whose approval ran out ``"lapsed: approval ended ..."``; any other state as stored.
    (Not a service: it logs nothing; ``list_deployments`` and ``show_deployment`` add it to each row.)"""
    state = str(row["state"])
    if state != DeploymentState.ACTIVE:
        return state
    if switch is not None:
        return f"blocked: kill switch engaged at {switch['changed_at']} by {switch['by_user']} ({switch['reason']})"
    until = row.get("approved_until")
    if until is not None and ctx.now() >= until:
        return f"lapsed: approval ended {until}; the board must renew it"
    return state


def _kill_switch_json(switch: Mapping[str, Any] | None) -> dict[str, Any]:
    if switch is None:
        return {"engaged": False}
    return {"engaged": True, "since": str(switch["changed_at"]), "by": switch["by_user"], "reason": switch["reason"]}


def kill_switch_status(ctx: Context, *, actor: Actor, purpose: str | None = OVERSIGHT_PURPOSE) -> dict[str, Any]:
    """Whether the global kill switch is engaged now, since when, by whom and why (public)."""
    authorize(ctx, action="killswitch.show", actor=actor, purpose=purpose)
    out = _kill_switch_json(db.global_kill_switch(ctx.store))
    record_use(ctx, action="killswitch.show", actor=actor, purpose=purpose, detail={"engaged": out["engaged"]})
    return out


def list_deployments(ctx: Context, *, actor: Actor, purpose: str | None = OVERSIGHT_PURPOSE) -> list[dict[str, Any]]:
    """Every deployment with its stored ``state`` and its ``effective_state`` (see :func:`effective_state`)
    and the global ``kill_switch`` (the same on every row)."""
    authorize(ctx, action="deployments.list", actor=actor, purpose=purpose)
    rows = db.deployments(ctx.store)
    switch = db.global_kill_switch(ctx.store)
    for r in rows:
        r["effective_state"] = effective_state(ctx, r, switch)
        r["kill_switch"] = _kill_switch_json(switch)
    record_use(ctx, action="deployments.list", actor=actor, purpose=purpose, detail={"n": len(rows)})
    return rows


def deployment_floors(ctx: Context, deployment: str, policy: Mapping[str, Any]) -> dict[str, Any]:
    """The floors a deployment's steps applied, as their ledger entries recorded them (``detail.floors``),
    and how long its comment periods ran: :func:`crimelens.governance._report.floors_record`. Where the
    demonstration setting lowered them, ``demo_lowered`` is true and ``note`` says so plainly.
    ``required`` is what the deployment's next step requires at this moment (:func:`_floors`:
    the comment days and quorum its pages state). (Not a service: it logs nothing;
    :func:`show_deployment` adds it to the record.)"""
    steps = ("deployments.open_comment", "deployments.start_review", "deployments.close_review",
             "deployments.open_renewal", "deployments.renew")
    entries = [x for action in steps for x in ctx.ledger.entries(action=action, deployment=deployment)]
    return floors_record(entries, policy=policy, floor_days=MIN_COMMENT_DAYS_FLOOR,
                         required=_floors(ctx, UsePolicy.from_mapping(policy)))


def show_deployment(ctx: Context, *, deployment: str, actor: Actor,
                    purpose: str | None = OVERSIGHT_PURPOSE) -> dict[str, Any]:
    """A deployment with its policy, assessment, events, comments and current votes, and the floors its
    steps applied (``floors``: :func:`deployment_floors`, from the ledger)."""
    authorize(ctx, action="deployments.show", actor=actor, purpose=purpose, deployment=deployment,
              require_active=False)
    row = dict(_dep(ctx, deployment, action="deployments.show", actor=actor, purpose=purpose))
    row["policy"] = json.loads(row["policy"])
    row["assessment"] = json.loads(row["assessment"]) if row.get("assessment") else None
    row["events"] = db.deployment_events(ctx.store, deployment)
    row["comments"] = db.deployment_comments(ctx.store, deployment)
    row["votes"] = db.board_votes(ctx.store, deployment, int(row["review_round"]))
    for v in row["votes"]:  # how long each voter has been on the board (an administrator registers members)
        member = db.user_row(ctx.store, str(v["voter"]))
        v["member_since"] = member["created_at"] if member is not None else None
    row["floors"] = deployment_floors(ctx, deployment, row["policy"])
    switch = db.global_kill_switch(ctx.store)
    row["effective_state"] = effective_state(ctx, row, switch)
    row["kill_switch"] = _kill_switch_json(switch)
    record_use(ctx, action="deployments.show", actor=actor, purpose=purpose, deployment=deployment,
               require_active=False, detail={"state": row["state"]})
    return row


# kill switch, incidents, complaints ----------------------------------------------------------------------
def engage_kill_switch(ctx: Context, *, reason: str, actor: Actor, purpose: str | None = OVERSIGHT_PURPOSE) -> None:
    """Global kill switch: every deployment is refused from the next call on."""
    why = _require_reason(ctx, reason, action="killswitch.engage", actor=actor, purpose=purpose)
    authorize(ctx, action="killswitch.engage", actor=actor, purpose=purpose)
    with ctx.store.transaction():
        db.set_global_kill_switch(ctx.store, engaged=True, reason=why, by_user=actor.user, at=ctx.now())
        record_use(ctx, action="killswitch.engage", actor=actor, purpose=purpose, detail={"reason": why})


def release_kill_switch(ctx: Context, *, reason: str, actor: Actor, purpose: str | None = OVERSIGHT_PURPOSE) -> None:
    why = _require_reason(ctx, reason, action="killswitch.release", actor=actor, purpose=purpose)
    authorize(ctx, action="killswitch.release", actor=actor, purpose=purpose)
    with ctx.store.transaction():
        db.set_global_kill_switch(ctx.store, engaged=False, reason=why, by_user=actor.user, at=ctx.now())
        record_use(ctx, action="killswitch.release", actor=actor, purpose=purpose, detail={"reason": why})


INCIDENT_KINDS = ("error", "harm", "breach")


def report_incident(ctx: Context, *, kind: str, severity: str, description: str, actor: Actor,
                    deployment: str | None = None, purpose: str | None = "incident report") -> dict[str, Any]:
    """Report an error, harm or breach. At or above the policy's severity, or any breach, the
    deployment is suspended in the same step (one ledger entry records both)."""
    authorize(ctx, action="incidents.report", actor=actor, purpose=purpose, deployment=deployment,
              require_active=False)
    why = None
    if kind not in INCIDENT_KINDS:
        why = f"got kind {kind!r}; expected one of {INCIDENT_KINDS}"
    elif severity not in SEVERITIES:
        why = f"got severity {severity!r}; expected one of {SEVERITIES}"
    elif not description.strip():
        why = "empty description"
    elif deployment is not None and db.deployment_row(ctx.store, deployment) is None:
        why = (f"deployment {deployment!r} does not exist; expected one of "
               f"{sorted(str(d['name']) for d in db.deployments(ctx.store))} or none")
    if why:
        refuse(ctx, action="incidents.report", actor=actor, purpose=purpose, reason=why,
               error=InputError(f"incident report: {why}"), deployment=deployment)
    row = db.deployment_row(ctx.store, deployment) if deployment else None
    suspend_now = bool(
        row is not None and row["state"] == DeploymentState.ACTIVE
        and (kind == "breach" or SEVERITIES.index(severity) >= SEVERITIES.index(_policy(row).auto_suspend_severity))
    )
    report_id = f"inc-{secrets.token_hex(4)}"
    now = ctx.now()
    with ctx.store.transaction():
        seq = record_use(ctx, action="incidents.report", actor=actor, purpose=purpose, deployment=deployment,
                         require_active=False, detail={"report_id": report_id, "kind": kind, "severity": severity,
                                                       "description": description.strip(),
                                                       "suspended": suspend_now})
        db.add_incident_report(ctx.store, {
            "report_id": report_id, "deployment": deployment, "kind": kind, "severity": severity,
            "description": description.strip(), "reported_by": actor.user, "reported_at": now,
            "suspended": suspend_now, "ledger_seq": seq})
        if suspend_now and deployment is not None:
            reason = f"suspended automatically: {severity} {kind} incident {report_id}"
            db.update_deployment(ctx.store, deployment, state="suspended", state_changed_at=now, state_reason=reason)
            db.add_deployment_event(ctx.store, deployment=deployment, from_state="active", to_state="suspended",
                                    by_user=actor.user, by_role=str(actor.role), reason=reason, at=now,
                                    ledger_seq=seq)
    return {"report_id": report_id, "ledger_seq": seq, "suspended": suspend_now}


def file_complaint(ctx: Context, *, body: str, actor: Actor, entry_seqs: Sequence[int] = (),
                   deployment: str | None = None, purpose: str | None = "complaint") -> dict[str, Any]:
    """A complaint from anyone, linked to the ledger entries it is about."""
    authorize(ctx, action="complaints.file", actor=actor, purpose=purpose, deployment=deployment,
              require_active=False)
    size = ctx.ledger.size()
    bad = [s for s in entry_seqs if not 0 <= int(s) < size]
    why = "empty complaint" if not body.strip() else (
        f"ledger entries {bad} do not exist (the ledger has {size})" if bad else None)
    if why is None and deployment is not None and db.deployment_row(ctx.store, deployment) is None:
        # filed under a name no deployment has, it would reach no one's list of that deployment's complaints
        why = (f"deployment {deployment!r} does not exist; expected one of "
               f"{sorted(str(d['name']) for d in db.deployments(ctx.store))} or none")
    if why:
        refuse(ctx, action="complaints.file", actor=actor, purpose=purpose, reason=why,
               error=InputError(f"complaint: {why}"), deployment=deployment)
    complaint_id = f"cmp-{secrets.token_hex(8)}"  # 64 bits: the complainant's receipt for complaint_status
    with ctx.store.transaction():
        seq = record_use(ctx, action="complaints.file", actor=actor, purpose=purpose, deployment=deployment,
                         require_active=False, inputs={"entry_seqs": [int(s) for s in entry_seqs]},
                         detail={"complaint_id": complaint_id,
                                 "body_sha256": hashlib.sha256(body.encode()).hexdigest()})
        db.add_complaint(ctx.store, {
            "complaint_id": complaint_id, "deployment": deployment, "entry_seqs": [int(s) for s in entry_seqs],
            "body": body.strip(), "complainant": actor.user, "filed_at": ctx.now(), "status": "open",
            "response": None, "ledger_seq": seq})
    return {"complaint_id": complaint_id, "ledger_seq": seq}


def respond_complaint(ctx: Context, *, complaint_id: str, response: str, actor: Actor,
                      purpose: str | None = OVERSIGHT_PURPOSE) -> None:
    """Answer a complaint, once: the answer is what the complainant reads (``complaint_status``), so a
    second answer to an answered complaint is refused (and logged) rather than replacing the first.
    The ledger entry records who answered (the entry's user) and the answer's SHA-256."""
    authorize(ctx, action="complaints.respond", actor=actor, purpose=purpose)
    with ctx.store.transaction():
        row = db.complaint_row(ctx.store, complaint_id)
        why = None
        if row is None:
            why = f"no complaint {complaint_id!r}"
        elif not response.strip():
            why = "empty response"
        elif row["status"] == "answered" or row.get("response"):
            why = ("already answered; an answer is not replaced (the complainant may have read it on the "
                   "receipt page already): "
                   "expected an open complaint")
        if why is not None:
            error = NotFoundError if row is None else InputError
            refuse(ctx, action="complaints.respond", actor=actor, purpose=purpose, reason=why,
                   error=error(f"complaint {complaint_id!r}: {why}"), detail={"complaint_id": complaint_id})
        db.set_complaint_response(ctx.store, complaint_id, response.strip())
        record_use(ctx, action="complaints.respond", actor=actor, purpose=purpose,
                   detail={"complaint_id": complaint_id, "by": actor.user,
                           "response_sha256": hashlib.sha256(response.strip().encode()).hexdigest()})


def complaint_status(ctx: Context, *, complaint_id: str, actor: Actor,
                     purpose: str | None = "complaint") -> dict[str, Any]:
    """Where a complaint stands, for whoever holds its id (the complainant's receipt): when it was
    filed, about which deployment and ledger entries, its status and the answer. The complaint's
    text and its author are not returned: they are for the staff list (``list_complaints``)."""
    authorize(ctx, action="complaints.status", actor=actor, purpose=purpose)
    row = db.complaint_row(ctx.store, complaint_id)
    if row is None:
        refuse(ctx, action="complaints.status", actor=actor, purpose=purpose,
               reason=f"no complaint {complaint_id!r}",
               error=NotFoundError(f"complaint {complaint_id!r}: not found; the id is the one printed when it "
                                   "was filed (cmp-...)"))
    record_use(ctx, action="complaints.status", actor=actor, purpose=purpose, detail={"complaint_id": complaint_id})
    return {k: row[k] for k in ("complaint_id", "deployment", "entry_seqs", "filed_at", "status", "response")}


def list_complaints(ctx: Context, *, actor: Actor, deployment: str | None = None,
                    purpose: str | None = OVERSIGHT_PURPOSE) -> list[dict[str, Any]]:
    """Complaints filed so far (oldest first), with their status and any response."""
    authorize(ctx, action="complaints.list", actor=actor, purpose=purpose)
    rows = db.complaints(ctx.store, deployment=deployment)
    record_use(ctx, action="complaints.list", actor=actor, purpose=purpose,
               detail={"deployment": deployment, "n": len(rows)})
    return rows


# human review ------------------------------------------------------------------------------------------
DECISIONS = {"accept": "accepted", "override": "overridden", "reject": "rejected"}
#: The decisions that make an output (or the reviewer's replacement) actionable: refused unless the
#: item's deployment is active and the global kill switch is off. A rejection makes nothing actionable.
ACTIONABLE_DECISIONS = frozenset({"accept", "override"})


def review_queue(ctx: Context, *, actor: Actor, status: str | None = "pending", deployment: str | None = None,
                 purpose: str | None = OVERSIGHT_PURPOSE) -> list[dict[str, Any]]:
    """Items waiting for (or given) a human decision, with their decisions so far."""
    authorize(ctx, action="review.list", actor=actor, purpose=purpose)
    rows = db.review_items(ctx.store, status=status, deployment=deployment)
    for r in rows:
        r["decisions"] = db.review_decisions(ctx.store, r["item_id"])
    record_use(ctx, action="review.list", actor=actor, purpose=purpose, detail={"status": status, "n": len(rows)})
    return rows


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    item_id: str
    status: str
    decisions_needed: int
    decisions_made: int
    ledger_seq: int
    #: the output's new mark once the item is final (None while it is pending)
    mark: str | None = None
    #: the stored forecast runs that now carry ``mark`` (none when the output was not stored)
    marked_runs: tuple[str, ...] = ()


def decide_review(ctx: Context, *, item_id: str, decision: str, reason: str, actor: Actor,
                  replacement: Mapping[str, Any] | None = None,
                  purpose: str | None = "human review") -> ReviewOutcome:
    """A supervisor accepts, overrides (with a replacement) or rejects a recommendation, with a reason.

    Under the two-person rule the item is final only when two different supervisors agree;
    the person who produced the recommendation may not review it. An accept or an override makes
    something actionable, so it is refused (and the refusal logged) while the item's deployment is
    not active (suspended, decommissioned, lapsed, ...) or the global kill switch is engaged; a
    rejection stays possible. When the item becomes final, the stored output it points to (a
    forecast run) gets the decision as its mark (:func:`crimelens.governance.review_mark`), which
    every later read and export carries.
    """
    authorize(ctx, action="review.decide", actor=actor, purpose=purpose)
    try:
        item = db.review_item(ctx.store, item_id)
    except NotFoundError as exc:
        refuse(ctx, action="review.decide", actor=actor, purpose=purpose, reason=str(exc), error=exc)
    dep = item["deployment"]
    earlier = db.review_decisions(ctx.store, item_id)
    row = db.deployment_row(ctx.store, dep) if dep else None
    two = bool(row is not None and _policy(row).two_person_rule)
    why = None
    if decision not in DECISIONS:
        why = f"got decision {decision!r}; expected one of {sorted(DECISIONS)}"
    elif not reason or not reason.strip():
        why = "no reason given; every review decision needs one"
    elif decision == "override" and not replacement:
        why = "an override must say what is decided instead (replacement)"
    elif item["status"] == "purged":
        why = (f"item {item_id} was closed when retention deleted its output (deployments purge): there is "
               "nothing left to review")
    elif item["status"] != "pending":
        why = f"item {item_id} is already {item['status']}"
    elif item["requested_by"] == actor.user:
        why = f"{actor.user} produced this recommendation and may not review it"
    elif any(d["reviewer"] == actor.user for d in earlier):
        why = f"{actor.user} has already decided on {item_id}; the second decision must be someone else's"
    if why:
        refuse(ctx, action="review.decide", actor=actor, purpose=purpose, reason=why,
               error=ApprovalRequiredError(f"review {item_id}: {why}"), deployment=dep)
    if decision in ACTIONABLE_DECISIONS:
        stopped = deployment_problem(ctx, str(dep))
        if stopped is not None:  # an accept or override would make the output actionable: not now
            problem, _kind, state = stopped
            then = {"kill switch": f"; to {decision}, the kill switch must be released first",
                    "lapsed": f"; to {decision}, the board must renew the approval first",
                    "suspended": f"; to {decision}, the deployment must be resumed first"}.get(state, "")
            made = "an accepted output" if decision == "accept" else "an override's replacement"
            why = (f"{problem.removesuffix('; expected an active deployment')}; {made} is actionable, which needs "
                   f"an active deployment (reject stays possible{then})")
            refuse(ctx, action="review.decide", actor=actor, purpose=purpose, reason=why,
                   error=ApprovalRequiredError(f"review {item_id}: {decision} refused: {why}"), deployment=dep,
                   detail={"item_id": item_id, "decision": decision, "deployment_state": state})
    needed = 2 if two else 1
    agreeing = 1 + sum(d["decision"] == decision for d in earlier)
    final = agreeing >= needed
    status = DECISIONS[decision] if final else "pending"
    now = ctx.now()
    source_seq = int(item["source_seq"])
    detail: dict[str, Any] = {}
    mark = None
    if final:  # the output it points to says what was decided from now on (reads and exports)
        reviewers = [str(d["reviewer"]) for d in earlier if d["decision"] == decision] + [actor.user]
        mark = review_mark(status, reviewers=reviewers, on=now.date(), item_id=item_id, deployment=dep)
        detail = {"mark": mark}
    with ctx.store.transaction():
        if mark is not None:
            detail["marked_runs"] = set_output_mark(ctx.store, ledger_seq=source_seq, mark=mark)
        seq = record_use(ctx, action="review.decide", actor=actor, purpose=purpose, deployment=dep,
                         require_active=False, detail=detail,
                         decision={"item_id": item_id, "decision": decision, "reason": reason.strip(),
                                   "replacement": dict(replacement or {}) or None, "final": final,
                                   "source_seq": source_seq})
        db.add_review_decision(ctx.store, item_id=item_id, reviewer=actor.user, decision=decision,
                               reason=reason.strip(), replacement=dict(replacement) if replacement else None,
                               at=now, ledger_seq=seq)
        if final:
            db.set_review_status(ctx.store, item_id, status, now)
    if detail.get("marked_runs"):
        from crimelens.services.dashboard import forget_outputs

        forget_outputs(ctx, list(detail["marked_runs"]))  # a cached map layer would show the old mark
    return ReviewOutcome(item_id, status, needed, len(earlier) + 1, seq, mark, tuple(detail.get("marked_runs", ())))


# annual report ---------------------------------------------------------------------------------------
def _backtest_groups(summary: Mapping[str, Any], model: str,
                     stored: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]] | None:
    """The per-group figures a backtest's stored summary gives the model ``model`` (a class name), in
    the card's layout (as ``register_backtested`` wrote them), or None when the summary has none for
    it or cannot tell which of its models it is."""
    from crimelens.forecast import MODELS

    groups = summary.get("groups") if isinstance(summary.get("groups"), Mapping) else None
    if not groups or not isinstance(groups.get("models"), Mapping):
        return None

    def rows(label: str) -> dict[str, dict[str, dict[str, Any]]]:
        out: dict[str, dict[str, Any]] = {}
        for cov, per_group in dict(groups["models"][label]).items():
            c = float(cov)
            for g, v in dict(per_group).items():
                row = out.setdefault(str(g), {})
                row.update({f"hit_rate_{c:g}": v.get("hit_rate"), f"hit_rate_{c:g}_low": v.get("low"),
                            f"hit_rate_{c:g}_high": v.get("high"), "n": v.get("n")})
                row.update({k: v[k] for k in ("n_recorded", "n_outside") if k in v})
        return {str(groups.get("by")): out}

    labels = [label for label in groups["models"] if not str(label).startswith("ceiling:")]
    by_class = [label for label in labels
                if (cls := MODELS.get(str(label).split("=")[-1])) is not None and cls.__name__ == model]
    if len(by_class) == 1:
        return rows(by_class[0])
    same = [label for label in labels if rows(label) == dict(stored)]
    return rows(same[0]) if len(same) == 1 else None


def _card_figures(ctx: Context, deployment: str, model: str, version: str) -> dict[str, Any]:
    """A deployment's model card's per-group figures, as the registry stores them (``stored``) and as
    a record the ledger protects gives them (``ledger``): the summary of the backtest that measured
    them, which must hash to the output hash that backtest's ledger entry recorded. ``ledger`` is None
    (and ``source`` says why) when the figures cannot be tied to the ledger: supplied by hand at
    registration, or the backtest's summary is gone or changed (``differences`` then names it)."""
    out: dict[str, Any] = {"deployment": deployment, "model": model, "version": version, "stored": {},
                           "ledger": None, "source": "", "differences": []}
    try:
        row = db.model_row(ctx.store, model, version)
    except NotFoundError:
        out["source"] = f"model {model} {version} is not in the model registry."
        return out
    evaluation = row["evaluation"] if isinstance(row["evaluation"], Mapping) else {}
    out["stored"] = dict(evaluation.get("groups") or {})
    data: Mapping[str, Any] = evaluation["data"] if isinstance(evaluation.get("data"), Mapping) else {}
    registered = (f"the ledger entry of its registration (entry {row['ledger_seq']}) records its parameters and "
                  "data hash, not these figures.")
    seq = data.get("backtest_ledger_entry")
    if not isinstance(seq, int):
        out["source"] = f"the card says the figures were {data.get('figures') or 'supplied at registration'}; {registered}"
        return out
    found = ctx.ledger.entries(from_seq=seq, limit=1)
    entry = found[0][1] if found and found[0][0] == seq else None
    if entry is None or entry.action != "forecast.backtest" or entry.outcome != "ok" or not entry.output_hash:
        out["source"] = (f"the card names backtest entry {seq}, which is not a completed forecast.backtest entry "
                         f"of the ledger; {registered}")
        return out
    stored = ctx.store.query("SELECT run_id, summary FROM forecast_backtests WHERE ledger_seq = ?", [seq])
    if stored.empty:
        out["source"] = f"the summary of the backtest of entry {seq} is no longer stored; {registered}"
        return out
    run_id, text = str(stored.iloc[0]["run_id"]), str(stored.iloc[0]["summary"])
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != entry.output_hash:
        out["source"] = (f"the stored summary of backtest {run_id} does not hash to the output hash its ledger "
                         f"entry {seq} recorded; {registered}")
        out["differences"] = [{"table": "forecast_backtests", "row": run_id, "column": "summary",
                               "table_value": "SHA-256 " + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16] + "…",
                               "ledger_value": f"SHA-256 {entry.output_hash[:16]}… (entry {seq})"}]
        return out
    figures = _backtest_groups(json.loads(text), model, out["stored"])
    if figures is None:
        out["source"] = (f"backtest {run_id} (ledger entry {seq}) has no per-group figures for {model}, or cannot "
                         f"say which of its models {model} is; {registered}")
        return out
    out["ledger"] = figures
    out["source"] = (f"measured by backtest {run_id} (ledger entry {seq}); checked against its stored summary, which "
                     "hashes to the output hash that entry recorded.")
    return out


def annual_report(ctx: Context, *, year: int, actor: Actor, purpose: str | None = "public reporting",
                  out_dir: Path | None = None) -> AnnualReport:
    """The public annual report for ``year``, recomputed from the ledger and the registry.

    With ``out_dir`` it writes ``annual-report-<year>.html`` and ``.json`` there, and ``.pdf``
    when the fpdf2 renderer is installed.

    The ledger is verified first (:meth:`~crimelens.governance.Ledger.verify`, the check ``ledger verify``
    makes): the result is in ``data["ledger_verification"]``. A ledger that fails still gets its report,
    which opens with a warning naming the problem (``data["warning"]``), but, as with ``ledger verify``,
    nothing is appended to it (``data["not_logged"]`` says why); the CLI then exits 4.
    """
    now = ctx.now()
    if not FIRST_REPORT_YEAR <= year <= now.year:
        raise InvalidParameterError(
            f"annual report: year {year}; expected a year that has begun, from {FIRST_REPORT_YEAR} to {now.year}")
    authorize(ctx, action="report.annual", actor=actor, purpose=purpose)
    # the figures are only as good as the ledger: verify it first (the check `ledger verify` makes; read-only)
    verified = ctx.ledger.verify()
    start, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    entries = ctx.ledger.entries(since=start, until=end)
    # the ledger's record of the deployments, to now: the entries that changed their state (an incident's
    # suspension too) and recorded the floors their steps applied. The tables (`deployments`,
    # `deployment_events`, `models`) are only compared with it: the ledger does not protect them.
    history = sorted((x for action in STATE_CHANGE_ACTIONS for x in ctx.ledger.entries(action=action)
                      if x[1].outcome == "ok"), key=lambda x: x[0])
    deployments = db.deployments(ctx.store)
    changes = [{"deployment": dep["name"], **event} for dep in deployments
               for event in db.deployment_events(ctx.store, str(dep["name"]))]
    created = {str(e.deployment): (str(e.model), str(e.model_version)) for _, e in history
               if e.action == "deployments.create" and e.deployment is not None}
    cards = [_card_figures(ctx, name, model, version) for name, (model, version) in sorted(created.items())]
    head = ctx.ledger.latest_head()
    head_json = head.to_json(ctx.ledger.public_key(head.key_id)) if head else None
    switches = [(seq, e.action == "killswitch.engage")
                for seq, e in ctx.ledger.entries(action="killswitch.*", until=end)
                if e.outcome == "ok" and e.action in ("killswitch.engage", "killswitch.release")]
    card_texts = []  # each card's text as stored, against the hash its last ledger entry recorded
    for (model, version), (seq, action, recorded) in sorted(_card_text_records(ctx).items()):
        try:
            stored: str | None = _text_sha256(db.model_row(ctx.store, model, version)["card_text"])
        except NotFoundError:
            stored = None
        card_texts.append({"model": model, "version": version, "seq": seq, "action": action,
                           "ledger_sha256": recorded, "table_sha256": stored})
    report = build_annual_report(year, entries, history=history, deployments=deployments, state_changes=changes,
                                 cards=cards, head=head_json, generated_at=ctx.now(), kill_switch_history=switches,
                                 floor_days=MIN_COMMENT_DAYS_FLOOR, card_texts=card_texts,
                                 verification={"ok": verified.ok, "n_entries": verified.n_entries,
                                               "first_bad": verified.first_bad, "problem": verified.problem})
    if not verified.ok:
        # like `ledger verify`: nothing is appended to a ledger that fails, since the entry's signed head would
        # cover the damage (heads deleted with their entries left would be covered again); the JSON says so
        report = dataclasses.replace(report, data={**report.data, "not_logged": NOT_LOGGED_BAD})
    files: list[str] = []
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        html_path = out_dir / f"annual-report-{year}.html"
        html_path.write_text(report.html, encoding="utf-8")
        json_path = out_dir / f"annual-report-{year}.json"
        json_path.write_text(json.dumps(report.data, indent=2, default=str, ensure_ascii=False), encoding="utf-8")
        files = [str(html_path), str(json_path)]
        pdf = render_pdf(report)
        if pdf is not None:
            pdf_path = out_dir / f"annual-report-{year}.pdf"
            pdf_path.write_bytes(pdf)
            files.append(str(pdf_path))
    if not verified.ok:
        return report
    record_use(ctx, action="report.annual", actor=actor, purpose=purpose,
               output_hash=hashlib.sha256(report.html.encode("utf-8")).hexdigest(),
               detail={"year": year, "entries_counted": len(entries), "files": files, "ledger_verified": True})
    return report
