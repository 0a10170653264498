"""An RMS data engineer's findings (tester s33-A): a mapped column the file lacks, a stored file read again
with a corrected mapping or a declared encoding, and Ctrl-C during the insert. The files are small copies of
theirs (Springfield's RMS layout), rebuilt in tmp_path."""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from crimelens.config import Settings
from crimelens.errors import SchemaError
from crimelens.governance import Actor
from crimelens.services import open_context
from crimelens.services.ingest import ingest_file
from crimelens.storage import DuckDBStore
from tests.conftest import run_cli, shared

ANALYST = Actor("analyst")
HEADER = "CaseNo,OffenseCode,FromDate,ToDate,Longitude,Latitude,LocationType,Beat,Narrative,VictimRace,InternalNote"
MAPPING = """[source]
name = "springfield_rms"
timezone = "America/Chicago"
crs = "EPSG:4326"
encoding = "{encoding}"
delimiter = ","
dataset = "spring"
{detect}
[columns]
{ident}offense = "OffenseCode"
occurred_from = {{ column = "FromDate", format = "%m/%d/%Y %H:%M" }}
occurred_to = {{ column = "ToDate", format = "%m/%d/%Y %H:%M" }}
lon = "Longitude"
lat = "Latitude"
premise = "LocationType"
area = "Beat"
narrative = "Narrative"

[attributes]
audit = ["VictimRace"]
drop = ["InternalNote"]

[validate]
bbox = [-88.0, 41.6, -87.5, 42.1]

[offenses]
"BURG" = "burglary"
"THEFT" = "theft"
"ROBB" = "robbery"
{more}"""
CODES = ("ROBB", "BURG", "THEFT", "BATT", "AUTO")


def _mapping(tmp_path: Path, name: str, *, encoding: str = "utf-8", detect: bool = False, ids: bool = True,
             more: str = '"BATT" = "assault"\n"AUTO" = "vehicle_theft"\n') -> Path:
    path = tmp_path / name
    path.write_text(MAPPING.format(
        encoding=encoding, more=more, ident='incident_id = "CaseNo"\n' if ids else "",
        detect='detect = ["CaseNo", "OffenseCode", "FromDate", "Longitude", "Latitude"]' if detect else ""),
        encoding="utf-8")
    return path


def _row(i: int, narrative: str = "no further info") -> str:
    day = 1 + i % 27
    return (f"SPR-{i:05d},{CODES[i % 5]},05/{day:02d}/2016 13:{i % 60:02d},05/{day:02d}/2016 15:{i % 60:02d},"
            f"{-87.60 - i * 0.001:.6f},{41.76 + i * 0.001:.6f},STREET,03{i % 10:02d},{narrative},W,x")


def _export(tmp_path: Path, name: str, n: int = 20, *, columns: list[str] | None = None,
            encoding: str = "utf-8", special: dict[int, str] | None = None) -> Path:
    """``n`` rows of Springfield's export; ``columns`` keeps only those; ``special`` gives rows a narrative."""
    head = HEADER.split(",")
    keep = [head.index(c) for c in (columns or head)]
    rows = [",".join(head[k] for k in keep)]
    for i in range(n):
        cells = _row(i, (special or {}).get(i, "no further info")).split(",")
        rows.append(",".join(cells[k] for k in keep))
    path = tmp_path / name
    path.write_bytes(("\n".join(rows) + "\n").encode(encoding))
    return path


