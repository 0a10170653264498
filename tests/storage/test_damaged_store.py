"""A store file damaged on disk: DuckDB's block checksums catch it, and every way in says so clearly.

DuckDB reads a file's blocks when a query needs them, so a changed byte can surface when the store
is opened (its header and catalogue) or in the middle of a command (a table's data block). Both
must give the same StoreError (exit 5) naming the file, what was found and what to do; never a
traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from crimelens.errors import StoreError
from crimelens.governance import Ledger, LedgerEntry
from crimelens.storage import DuckDBStore
from tests.cli.test_ingest_cli import run
from tests.conftest import copy_store

_HEADER_BYTES = 3 * 4096  # DuckDB's file header and its two database headers come before block 0


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose ledger fills data blocks of its own (more than one 256 KiB block of payloads)."""
    path = tmp_path_factory.mktemp("damaged") / "good.duckdb"
    with DuckDBStore.open(path) as store:
        Ledger(store).append_many([LedgerEntry("forecast.run", "ada", "analyst", "research",
                                               detail={"i": i, "note": "x" * 200}) for i in range(3000)])
        store.execute("CHECKPOINT")
    return path


_copy = copy_store


def _ledger_block_offset(path: Path) -> int:
    """Where in the file the last data block of the ledger's payloads lies (read by no open)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        block_size = int(con.execute("SELECT block_size FROM pragma_database_size()").fetchall()[0][0])
        block_id = int(con.execute("SELECT max(block_id) FROM pragma_storage_info('ledger') "
                                   "WHERE column_name = 'payload' AND block_id >= 0").fetchall()[0][0])
    finally:
        con.close()
    return _HEADER_BYTES + block_id * block_size


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_damaged_data_block_found_mid_command_is_a_store_error(good: Path, tmp_path: Path) -> None:
    path = _copy(good, tmp_path / "s.duckdb")
    offset = _ledger_block_offset(path)
    _flip(path, offset + 1000)
    with pytest.raises(StoreError) as caught, DuckDBStore.open(path) as store:  # the open itself works
        Ledger(store).verify()
    message = str(caught.value)
    assert f"store {str(path)!r} is damaged" in message
    assert f"in block at location {offset}" in message  # what DuckDB found, and where
    assert "crimelens store restore" in message and "crimelens ledger verify --export" in message
    assert "lock" not in message.replace("block", "")  # not told to stop another process


def test_a_damaged_block_read_at_open_is_the_same_store_error(good: Path, tmp_path: Path) -> None:
    path = _copy(good, tmp_path / "s.duckdb")
    _flip(path, _HEADER_BYTES + 100)  # block 0: the catalogue, read by every open
    with pytest.raises(StoreError, match=r"is damaged: DuckDB found a block whose checksum does not match") as caught:
        DuckDBStore.open(path)
    assert "another process" not in str(caught.value)  # "block" is not a "lock"


def test_a_file_that_is_not_a_duckdb_store_is_named(tmp_path: Path) -> None:
    path = tmp_path / "incidents.duckdb"
    path.write_bytes(b"id,lat,lon\n" * 2000)
    with pytest.raises(StoreError, match=r"is not a readable DuckDB store.*check the path"):
        DuckDBStore.open(path)


@pytest.mark.parametrize("where", ["mid-file", "at open"])
def test_ledger_verify_on_a_damaged_store_exits_5_without_a_traceback(
        good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        where: str) -> None:
    monkeypatch.setenv("CRIMELENS_PROGRESS", "false")
    path = _copy(good, tmp_path / "s.duckdb")
    _flip(path, _ledger_block_offset(path) + 1000 if where == "mid-file" else _HEADER_BYTES + 100)
    code, _out, err = run(capsys, "ledger", "verify", "--db", str(path))
    assert code == 5 and "Traceback" not in err
    assert "StoreError:" in err and "is damaged" in err and "s.duckdb" in err
    code, out, _err = run(capsys, "ledger", "verify", "--db", str(path), "--json")
    answer = json.loads(out)
    assert code == 5 and answer["ok"] is False and answer["type"] == "StoreError" and "restore" in answer["error"]
