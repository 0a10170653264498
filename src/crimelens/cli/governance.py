"""``crimelens ledger|users|models|deployments|review|report``: the governance shell.

Who acts: ``--as NAME`` picks a registered user (their role comes from the user
table); otherwise the local user from ``CRIMELENS_USER`` / ``CRIMELENS_ROLE`` (or the
OS user as an analyst). Every command writes one ledger entry.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from crimelens.cli._common import (
    DbOpt,
    JsonOpt,
    cli_actor,
    cli_context,
    console,
    emit,
    err_console,
    esc,
    hex_public_key,
    table,
)
from crimelens.cli._lazy import lazy
from crimelens.errors import InputError, PermissionDeniedError
from crimelens.governance import Actor, Role
from crimelens.governance._policy import UsePolicy

if TYPE_CHECKING:  # checked by mypy as real imports; loaded when a command runs (see cli._lazy)
    from crimelens.domain import _time
    from crimelens.services import governance as gs
    from crimelens.services._context import Context
    from crimelens.storage import _governance as gov_db
else:
    _time = lazy("crimelens.domain._time")
    gs = lazy("crimelens.services.governance")
    gov_db = lazy("crimelens.storage._governance")

__all__ = ["register"]

ledger_app = typer.Typer(help="The tamper-evident usage ledger: verify, signed head, proofs, entries.",
                         no_args_is_help=True)
users_app = typer.Typer(help="Users, roles and API tokens.", no_args_is_help=True)
models_app = typer.Typer(help="Model registry, model cards and dataset datasheets.", no_args_is_help=True)
deployments_app = typer.Typer(help="Deployments: proposal, impact assessment, public comment, board review, "
                                   "approval, suspension; incidents, complaints, kill switch.",
                              no_args_is_help=True)
review_app = typer.Typer(help="The human review queue.", no_args_is_help=True)
report_app = typer.Typer(help="Public reports generated from the ledger.", no_args_is_help=True)

AsOpt = Annotated[str | None, typer.Option("--as", help="Act as this registered user (role from the user table); "
                                                      "'public:NAME' for a member of the public.")]
Purpose = Annotated[str | None, typer.Option("--purpose", help="Stated purpose recorded in the ledger.")]


@contextmanager
def _session(db: Path | None, as_user: str | None, *, create: bool = False) -> Iterator[tuple[Context, Actor]]:
    with cli_context(db, create=create) as ctx:
        if as_user and as_user.startswith("public:"):
            actor = Actor(as_user, Role.PUBLIC)  # a member of the public (comments, complaints)
        elif as_user:
            row = gov_db.user_row(ctx.store, as_user)
            actor = Actor(as_user, Role(str(row["role"]))) if row else Actor(as_user, Role(ctx.settings.role))
        else:
            actor = cli_actor(ctx.settings)
        yield ctx, actor


def _kw(purpose: str | None) -> dict[str, Any]:
    return {} if purpose is None else {"purpose": purpose}


def _read_mapping(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        return dict(json.loads(text)) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read as {'JSON' if path.suffix == '.json' else 'TOML'}: {exc}") from exc


# ledger -----------------------------------------------------------------------------------------
@ledger_app.command("verify")
def ledger_verify(
    public_key: Annotated[str | None, typer.Option("--public-key", help="Hex Ed25519 public key you trust, e.g. "
                                                   "from a published head (default: the store's key; for "
                                                   "--export without a store, the file's own key, which "
                                                   "proves integrity but not origin).")] = None,
    export: Annotated[Path | None, typer.Option("--export", help="Verify this exported file "
                                                "(crimelens ledger export) instead of the store; needs no "
                                                "store unless --db names the one it came from.")] = None,
    as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    """Recompute every leaf hash and the Merkle root; name the first entry that does not match (exit 4).

    Every signed head is checked (signature, and root against the entries it covers), and the ledger's
    tip against the heads. Only a ledger that verifies gets the check logged: a failed check signs
    nothing over the damage, so the next run reports it again; a store copied without its key folder
    is checked read-only (no key is made, nothing is written).

    With --export and no store named (--db or CRIMELENS_DB) the file is checked on its own: no store
    is needed and nothing is logged. Without --public-key it is then checked only against the key
    inside the file, which proves integrity, not origin (the output says so). With a store, the file
    must be signed with one of that store's keys.
    """
    key = hex_public_key(public_key)
    if export is not None and db is None and not os.environ.get("CRIMELENS_DB"):
        report = gs.check_export(export, public_key=key)  # no store: a journalist holding only the file
    else:
        with _session(db, as_user) as (ctx, actor), Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
            transient=True, disable=json_out or not ctx.settings.progress,
        ) as bar:
            bar.add_task("verifying the ledger", total=None)
            if export is not None:
                report = gs.verify_export(ctx, path=export, actor=actor, public_key=key, **_kw(purpose))
            else:
                report = gs.verify_ledger(ctx, actor=actor, public_key=key, **_kw(purpose))

    def render(d: dict[str, Any]) -> None:
        against = {"given": "checked against the key you gave", "store": "checked against the store's key",
                   "file": "checked only against the key inside the file"}.get(str(d.get("key_source")), "")
        if d["ok"]:
            console.print(f"[green]ledger verifies[/]: {d['n_entries']:,} entries, root {d['root_hash']}, "
                          f"head signed by key {d['key_id']}{f' ({against})' if against else ''} ({d['seconds']} s)")
        else:
            console.print(f"[bold red]ledger does not verify[/]: {esc(d['problem'])}")
        if d.get("warning"):
            console.print(f"[bold yellow]warning[/]: {esc(d['warning'])}")
        if d.get("not_logged"):
            console.print(f"not logged: {esc(d['not_logged'])}")

    emit(report.to_json(), json_out, render)
    if not report.ok:
        raise typer.Exit(4)


@ledger_app.command("export")
def ledger_export(
    out: Annotated[Path, typer.Option("--out", help="JSON-lines file to write.")],
    as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    """Write every entry, the signed head and the public key, for checking offline (ledger verify --export)."""
    with _session(db, as_user) as (ctx, actor):
        info = gs.export_ledger(ctx, path=out, actor=actor, **_kw(purpose))
    emit(info, json_out, lambda d: console.print(f"wrote {d['entries']:,} entries to {esc(d['file'])}"))


@ledger_app.command("head")
def ledger_head(as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """The latest signed tree head and public key: publish it so others can hold the ledger to it."""
    with _session(db, as_user) as (ctx, actor):
        head = gs.ledger_head(ctx, actor=actor, **_kw(purpose))
    emit(head, json_out)


@ledger_app.command("proof")
def ledger_proof(
    entry: Annotated[int | None, typer.Option("--entry", help="Inclusion proof for this entry.")] = None,
    old_size: Annotated[int | None, typer.Option("--from", help="Consistency proof from this tree size.")] = None,
    size: Annotated[int | None, typer.Option("--size", help="Against the head at this size (default latest).")] = None,
    root: Annotated[str | None, typer.Option("--root", help="With --from M: the root (64 hex digits) of the head "
                                             "the agency published at size M; the store's tree at M must have "
                                             "it (exit 4 otherwise).")] = None,
    head: Annotated[Path | None, typer.Option("--head", help="A head the agency published, as `ledger head --json` "
                                              "or GET /api/ledger/head gives it (sets --from): its signature is "
                                              "checked, and the store's tree at its size must have its root "
                                              "(exit 4 otherwise).")] = None,
    as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    """RFC 6962 inclusion (--entry N) or consistency (--from M) proof, with the signed head.

    A consistency proof is only as good as the old root it starts from: give the one the agency
    published (--head FILE, or --root HEX with --from). The proof is then checked from that root; a
    store whose tree at that size has another root (a rollback or a rewrite), or no tree that large,
    exits 4 naming both roots.
    """
    consistency = old_size is not None or head is not None
    if (entry is None) == (not consistency):
        raise InputError("ledger proof: got both or neither of --entry and --from (or --head); expected exactly one")
    if entry is not None and root is not None:
        raise InputError("ledger proof: got --root with --entry; expected --root with --from (a consistency proof)")
    published = _read_head(head) if head is not None else None
    with _session(db, as_user) as (ctx, actor):
        if entry is not None:
            out = gs.inclusion_proof(ctx, seq=entry, tree_size=size, actor=actor, **_kw(purpose))
        else:
            out = gs.consistency_proof(ctx, old_size=old_size, new_size=size, actor=actor, root=root,
                                       head=published, source=str(head) if head is not None else "--root",
                                       **_kw(purpose))
    emit(out, json_out)


def _read_head(path: Path) -> Any:
    """The JSON of a published head file (checked by the service)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"--head {path}: cannot read as JSON ({exc}); expected a signed head as `crimelens ledger "
                         "head --json` or GET /api/ledger/head writes it") from exc


