"""Intake hashes and stores content; verification re-hashes and names what changed."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from crimelens.errors import InputError, NotFoundError
from crimelens.evidence import ContentStore, sniff_mime
from crimelens.governance import Actor
from crimelens.services import Context
from crimelens.services import evidence as svc

ACTOR = Actor("custodian")


def _files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "statement.txt": b"Witness statement, taken 2024-05-01.\n",
        "photo.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        "export.csv": b"id,when\n1,2024-05-01T10:00:00Z\n",
        "clip.bin": os.urandom(4096),
    }
    out = {}
    for name, data in files.items():
        p = tmp_path / "in" / name
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(data)
        out[name] = p
    return out


def _content_path(ctx: Context, sha: str) -> Path:
    return svc.evidence_dir(ctx) / "sha256" / sha[:2] / sha[2:]


def test_intake_records_hash_size_type_and_stores_read_only_content(ctx: Context, tmp_path: Path) -> None:
    files = _files(tmp_path)
    items = {n: svc.add_evidence(ctx, p, case_id="JA100001", actor=ACTOR, source="BWC dock 3")
             for n, p in files.items()}
    for name, item in items.items():
        data = files[name].read_bytes()
        assert item.sha256 == hashlib.sha256(data).hexdigest()
        assert item.size_bytes == len(data)
        stored = _content_path(ctx, item.sha256)
        assert stored.read_bytes() == data
        assert not stored.stat().st_mode & stat.S_IWUSR
    assert items["photo.png"].mime_type == "image/png"
    assert items["statement.txt"].mime_type == "text/plain"
    assert items["export.csv"].mime_type == "text/csv"
    assert svc.evidence_dir(ctx) == Path(f"{ctx.store.path}.evidence")
    # one ledger entry per intake, carrying the content hash
    entries = ctx.ledger.entries(action="evidence.add")
    assert sorted(e.output_hash or "" for _, e in entries) == sorted(i.sha256 for i in items.values())
    assert {e.user for _, e in entries} == {"custodian"}


def test_verify_passes_untouched_and_names_the_item_after_a_one_byte_change(ctx: Context, tmp_path: Path) -> None:
    files = _files(tmp_path)
    items = [svc.add_evidence(ctx, p, case_id="JA100002", actor=ACTOR, source="records export")
             for p in files.values()]
    clean = svc.verify_case(ctx, "JA100002", actor=ACTOR)
    assert clean.ok and clean.failed_items == [] and len(clean.items) == 4

    victim = items[1]
    path = _content_path(ctx, victim.sha256)
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    data = bytearray(path.read_bytes())
    data[17] ^= 0x01
    path.write_bytes(bytes(data))

    broken = svc.verify_case(ctx, "JA100002", actor=ACTOR)
    assert not broken.ok
    assert broken.failed_items == [victim.item_id]
    (check,) = [c for c in broken.items if not c.ok]
    assert check.actual_sha256 == hashlib.sha256(bytes(data)).hexdigest()
    assert victim.item_id in check.problems[0] and "mismatch" in check.problems[0]
    # every verification is itself in the ledger, with its outcome
    verifications = [e for _, e in ctx.ledger.entries(action="evidence.verify")]
    assert [e.detail["ok"] for e in verifications] == [True, False]
    assert verifications[-1].detail["failed_items"] == [victim.item_id]


def test_verify_reports_missing_content(ctx: Context, tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    p.write_text("alpha")
    item = svc.add_evidence(ctx, p, case_id="C1", actor=ACTOR, source="scene")
    _content_path(ctx, item.sha256).unlink()
    result = svc.verify_case(ctx, "C1", actor=ACTOR)
    assert result.failed_items == [item.item_id]
    assert "missing" in result.items[0].problems[0]


def test_identical_content_is_stored_once_but_registered_twice(ctx: Context, tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "copy-of-a.txt"
    a.write_text("same bytes")
    b.write_text("same bytes")
    i1 = svc.add_evidence(ctx, a, case_id="C2", actor=ACTOR, source="scene")
    i2 = svc.add_evidence(ctx, b, case_id="C2", actor=ACTOR, source="email export")
    assert i1.sha256 == i2.sha256 and i1.item_id != i2.item_id
    assert len(list((svc.evidence_dir(ctx) / "sha256").rglob("*"))) == 2  # one folder, one file


def test_evidence_dir_setting_is_honoured(tmp_path: Path) -> None:
    from crimelens.config import Settings
    from crimelens.services import open_context

    with open_context(Settings(db=tmp_path / "s.duckdb", evidence_dir=tmp_path / "vault")) as c:
        p = tmp_path / "x.txt"
        p.write_text("x")
        item = svc.add_evidence(c, p, case_id="C3", actor=ACTOR, source="s")
        assert (tmp_path / "vault" / "sha256" / item.sha256[:2] / item.sha256[2:]).is_file()


def test_failed_intake_leaves_no_rows_and_no_new_content(ctx: Context, tmp_path: Path) -> None:
    p = tmp_path / "x.txt"
    p.write_text("to be refused")
    with pytest.raises(Exception, match="purpose"):
        svc.add_evidence(ctx, p, case_id="C4", actor=ACTOR, source="s", purpose="")
    assert ctx.store.scalar("SELECT count(*) FROM evidence_items") == 0
    assert [f for f in svc.evidence_dir(ctx).rglob("*") if f.is_file()] == []


def test_intake_errors_say_what_was_wrong(ctx: Context, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        svc.add_evidence(ctx, tmp_path / "nope.bin", case_id="C5", actor=ACTOR, source="s")
    p = tmp_path / "x.txt"
    p.write_text("x")
    with pytest.raises(InputError, match="empty case id"):
        svc.add_evidence(ctx, p, case_id=" ", actor=ACTOR, source="s")
    with pytest.raises(NotFoundError, match="case 'NOPE'"):
        svc.verify_case(ctx, "NOPE", actor=ACTOR)


def test_content_store_rejects_bad_addresses(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="64 lower-case hex"):
        ContentStore(tmp_path).path_for("../../etc/passwd")


@pytest.mark.parametrize(("head", "name", "mime"), [
    (b"\xff\xd8\xff\xe0", "x", "image/jpeg"),
    (b"RIFF\x00\x00\x00\x00AVI LIST", "x", "video/x-msvideo"),
    (b"\x00\x00\x00\x18ftypmp42", "x", "video/mp4"),
    (b"%PDF-1.4", "x.txt", "application/pdf"),
    (b"\x00\x01\x02\xff\xfe", "x", "application/octet-stream"),
])
def test_sniff_mime_uses_content_first(tmp_path: Path, head: bytes, name: str, mime: str) -> None:
    p = tmp_path / name
    p.write_bytes(head)
    assert sniff_mime(p) == mime


def test_an_empty_file_is_refused_logged_and_not_stored_unless_allowed(ctx: Context, tmp_path: Path) -> None:
    empty = tmp_path / "in" / "cad_export.csv"
    empty.parent.mkdir()
    empty.write_bytes(b"")
    with pytest.raises(InputError) as exc:
        svc.add_evidence(ctx, empty, case_id="C6", actor=ACTOR, source="CAD export")
    assert str(exc.value).startswith(f"evidence add {empty}: got 0 bytes (an empty file; SHA-256 {svc.EMPTY_SHA256}")
    assert "copy it again from 'CAD export'" in str(exc.value) and "--allow-empty" in str(exc.value)
    assert ctx.store.scalar("SELECT count(*) FROM evidence_items") == 0
    assert ctx.store.scalar("SELECT count(*) FROM evidence_custody") == 0
    assert [f for f in svc.evidence_dir(ctx).rglob("*") if f.is_file()] == []
    ((_, refused),) = ctx.ledger.entries(action="evidence.add")
    assert refused.outcome == "refused" and refused.data_hash == svc.EMPTY_SHA256
    assert refused.detail["original_name"] == "cad_export.csv" and refused.detail["reason"] == str(exc.value)

    item = svc.add_evidence(ctx, empty, case_id="C6", actor=ACTOR, source="CAD export", allow_empty=True)
    assert item.size_bytes == 0 and item.sha256 == hashlib.sha256(b"").hexdigest()
    report = svc.item_report(ctx, item.item_id)
    assert report["custody"][0]["reason"] == "intake; deliberately taken in empty (0 bytes, allow_empty)"
    _, accepted = ctx.ledger.entries(action="evidence.add")[-1]
    assert accepted.outcome == "ok" and accepted.detail["deliberately_empty"] is True
    assert svc.verify_case(ctx, "C6", actor=ACTOR).ok  # the empty content is kept and re-hashes
    # a second empty file is refused even though the empty content is now stored (and it stays stored)
    with pytest.raises(InputError, match="got 0 bytes"):
        svc.add_evidence(ctx, tmp_path / "in" / "cad_export.csv", case_id="C6", actor=ACTOR, source="again")
    assert svc.verify_case(ctx, "C6", actor=ACTOR).ok
