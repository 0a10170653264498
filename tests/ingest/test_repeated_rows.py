"""An updated export that repeats rows stored before, under a layout without an id column, lands only its new rows.

Such a layout gives each row the id FILE:LINE, so the repeats of an updated export (another name,
other lines) carry new ids; their content shows them. Chicago's CODE file (``chicago_code``) is the
real case: its first 2,000 rows hold one row twice (two assaults at one school on 2010-01-15 09:45),
so copies are counted too.
"""

from __future__ import annotations

import gzip
import hashlib
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from crimelens.config import Settings
from crimelens.governance import Actor
from crimelens.services import open_context
from crimelens.services._context import Context
from crimelens.services.ingest import ingest_file, quarantine_rows
from tests.conftest import shared

CODE = "chicago_agg_assault/chicago_aggravated_assaults.csv.gz"
TWICE = "2010-01-15 09:45,education,-87.6831,41.8776,12"  # on two lines of the first 2,000
ANALYST = Actor("analyst")


def code_rows(n: int, start: int = 0) -> tuple[str, list[str]]:
    """The header and rows ``start`` .. ``start + n`` of Chicago's CODE file."""
    lines = gzip.decompress(shared(CODE).read_bytes()).decode("utf-8").splitlines()
    return lines[0], lines[1 + start: 1 + start + n]


def write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Context]:
    with open_context(Settings(db=tmp_path / "s.duckdb")) as c:
        yield c


def test_an_updated_export_lands_only_its_new_rows(ctx: Context, tmp_path: Path) -> None:
    header, first = code_rows(2000)
    assert first.count(TWICE) == 2
    january = write(tmp_path / "assaults_jan.csv", header, first)
    s1 = ingest_file(ctx, january, actor=ANALYST, dataset="chicago")
    assert (s1.n_landed, s1.n_quarantined) == (2000, 0)  # both copies of the repeated row land: two incidents
    stored_line = {line: f"assaults_jan.csv:{i + 2}" for i, line in enumerate(first)}
    twice_ids = [f"assaults_jan.csv:{i + 2}" for i, line in enumerate(first) if line == TWICE]

    # the portal's next export: the same rows in another order, 500 new ones, and a third copy of TWICE
    _, new = code_rows(500, start=2000)
    update = [*first, *new, TWICE]
    random.Random(7).shuffle(update)
    s2 = ingest_file(ctx, write(tmp_path / "assaults_jan_feb.csv", header, update), actor=ANALYST, dataset="chicago")
    assert (s2.n_read, s2.n_landed, s2.n_quarantined) == (2501, 501, 2000)  # before: 2501 landed, 0 quarantined
    assert ctx.store.count_incidents(dataset="chicago") == 2501
    kind = "duplicate row: same content as a row already in dataset 'chicago' in the store"
    assert s2.top_reasons == [(kind, 2000)]

    q = ctx.store.quarantine(ingest_id=s2.ingest_id)
    by_line = dict(zip(q["line"], q["reason"], strict=True))
    for i, row in enumerate(update):
        line = i + 2
        if row == TWICE:
            continue
        if row in stored_line:  # a repeat names the stored row it repeats
            assert by_line.pop(line) == (f"duplicate row: same content as '{stored_line[row]}' already in "
                                         "dataset 'chicago' in the store")
    # TWICE: the first two copies in the new file repeat the two stored rows (earliest first); the third lands
    copies = [i + 2 for i, row in enumerate(update) if row == TWICE]
    assert [by_line.pop(line) for line in copies[:2]] == [
        f"duplicate row: same content as '{sid}' already in dataset 'chicago' in the store" for sid in twice_ids]
    assert by_line == {} and copies[2] not in set(q["line"])
    assert q["column"].isna().all() and q["value"].isna().all() and q["raw"].str.contains('"date": "2010-').all()

    # the quarantine list counts them as one reason
    listed = quarantine_rows(ctx, dataset="chicago", reason="duplicate row", limit=5)
    assert listed["by_reason"] == [{"reason": kind, "rows": 2000}]


def test_fewer_copies_than_stored_are_all_repeats_and_more_land(ctx: Context, tmp_path: Path) -> None:
    header, first = code_rows(2000)
    ingest_file(ctx, write(tmp_path / "a.csv", header, first), actor=ANALYST, dataset="chicago")
    one = ingest_file(ctx, write(tmp_path / "b.csv", header, [TWICE]), actor=ANALYST, dataset="chicago")
    assert (one.n_landed, one.n_quarantined) == (0, 1)  # k = 2 stored, m = 1: a repeat
    four = ingest_file(ctx, write(tmp_path / "c.csv", header, [TWICE] * 4), actor=ANALYST, dataset="chicago")
    assert (four.n_landed, four.n_quarantined) == (2, 2)  # k = 2, m = 4: two repeat, two are new
    q = ctx.store.quarantine(ingest_id=four.ingest_id)
    assert q["line"].tolist() == [2, 3]
    # the two that landed count from now on: k = 4
    again = ingest_file(ctx, write(tmp_path / "d.csv", header, [TWICE] * 5), actor=ANALYST, dataset="chicago")
    assert (again.n_landed, again.n_quarantined) == (1, 4)


