"""An RMS data engineer's backup test (tester s33-A), on real stores and real backups in tmp_path.

- a backup whose ``manifest.sig.json`` was deleted, whose copy was edited (incidents deleted and
  relabelled) and whose manifest's hash, size and row counts were recomputed passed
  ``verify-backup --public-key KEY`` (rc 0, "unsigned", a warning) and was restored: now a missing
  signature is a problem (exit 4) with a trusted key, and without one unless the manifest shows a
  backup made before manifests were signed;
- a backup whose ``crimelens.duckdb`` was cut short crashed ``verify-backup`` and ``restore`` with
  DuckDB's ``IOException``: now the file's size and hash are checked before it is opened, and a copy
  DuckDB cannot read is a named problem (exit 4), never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from crimelens.config import Settings
from crimelens.errors import LedgerIntegrityError
from crimelens.governance import Actor, Role
from crimelens.services import open_context
from crimelens.services import store as svc
from tests.conftest import run_cli

ADMIN = Actor("ada", Role.ADMIN)
MISSING = "the signature file is missing"


@pytest.fixture(scope="module")
def made(template: Path) -> tuple[Path, str]:
    """A backup of the storage tests' store (457 incidents, users, an evidence file); its public key (hex)."""
    with open_context(Settings(db=template, user="ada", role="admin", progress=False)) as ctx:
        svc.backup(ctx, out=template.parent.parent / "bk", actor=ADMIN)
        head = ctx.ledger.latest_head()
        assert head is not None
        key = bytes(ctx.ledger.public_key(head.key_id)).hex()
    return template.parent.parent / "bk", key


@pytest.fixture
def bk(made: tuple[Path, str], tmp_path: Path) -> Path:
    """A private copy of the backup, to tamper with."""
    out = tmp_path / "bk"
    shutil.copytree(made[0], out)
    for p in out.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return out


@pytest.fixture
def key(made: tuple[Path, str]) -> str:
    return made[1]


