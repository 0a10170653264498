"""``crimelens store backup|verify-backup|restore``: checked backups of the store, its evidence and key."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any

import typer

from crimelens.cli._common import DbOpt, JsonOpt, console, emit, err_console, esc, hex_public_key

__all__ = ["register"]

store_app = typer.Typer(help="Backups: a checked copy of the store, its evidence files and (optionally) the "
                             "ledger key; verify one anywhere; restore one to a new path.", no_args_is_help=True)

AsOpt = Annotated[str | None, typer.Option("--as", help="Act as this registered user (an administrator).")]
Purpose = Annotated[str | None, typer.Option("--purpose", help="Stated purpose recorded in the ledger.")]


@store_app.command("backup")
def backup(
    out: Annotated[Path, typer.Argument(help="A new or empty folder to write the backup to.")],
    include_key: Annotated[bool, typer.Option(
        "--include-key", help="Also copy the ledger's signing key (whoever holds the backup can then sign heads; "
                              "keep it as safe as the key).")] = False,
    as_user: AsOpt = None, purpose: Purpose = None, db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    """Copy the store, re-hash its evidence files, check the copy's ledger, write manifest.json; log it."""
    from crimelens.cli.governance import _kw, _session
    from crimelens.services import store as svc

    with _session(db, as_user) as (ctx, actor), console.status(
            "writing and checking the backup", spinner="dots") if not json_out else contextlib.nullcontext():
        report = svc.backup(ctx, out=out, actor=actor, include_key=include_key, **_kw(purpose))

    def render(d: dict[str, Any]) -> None:
        console.print(f"[green]backup written and checked[/]: {esc(d['folder'])} — store {d['store_bytes']:,} bytes "
                      f"(sha256 {d['store_sha256'][:16]}…), {sum(d['tables'].values()):,} rows in {len(d['tables'])} "
                      f"tables, ledger {d['ledger_entries']:,} entries (root {d['ledger_root'][:16]}…), "
                      f"{d['evidence_files']} evidence files, key {'included' if d['include_key'] else 'not included'}, "
                      f"manifest signed by key {d['manifest_key_id']}; ledger entry #{d['ledger_seq']} ({d['seconds']} s)")

    emit(report.to_json(), json_out, render)


PublicKeyOpt = Annotated[str | None, typer.Option(
    "--public-key", help="Hex Ed25519 ledger key you trust (e.g. from the agency's published head): the manifest's "
                         "signature and the copy's ledger are checked against it, which proves who made the backup; "
                         "default: the key the backup's own ledger holds (origin unproven).")]


@store_app.command("verify-backup")
def verify_backup(
    folder: Annotated[Path, typer.Argument(help="A folder written by `crimelens store backup`.")],
    public_key: PublicKeyOpt = None,
    db: Annotated[Path | None, typer.Option(
        "--db", help="The live store the backup was made from (read only; not while `serve` holds it): its "
                     "store.backup entry must record this manifest's hash. Default: no store.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Recheck a backup without a store: manifest signature, file hash, row counts, the ledger, the evidence files (exit 4 if bad)."""
    from crimelens.services import store as svc

    check = svc.verify_backup(folder, public_key=hex_public_key(public_key), db=db)

    def render(d: dict[str, Any]) -> None:
        if d["ok"]:
            console.print(f"[green]backup verifies[/]: {esc(d['folder'])} — ledger {d['ledger_entries']:,} entries, "
                          f"root {d['ledger_root']}, {d['evidence_files']} evidence files; manifest signature: "
                          f"{esc(d['manifest_signature'])}"
                          + (f"; recorded by {esc(d['ledger_record'])}" if d["ledger_record"] else ""))
        else:
            console.print(f"[bold red]backup does not verify[/]: {esc(d['folder'])}")
            for p in d["problems"]:
                console.print(f"  - {esc(p)}")
        for w in d["warnings"]:
            err_console.print(f"[yellow]warning[/]: {esc(w)}")

    emit(check.to_json(), json_out, render)
    if not check.ok:
        raise typer.Exit(4)


@store_app.command("restore")
def restore(
    folder: Annotated[Path, typer.Argument(help="A folder written by `crimelens store backup`.")],
    to: Annotated[Path, typer.Option("--to", help="The new store file (must not exist); its evidence folder "
                                                  "and key folder go beside it.")],
    as_user: Annotated[str | None, typer.Option("--as", help="Who restores (recorded in the restored ledger).")] = None,
    public_key: PublicKeyOpt = None, purpose: Purpose = None, json_out: JsonOpt = False,
) -> None:
    """Verify a backup, then restore it to a new path; the restored ledger records the restore."""
    from crimelens.services import store as svc

    check, seq = svc.restore(folder, db=to, as_user=as_user, purpose=purpose or svc.BACKUP_PURPOSE,
                             public_key=hex_public_key(public_key))
    out = {**check.to_json(), "restored_to": str(to), "ledger_seq": seq}

    def render(d: dict[str, Any]) -> None:
        console.print(f"[green]restored[/] {esc(d['folder'])} to {esc(d['restored_to'])}: ledger "
                      f"{d['ledger_entries']:,} entries verified, the restore is entry #{d['ledger_seq']}")
        for w in d["warnings"]:
            err_console.print(f"[yellow]warning[/]: {esc(w)}")

    emit(out, json_out, render)


def register(app: typer.Typer) -> None:
    app.add_typer(store_app, name="store")