def test_rows_stored_before_the_row_hashes_are_hashed_from_the_store(ctx: Context, tmp_path: Path) -> None:
    """A store migrated to 0015 holds rows without hashes: they are hashed from what it holds, to the same
    hashes, M.O. and audit attributes included."""
    mapping = tmp_path / "code_audit.toml"
    mapping.write_text('[source]\nname = "code_audit"\ntimezone = "America/Chicago"\ncrs = "EPSG:4326"\n\n'
                       '[columns]\noffense = { value = "aggravated_assault" }\n'
                       'occurred_from = { column = "date", format = "%Y-%m-%d %H:%M" }\n'
                       'lon = "longitude"\nlat = "latitude"\n\n[attributes]\naudit = ["district"]\n',
                       encoding="utf-8")  # loc_cat becomes an M.O. attribute, district an audit one
    header, first = code_rows(1000)
    # as the service records an upload: 'upload:a.csv' (the ids still read a.csv:LINE)
    s1 = ingest_file(ctx, write(tmp_path / "a.csv", header, first), actor=ANALYST, mapping=mapping, dataset="c",
                     file_label="upload:a.csv")
    assert ctx.store.scalar("SELECT count(*) FROM audit_attributes") == 1000
    live = ctx.store.query("SELECT line, h1, h2 FROM incident_rows ORDER BY line")
    assert len(live) == 1000 and live["line"].tolist() == list(range(2, 1002))
    assert len(set(zip(live["h1"], live["h2"], strict=True))) == 999  # one row is there twice
    ctx.store.execute("DELETE FROM incident_rows")  # as a store stored before migration 0015 is
    ctx.store.execute("DELETE FROM row_hash_ingests")
    _, more = code_rows(10, start=1000)
    s2 = ingest_file(ctx, write(tmp_path / "b.csv", header, [*first[:300], *more]), actor=ANALYST, mapping=mapping,
                     dataset="c")
    assert (s2.n_landed, s2.n_quarantined) == (10, 300)
    rebuilt = ctx.store.query("SELECT line, h1, h2 FROM incident_rows WHERE ingest_id = ? ORDER BY line",
                              [s1.ingest_id])
    assert rebuilt.equals(live)  # the same hashes from the stored rows as from the file's


def test_rows_with_their_own_ids_are_not_hashed(ctx: Context) -> None:
    s = ingest_file(ctx, shared("socrata_chicago_sample/example.csv"), actor=ANALYST, dataset="chicago")
    assert s.n_landed == 1000 and ctx.store.scalar("SELECT count(*) FROM incident_rows") == 0


def test_an_updated_export_under_the_same_name_lands_its_new_rows(ctx: Context, tmp_path: Path) -> None:
    """A portal that names every export alike (``crimes.csv``): the second file's line ids are taken
    by the first's. Its repeats are quarantined by content; its new rows land as ``crimes.csv@<sha8>:LINE``.
    Before, every row whose line number the first file had was quarantined as a duplicate id."""
    header, first = code_rows(1000)
    (tmp_path / "jan").mkdir()
    (tmp_path / "feb").mkdir()
    s1 = ingest_file(ctx, write(tmp_path / "jan" / "crimes.csv", header, first), actor=ANALYST, dataset="chicago")
    assert (s1.n_landed, s1.n_quarantined) == (1000, 0)
    _, new = code_rows(600, start=1000)
    update = [*first[500:], *new]  # lines 2-501 repeat stored rows, lines 502-1101 are new (502-1001 taken ids)
    feb = write(tmp_path / "feb" / "crimes.csv", header, update)
    s2 = ingest_file(ctx, feb, actor=ANALYST, dataset="chicago")
    assert (s2.n_read, s2.n_landed, s2.n_quarantined) == (1100, 600, 500)
    kind = "duplicate row: same content as a row already in dataset 'chicago' in the store"
    assert s2.top_reasons == [(kind, 500)]
    version = hashlib.sha256(feb.read_bytes()).hexdigest()[:8]
    ids = set(ctx.store.query("SELECT incident_id FROM incidents WHERE dataset = 'chicago'")["incident_id"])
    assert len(ids) == 1600
    assert {f"crimes.csv@{version}:{line}" for line in range(502, 1002)} <= ids  # taken ids, new content
    assert {f"crimes.csv:{line}" for line in range(1002, 1102)} <= ids  # lines the first file did not have
    assert any("crimes.csv@" in n and "taken by an earlier file" in n for n in s2.notes)
