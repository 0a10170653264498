"""Backups of a whole crimelens installation, checked before they are trusted, and restores.

A backup folder holds ``crimelens.duckdb`` (a consistent copy of the store: incidents, runs,
governance, the ledger), ``evidence/`` (the content-addressed evidence files, each re-hashed on
the way), optionally ``keys/`` (the ledger's signing key: only with ``include_key``, since whoever
holds it can sign heads) and ``manifest.json``: the file's SHA-256, every table's row count, the
ledger's size, Merkle root and signing key, and the evidence files' count and bytes.

:func:`backup` writes one and checks it (the copy's ledger must verify against the source's
public key and end at the root the source had), then logs ``store.backup`` in the source's
ledger with the manifest's figures, so the ledger itself says which backups exist.
:func:`verify_backup` rechecks a folder anywhere, without a store. :func:`restore` verifies, then
puts the copy at a new path (never over an existing store) and logs ``store.restore`` in the
restored ledger, which continues the same hash chain.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crimelens import __version__
from crimelens.errors import InputError, LedgerIntegrityError, NotFoundError, PermissionDeniedError
from crimelens.evidence import ContentStore, sha256_file
from crimelens.governance import Actor, Ledger, Role
from crimelens.governance._policy import role_allows
from crimelens.services._context import Context, authorize, record_use, refuse
from crimelens.services.evidence import evidence_dir
from crimelens.storage import DuckDBStore

__all__ = ["BackupCheck", "BackupReport", "backup", "restore", "verify_backup"]

STORE_FILE = "crimelens.duckdb"
MANIFEST = "manifest.json"
BACKUP_PURPOSE = "backup"


@dataclass(frozen=True)
class BackupReport:
    """What :func:`backup` wrote (the manifest's figures) and the ledger entry that records it."""

    folder: str
    store_sha256: str
    store_bytes: int
    tables: dict[str, int]
    ledger_entries: int
    ledger_root: str
    ledger_key_id: str | None
    evidence_files: int
    evidence_bytes: int
    include_key: bool
    seconds: float
    ledger_seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BackupCheck:
    """The result of :func:`verify_backup`: ``ok``, and every problem found (none when ok)."""

    folder: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    ledger_entries: int = 0
    ledger_root: str = ""
    evidence_files: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _evidence_files(root: Path) -> list[Path]:
    base = root / "sha256"
    return sorted(p for p in base.glob("*/*") if p.is_file()) if base.is_dir() else []


def _address(root: Path, path: Path) -> str:
    rel = path.relative_to(root / "sha256")
    return rel.parts[0] + rel.parts[1]


def backup(ctx: Context, *, out: Path, actor: Actor, purpose: str | None = BACKUP_PURPOSE,
           include_key: bool = False) -> BackupReport:
    """Write a checked backup of the store, its evidence files and (optionally) the signing key to ``out``."""
    authorize(ctx, action="store.backup", actor=actor, purpose=purpose)
    t0 = time.perf_counter()
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        refuse(ctx, action="store.backup", actor=actor, purpose=purpose, reason=f"{out} is not empty",
               error=InputError(f"store backup {out}: the path is a file or a folder that is not empty; expected "
                                "a new or empty folder (a backup never overwrites)"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _write_backup(ctx, out, actor, purpose, include_key, t0)
    except BaseException:
        # the folder was new or empty: leave it so, not with half a backup in it
        for child in out.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise


def _write_backup(ctx: Context, out: Path, actor: Actor, purpose: str | None, include_key: bool,
                  t0: float) -> BackupReport:
    target = out / STORE_FILE
    tables = ctx.store.copy_to(target)
    # the evidence files: re-hashed on the way (ContentStore.put names each by what it read)
    source_root = evidence_dir(ctx)
    copied = ContentStore(out / "evidence")
    n_files = n_bytes = 0
    for f in _evidence_files(source_root):
        stored = copied.put(f)
        if stored.sha256 != _address(source_root, f):
            refuse(ctx, action="store.backup", actor=actor, purpose=purpose,
                   reason=f"evidence file {f} does not hash to its name",
                   error=LedgerIntegrityError(
                       f"store backup: evidence file {f} hashes to {stored.sha256}; expected its name "
                       f"{_address(source_root, f)} (changed on disk: run `crimelens evidence verify`)"))
        n_files += 1
        n_bytes += stored.size_bytes
    key_dir = ctx.ledger.key_dir
    if include_key:
        if key_dir is None or not key_dir.is_dir():
            refuse(ctx, action="store.backup", actor=actor, purpose=purpose, reason="no key folder",
                   error=NotFoundError(f"store backup: no ledger key folder {key_dir}; expected one with --include-key"))
        shutil.copytree(key_dir, out / "keys")
        for p in (out / "keys").rglob("*"):
            if p.is_file():
                os.chmod(p, 0o600)
    # check the copy before it is trusted: its ledger verifies against the source's key
    head = ctx.ledger.latest_head()
    source_key = ctx.ledger.public_key(head.key_id) if head is not None else None
    with DuckDBStore.open(target, read_only=True) as copy:
        report = Ledger(copy, out / "keys").verify(public_key=source_key)
    if not report.ok:
        refuse(ctx, action="store.backup", actor=actor, purpose=purpose, reason=f"copy does not verify: {report.problem}",
               error=LedgerIntegrityError(f"store backup {out}: the copied ledger does not verify: {report.problem}"))
    store_sha, store_bytes = sha256_file(target)
    key_id = head.key_id if head is not None else None
    manifest: dict[str, Any] = {
        "crimelens": __version__, "created_at": ctx.now().isoformat(), "source": str(ctx.store.path),
        "store": {"file": STORE_FILE, "sha256": store_sha, "bytes": store_bytes, "tables": tables},
        "ledger": {"entries": report.n_entries, "signed_size": report.signed_size, "root_hash": report.root_hash,
                   "key_id": key_id,
                   "public_key": source_key.hex() if source_key is not None else None},
        "evidence": {"folder": "evidence", "files": n_files, "bytes": n_bytes},
        "keys": "keys" if include_key else None,
    }
    manifest_bytes = (json.dumps(manifest, indent=2) + "\n").encode("utf-8")
    (out / MANIFEST).write_bytes(manifest_bytes)
    manifest_sha = hashlib.sha256(manifest_bytes).hexdigest()
    seconds = time.perf_counter() - t0
    seq = record_use(ctx, action="store.backup", actor=actor, purpose=purpose, detail={
        "folder": str(out), "store_sha256": store_sha, "manifest_sha256": manifest_sha,
        "ledger_entries": report.n_entries, "ledger_root": report.root_hash, "evidence_files": n_files,
        "include_key": include_key})
    return BackupReport(folder=str(out), store_sha256=store_sha, store_bytes=store_bytes, tables=tables,
                        ledger_entries=report.n_entries, ledger_root=report.root_hash,
                        ledger_key_id=key_id, evidence_files=n_files, evidence_bytes=n_bytes,
                        include_key=include_key, seconds=round(seconds, 3), ledger_seq=seq)


def verify_backup(folder: Path, *, public_key: bytes | None = None) -> BackupCheck:
    """Recheck a backup folder on its own: file hash, row counts, ledger, evidence files.

    ``public_key`` is the ledger key the checker trusts (e.g. from the agency's published head);
    by default the one the manifest names, which must also be the one in the copy's ledger.
    Logs nothing: it needs no store, and may run on another machine.
    """
    folder = Path(folder)
    problems: list[str] = []
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        expected = manifest["store"]
        ledger_m = manifest["ledger"]
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"backup {folder}: got no readable {MANIFEST} ({exc}); expected the folder "
                         "`crimelens store backup` wrote") from exc
    target = folder / STORE_FILE
    if not target.is_file():
        return BackupCheck(str(folder), False, [f"{STORE_FILE} is missing"])
    sha, size = sha256_file(target)
    if sha != expected["sha256"] or size != expected["bytes"]:
        problems.append(f"{STORE_FILE}: sha256 {sha} ({size} bytes); the manifest says {expected['sha256']} "
                        f"({expected['bytes']} bytes)")
    trusted = public_key if public_key is not None else (
        bytes.fromhex(ledger_m["public_key"]) if ledger_m.get("public_key") else None)
    with DuckDBStore.open(target, read_only=True) as copy:
        counts = copy.table_counts()
        # without a trusted key, verify() uses the one stored with the head
        report = Ledger(copy, folder / "keys").verify(public_key=trusted)
    for t, n in expected["tables"].items():
        if counts.get(t) != n:
            problems.append(f"table {t}: {counts.get(t)} rows; the manifest says {n}")
    if not report.ok:
        problems.append(f"ledger: {report.problem}")
    if report.root_hash != ledger_m["root_hash"] or report.n_entries != ledger_m["entries"]:
        problems.append(f"ledger: {report.n_entries} entries with root {report.root_hash}; the manifest says "
                        f"{ledger_m['entries']} with root {ledger_m['root_hash']}")
    root = folder / manifest["evidence"]["folder"]
    files = _evidence_files(root)
    for f in files:
        if sha256_file(f)[0] != _address(root, f):
            problems.append(f"evidence file {f.relative_to(folder)} does not hash to its name")
    if len(files) != manifest["evidence"]["files"]:
        problems.append(f"evidence: {len(files)} files; the manifest says {manifest['evidence']['files']}")
    return BackupCheck(str(folder), not problems, problems, report.n_entries, report.root_hash, len(files))


def restore(folder: Path, *, db: Path, as_user: str | None = None, purpose: str | None = BACKUP_PURPOSE,
            evidence: Path | None = None, key_dir: Path | None = None) -> tuple[BackupCheck, int | None]:
    """Verify ``folder``, then put its store at ``db`` (a new path), its evidence and keys beside it.

    The restored ledger records the restore (``store.restore``, with the backup's manifest
    figures) as its next entry, signed with the restored key when the backup holds it, else with
    the key already at ``key_dir`` (a new key would start a new signer: the entry says which).
    Who restores is ``as_user``, a user of the restored store (their role comes from its user
    table), else the local user (``CRIMELENS_USER`` / ``CRIMELENS_ROLE``); only an administrator
    may. Returns the check and the entry's sequence number.
    """
    from crimelens.config import load_settings
    from crimelens.services._context import local_actor, open_context
    from crimelens.storage import _governance as gov_db

    check = verify_backup(folder)
    if not check.ok:
        raise LedgerIntegrityError(f"restore from {folder}: the backup does not verify; nothing was restored: "
                                   + "; ".join(check.problems))
    db = Path(db)
    evidence = Path(evidence) if evidence is not None else Path(f"{db}.evidence")
    key_dir = Path(key_dir) if key_dir is not None else Path(f"{db}.keys")
    for p, what in ((db, "store"), (evidence, "evidence folder")):
        if p.exists():
            raise InputError(f"restore from {folder}: the {what} {p} exists; expected a new path (a restore "
                             "never overwrites)")
    manifest = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    settings = load_settings(db=db, evidence_dir=evidence, key_dir=key_dir)

    # who may restore is read from the backup (read only) before anything is copied: a refused
    # restore leaves no store behind (the refusal cannot be logged: no store is made, the backup is read only)
    actor = local_actor(settings)
    if as_user:
        with DuckDBStore.open(Path(folder) / STORE_FILE, read_only=True) as backup_store:
            row = gov_db.user_row(backup_store, as_user)
        if row is None:
            raise NotFoundError(f"restore: user {as_user!r} is not in the backup's user table; nothing was restored")
        actor = Actor(as_user, Role(str(row["role"])))
    if not role_allows(actor.role, "store.restore"):
        raise PermissionDeniedError(
            f"store.restore by {actor.user} ({actor.role}): refused: the role {str(actor.role)!r} may not perform "
            "'store.restore'; nothing was restored (give --as an administrator of the backed-up store)")
    db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(folder) / STORE_FILE, db)
    source_evidence = Path(folder) / manifest["evidence"]["folder"]
    if source_evidence.is_dir():
        shutil.copytree(source_evidence, evidence)
    else:  # a store without evidence files
        evidence.mkdir(parents=True)
    if manifest.get("keys") and not key_dir.exists():
        shutil.copytree(Path(folder) / manifest["keys"], key_dir)
    with open_context(settings) as ctx:
        authorize(ctx, action="store.restore", actor=actor, purpose=purpose)
        seq = record_use(ctx, action="store.restore", actor=actor, purpose=purpose, detail={
            "backup": str(folder), "backup_created_at": manifest["created_at"],
            "store_sha256": manifest["store"]["sha256"], "ledger_entries": check.ledger_entries,
            "ledger_root": check.ledger_root, "key_restored": bool(manifest.get("keys")),
            "restored_at": datetime.now(UTC).isoformat()})
    return check, seq
