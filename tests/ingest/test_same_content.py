"""The same data in another packing (a .gz and its unpacked CSV, a renamed copy) is stored once."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

from crimelens.config import Settings
from crimelens.governance import Actor
from crimelens.ingest import file_digest
from crimelens.services import open_context
from crimelens.services.ingest import ingest_file
from tests.conftest import shared

ANALYST = Actor("analyst")
NOTTS = "uk_police_nottingham/nottingham_burglary.csv.gz"


def _packings(tmp_path: Path) -> tuple[Path, Path]:
    """Nottingham's burglaries as shipped (.gz) and unpacked (.csv): the layout makes ids from file and line."""
    gz = tmp_path / "nottingham_burglary.csv.gz"
    shutil.copyfile(shared(NOTTS), gz)
    plain = tmp_path / "nottingham_burglary.csv"
    plain.write_bytes(gzip.decompress(gz.read_bytes()))
    return gz, plain


def test_a_csv_and_its_gz_share_a_content_fingerprint(tmp_path: Path) -> None:
    gz, plain = _packings(tmp_path)
    packed, unpacked = file_digest(gz), file_digest(plain)
    assert packed.sha256 != unpacked.sha256
    assert packed.content_sha256 == unpacked.content_sha256 == unpacked.sha256


def test_the_unpacked_csv_of_a_stored_gz_is_already_ingested(tmp_path: Path) -> None:
    gz, plain = _packings(tmp_path)
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        first = ingest_file(ctx, gz, actor=ANALYST, dataset="nottingham")
        assert (first.n_landed, first.already_ingested) == (1795, False)
        again = ingest_file(ctx, plain, actor=ANALYST, dataset="nottingham")
        assert again.already_ingested and again.ingest_id == first.ingest_id
        assert again.file == "nottingham_burglary.csv"
        assert again.notes and again.notes[0].startswith(
            "nottingham_burglary.csv holds the same data as nottingham_burglary.csv.gz, stored in dataset "
            f"'nottingham' by ingest {first.ingest_id}")
        # recompressed under another name: the same content again
        other = tmp_path / "renamed_export.csv.gz"
        other.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=1))
        assert ingest_file(ctx, other, actor=ANALYST, dataset="nottingham").ingest_id == first.ingest_id
        assert ctx.store.count_incidents() == 1795 and len(ctx.store.ingests()) == 1
        # another dataset is another matter
        assert not ingest_file(ctx, plain, actor=ANALYST, dataset="notts2").already_ingested


def test_the_gz_of_a_stored_csv_is_already_ingested(tmp_path: Path) -> None:
    gz, plain = _packings(tmp_path)
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        first = ingest_file(ctx, plain, actor=ANALYST, dataset="nottingham")
        again = ingest_file(ctx, gz, actor=ANALYST, dataset="nottingham")
        assert again.already_ingested and again.ingest_id == first.ingest_id
        assert ctx.store.count_incidents() == 1795 and len(ctx.store.ingests()) == 1


def test_the_fingerprint_is_stored_with_the_ingest(tmp_path: Path) -> None:
    """Migration 0014 keeps each file's content SHA-256 beside its own: a .gz's is its CSV's."""
    gz, plain = _packings(tmp_path)
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        ingest_file(ctx, gz, actor=ANALYST, dataset="nottingham")
        ingest_file(ctx, plain, actor=ANALYST, dataset="other")
        stored = ctx.store.query("SELECT dataset, file_sha256, content_sha256 FROM ingests ORDER BY dataset")
    import hashlib

    csv_sha = hashlib.sha256(plain.read_bytes()).hexdigest()
    assert stored["content_sha256"].tolist() == [csv_sha, csv_sha]
    assert stored["file_sha256"].tolist() == [hashlib.sha256(gz.read_bytes()).hexdigest(), csv_sha]


def test_a_changed_csv_is_new_data(tmp_path: Path) -> None:
    gz, plain = _packings(tmp_path)
    lines = plain.read_text(encoding="utf-8").splitlines(keepends=True)
    changed = tmp_path / "nottingham_burglary_more.csv"
    changed.write_text("".join(lines[:-1]), encoding="utf-8")  # one row fewer: other content
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        ingest_file(ctx, gz, actor=ANALYST, dataset="nottingham")
        later = ingest_file(ctx, changed, actor=ANALYST, dataset="nottingham")
        assert not later.already_ingested and later.n_read == 1794