run = run_cli
# 1. a mapped column the file lacks ---------------------------------------------------------------------------
def test_a_mapped_column_the_file_lacks_is_a_schema_error_naming_file_column_mapping_and_header(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: the file landed with exit 0, every window an exact time (occurred_to = occurred_from), the audit
    column gone without a word; only premise and narrative got a note 'left empty'."""
    mapping = _mapping(tmp_path, "rms.toml")
    data = _export(tmp_path, "v_drop4.csv",
                   columns=["CaseNo", "OffenseCode", "FromDate", "Longitude", "Latitude", "Beat", "InternalNote"])
    db = tmp_path / "s.duckdb"
    with open_context(Settings(db=db)) as ctx, pytest.raises(SchemaError) as err:
        ingest_file(ctx, data, actor=ANALYST, mapping=mapping)
    assert str(err.value) == (
        "v_drop4.csv: missing column 'ToDate'; expected it from the layout (mapping rms.toml, [source] name "
        "'springfield_rms', key occurred_to); also missing: 'LocationType' (premise), 'Narrative' (narrative), "
        "'VictimRace' ([attributes] audit). The file's header is ['CaseNo', 'OffenseCode', 'FromDate', 'Longitude', "
        "'Latitude', 'Beat', 'InternalNote']; every column a mapping names must be in the file: correct the name, "
        "or take the key out of the mapping if the export has no such column")
    code, _, stderr = run(capsys, "ingest", str(data), "--mapping", str(mapping), "--db", str(db))
    assert code == 2 and "SchemaError" in stderr and "missing column 'ToDate'" in stderr
    with DuckDBStore.open(db, read_only=True) as store:
        assert store.count_incidents() == 0 and store.ingests().empty

    # one column is enough: the window's end alone
    only_to = _export(tmp_path, "no_to.csv", columns=[c for c in HEADER.split(",") if c != "ToDate"])
    with open_context(Settings(db=db)) as ctx, pytest.raises(
            SchemaError, match=r"^no_to.csv: missing column 'ToDate'; expected it from the layout \(mapping rms.toml, "
                               r"\[source\] name 'springfield_rms', key occurred_to\). The file's header is \['CaseNo', "):
        ingest_file(ctx, only_to, actor=ANALYST, mapping=mapping)


def test_a_layout_with_a_detect_list_notes_every_absent_optional_column(tmp_path: Path) -> None:
    """A layout that describes a family of exports (the built-in ones, or a copy of one: it has ``detect``)
    needs only what it reads ids, offense, times and location from; every other column it names and the file
    lacks is named in a note, the window's end and the audit column included (before: premise and narrative
    only)."""
    mapping = _mapping(tmp_path, "family.toml", detect=True)
    data = _export(tmp_path, "v_drop4.csv",
                   columns=["CaseNo", "OffenseCode", "FromDate", "Longitude", "Latitude", "Beat", "InternalNote"])
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        s = ingest_file(ctx, data, actor=ANALYST, mapping=mapping)
    assert (s.n_read, s.n_landed) == (20, 20)
    assert s.notes[:4] == [
        "column 'ToDate' (occurred_to) is not in the file; each window ends where occurred_from's does (an exact "
        "time, unless its resolution makes a window)",
        "column 'LocationType' (premise) is not in the file; left empty",
        "column 'Narrative' (narrative) is not in the file; left empty",
        "column 'VictimRace' ([attributes] audit) is not in the file; no audit attribute is stored for it"]


def test_the_socrata_sample_still_reads_with_the_built_in_layout_and_says_what_it_lacks(tmp_path: Path) -> None:
    """The built-in Socrata layout names Location Description and Beat; the portal's 6-column sample has
    neither. It lands as before, and the notes say so."""
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        s = ingest_file(ctx, shared("socrata_chicago_sample/example.csv"), actor=ANALYST)
    assert (s.reader, s.n_read, s.n_landed) == ("socrata_chicago", 1000, 1000)
    assert "column 'Location Description' (premise) is not in the file; left empty" in s.notes
    assert "column 'Beat' (area) is not in the file; left empty" in s.notes


def test_a_stored_file_ingested_again_without_a_mapping_stands_whatever_the_built_in_layout_says_now(
        tmp_path: Path) -> None:
    """Only a mapping given now reads a stored file another way: a nightly `ingest folder/` after an upgrade
    that changed a built-in layout would otherwise read every stored file again (here: the file stored
    under a copy of the layout that differs from the built-in one, then ingested with none)."""
    import crimelens.ingest

    built_in = (Path(crimelens.ingest.__file__).parent / "layouts" / "socrata_chicago.toml").read_text(encoding="utf-8")
    older = tmp_path / "socrata_older.toml"
    older.write_text(built_in.replace('name = "socrata_chicago"', 'name = "socrata_chicago_2025"'), encoding="utf-8")
    data = shared("socrata_chicago_sample/example.csv")
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        first = ingest_file(ctx, data, actor=ANALYST, mapping=older)
        assert first.n_landed == 1000
        again = ingest_file(ctx, data, actor=ANALYST)
        assert again.already_ingested and again.ingest_id == first.ingest_id and again.read_again_of == []
        assert len(ctx.store.ingests()) == 1


# 2. a stored file read again another way ---------------------------------------------------------------------
def test_a_stored_file_read_with_a_declared_encoding_lands_the_rows_it_could_not_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: the second ingest answered 'already ingested … nothing changed', and the 5 rows quarantined
    for their latin-1 bytes could never land."""
    special = {i: "Café owner José reported theft" for i in (2, 5, 11, 16, 19)}
    data = _export(tmp_path, "v_latin1.csv", encoding="latin-1", special=special)
    utf8, latin1 = _mapping(tmp_path, "rms.toml"), _mapping(tmp_path, "rms_latin1.toml", encoding="latin-1")
    db = tmp_path / "s.duckdb"
    with open_context(Settings(db=db)) as ctx:
        first = ingest_file(ctx, data, actor=ANALYST, mapping=utf8)
        assert (first.n_landed, first.n_quarantined) == (15, 5)
        assert first.top_reasons[0][0].startswith("encoding error")
        again = ingest_file(ctx, data, actor=ANALYST, mapping=latin1)
        assert not again.already_ingested and again.read_again_of == [first.ingest_id]
        assert (again.n_read, again.n_landed, again.n_quarantined) == (20, 5, 15)
        assert again.top_reasons == [("duplicate id: already in dataset 'spring' in the store", 15)]
        assert again.notes[0].startswith(f"v_latin1.csv holds data stored in dataset 'spring' by ingest "
                                         f"{first.ingest_id} on ")
        assert "; read again with mapping rms_latin1.toml, which reads it another way ([source] encoding: 'utf-8' " \
               "-> 'latin-1'): 5 rows landed now; the rows stored before are quarantined as duplicates" in again.notes[0]
        assert "5 rows landed now" in again.notes[0]
        stored = ctx.store.query("SELECT incident_id, narrative FROM incidents ORDER BY incident_id")
        assert len(stored) == 20 and stored["incident_id"].is_unique
        assert stored.set_index("incident_id").loc["SPR-00002", "narrative"] == "Café owner José reported theft"
        # either reading again, or one that differs only in comments and spacing: nothing changes
        for same in (latin1, utf8):
            assert ingest_file(ctx, data, actor=ANALYST, mapping=same).already_ingested
        respaced = tmp_path / "rms_latin1_commented.toml"
        respaced.write_text("# checked by ops\n" + latin1.read_text(encoding="utf-8").replace(" = ", "="),
                            encoding="utf-8")
        assert ingest_file(ctx, data, actor=ANALYST, mapping=respaced).ingest_id == again.ingest_id
        assert ctx.store.count_incidents() == 20 and len(ctx.store.ingests()) == 2
        [(_, entry)] = ctx.ledger.entries(action="ingest.file", limit=1, newest=True)
        assert entry.detail["read_again_of"] == [first.ingest_id]


