"""An IT administrator's deployment test (tester D), on real stores in tmp_path.

- a backup whose copy was edited and whose unsigned figures (hash, size, row counts) were
  recomputed passed ``verify-backup``: the manifest is now signed with the ledger's key and the
  signature, and the ``store.backup`` entry's manifest hash, are checked;
- a full disk was a traceback (CLI) or "500 this is a bug" (API): now ``StoreFullError`` (exit 5, 507);
- a store from a newer crimelens opened with no check: now refused, naming both schema versions;
- the API wrote backups anywhere, a relative folder under the server's working directory:
  now only under ``CRIMELENS_BACKUP_ROOT`` (default the store's folder), recorded absolute;
- ``CRIMELENS_ROLE=god`` was a ValueError traceback, ``CRIMELENS_DB=`` opened '.', and a misspelt
  setting was ignored without a word.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from crimelens.api import create_app
from crimelens.config import ROLES, Settings, load_settings, unknown_settings, warn_unknown_settings
from crimelens.errors import InvalidParameterError, LedgerIntegrityError, StoreError, StoreFullError
from crimelens.governance import Actor, Role
from crimelens.services import governance as gs
from crimelens.services import open_context
from crimelens.services import store as svc
from crimelens.storage import DuckDBStore
from crimelens.storage._duckdb import full_disk_error, newer_schema_error

ADMIN = Actor("ada", Role.ADMIN)


@pytest.fixture
def db(template: Path, tmp_path: Path) -> Path:
    """A private copy of the template store, with its key and evidence folders."""
    live = tmp_path / "live"
    shutil.copytree(template.parent, live)
    return live / template.name


def _ctx(db: Path, **more: object):  # type: ignore[no-untyped-def]
    return open_context(Settings(db=db, user="ada", role="admin", progress=False, **more))  # type: ignore[arg-type]


def _public_key(db: Path) -> bytes:
    with _ctx(db) as ctx:
        head = ctx.ledger.latest_head()
        assert head is not None
        return bytes(ctx.ledger.public_key(head.key_id))


def _recompute_manifest(folder: Path) -> None:
    """What the tester did: make the unsigned figures match the edited copy again."""
    manifest = json.loads((folder / svc.MANIFEST).read_text(encoding="utf-8"))
    data = (folder / svc.STORE_FILE).read_bytes()
    manifest["store"]["sha256"] = hashlib.sha256(data).hexdigest()
    manifest["store"]["bytes"] = len(data)
    with duckdb.connect(str(folder / svc.STORE_FILE), read_only=True) as con:
        manifest["store"]["tables"]["incidents"] = con.execute("SELECT count(*) FROM incidents").fetchall()[0][0]
    (folder / svc.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _delete_an_incident(folder: Path) -> None:
    with duckdb.connect(str(folder / svc.STORE_FILE)) as con:
        con.execute("DELETE FROM incidents WHERE incident_id = (SELECT min(incident_id) FROM incidents)")
        con.execute("CHECKPOINT")


# 1. backups: the manifest is signed ------------------------------------------------------------

def test_a_deleted_incident_with_a_recomputed_manifest_no_longer_verifies(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "bk"
    with _ctx(db) as ctx:
        made = svc.backup(ctx, out=out, actor=ADMIN)
    assert (out / svc.MANIFEST_SIGNATURE).is_file() and made.manifest_key_id
    good = svc.verify_backup(out, public_key=_public_key(db))
    assert good.ok and good.manifest_signature == "given key" and not good.warnings, good
    tampered = tmp_path / "bk-tampered"
    shutil.copytree(out, tampered)
    _delete_an_incident(tampered)
    _recompute_manifest(tampered)
    for key in (None, _public_key(db)):  # with and without --public-key
        check = svc.verify_backup(tampered, public_key=key)
        assert not check.ok, check
        assert any("signature" in p for p in check.problems), check.problems
    # nor is it restored
    with pytest.raises(LedgerIntegrityError, match="signature"):
        svc.restore(tampered, db=tmp_path / "restored" / "x.duckdb", as_user="ada")
    assert not (tmp_path / "restored" / "x.duckdb").exists()


def test_an_edited_incident_with_a_recomputed_manifest_is_caught_against_the_live_store(
        db: Path, tmp_path: Path) -> None:
    """Even re-signed with the store's own key (a backup with --include-key), the manifest's hash no
    longer matches the one the live store's ledger recorded for that backup."""
    out = tmp_path / "bk"
    with _ctx(db) as ctx:
        svc.backup(ctx, out=out, actor=ADMIN, include_key=True)
    with duckdb.connect(str(out / svc.STORE_FILE)) as con:
        con.execute("UPDATE incidents SET offense = 'edited' WHERE incident_id = (SELECT min(incident_id) FROM incidents)")
        con.execute("CHECKPOINT")
    _recompute_manifest(out)
    key = serialization.load_pem_private_key((out / "keys" / "ledger-ed25519.pem").read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    sha = hashlib.sha256((out / svc.MANIFEST).read_bytes()).hexdigest()
    sig = json.loads((out / svc.MANIFEST_SIGNATURE).read_text(encoding="utf-8"))
    sig.update(manifest_sha256=sha, signature=base64.b64encode(
        key.sign(b"crimelens/backup/manifest/v1\x00" + bytes.fromhex(sha))).decode("ascii"))
    (out / svc.MANIFEST_SIGNATURE).write_text(json.dumps(sig), encoding="utf-8")
    assert svc.verify_backup(out, public_key=_public_key(db)).ok  # the key holder can re-sign...
    check = svc.verify_backup(out, db=db)  # ...but the live store's ledger recorded the real manifest
    assert not check.ok
    assert any("store.backup entry" in p and "recorded" in p for p in check.problems), check.problems


def test_the_live_store_names_the_entry_that_recorded_a_backup(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "bk"
    with _ctx(db) as ctx:
        made = svc.backup(ctx, out=out, actor=ADMIN)
    check = svc.verify_backup(out, db=db)
    assert check.ok, check.problems
    assert check.ledger_record == f"entry #{made.ledger_seq} of the store {str(db)!r}"
    assert check.manifest_sha256 == made.manifest_sha256


def test_without_a_public_key_the_origin_is_unproven_and_a_wrong_key_is_named(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "bk"
    with _ctx(db) as ctx:
        svc.backup(ctx, out=out, actor=ADMIN)
    check = svc.verify_backup(out)
    assert check.ok and check.manifest_signature == "backup's ledger key"
    assert any("origin unproven" in w for w in check.warnings), check.warnings
    other = Ed25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.Raw,
                                                                    serialization.PublicFormat.Raw)
    wrong = svc.verify_backup(out, public_key=other)
    assert not wrong.ok and any("does not verify against the given public key" in p for p in wrong.problems)


def test_a_signed_backup_whose_signature_file_is_removed_is_refused(db: Path, tmp_path: Path) -> None:
    """Before, deleting the signature made a new backup read as an old unsigned one ("verifies", with a
    warning), which is how a tester passed an edited backup; a backup from before signing is
    tests/storage/test_backup_s33.py's case."""
    out = tmp_path / "bk"
    with _ctx(db) as ctx:
        svc.backup(ctx, out=out, actor=ADMIN)
    (out / svc.MANIFEST_SIGNATURE).unlink()
    check = svc.verify_backup(out)
    assert not check.ok and check.manifest_signature == "missing"
    assert any("the signature file is missing" in p for p in check.problems), check.problems


def test_an_edited_signed_manifest_is_named(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "bk"
    with _ctx(db) as ctx:
        svc.backup(ctx, out=out, actor=ADMIN)
    text = (out / svc.MANIFEST).read_text(encoding="utf-8")
    (out / svc.MANIFEST).write_text(text.replace('"created_at": "', '"created_at": "1'), encoding="utf-8")
    check = svc.verify_backup(out)
    assert not check.ok
    assert any("signature was made over" in p for p in check.problems), check.problems


# 2b. a full disk ------------------------------------------------------------------------------

def test_no_space_left_is_told_as_a_full_store_not_a_bug() -> None:
    """The mapping on DuckDB's own exception types (their text is what DuckDB 1.x says)."""
    wal = duckdb.TransactionException('TransactionContext Error: Failed to commit: Could not write file '
                                      '"/srv/city.duckdb.wal": No space left on device')
    found = full_disk_error("/srv/city.duckdb", wal)
    assert isinstance(found, StoreFullError) and found.exit_code == 5 and found.http_status == 507
    text = str(found)
    assert "the disk holding the store is full" in text and "Nothing was lost" in text and "city.duckdb.wal" in text
    evidence = OSError(28, "No space left on device", "/mnt/evidence/ab/cd")
    assert "a disk this command writes to is full" in str(full_disk_error("/srv/city.duckdb", evidence))
    assert full_disk_error("/srv/city.duckdb", duckdb.IOException("IO Error: Permission denied")) is None


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs at tmp_path/disk (needs root to mount; skipped otherwise)."""
    where = tmp_path / "disk"
    where.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a small filesystem needs root to mount a tmpfs")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace')}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_under_the_api_is_507_and_the_store_survives(small_disk: Path, tmp_path: Path) -> None:
    db = small_disk / "s.duckdb"
    with open_context(Settings(db=db, progress=False)) as ctx:
        token = gs.add_user(ctx, name="adm", role="admin", actor=Actor("adm", Role.ADMIN))[1]
        before = ctx.ledger.size()
    web = create_app(Settings(db=db, progress=False))
    try:
        # the answer is checked: an unhandled error would be a 500
        with TestClient(web, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
            head = {"Authorization": f"Bearer {token}", "X-Purpose": "it admin testing"}
            filler = _fill(small_disk)
            r = client.post("/api/ledger/verify", headers=head)
            assert r.status_code == 507, r.text
            body = r.json()
            assert body["type"] == "StoreFullError" and "disk holding the store is full" in body["error"]
            assert "Nothing was lost" in body["error"]
            filler.unlink()
            again = client.post("/api/ledger/verify", headers=head)
            assert again.status_code == 200 and again.json()["ok"], again.text
    finally:
        web.state.close()
    with open_context(Settings(db=db, progress=False)) as ctx:
        assert ctx.ledger.verify().ok and ctx.ledger.size() > before


# 2e. a store from a newer crimelens ---------------------------------------------------------------

def test_a_store_with_a_newer_schema_is_refused_naming_both_versions(tmp_path: Path) -> None:
    path = tmp_path / "future.duckdb"
    with DuckDBStore.open(path) as s:
        known = s.schema_version()
        s.execute("INSERT INTO schema_version VALUES (?, 'future_change', now())", [known + 83])
        s.execute("ALTER TABLE users RENAME COLUMN role TO staff_role")
    for read_only in (False, True):
        with pytest.raises(StoreError, match=rf"schema is version {known + 83}.*last migration is {known}.*upgrade crimelens"):
            DuckDBStore.open(path, read_only=read_only)
    assert newer_schema_error(str(path), known) is None


# 3. where the API may write backups ---------------------------------------------------------------

@pytest.fixture
def served(db: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with _ctx(db) as ctx:
        token = gs.add_user(ctx, name="root", role="admin", actor=ADMIN)[1]
    web = create_app(Settings(db=db, progress=False))
    try:
        with TestClient(web, base_url="http://127.0.0.1") as client:
            yield client, {"Authorization": f"Bearer {token}", "X-Purpose": "backup"}
    finally:
        web.state.close()


def _refusals(db: Path) -> list[dict[str, object]]:
    with _ctx(db) as ctx:
        return [e for e in gs.ledger_entries(ctx, actor=ADMIN, action="store.backup", limit=None)
                if e["outcome"] == "refused"]


def test_a_relative_backup_folder_goes_under_the_backup_root_and_is_recorded_absolute(
        served: tuple[TestClient, dict[str, str]], db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, head = served
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the server's working directory is not where backups go
    r = client.post("/api/store/backup", json={"folder": "relative-bk"}, headers=head)
    assert r.status_code == 200, r.text
    written = r.json()["backup"]["folder"]
    assert written == str((db.parent / "relative-bk").resolve()) and Path(written).is_absolute()
    assert not (elsewhere / "relative-bk").exists() and svc.verify_backup(Path(written)).ok
    with _ctx(db) as ctx:
        entry = gs.ledger_entries(ctx, actor=ADMIN, action="store.backup", limit=None)[-1]
    assert entry["detail"]["folder"] == written


def test_a_backup_folder_outside_the_root_is_refused_and_logged(
        served: tuple[TestClient, dict[str, str]], db: Path, tmp_path: Path) -> None:
    client, head = served
    for folder in (str(tmp_path / "outside"), "../escape", "/proc/bk"):
        r = client.post("/api/store/backup", json={"folder": folder}, headers=head)
        assert r.status_code == 422, r.text
        assert r.json()["type"] == "InvalidParameterError" and "CRIMELENS_BACKUP_ROOT" in r.json()["error"]
    assert not (tmp_path / "outside").exists() and not (tmp_path / "escape").exists()
    assert len(_refusals(db)) == 3


def test_a_folder_the_server_cannot_make_is_a_logged_422_not_a_500(db: Path) -> None:
    with _ctx(db) as ctx:
        token = gs.add_user(ctx, name="root", role="admin", actor=ADMIN)[1]
    web = create_app(Settings(db=db, progress=False, backup_root=Path("/")))
    try:
        with TestClient(web, base_url="http://127.0.0.1") as client:
            r = client.post("/api/store/backup", json={"folder": "/proc/bk"},
                            headers={"Authorization": f"Bearer {token}", "X-Purpose": "backup"})
    finally:
        web.state.close()
    assert r.status_code == 422, r.text
    assert r.json()["type"] == "InputError" and "/proc/bk" in r.json()["error"] and "cannot make" in r.json()["error"]
    assert any("cannot make /proc/bk" in str(e["detail"]) for e in _refusals(db))


# 2a, 5. settings ----------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["god", "Admin", ""])
def test_an_unknown_role_is_a_setting_error(role: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIMELENS_ROLE", role)
    if not role:  # empty is unset: the default
        assert load_settings().role == "analyst"
        return
    with pytest.raises(InvalidParameterError, match=rf"setting CRIMELENS_ROLE: got '{role}'; expected one of 'analyst'"):
        load_settings()


def test_the_roles_a_setting_takes_are_the_roles() -> None:
    assert set(ROLES) == {str(r) for r in Role}


def test_an_empty_db_setting_is_unset_and_unknown_settings_are_named_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIMELENS_DB", "")
    assert load_settings().db == Path("crimelens.duckdb")
    env = {"CRIMELENS_MAX_UPLOAD_MIB_TD": "1", "CRIMELENS_DB": "x", "CRIMELENS_GOVERNANCE_DEMO": "1",
           "CRIMELENS_BACKUP_ROOT": "/b"}
    assert unknown_settings(env) == ["CRIMELENS_MAX_UPLOAD_MIB_TD"]
    said: list[str] = []
    warn_unknown_settings(said.append, env)
    warn_unknown_settings(said.append, env)
    assert len(said) == 1 and "CRIMELENS_MAX_UPLOAD_MIB_TD is not a crimelens setting" in said[0]
    assert "did you mean CRIMELENS_MAX_UPLOAD_MB" in said[0]