@ledger_app.command("list")
def ledger_list(
    action: Annotated[str | None, typer.Option("--action", help="Only this action ('forecast.*' for a prefix).")] = None,
    deployment: Annotated[str | None, typer.Option("--deployment", help="Only this deployment.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many: the newest, or the first from "
                                       "--from.")] = 50,
    from_seq: Annotated[int | None, typer.Option("--from", min=0, help="Start at this entry number.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only entries at or after this UTC date or time.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Only entries before this UTC date or time.")] = None,
    as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    """Ledger entries in order: the newest 50 by default."""
    with _session(db, as_user) as (ctx, actor):
        rows = gs.ledger_entries(ctx, actor=actor, action=action, deployment=deployment, limit=limit,
                                 from_seq=from_seq, since=_time.as_utc(since) if since else None,
                                 until=_time.as_utc(until) if until else None, **_kw(purpose))
    emit(rows, json_out, lambda rs: table("Ledger", ["seq", "at", "action", "user", "role", "purpose", "outcome",
                                                     "deployment"],
                                         [[r["seq"], r["at"][:19], r["action"], r["user"], r["role"], r["purpose"],
                                           r["outcome"], r["deployment"]] for r in rs]))


# users ---------------------------------------------------------------------------------------------
@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option("--role", help="analyst, supervisor, board, auditor or admin.")],
    as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    """Register a user and print their API token once (it is stored only as a hash).

    The first user of a store must be an administrator and may add themself
    (``crimelens users add root --role admin --as root``).
    """
    with _session(db, as_user, create=True) as (ctx, actor):
        first = not ctx.store.scalar("SELECT count(*) FROM users")
        if as_user and as_user == name and first:
            actor = Actor(name, Role(role))  # bootstrap: the first administrator adds themself
        try:
            user, token = gs.add_user(ctx, name=name, role=role, actor=actor, **_kw(purpose))
        except PermissionDeniedError as exc:  # refused and logged by the service; say how to begin
            if not first:
                raise
            raise PermissionDeniedError(
                f"{exc}. The store has no users yet: the first one is an administrator who adds themself "
                f"(crimelens users add NAME --role admin --as NAME)") from exc

    def render(d: dict[str, Any]) -> None:
        console.print(f"added [bold]{esc(d['name'])}[/] as {d['role']}. API token (shown once, keep it secret):")
        console.print(d["token"], highlight=False, soft_wrap=True, markup=False)

    emit({**user, "token": token}, json_out, render)


