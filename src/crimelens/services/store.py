"""Backups of a whole crimelens installation, checked before they are trusted, and restores.

A backup folder holds ``crimelens.duckdb`` (a consistent copy of the store: incidents, runs,
governance, the ledger), ``evidence/`` (the content-addressed evidence files, each re-hashed on
the way), optionally ``keys/`` (the ledger's signing key: only with ``include_key``, since whoever
holds it can sign heads) and ``manifest.json``: the file's SHA-256, every table's row count, the
ledger's size, Merkle root and signing key, and the evidence files' count and bytes.
``manifest.sig.json`` beside it holds an Ed25519 signature of the manifest made with the store's
ledger signing key, over the documented bytes ``b"crimelens/backup/manifest/v1\\x00" ||
SHA-256(manifest.json)``, and the key's id: the manifest's figures are unsigned otherwise, and a
tamperer who edits the copy can recompute them. Manifests record ``"format": 2`` (signed); one
without ``format`` was written by crimelens 0.1.0, which signed from :data:`SIGNED_SINCE` on, so only
such a manifest created before then may lack its signature.

:func:`backup` writes one and checks it (the copy's ledger must verify against the source's
public key and end at the root the source had), signs the manifest, then logs ``store.backup`` in
the source's ledger with the manifest's figures and hash, so the ledger itself says which backups
exist. :func:`verify_backup` rechecks a folder anywhere, without a store: each file's size and hash
before the copy is opened, then the manifest's signature against a key the checker trusts (else
the key the backup's own ledger holds, which proves the manifest agrees with that ledger, not who
made it), and, given the live store, the manifest's hash against its ``store.backup`` entry.
:func:`restore` verifies, then
puts the copy at a new path (never over an existing store) and logs ``store.restore`` in the
restored ledger, which continues the same hash chain.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from crimelens import __version__
from crimelens.config import Settings
from crimelens.errors import (
    InputError,
    InvalidParameterError,
    LedgerIntegrityError,
    NotFoundError,
    PermissionDeniedError,
    StoreError,
)
from crimelens.evidence import ContentStore, sha256_file
from crimelens.governance import Actor, Ledger, Role, VerifyReport
from crimelens.governance._keys import key_id_of, raw_public_key
from crimelens.governance._policy import role_allows
from crimelens.services._context import Context, authorize, record_use, refuse
from crimelens.services.evidence import evidence_dir
from crimelens.storage import DuckDBStore

__all__ = ["BackupCheck", "BackupReport", "backup", "backup_root", "restore", "verify_backup"]

STORE_FILE = "crimelens.duckdb"
MANIFEST = "manifest.json"
#: The manifest's signature and the id of the key that made it, beside the manifest.
MANIFEST_SIGNATURE = "manifest.sig.json"
BACKUP_PURPOSE = "backup"
#: What the manifest signature signs, before the manifest's SHA-256 (domain separation from ledger heads).
_MANIFEST_PREFIX = b"crimelens/backup/manifest/v1\x00"
SIGNED_MESSAGE = "b'crimelens/backup/manifest/v1\\x00' || sha256(manifest.json bytes)"
#: The manifest's ``format``: 2 is signed (``manifest.sig.json`` beside it). Manifests without the field
#: were written by crimelens 0.1.0, before and after it began to sign them.
MANIFEST_FORMAT = 2
#: When crimelens 0.1.0 began to sign backup manifests (commit 7cf8b0e): a manifest without ``format``
#: created at or after this was made by a version that signs, so its signature cannot be missing.
SIGNED_SINCE = datetime(2026, 11, 29, 11, 14, 30, tzinfo=UTC)
_UNSIGNED_VERSION = "0.1.0"


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
    manifest_sha256: str = ""
    manifest_key_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BackupCheck:
    """The result of :func:`verify_backup`: ``ok``, and every problem found (none when ok).

    ``warnings`` say what the check could not prove (an unsigned manifest made before manifests were
    signed; a signature checked only against the key the backup's own ledger holds).
    ``manifest_signature`` is ``"given key"`` (checked against ``--public-key``), ``"backup's ledger
    key"`` (origin unproven), ``"unsigned"`` (a backup made before manifests were signed, no key
    given), ``"missing"`` (the signature file is missing where one is required: a problem),
    ``"not checked"`` (the copy could not be read for its ledger's key: a problem) or ``"bad"``;
    ``ledger_record`` names the ``store.backup`` entry the manifest's hash was matched with, if one
    was found.
    """

    folder: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    ledger_entries: int = 0
    ledger_root: str = ""
    evidence_files: int = 0
    warnings: list[str] = field(default_factory=list)
    manifest_sha256: str = ""
    manifest_signature: str = "unsigned"
    manifest_key_id: str | None = None
    ledger_record: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _evidence_files(root: Path) -> list[Path]:
    base = root / "sha256"
    return sorted(p for p in base.glob("*/*") if p.is_file()) if base.is_dir() else []


def _address(root: Path, path: Path) -> str:
    rel = path.relative_to(root / "sha256")
    return rel.parts[0] + rel.parts[1]


def backup_root(settings: Settings) -> Path:
    """The folder the API may write backups under: ``CRIMELENS_BACKUP_ROOT``, else the folder that
    holds the store (an absolute, resolved path)."""
    if settings.backup_root is not None:
        return Path(settings.backup_root).expanduser().resolve()
    return Path(settings.db).expanduser().resolve().parent


def backup(ctx: Context, *, out: Path, actor: Actor, purpose: str | None = BACKUP_PURPOSE,
           include_key: bool = False, root: Path | None = None) -> BackupReport:
    """Write a checked backup of the store, its evidence files and (optionally) the signing key to ``out``.

    ``out`` is made absolute (a relative folder is taken under ``root`` when given, else under the
    working directory) and recorded so. With ``root`` (the API passes :func:`backup_root`), a
    folder outside it is refused and logged.
    """
    authorize(ctx, action="store.backup", actor=actor, purpose=purpose)
    t0 = time.perf_counter()
    given = Path(out).expanduser()
    out = ((root / given) if root is not None and not given.is_absolute() else given).resolve()
    if root is not None:
        root = Path(root).resolve()
        if out != root and root not in out.parents:
            refuse(ctx, action="store.backup", actor=actor, purpose=purpose,
                   reason=f"{out} is outside the backup root {root}", detail={"folder": str(out), "root": str(root)},
                   error=InvalidParameterError(
                       f"store backup {str(given)!r}: got {out}, outside the folder this service may write backups "
                       f"to; expected a folder under {root} (setting CRIMELENS_BACKUP_ROOT, default the folder "
                       "holding the store; see docs/settings.md)"))
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        refuse(ctx, action="store.backup", actor=actor, purpose=purpose, reason=f"{out} is not empty",
               error=InputError(f"store backup {out}: the path is a file or a folder that is not empty; expected "
                                "a new or empty folder (a backup never overwrites)"))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        refuse(ctx, action="store.backup", actor=actor, purpose=purpose,
               reason=f"cannot make {out}: {exc.strerror or exc}", detail={"folder": str(out)},
               error=InputError(f"store backup {out}: cannot make the folder ({exc.strerror or exc}); expected a "
                                "new or empty folder this service's user can create and write"))
    try:
        return _write_backup(ctx, out, actor, purpose, include_key, t0)
    except BaseException:
        # the folder was new or empty: leave it so, not with half a backup in it
        for child in out.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise


def _manifest_message(manifest_sha256: str) -> bytes:
    """The exact bytes the manifest signature signs."""
    return _MANIFEST_PREFIX + bytes.fromhex(manifest_sha256)


def _signature_ok(public_key: bytes, signature: bytes, manifest_sha256: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, _manifest_message(manifest_sha256))
    except (InvalidSignature, ValueError):
        return False
    return True


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
        "format": MANIFEST_FORMAT, "crimelens": __version__, "created_at": ctx.now().isoformat(), "source": str(ctx.store.path),
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
    # the manifest's figures are signed with the ledger's key: recomputed figures no longer verify
    signing = ctx.ledger.signing_key()
    signer = raw_public_key(signing)
    signer_id = key_id_of(signer)
    (out / MANIFEST_SIGNATURE).write_text(json.dumps({
        "manifest": MANIFEST, "manifest_sha256": manifest_sha, "key_id": signer_id, "public_key": signer.hex(),
        "signature": base64.b64encode(signing.sign(_manifest_message(manifest_sha))).decode("ascii"),
        "signed_message": SIGNED_MESSAGE,
    }, indent=2) + "\n", encoding="utf-8")
    seconds = time.perf_counter() - t0
    seq = record_use(ctx, action="store.backup", actor=actor, purpose=purpose, detail={
        "folder": str(out), "store_sha256": store_sha, "manifest_sha256": manifest_sha,
        "manifest_key_id": signer_id,
        "ledger_entries": report.n_entries, "ledger_root": report.root_hash, "evidence_files": n_files,
        "include_key": include_key})
    return BackupReport(folder=str(out), store_sha256=store_sha, store_bytes=store_bytes, tables=tables,
                        ledger_entries=report.n_entries, ledger_root=report.root_hash,
                        ledger_key_id=key_id, evidence_files=n_files, evidence_bytes=n_bytes,
                        include_key=include_key, seconds=round(seconds, 3), ledger_seq=seq,
                        manifest_sha256=manifest_sha, manifest_key_id=signer_id)


def verify_backup(folder: Path, *, public_key: bytes | None = None, db: Path | None = None) -> BackupCheck:
    """Recheck a backup folder on its own: file sizes and hashes, manifest signature, row counts, ledger.

    Every file is checked against the manifest first (the store file's size and SHA-256, each
    evidence file's hash against its name, their count and bytes), before DuckDB reads the copy: a
    truncated or changed file is named as such, and a copy DuckDB cannot read is a problem too
    (the checks that need it are then skipped), never an exception.

    ``public_key`` is the ledger key the checker trusts (e.g. from the agency's published head):
    the manifest must be signed by it, and the copy's ledger is checked against it, which proves who
    made the backup; a missing signature file is then a problem. Without it, the signature is
    checked against the key the backup's own ledger holds (proving the manifest matches that ledger,
    not its origin: a warning says so) and the ledger against the manifest's key; a missing
    signature file is a problem unless the manifest shows a backup made before manifests were signed
    (no ``format``, written by crimelens 0.1.0 before :data:`SIGNED_SINCE`), which is checked as
    before, with a warning that its figures prove nothing on their own. ``db`` is the live store the
    backup was made from (opened read only): its ``store.backup`` entry must record this manifest's
    hash; the backup's own ledger is searched too.
    Logs nothing: it needs no store, and may run on another machine.
    """
    folder = Path(folder)
    problems: list[str] = []
    warnings: list[str] = []
    try:
        manifest_bytes = (folder / MANIFEST).read_bytes()
        manifest = json.loads(manifest_bytes.decode("utf-8"))
        expected = manifest["store"]
        ledger_m = manifest["ledger"]
        evidence_m = manifest["evidence"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"backup {folder}: got no readable {MANIFEST} ({exc}); expected the folder "
                         "`crimelens store backup` wrote") from exc
    manifest_sha = hashlib.sha256(manifest_bytes).hexdigest()
    target = folder / STORE_FILE
    if not target.is_file():
        return BackupCheck(str(folder), False, [f"{STORE_FILE} is missing"], manifest_sha256=manifest_sha)
    signature = _read_signature(folder, problems)
    # every file against the manifest before DuckDB reads the copy (a truncated file is named, not read)
    sha, size = sha256_file(target)
    if size != expected["bytes"]:
        problems.append(f"{STORE_FILE}: {size} bytes (sha256 {sha}); the manifest says {expected['bytes']} bytes "
                        f"(sha256 {expected['sha256']}): the file is "
                        + ("cut short (truncated)" if isinstance(expected["bytes"], int) and size < expected["bytes"]
                           else "not the one the backup wrote"))
    elif sha != expected["sha256"]:
        problems.append(f"{STORE_FILE}: sha256 {sha} ({size} bytes); the manifest says {expected['sha256']} "
                        f"({expected['bytes']} bytes)")
    root = folder / evidence_m["folder"]
    files = _evidence_files(root)
    n_bytes = 0
    for f in files:
        f_sha, f_bytes = sha256_file(f)
        n_bytes += f_bytes
        if f_sha != _address(root, f):
            problems.append(f"evidence file {f.relative_to(folder)} does not hash to its name")
    if len(files) != evidence_m["files"]:
        problems.append(f"evidence: {len(files)} files; the manifest says {evidence_m['files']}")
    elif "bytes" in evidence_m and n_bytes != evidence_m["bytes"]:
        problems.append(f"evidence: {n_bytes} bytes in {len(files)} files; the manifest says {evidence_m['bytes']}")
    trusted = public_key if public_key is not None else (
        bytes.fromhex(ledger_m["public_key"]) if ledger_m.get("public_key") else None)
    counts: dict[str, int] | None = None
    report: VerifyReport | None = None
    own_key: bytes | None = None
    records: list[tuple[str, list[tuple[int, dict[str, Any]]]]] = []
    try:
        with DuckDBStore.open(target, read_only=True) as copy:
            counts = copy.table_counts()
            # without a trusted key, verify() uses the one stored with the head
            copy_ledger = Ledger(copy, folder / "keys")
            report = copy_ledger.verify(public_key=trusted)
            if signature is not None and signature[0] and public_key is None:
                with contextlib.suppress(NotFoundError):
                    own_key = copy_ledger.public_key(signature[0])
            records.append(("the backup's own ledger", _backup_records(copy_ledger)))
        readable = True
    except (StoreError, duckdb.Error) as exc:
        readable, counts, report, records = False, None, None, []
        cause = exc.__cause__ if isinstance(exc, StoreError) and exc.__cause__ is not None else exc
        problems.append(f"{STORE_FILE}: DuckDB cannot read it ({str(cause).strip()}); expected a readable "
                        "DuckDB store: the copy is truncated or damaged, and its tables and ledger were not checked")
    how = _check_signature(signature, manifest, manifest_sha, public_key, own_key, readable, problems, warnings)
    if db is not None:
        with DuckDBStore.open(db, read_only=True) as live:
            records.append((f"the store {str(db)!r}", _backup_records(Ledger(live))))
    record = _check_record(records, manifest, manifest_sha, problems)
    if db is not None and record is None:
        problems.append(f"{MANIFEST}: no store.backup entry in the store {str(db)!r} records a backup of a ledger "
                        f"of {ledger_m['entries']} entries with root {ledger_m['root_hash']}; expected the entry "
                        "the backup wrote (is this the store it was made from?)")
    if counts is not None:
        for t, n in expected["tables"].items():
            if counts.get(t) != n:
                problems.append(f"table {t}: {counts.get(t)} rows; the manifest says {n}")
    if report is not None:
        if not report.ok:
            problems.append(f"ledger: {report.problem}")
        if report.root_hash != ledger_m["root_hash"] or report.n_entries != ledger_m["entries"]:
            problems.append(f"ledger: {report.n_entries} entries with root {report.root_hash}; the manifest says "
                            f"{ledger_m['entries']} with root {ledger_m['root_hash']}")
    return BackupCheck(str(folder), not problems, problems, report.n_entries if report is not None else 0,
                       report.root_hash if report is not None else "", len(files),
                       warnings=warnings, manifest_sha256=manifest_sha, manifest_signature=how,
                       manifest_key_id=None if signature is None else signature[0], ledger_record=record)


def _read_signature(folder: Path, problems: list[str]) -> tuple[str, bytes, str] | None:
    """(key id, signature, signed manifest hash) from ``manifest.sig.json``; None when there is none."""
    path = folder / MANIFEST_SIGNATURE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return str(data["key_id"]), base64.b64decode(str(data["signature"]), validate=True), str(data["manifest_sha256"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problems.append(f"{MANIFEST_SIGNATURE}: got no readable signature ({exc}); expected the file "
                        "`crimelens store backup` wrote")
        return "", b"", ""


def _predates_signing(manifest: dict[str, Any]) -> str | None:
    """None when ``manifest`` shows a backup made before manifests were signed (no ``format``, written by
    crimelens 0.1.0 before :data:`SIGNED_SINCE`); else the field that shows it was not, as ``"name": value``."""
    if "format" in manifest:
        return f'"format": {json.dumps(manifest["format"])}'
    if manifest.get("crimelens") != _UNSIGNED_VERSION:
        return f'"crimelens": {json.dumps(manifest.get("crimelens"))}'
    created_at = manifest.get("created_at")
    try:
        created = datetime.fromisoformat(str(created_at))
    except ValueError:
        created = None
    if created is None or created.tzinfo is None or created >= SIGNED_SINCE:
        return f'"created_at": {json.dumps(created_at)}'
    return None


def _check_signature(signature: tuple[str, bytes, str] | None, manifest: dict[str, Any], manifest_sha: str,
                     public_key: bytes | None, own_key: bytes | None, readable: bool, problems: list[str],
                     warnings: list[str]) -> str:
    """Check the manifest's signature; returns how it was checked (see :class:`BackupCheck`).

    ``own_key`` is the signing key as the backup's own ledger holds it (None: it holds none, or
    ``readable`` is false: DuckDB could not read the copy, a problem already named).
    """
    if signature is None:
        if public_key is not None:
            problems.append(f"{MANIFEST_SIGNATURE}: the signature file is missing; expected {MANIFEST} signed by the "
                            f"given public key (key {key_id_of(public_key)}): an unsigned manifest cannot show who "
                            "made the backup, and whoever edits the copy can recompute its hash and row counts")
            return "missing"
        shown = _predates_signing(manifest)
        if shown is not None:
            problems.append(f"{MANIFEST_SIGNATURE}: the signature file is missing; expected one: the manifest's "
                            f"{shown} does not show a backup made before crimelens signed manifests (only a "
                            f"manifest without \"format\", written by crimelens {_UNSIGNED_VERSION} before "
                            f"{SIGNED_SINCE.isoformat()}, may be unsigned). The signature was removed or the manifest "
                            "edited: whoever edits the copy can recompute its hash and row counts")
            return "missing"
        warnings.append(f"{MANIFEST} is unsigned (a backup made before crimelens signed manifests): its hash and "
                        "row counts prove nothing on their own, since whoever edits the copy can recompute them. "
                        "Only the ledger check holds; make a new backup, which is signed")
        return "unsigned"
    key_id, sig, signed_sha = signature
    if not key_id:  # unreadable: already a problem
        return "bad"
    if signed_sha != manifest_sha:
        problems.append(f"{MANIFEST}: sha256 {manifest_sha}; its signature was made over {signed_sha} (the "
                        "manifest was changed after the backup wrote it)")
    if public_key is not None:
        if not _signature_ok(public_key, sig, manifest_sha):
            problems.append(f"{MANIFEST}: its signature (key {key_id}) does not verify against the given public key "
                            f"(key {key_id_of(public_key)}); expected a manifest signed by that key: the manifest was "
                            "changed, or the backup was not made by the holder of that key")
            return "bad"
        return "given key"
    if not readable:  # the key is in the copy's ledger, which DuckDB could not read (named already)
        return "not checked"
    if own_key is None:
        problems.append(f"{MANIFEST}: signed by key {key_id}, which the backup's ledger does not hold; expected one "
                        "of its ledger keys (give --public-key to check against a key you trust)")
        return "bad"
    if not _signature_ok(own_key, sig, manifest_sha):
        problems.append(f"{MANIFEST}: its signature does not verify against key {key_id} of the backup's own ledger; "
                        "expected the signature the backup wrote (the manifest was changed after it was signed)")
        return "bad"
    warnings.append(f"{MANIFEST}: signature checked against key {key_id}, which the backup's own ledger holds: this "
                    "shows the manifest matches that ledger, not who made the backup (origin unproven); give "
                    "--public-key HEX from a published head to prove it")
    return "backup's ledger key"


def _backup_records(ledger: Ledger) -> list[tuple[int, dict[str, Any]]]:
    """The ``store.backup`` entries (that succeeded) of a ledger, with their detail."""
    return [(seq, dict(e.detail)) for seq, e in ledger.entries(action="store.backup") if e.outcome == "ok"]


def _check_record(records: list[tuple[str, list[tuple[int, dict[str, Any]]]]], manifest: dict[str, Any],
                  manifest_sha: str, problems: list[str]) -> str | None:
    """Match the manifest with the ``store.backup`` entry that recorded it (same ledger size and
    root) and compare the manifest hashes; returns the entry found (None: no ledger holds one)."""
    ledger_m = manifest["ledger"]
    found: str | None = None
    for where, entries in records:
        same = [(seq, d) for seq, d in entries if d.get("ledger_entries") == ledger_m["entries"]
                and d.get("ledger_root") == ledger_m["root_hash"] and d.get("manifest_sha256")]
        if not same:
            continue
        match = [seq for seq, d in same if d["manifest_sha256"] == manifest_sha]
        seq = match[0] if match else same[-1][0]
        if not match:
            problems.append(f"{MANIFEST}: sha256 {manifest_sha}; the store.backup entry #{seq} of {where} recorded "
                            f"{same[-1][1]['manifest_sha256']} for this backup (the manifest was changed after the "
                            "backup)")
        found = found or f"entry #{seq} of {where}"
    return found


def restore(folder: Path, *, db: Path, as_user: str | None = None, purpose: str | None = BACKUP_PURPOSE,
            evidence: Path | None = None, key_dir: Path | None = None,
            public_key: bytes | None = None) -> tuple[BackupCheck, int | None]:
    """Verify ``folder``, then put its store at ``db`` (a new path), its evidence and keys beside it.

    The restored ledger records the restore (``store.restore``, with the backup's manifest
    figures) as its next entry, signed with the restored key when the backup holds it, else with
    the key already at ``key_dir`` (a new key would start a new signer: the entry says which).
    Who restores is ``as_user``, a user of the restored store (their role comes from its user
    table), else the local user (``CRIMELENS_USER`` / ``CRIMELENS_ROLE``); only an administrator
    may. ``public_key`` is the ledger key the backup is checked against (:func:`verify_backup`).
    Returns the check and the entry's sequence number.
    """
    from crimelens.config import load_settings
    from crimelens.services._context import local_actor, open_context
    from crimelens.storage import _governance as gov_db

    check = verify_backup(folder, public_key=public_key)
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
            "store_sha256": manifest["store"]["sha256"], "manifest_sha256": check.manifest_sha256,
            "manifest_signature": check.manifest_signature, "ledger_entries": check.ledger_entries,
            "ledger_root": check.ledger_root, "key_restored": bool(manifest.get("keys")),
            "restored_at": datetime.now(UTC).isoformat()})
    return check, seq
