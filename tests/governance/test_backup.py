"""Backups: a consistent copy of a real store (incidents, evidence, ledger), checked before it is
trusted and again anywhere; tampering is named; a restore goes to a new path and continues the ledger."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from crimelens.cli import app
from crimelens.config import Settings
from crimelens.errors import InputError, LedgerIntegrityError, NotFoundError, PermissionDeniedError
from crimelens.governance import Actor, Role
from crimelens.services import governance as gs
from crimelens.services import open_context
from crimelens.services import store as svc
from crimelens.services.evidence import add_evidence
from crimelens.services.ingest import ingest_file
from crimelens.synth import SyntheticCity

ADMIN = Actor("ada", Role.ADMIN)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store with incidents of the synthetic city, two evidence files, users and ledger entries."""
    path = tmp_path / "live" / "crimelens.duckdb"
    SyntheticCity(seed=3, days=30, scale=0.1).generate().write(tmp_path / "synth")
    with open_context(Settings(db=path, user="ada", role="admin", progress=False)) as ctx:
        ingest_file(ctx, tmp_path / "synth" / "incidents.csv", actor=ADMIN, format="canonical", dataset="synth")
        gs.add_user(ctx, name="ada", role="admin", actor=ADMIN)
        gs.add_user(ctx, name="ana", role="analyst", actor=ADMIN)
        for k, text in enumerate(("first statement", "second statement")):
            f = tmp_path / f"statement{k}.txt"
            f.write_text(text, encoding="utf-8")
            add_evidence(ctx, f, case_id="C-1", actor=ADMIN, source="test intake")
    return path


def _ctx(db: Path):  # type: ignore[no-untyped-def]
    return open_context(Settings(db=db, user="ada", role="admin", progress=False))