@pytest.fixture(autouse=True)
def _plain_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("CRIMELENS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CRIMELENS_PROGRESS", "false")


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return run_cli(capsys, *args)
def _manifest(folder: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((folder / svc.MANIFEST).read_text(encoding="utf-8"))
    return data


def _write_manifest(folder: Path, manifest: dict[str, object]) -> None:
    (folder / svc.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _recompute(folder: Path, **top: object) -> None:
    """What the tester did: make the manifest's hash, size and row counts match the copy again;
    ``top`` sets (or, given None, removes) top-level fields."""
    manifest = _manifest(folder)
    data = (folder / svc.STORE_FILE).read_bytes()
    store = manifest["store"]
    assert isinstance(store, dict)
    store.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    try:
        with duckdb.connect(str(folder / svc.STORE_FILE), read_only=True) as con:
            store["tables"]["incidents"] = con.execute("SELECT count(*) FROM incidents").fetchall()[0][0]
    except duckdb.Error:
        pass  # a copy DuckDB cannot read: its counts stay as they were
    for name, value in top.items():
        if value is None:
            manifest.pop(name, None)
        else:
            manifest[name] = value
    _write_manifest(folder, manifest)


def _tamper(folder: Path) -> None:
    """The tester's edit: 100 incidents deleted, 49 relabelled, the signature file deleted."""
    with duckdb.connect(str(folder / svc.STORE_FILE)) as con:
        con.execute("DELETE FROM incidents WHERE incident_id IN "
                    "(SELECT incident_id FROM incidents ORDER BY incident_id LIMIT 100)")
        con.execute("UPDATE incidents SET offense = 'relabelled' WHERE incident_id IN "
                    "(SELECT incident_id FROM incidents ORDER BY incident_id DESC LIMIT 49)")
        con.execute("CHECKPOINT")
    (folder / svc.MANIFEST_SIGNATURE).unlink()


# 1. a missing signature -------------------------------------------------------------------------------

def test_a_fresh_backup_records_its_format_and_verifies_against_the_trusted_key(bk: Path, key: str) -> None:
    assert _manifest(bk)["format"] == svc.MANIFEST_FORMAT == 2
    check = svc.verify_backup(bk, public_key=bytes.fromhex(key))
    assert check.ok and check.manifest_signature == "given key" and not check.warnings, check


def test_with_a_trusted_key_a_stripped_signature_is_a_problem_and_nothing_is_restored(
        bk: Path, key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _tamper(bk)
    _recompute(bk, format=None)  # a manifest as the tester's crimelens wrote it (no "format")
    code, out, err = run(["store", "verify-backup", str(bk), "--public-key", key, "--json"], capsys)
    assert code == 4, (out, err)
    check = json.loads(out)
    assert not check["ok"] and check["manifest_signature"] == "missing"
    assert any(p.startswith(f"{svc.MANIFEST_SIGNATURE}: {MISSING}") and "given public key" in p
               for p in check["problems"]), check["problems"]
    monkeypatch.setenv("CRIMELENS_USER", "ada")
    monkeypatch.setenv("CRIMELENS_ROLE", "admin")
    target = tmp_path / "restored" / "r.duckdb"
    code, out, err = run(["store", "restore", str(bk), "--to", str(target), "--public-key", key], capsys)
    assert code == 4 and "LedgerIntegrityError" in err and "nothing was restored" in err and MISSING in err, err
    assert not target.exists() and not Path(f"{target}.evidence").exists()


@pytest.mark.parametrize(("fields", "shown"), [
    ({}, '"format": 2'),  # as this version writes it
    ({"format": None}, '"created_at": "'),  # as the version the tester ran wrote it: 0.1.0, after signing began
    ({"format": None, "crimelens": "0.2.0"}, '"crimelens": "0.2.0"'),
    ({"format": None, "created_at": "yesterday"}, '"created_at": "yesterday"'),
], ids=["format-2", "0.1.0-after-signing", "a-later-version", "an-unreadable-date"])
def test_without_a_key_a_manifest_made_by_a_version_that_signs_must_be_signed(
        bk: Path, tmp_path: Path, fields: dict[str, object], shown: str) -> None:
    _tamper(bk)
    _recompute(bk, **fields)
    check = svc.verify_backup(bk)
    assert not check.ok and check.manifest_signature == "missing", check
    [problem] = [p for p in check.problems if MISSING in p]
    assert problem.startswith(f"{svc.MANIFEST_SIGNATURE}: {MISSING}; expected one: the manifest's {shown}"), problem
    assert "before 2026-11-29T11:14:30+00:00, may be unsigned" in problem
    target = tmp_path / "restored" / "r.duckdb"
    with pytest.raises(LedgerIntegrityError, match=f"nothing was restored: .*{MISSING}"):
        svc.restore(bk, db=target, as_user="ada")
    assert not target.exists()


def test_a_manifest_from_before_signing_may_be_unsigned_without_a_key_only(bk: Path, key: str) -> None:
    (bk / svc.MANIFEST_SIGNATURE).unlink()
    _recompute(bk, format=None, created_at="2026-11-28T09:00:00+00:00")  # 0.1.0, before it signed
    check = svc.verify_backup(bk)
    assert check.ok and check.manifest_signature == "unsigned", check.problems
    assert any("unsigned" in w and "prove nothing" in w for w in check.warnings), check.warnings
    trusted = svc.verify_backup(bk, public_key=bytes.fromhex(key))
    assert not trusted.ok and trusted.manifest_signature == "missing"
    assert any(MISSING in p for p in trusted.problems), trusted.problems


# 2. a truncated or unreadable copy ---------------------------------------------------------------------

def test_a_truncated_copy_is_named_before_it_is_opened_and_not_restored(
        bk: Path, key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    size = (bk / svc.STORE_FILE).stat().st_size
    with (bk / svc.STORE_FILE).open("r+b") as f:
        f.truncate(size // 2)
    for extra in ([], ["--public-key", key]):
        code, out, err = run(["store", "verify-backup", str(bk), "--json", *extra], capsys)
        assert code == 4 and "Traceback" not in err, (extra, err)
        problems = json.loads(out)["problems"]
        assert problems[0] == (f"{svc.STORE_FILE}: {size // 2} bytes (sha256 "
                               f"{hashlib.sha256((bk / svc.STORE_FILE).read_bytes()).hexdigest()}); the manifest "
                               f"says {size} bytes (sha256 {_manifest(bk)['store']['sha256']}): "  # type: ignore[index]
                               "the file is cut short (truncated)"), problems
    monkeypatch.setenv("CRIMELENS_USER", "ada")
    monkeypatch.setenv("CRIMELENS_ROLE", "admin")
    target = tmp_path / "restored" / "r.duckdb"
    code, _, err = run(["store", "restore", str(bk), "--to", str(target)], capsys)
    assert code == 4 and "Traceback" not in err and "nothing was restored" in err and "cut short" in err, err
    assert not target.exists()


@pytest.mark.parametrize("damage", ["truncated", "not-duckdb"])
def test_a_copy_duckdb_cannot_read_is_a_named_problem_even_when_its_figures_match(
        bk: Path, tmp_path: Path, damage: str) -> None:
    """The manifest recomputed for the damaged file (a backup from before signing): sizes and hashes
    agree, so opening it is what fails; that is a problem, not an exception."""
    path = bk / svc.STORE_FILE
    if damage == "truncated":
        with path.open("r+b") as f:
            f.truncate(path.stat().st_size // 2)
    else:
        path.write_bytes(b"incident_id,offense\n1,burglary\n" * 1000)
    (bk / svc.MANIFEST_SIGNATURE).unlink()
    _recompute(bk, format=None, created_at="2026-11-28T09:00:00+00:00")
    check = svc.verify_backup(bk)
    assert not check.ok
    [problem] = check.problems
    assert problem.startswith(f"{svc.STORE_FILE}: DuckDB cannot read it (") and problem.endswith(
        "expected a readable DuckDB store: the copy is truncated or damaged, and its tables and ledger were not "
        "checked"), problem
    with pytest.raises(LedgerIntegrityError, match="DuckDB cannot read it"):
        svc.restore(bk, db=tmp_path / "restored" / "r.duckdb", as_user="ada")
    assert not (tmp_path / "restored" / "r.duckdb").exists()