def test_rows_without_ids_read_again_are_their_stored_rows_not_new_ones(tmp_path: Path) -> None:
    """A mapping without an id column gives rows FILE:LINE ids. Read again with a corrected [offenses] table,
    the rows that landed the first time are quarantined as the stored row of their line (never renamed
    FILE@VERSION:LINE and landed twice), the rows the first mapping refused land; a renamed copy read yet
    another way repeats them all."""
    data = _export(tmp_path, "march.csv")
    partial = _mapping(tmp_path, "partial.toml", ids=False, more="")  # no BATT, no AUTO: 8 of 20 unmapped
    fixed = _mapping(tmp_path, "fixed.toml", ids=False)
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        first = ingest_file(ctx, data, actor=ANALYST, mapping=partial)
        assert (first.n_landed, first.n_quarantined) == (12, 8)
        again = ingest_file(ctx, data, actor=ANALYST, mapping=fixed)
        assert (again.n_landed, again.n_quarantined, again.read_again_of) == (8, 12, [first.ingest_id])
        q = ctx.store.quarantine(ingest_id=again.ingest_id).sort_values("line")
        assert q["reason"].iloc[0] == "duplicate id: already in dataset 'spring' in the store (as 'march.csv:2')"
        ids = ctx.store.query("SELECT incident_id, offense FROM incidents ORDER BY line")
        assert ids["incident_id"].tolist() == [f"march.csv:{line}" for line in range(2, 22)]
        assert sorted(set(ids["offense"])) == ["assault", "burglary", "robbery", "theft", "vehicle_theft"]
        copy = tmp_path / "march_copy.csv"
        copy.write_bytes(data.read_bytes())
        third = ingest_file(ctx, copy, actor=ANALYST,
                            mapping=_mapping(tmp_path, "third.toml", ids=False, more='"BATT" = "assault"\n"AUTO" = '
                                             '"vehicle_theft"\n"ARSN" = "arson"\n'))
        assert (third.n_landed, third.n_quarantined) == (0, 20)
        assert set(third.read_again_of) == {first.ingest_id, again.ingest_id}
        assert ctx.store.count_incidents() == 20