def test_a_backup_is_a_checked_copy_and_the_ledger_says_so(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "backup-1"
    with _ctx(db) as ctx:
        before = ctx.store.table_counts()
        report = svc.backup(ctx, out=out, actor=ADMIN)
        entry = gs.ledger_entries(ctx, actor=ADMIN, action="store.backup", limit=None)[-1]
    assert report.tables["incidents"] == before["incidents"] > 100
    assert report.tables == {t: n for t, n in before.items()}  # every table, every row, as it was
    assert report.evidence_files == 2 and not report.include_key and not (out / "keys").exists()
    # the ledger records the backup: which copy (its hash) of which ledger (size, root)
    assert entry["action"] == "store.backup" and entry["seq"] == report.ledger_seq
    assert entry["detail"]["store_sha256"] == report.store_sha256
    assert entry["detail"]["ledger_entries"] == report.ledger_entries == report.ledger_seq
    check = svc.verify_backup(out)
    assert check.ok, check.problems
    assert check.ledger_root == report.ledger_root and check.evidence_files == 2
    # the copy is an ordinary store: the same incidents
    with duckdb.connect(str(out / svc.STORE_FILE), read_only=True) as con, duckdb.connect(str(db), read_only=True) as src:
        q = "SELECT incident_id, offense, occurred_from FROM incidents ORDER BY incident_id"
        assert con.execute(q).fetchall() == src.execute(q).fetchall()


def test_a_backup_never_overwrites_and_needs_an_administrator(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "backup"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    with _ctx(db) as ctx:
        with pytest.raises(InputError, match="not empty"):
            svc.backup(ctx, out=out, actor=ADMIN)
        with pytest.raises(PermissionDeniedError):
            svc.backup(ctx, out=tmp_path / "other", actor=Actor("ana", Role.ANALYST))
        refused = gs.ledger_entries(ctx, actor=ADMIN, action="store.backup", limit=None)
    assert (out / "notes.txt").read_text(encoding="utf-8") == "keep me"
    assert len(refused) == 2 and all(e["outcome"] == "refused" for e in refused)
    assert not (tmp_path / "other").exists()


def test_tampering_with_a_backup_is_named(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "b"
    with _ctx(db) as ctx:
        svc.backup(ctx, out=out, actor=ADMIN)
    # an evidence file changed on disk
    f = next((out / "evidence" / "sha256").glob("*/*"))
    f.chmod(0o644)
    f.write_bytes(b"altered")
    # an incident deleted from the copy (its hash and row count no longer match the manifest)
    with duckdb.connect(str(out / svc.STORE_FILE)) as con:
        con.execute("DELETE FROM incidents WHERE incident_id = (SELECT min(incident_id) FROM incidents)")
    check = svc.verify_backup(out)
    assert not check.ok
    text = " | ".join(check.problems)
    assert "does not hash to its name" in text and "table incidents:" in text and "sha256" in text
    # a ledger entry rewritten in the copy
    with duckdb.connect(str(out / svc.STORE_FILE)) as con:
        con.execute("UPDATE ledger SET payload = encode(replace(decode(payload), 'test intake', 'tampered')) "
                    "WHERE seq = (SELECT max(seq) FROM ledger WHERE action = 'evidence.add')")
    assert any(p.startswith("ledger:") for p in svc.verify_backup(out).problems)
    # and a restore refuses it, leaving nothing behind
    with pytest.raises(LedgerIntegrityError, match="does not verify; nothing was restored"):
        svc.restore(out, db=tmp_path / "restored" / "x.duckdb")
    assert not (tmp_path / "restored" / "x.duckdb").exists()


def test_a_restore_goes_to_a_new_path_and_continues_the_ledger(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "b"
    with _ctx(db) as ctx:
        report = svc.backup(ctx, out=out, actor=ADMIN, include_key=True)
    assert (out / "keys").is_dir()
    with pytest.raises(InputError, match="exists; expected a new path"):
        svc.restore(out, db=db)  # never over a store
    target = tmp_path / "restored" / "crimelens.duckdb"
    check, seq = svc.restore(out, db=target, as_user="ada")
    assert check.ok and seq == report.ledger_entries  # the next entry after the copied ones
    with open_context(Settings(db=target, progress=False)) as ctx:
        v = gs.verify_ledger(ctx, actor=ADMIN)
        entry = gs.ledger_entries(ctx, actor=ADMIN, action="store.restore", limit=None)[-1]
        assert ctx.store.table_counts()["incidents"] == report.tables["incidents"]
        assert len(list((Path(f"{target}.evidence") / "sha256").glob("*/*"))) == 2
    assert v.ok, v.problem  # one chain: the copied entries, the restore, the verification, same key
    assert entry["action"] == "store.restore" and entry["user"] == "ada"
    assert entry["detail"]["ledger_root"] == report.ledger_root
    # an analyst of the backed-up store may not restore, and a refused restore leaves nothing behind
    # (it left a whole restored store, its evidence and its signing key)
    before = hashlib.sha256((out / "crimelens.duckdb").read_bytes()).hexdigest()
    with pytest.raises(PermissionDeniedError, match="nothing was restored"):
        svc.restore(out, db=tmp_path / "r2" / "c.duckdb", as_user="ana")
    with pytest.raises(NotFoundError, match="not in the backup's user table; nothing was restored"):
        svc.restore(out, db=tmp_path / "r2" / "c.duckdb", as_user="nobody")
    assert not (tmp_path / "r2").exists()
    assert hashlib.sha256((out / "crimelens.duckdb").read_bytes()).hexdigest() == before  # read, not changed
    assert svc.verify_backup(out).ok


def test_the_cli_backs_up_verifies_and_restores(db: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"CRIMELENS_USER": "ada", "CRIMELENS_ROLE": "admin", "CRIMELENS_PROGRESS": "false"}
    out = tmp_path / "cli-backup"
    r = runner.invoke(app, ["store", "backup", str(out), "--db", str(db), "--json"], env=env)
    assert r.exit_code == 0, r.output
    made = json.loads(r.output)
    r = runner.invoke(app, ["store", "verify-backup", str(out), "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["ledger_root"] == made["ledger_root"]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    r = runner.invoke(app, ["store", "verify-backup", str(out), "--public-key", "00" * 32])
    assert r.exit_code == 4 and "backup does not verify" in r.output  # not the key the agency signs with
    r = runner.invoke(app, ["store", "verify-backup", str(out), "--public-key", manifest["ledger"]["public_key"]])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["store", "restore", str(out), "--to", str(tmp_path / "new" / "c.duckdb"), "--json"],
                      env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["ledger_seq"] == made["ledger_entries"]
    shutil.rmtree(out / "evidence")
    r = runner.invoke(app, ["store", "verify-backup", str(out)])
    assert r.exit_code == 4 and "evidence: 0 files; the manifest says 2" in r.output


def test_a_store_without_evidence_backs_up_and_restores(tmp_path: Path) -> None:
    db = tmp_path / "bare.duckdb"
    with open_context(Settings(db=db, user="ada", role="admin", progress=False)) as ctx:
        gs.add_user(ctx, name="ada", role="admin", actor=ADMIN)
        report = svc.backup(ctx, out=tmp_path / "b", actor=ADMIN)
    assert report.evidence_files == 0 and svc.verify_backup(tmp_path / "b").ok
    check, seq = svc.restore(tmp_path / "b", db=tmp_path / "r" / "bare.duckdb", as_user="ada")
    assert check.ok and seq == report.ledger_entries and (tmp_path / "r" / "bare.duckdb.evidence").is_dir()


def test_a_changed_evidence_file_stops_the_backup_and_leaves_the_folder_empty(db: Path, tmp_path: Path) -> None:
    live = next((Path(f"{db}.evidence") / "sha256").glob("*/*"))
    live.chmod(0o644)
    live.write_bytes(b"changed on disk")
    out = tmp_path / "b"
    with _ctx(db) as ctx:
        with pytest.raises(LedgerIntegrityError, match=r"hashes to .*expected its name"):
            svc.backup(ctx, out=out, actor=ADMIN)
        last = gs.ledger_entries(ctx, actor=ADMIN, action="store.backup", limit=None)[-1]
    assert out.is_dir() and list(out.iterdir()) == []
    assert last["outcome"] == "refused"