@users_app.command("list")
def users_list(as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Registered users and their roles (never their tokens)."""
    with _session(db, as_user) as (ctx, actor):
        rows = gs.list_users(ctx, actor=actor, **_kw(purpose))
    emit(rows, json_out, lambda rs: table("Users", ["name", "role", "active", "created", "by"],
                                         [[r["name"], r["role"], r["active"], str(r["created_at"])[:19],
                                           r["created_by"]] for r in rs]))


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument()], as_user: AsOpt = None, purpose: Purpose = None,
                  db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Disable a user; their token stops working at once."""
    with _session(db, as_user) as (ctx, actor):
        gs.disable_user(ctx, name=name, actor=actor, **_kw(purpose))
    emit({"ok": True, "disabled": name}, json_out, lambda d: console.print(f"disabled {esc(name)}"))


@users_app.command("rotate-token")
def users_rotate(name: Annotated[str, typer.Argument()], as_user: AsOpt = None, purpose: Purpose = None,
                 db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Issue a new API token (printed once); the old one stops working."""
    with _session(db, as_user) as (ctx, actor):
        token = gs.rotate_token(ctx, name=name, actor=actor, **_kw(purpose))
    emit({"name": name, "token": token}, json_out, lambda d: console.print(d["token"], highlight=False, markup=False))


# models ---------------------------------------------------------------------------------------------
@models_app.command("register")
def models_register(
    name: Annotated[str, typer.Argument()],
    version: Annotated[str, typer.Argument()],
    evaluation: Annotated[Path, typer.Option("--evaluation", help="JSON/TOML: metrics, data, groups (measured).")],
    params: Annotated[Path | None, typer.Option("--params", help="JSON/TOML of the fitted parameters.")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Training dataset name.")] = None,
    data_hash: Annotated[str | None, typer.Option("--data-hash", help="SHA-256 of the training snapshot.")] = None,
    code_version: Annotated[str | None, typer.Option("--code-version")] = None,
    artefact_hash: Annotated[str | None, typer.Option("--artefact-hash")] = None,
    as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    """Register a fitted model with its measured evaluation; prints its card's missing sections."""
    with _session(db, as_user, create=True) as (ctx, actor):
        card = gs.register_model(ctx, name=name, version=version, evaluation=_read_mapping(evaluation),
                                 params=_read_mapping(params) if params else {}, training_dataset=dataset,
                                 training_data_hash=data_hash, code_version=code_version,
                                 artefact_hash=artefact_hash, actor=actor, **_kw(purpose))
    emit(card.to_json(), json_out, lambda d: console.print(
        f"registered {esc(name)} {esc(version)}; card sections still to write: {', '.join(d['missing']) or 'none'}"))


@models_app.command("describe")
def models_describe(
    name: Annotated[str, typer.Argument()],
    version: Annotated[str, typer.Argument()],
    text: Annotated[Path, typer.Option("--from", help="TOML/JSON with intended_use, factors, "
                                                     "ethical_considerations, caveats.")],
    as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    """Write the free-text sections of a model card (required before deployment)."""
    with _session(db, as_user) as (ctx, actor):
        card = gs.describe_model(ctx, name=name, version=version, sections=_read_mapping(text), actor=actor,
                                 **_kw(purpose))
    emit(card.to_json(), json_out, lambda d: console.print(f"card sections missing: {d['missing'] or 'none'}"))


def _write_or_print(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {esc(out)}")


@models_app.command("card")
def models_card(
    name: Annotated[str, typer.Argument()],
    version: Annotated[str | None, typer.Option("--version", help="Default: the latest registered.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="md or html.")] = "md",
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file.")] = None,
    as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    """The model card (Mitchell et al.'s nine sections) as Markdown or HTML.

    Its model details say whether the stored text hashes to what the ledger recorded for it
    (text_ledger_check); when it does not, a warning goes to stderr too.
    """
    with _session(db, as_user) as (ctx, actor):
        card = gs.model_card(ctx, name=name, version=version, actor=actor, **_kw(purpose))
    check = str(card.details.get("text_ledger_check") or "")
    if check.startswith("WARNING: "):
        err_console.print(f"[bold red]warning[/]: {esc(check.removeprefix('WARNING: '))}")
    if json_out:
        emit(card.to_json(), True)
    else:
        _write_or_print(card.to_html() if fmt == "html" else card.to_markdown(), out)


@models_app.command("list")
def models_list(as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Registered models."""
    with _session(db, as_user) as (ctx, actor):
        rows = gs.list_models(ctx, actor=actor, **_kw(purpose))
    emit(rows, json_out, lambda rs: table("Models", ["name", "version", "kind", "dataset", "code", "registered"],
                                         [[r["name"], r["version"], r["kind"], r["training_dataset"],
                                           r["code_version"], str(r["registered_at"])[:19]] for r in rs]))


@models_app.command("datasheet")
def models_datasheet(
    dataset: Annotated[str, typer.Argument()],
    answers: Annotated[Path | None, typer.Option("--answers", help="TOML/JSON answers to record first.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="md or html.")] = "md",
    out: Annotated[Path | None, typer.Option("--out")] = None,
    as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    """A dataset's datasheet: measured counts from the store plus recorded answers."""
    with _session(db, as_user) as (ctx, actor):
        if answers is not None:
            sheet = gs.write_datasheet(ctx, dataset=dataset, answers=_read_mapping(answers), actor=actor,
                                       **_kw(purpose))
        else:
            sheet = gs.datasheet(ctx, dataset=dataset, actor=actor, **_kw(purpose))
    if json_out:
        emit(sheet.to_json(), True)
    else:
        _write_or_print(sheet.to_html() if fmt == "html" else sheet.to_markdown(), out)


# deployments ---------------------------------------------------------------------------------------
Name = Annotated[str, typer.Argument(help="Deployment name.")]
Reason = Annotated[str, typer.Option("--reason", help="Why (recorded in the ledger).")]


def _show_state(d: dict[str, Any]) -> None:
    console.print(f"deployment [bold]{esc(d['name'])}[/] is now [bold]{d['state']}[/]"
                  + (f" ({esc(d['state_reason'])})" if d.get("state_reason") else ""))


@deployments_app.command("create")
def dep_create(
    name: Name,
    model: Annotated[str, typer.Option("--model")],
    version: Annotated[str, typer.Option("--version")],
    description: Annotated[str, typer.Option("--description")],
    policy: Annotated[Path, typer.Option("--policy", help='TOML use policy (table "policy": allowed_purposes, ...).')],
    as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    """Propose a deployment under a use policy (starts as a draft)."""
    with _session(db, as_user) as (ctx, actor):
        row = gs.create_deployment(ctx, name=name, model=model, model_version=version, description=description,
                                   policy=UsePolicy.from_toml(policy), actor=actor, **_kw(purpose))
    emit(row, json_out, _show_state)


@deployments_app.command("assess")
def dep_assess(
    name: Name,
    answers: Annotated[Path, typer.Option("--answers", help="TOML/JSON: question id -> choice.")],
    as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    """Score the algorithmic impact assessment (Canada's scoring) for a draft."""
    with _session(db, as_user) as (ctx, actor):
        result = gs.assess_impact(ctx, deployment=name, answers=_read_mapping(answers), actor=actor, **_kw(purpose))
    emit(result.to_json(), json_out, lambda d: console.print(
        f"impact level {d['level']} ({d['score_pct']:.1f} %); required controls: {', '.join(d['required_controls'])}"))


def _simple(command: str, step: Callable[[], Callable[..., Any]], help_text: str, *, reason: bool = False) -> None:
    """A deployment step ``crimelens deployments COMMAND NAME``; ``step`` names its service function (read when
    the command runs, so the services load then and not at start-up; mypy still checks the name)."""
    if reason:
        def with_reason(name: Name, why: Reason, as_user: AsOpt = None, purpose: Purpose = None,
                        db: DbOpt = None, json_out: JsonOpt = False) -> None:
            with _session(db, as_user) as (ctx, actor):
                row = step()(ctx, deployment=name, reason=why, actor=actor, **_kw(purpose))
            emit(row, json_out, _show_state)

        with_reason.__doc__ = help_text
        deployments_app.command(command)(with_reason)
    else:
        def plain(name: Name, as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None,
                  json_out: JsonOpt = False) -> None:
            with _session(db, as_user) as (ctx, actor):
                row = step()(ctx, deployment=name, actor=actor, **_kw(purpose))
            emit(row, json_out, _show_state)

        plain.__doc__ = help_text
        deployments_app.command(command)(plain)


_simple("open-comment", lambda: gs.open_public_comment, "draft → public comment (needs the assessment and a complete card).")
_simple("start-review", lambda: gs.start_board_review, "public comment → board review, after the minimum comment period.")
_simple("close-review", lambda: gs.close_review, "board review → approved or rejected, from the recorded votes.")
_simple("activate", lambda: gs.activate, "approved → active.")
_simple("revise", lambda: gs.revise, "rejected → draft.")
_simple("suspend", lambda: gs.suspend, "Kill switch of one deployment: active → suspended, effective on the next call.",
        reason=True)
_simple("resume", lambda: gs.resume, "suspended → active.", reason=True)
_simple("open-renewal", lambda: gs.open_renewal,
        "Open the public comment period a renewal needs (the deployment keeps running meanwhile).")
_simple("renew", lambda: gs.renew, "The board renews the approval for another approval period, once the renewal comment "
        "period has run the policy's minimum days.", reason=True)
_simple("decommission", lambda: gs.decommission, "Retire a deployment for good.", reason=True)


@deployments_app.command("purge")
def dep_purge(name: Annotated[str | None, typer.Argument(help="One deployment (default: every deployment).")] = None,
              dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be deleted; delete nothing.")] = False,
              as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Delete outputs older than their deployment's retention_days["outputs"] (admin); logged in the ledger."""
    with _session(db, as_user) as (ctx, actor):
        report = gs.purge_expired_outputs(ctx, actor=actor, deployment=name, dry_run=dry_run, **_kw(purpose))

    def render(d: dict[str, Any]) -> None:
        verb = "would delete" if d["dry_run"] else "deleted"
        if not d["deployments"]:
            console.print("no deployments: research outputs are not purged")
        for dep in d["deployments"]:
            keep = "no limit" if dep["retention_days"] is None else f"{dep['retention_days']} days"
            console.print(f"[bold]{esc(dep['deployment'])}[/] (outputs kept {keep}): {verb} {len(dep['purged'])} output(s)")
            for p in dep["purged"]:
                closed = p.get("review_items_closed") or []
                then = ("; its pending review " + ", ".join(closed) + (" would be" if d["dry_run"] else " is")
                        + " closed as purged") if closed else ""
                console.print(f"  {p['action']} {p['output_id']} (logged {p['logged_at'][:10]}, entry "
                              f"{p['ledger_seq']}){then}")
        console.print(f"ledger entry {d['ledger_seq']}")

    emit(report, json_out, render)


@deployments_app.command("comment")
def dep_comment(name: Name, body: Annotated[str, typer.Argument(help="The comment.")],
                board: Annotated[bool, typer.Option("--board", help="A board member's comment during review.")] = False,
                as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Comment on a deployment (public comment period, or --board during review)."""
    with _session(db, as_user) as (ctx, actor):
        fn = gs.board_comment if board else gs.comment
        seq = fn(ctx, deployment=name, body=body, actor=actor, **_kw(purpose))
    emit({"ledger_seq": seq}, json_out, lambda d: console.print(f"comment recorded (ledger entry {seq})"))


@deployments_app.command("vote")
def dep_vote(name: Name, choice: Annotated[str, typer.Argument(help="approve, reject or abstain.")],
             reason: Annotated[str | None, typer.Option("--reason", help="Why (required: the public record "
                                                          "shows it beside the vote).")] = None,
             as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """A board member's vote in the current review round, with the member's reason."""
    with _session(db, as_user) as (ctx, actor):
        seq = gs.vote(ctx, deployment=name, choice=choice, reason=reason, actor=actor, **_kw(purpose))
    emit({"ledger_seq": seq}, json_out, lambda d: console.print(f"vote recorded (ledger entry {seq})"))


@deployments_app.command("list")
def dep_list(as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Deployments and their states."""
    with _session(db, as_user) as (ctx, actor):
        rows = gs.list_deployments(ctx, actor=actor, **_kw(purpose))
    emit(rows, json_out, lambda rs: table("Deployments", ["name", "model", "version", "state", "effective state",
                                                          "approved until", "reason"],
                                         [[r["name"], r["model"], r["model_version"], r["state"], r["effective_state"],
                                           str(r["approved_until"] or "")[:10], r["state_reason"]] for r in rs]))


@deployments_app.command("show")
def dep_show(name: Name, as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None,
             json_out: JsonOpt = False) -> None:
    """A deployment with its policy, assessment, history, comments and votes."""
    with _session(db, as_user) as (ctx, actor):
        row = gs.show_deployment(ctx, deployment=name, actor=actor, **_kw(purpose))
    emit(row, json_out)


@deployments_app.command("kill-switch")
def dep_kill_switch(
    state: Annotated[str, typer.Argument(help="engage, release or status.")],
    why: Annotated[str | None, typer.Option("--reason", help="Why (recorded in the ledger); needed to engage "
                                            "or release.")] = None,
    as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    """The global kill switch: refuse every deployment at once (research use stays possible).
    ``status`` says whether it is engaged, since when, by whom and why."""
    if state not in ("engage", "release", "status"):
        raise InputError(f"kill-switch: got {state!r}; expected 'engage', 'release' or 'status'")
    if state == "status":
        with _session(db, as_user) as (ctx, actor):
            out = gs.kill_switch_status(ctx, actor=actor, **_kw(purpose))
        emit(out, json_out, lambda d: console.print(
            f"global kill switch: engaged since {d['since']} by {esc(str(d['by']))} ({esc(str(d['reason']))})"
            if d["engaged"] else "global kill switch: released"))
        return
    with _session(db, as_user) as (ctx, actor):
        fn = gs.engage_kill_switch if state == "engage" else gs.release_kill_switch
        fn(ctx, reason=why or "", actor=actor, **_kw(purpose))
    emit({"ok": True, "kill_switch": state}, json_out, lambda d: console.print(f"global kill switch: {state}d"))


@deployments_app.command("incident")
def dep_incident(
    kind: Annotated[str, typer.Option("--kind", help="error, harm or breach.")],
    severity: Annotated[str, typer.Option("--severity", help="low, medium, high or critical.")],
    description: Annotated[str, typer.Option("--description", help="What happened.")],
    deployment: Annotated[str | None, typer.Option("--deployment", help="The deployment it happened under "
                                                   "(suspended at once when severe).")] = None,
    as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    """Report an incident; severe ones (and any breach) suspend the deployment at once."""
    with _session(db, as_user) as (ctx, actor):
        out = gs.report_incident(ctx, kind=kind, severity=severity, description=description,
                                 deployment=deployment, actor=actor, **_kw(purpose))
    emit(out, json_out, lambda d: console.print(
        f"incident {d['report_id']} recorded (entry {d['ledger_seq']})" + ("; deployment suspended" if d["suspended"] else "")))


@deployments_app.command("complaint")
def dep_complaint(
    body: Annotated[str, typer.Argument(help="The complaint.")],
    entries: Annotated[list[int] | None, typer.Option("--entry", help="Ledger entry it is about (repeatable).")] = None,
    deployment: Annotated[str | None, typer.Option("--deployment", help="The deployment it is about.")] = None,
    as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    """File a complaint linked to ledger entries."""
    with _session(db, as_user) as (ctx, actor):
        out = gs.file_complaint(ctx, body=body, entry_seqs=entries or [], deployment=deployment, actor=actor,
                                **_kw(purpose))
    emit(out, json_out, lambda d: console.print(f"complaint {d['complaint_id']} filed (entry {d['ledger_seq']})"))


@deployments_app.command("respond")
def dep_respond(complaint_id: Annotated[str, typer.Argument()], response: Annotated[str, typer.Argument()],
                as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Answer a complaint."""
    with _session(db, as_user) as (ctx, actor):
        gs.respond_complaint(ctx, complaint_id=complaint_id, response=response, actor=actor, **_kw(purpose))
    emit({"ok": True, "complaint_id": complaint_id}, json_out, lambda d: console.print("answered"))


@deployments_app.command("complaints")
def dep_complaints(deployment: Annotated[str | None, typer.Option("--deployment", help="Only this deployment.")] = None,
                   as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None,
                   json_out: JsonOpt = False) -> None:
    """Complaints filed so far, with their status and answer (staff, board, auditors)."""
    with _session(db, as_user) as (ctx, actor):
        rows = gs.list_complaints(ctx, actor=actor, deployment=deployment, **_kw(purpose))
    emit(rows, json_out, lambda d: table(
        "Complaints", ["id", "filed", "by", "deployment", "entries", "complaint", "status", "answer"],
        [[r["complaint_id"], str(r["filed_at"])[:10], r["complainant"], r["deployment"] or "",
          ", ".join(map(str, r["entry_seqs"])), r["body"], r["status"], r["response"] or ""] for r in d]))


@deployments_app.command("complaint-status")
def dep_complaint_status(complaint_id: Annotated[str, typer.Argument(help="The id printed when it was filed.")],
                         as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None,
                         json_out: JsonOpt = False) -> None:
    """Where one complaint stands: its status and the answer (anyone holding its id)."""
    with _session(db, as_user) as (ctx, actor):
        out = gs.complaint_status(ctx, complaint_id=complaint_id, actor=actor, **_kw(purpose))
    emit(out, json_out, lambda d: console.print(
        f"complaint {esc(d['complaint_id'])}: {d['status']}" + (f"; answer: {esc(d['response'])}" if d["response"] else "")))


# review -----------------------------------------------------------------------------------------------
@review_app.command("list")
def review_list(
    status: Annotated[str | None, typer.Option("--status", help="pending (default), accepted, overridden, "
                                                               "rejected, or 'all'.")] = "pending",
    deployment: Annotated[str | None, typer.Option("--deployment", help="Only this deployment's items.")] = None,
    as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    """Recommendations waiting for (or given) a human decision."""
    with _session(db, as_user) as (ctx, actor):
        rows = gs.review_queue(ctx, actor=actor, status=None if status == "all" else status, deployment=deployment,
                               **_kw(purpose))
    emit(rows, json_out, lambda rs: table("Review queue", ["item", "deployment", "action", "entry", "by", "status",
                                                           "decisions"],
                                         [[r["item_id"], r["deployment"], r["action"], r["source_seq"],
                                           r["requested_by"], r["status"],
                                           ", ".join(f"{n} {d}" for d, n in _tally(r["decisions"]).items()) or "none"]
                                          for r in rs]))


@review_app.command("decide")
def review_decide(
    item_id: Annotated[str, typer.Argument()],
    decision: Annotated[str, typer.Argument(help="accept, override or reject.")],
    reason: Annotated[str, typer.Option("--reason")],
    replacement: Annotated[str | None, typer.Option("--replacement", help="JSON: what you decide instead "
                                                                         "(override).")] = None,
    as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    """Accept, override or reject a recommendation, with a reason."""
    repl = None
    if replacement:
        try:
            repl = dict(json.loads(replacement))
        except (ValueError, TypeError) as exc:
            raise InputError(f"--replacement: got {replacement!r}; expected a JSON object: {exc}") from exc
    with _session(db, as_user) as (ctx, actor):
        out = gs.decide_review(ctx, item_id=item_id, decision=decision, reason=reason, replacement=repl,
                               actor=actor, **_kw(purpose))
        made = _tally(gov_db.review_decisions(ctx.store, item_id))

    def render(d: dict[str, Any]) -> None:
        console.print(f"{esc(d['item_id'])}: {_review_status(d['status'], d['decisions'], d['decisions_needed'])}")
        for run_id in d["marked_runs"]:
            console.print(f"forecast run {esc(run_id)} is now marked: {esc(d['mark'])}")

    emit({"item_id": out.item_id, "status": out.status, "decisions_needed": out.decisions_needed,
          "decisions_made": out.decisions_made, "decisions": made, "ledger_seq": out.ledger_seq, "mark": out.mark,
          "marked_runs": list(out.marked_runs)}, json_out, render)


_DECISION_ORDER = ("accept", "override", "reject")


def _tally(decisions: list[dict[str, Any]]) -> dict[str, int]:
    """How many supervisors made each decision, in the order accept, override, reject (none left out)."""
    counts = {d: 0 for d in _DECISION_ORDER}
    for row in decisions:
        counts[str(row["decision"])] = counts.get(str(row["decision"]), 0) + 1
    return {d: n for d, n in counts.items() if n}


def _review_status(status: str, tally: dict[str, int], needed: int) -> str:
    """An item's status with the decisions so far and the rule that makes one final.

    The rule (``services.governance.decide_review``): an item is final as soon as ``needed``
    different supervisors (1, or 2 under the two-person rule) have made the same decision;
    decisions that disagree keep it pending, and none is taken once it is final.

    >>> _review_status("pending", {"accept": 1, "reject": 1}, 2)
    'pending: 1 accept, 1 reject; final when 2 supervisors make the same decision'
    >>> _review_status("rejected", {"accept": 1, "reject": 2}, 2)
    'rejected: 1 accept, 2 reject; final: 2 supervisors made the same decision'
    >>> _review_status("accepted", {"accept": 1}, 1)
    'accepted: 1 accept; final: one supervisor decides'
    """
    so_far = ", ".join(f"{n} {d}" for d, n in tally.items()) or "no decisions"
    if status == "pending":
        rule = ("final when one supervisor decides" if needed == 1
                else f"final when {needed} supervisors make the same decision")
    else:
        rule = "final: one supervisor decides" if needed == 1 else f"final: {needed} supervisors made the same decision"
    return f"{status}: {so_far}; {rule}"


# report -------------------------------------------------------------------------------------------------
@report_app.command("annual")
def report_annual(
    year: Annotated[int, typer.Option("--year", help="The calendar year (UTC) to report; the current year runs to now.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for annual-report-<year>.html, .json and .pdf.")] = Path("."),
    as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    """The public annual report, recomputed from the ledger (HTML, JSON and PDF).

    The ledger is verified first. When it fails, the report is still written, opening with a warning
    that names the problem and says its figures cannot be relied on, nothing is logged, and the
    command exits 4 (as `ledger verify` does), so a script that publishes reports stops.
    """
    with _session(db, as_user) as (ctx, actor):
        report = gs.annual_report(ctx, year=year, actor=actor, out_dir=out, **_kw(purpose))
    files = [str(p) for p in sorted(out.glob(f"annual-report-{year}.*"))]
    emit({"year": year, "files": files, "data": report.data}, json_out,
         lambda d: console.print("wrote " + ", ".join(d["files"]), markup=False))
    if report.data.get("warning"):
        err_console.print(f"[bold red]warning[/]: {esc(report.data['warning'])}")
        raise typer.Exit(4)


def register(app: typer.Typer) -> None:
    app.add_typer(ledger_app, name="ledger")
    app.add_typer(users_app, name="users")
    app.add_typer(models_app, name="models")
    app.add_typer(deployments_app, name="deployments")
    app.add_typer(review_app, name="review")
    app.add_typer(report_app, name="report")