def test_a_stored_file_that_a_new_reading_refuses_is_unchanged_and_says_why(tmp_path: Path) -> None:
    mapping = _mapping(tmp_path, "rms.toml")
    data = _export(tmp_path, "march.csv")
    broken = tmp_path / "typo.toml"
    broken.write_text(mapping.read_text(encoding="utf-8").replace('"ToDate"', '"To_Date"'), encoding="utf-8")
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        first = ingest_file(ctx, data, actor=ANALYST, mapping=mapping)
        again = ingest_file(ctx, data, actor=ANALYST, mapping=broken)
        assert again.already_ingested and again.ingest_id == first.ingest_id
        assert again.warnings[0].startswith(f"march.csv is stored in dataset 'spring' (ingest {first.ingest_id}, "
                                            "layout 'springfield_rms'); read again with mapping typo.toml it fails, "
                                            "so nothing changed: SchemaError: march.csv: missing column 'To_Date'; "
                                            "expected it from the layout (mapping typo.toml")
        assert ctx.store.count_incidents() == 20 and len(ctx.store.ingests()) == 1


# 3. Ctrl-C ------------------------------------------------------------------------------------------------------
@pytest.fixture
def sigint_raises() -> Any:
    """SIGINT as Python's KeyboardInterrupt for the test (a runner started in the background ignores it)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_ctrl_c_during_the_insert_is_a_keyboard_interrupt_and_stores_nothing(
        tmp_path: Path, sigint_raises: None) -> None:
    """DuckDB answers SIGINT during a query with RuntimeError('Query interrupted'); during the insert phase of
    a large ingest that came out as a traceback and exit 1. It is a KeyboardInterrupt now, as at any earlier
    moment, and the transaction rolls back: the rows stored before are all there, nothing of the file is."""
    data = shared("chicago_agg_assault/chicago_aggravated_assaults.csv.gz")
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        ingest_file(ctx, shared("sf_robbery/san_francisco_robbery.csv"), actor=ANALYST, dataset="sf")
        before = ctx.store.table_counts()
        in_duckdb = 0
        for _ in range(3):  # the interrupt lands 50 ms into the ingest's transaction: in the insert, nearly always

            def interrupt_in_the_transaction() -> None:
                deadline = time.monotonic() + 60
                while ctx.store._depth == 0 and time.monotonic() < deadline:  # white-box: the open transaction
                    time.sleep(0.0005)
                time.sleep(0.05)
                _thread.interrupt_main()

            watcher = threading.Thread(target=interrupt_in_the_transaction)
            watcher.start()
            with pytest.raises(KeyboardInterrupt) as err:
                ingest_file(ctx, data, actor=ANALYST, dataset="chicago")
            watcher.join()
            in_duckdb += isinstance(err.value.__cause__, RuntimeError)
            assert ctx.store.table_counts() == before
            if in_duckdb:
                break
        assert in_duckdb, "the interrupt never landed in a DuckDB query"
        done = ingest_file(ctx, data, actor=ANALYST, dataset="chicago")  # the store is usable, the file lands
        assert done.n_landed == 148636 and ctx.store.count_incidents(dataset="sf") == 951


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc to see when the store is opened")
def test_ctrl_c_at_the_command_line_exits_130_with_one_line(tmp_path: Path) -> None:
    """A real SIGINT to `crimelens ingest`, sent 0.2 s after it opened the store (the ingest of 148,636 rows
    takes longer than that on any machine): exit 130, one line on stderr, the store as it was."""
    db = tmp_path / "s.duckdb"
    with open_context(Settings(db=db)) as ctx:  # a store with data in it, migrated: the command opens it at once
        ingest_file(ctx, shared("sf_robbery/san_francisco_robbery.csv"), actor=ANALYST)
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from crimelens.cli import main; sys.exit(main())")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRIMELENS_")} | {"CRIMELENS_PROGRESS": "false"}
    data = shared("chicago_agg_assault/chicago_aggravated_assaults.csv.gz")
    child = subprocess.Popen([sys.executable, "-c", code, "ingest", str(data), "--db", str(db), "--dataset", "chicago"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    fds, held = Path(f"/proc/{child.pid}/fd"), False
    deadline = time.monotonic() + 120
    while not held and time.monotonic() < deadline and child.poll() is None:
        with contextlib.suppress(OSError):  # the process may close a descriptor while it is listed
            held = any(os.path.realpath(fd) == str(db.resolve()) for fd in fds.iterdir())
        time.sleep(0.005)
    time.sleep(0.2)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    assert held and child.returncode == 130, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("Interrupted while ingesting chicago_aggravated_assaults.csv.gz: nothing of it was stored")
    with DuckDBStore.open(db, read_only=True) as store:
        assert store.datasets() == ["sf_robbery"] and len(store.ingests()) == 1
