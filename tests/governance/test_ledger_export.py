"""An exported ledger is checked as the store is: the first changed, missing or moved entry is named."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from crimelens.cli import main
from crimelens.governance import Ledger, LedgerEntry, leaf_hash
from crimelens.governance._ledger import export_ledger, verify_export
from crimelens.storage import DuckDBStore

N = 80


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    """A store of N entries (appended in a few transactions, as a service does) and its export."""
    folder = tmp_path_factory.mktemp("export")
    with DuckDBStore.open(folder / "s.duckdb") as store:
        ledger = Ledger(store)
        for start in range(0, N, 20):
            ledger.append_many([LedgerEntry("forecast.run", "ada", "analyst", "research",
                                            detail={"n": 6100 + i, "place": "Zürich"}) for i in range(start, start + 20)])
        export_ledger(ledger, folder / "ledger.jsonl")
    yield folder, (folder / "ledger.jsonl").read_text(encoding="utf-8").splitlines()


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _edit_payload(lines: list[str], seq: int, old: str, new: str, *, rehash: bool = False) -> list[str]:
    out = list(lines)
    row = json.loads(out[seq + 1])  # line 0 is the head
    assert old in row["payload"]
    row["payload"] = row["payload"].replace(old, new, 1)
    if rehash:
        row["leaf_hash"] = leaf_hash(row["payload"].encode("utf-8")).hex()
    out[seq + 1] = json.dumps(row, ensure_ascii=False)
    return out


def test_the_untouched_export_verifies(exported: tuple[Path, list[str]]) -> None:
    folder, _lines = exported
    report = verify_export(folder / "ledger.jsonl")
    assert report.ok and report.n_entries == N, report.problem


@pytest.mark.parametrize("seq", [0, 1, 54, N - 1])
def test_a_changed_payload_is_named_by_its_leaf_hash(exported: tuple[Path, list[str]], tmp_path: Path,
                                                      seq: int) -> None:
    _folder, lines = exported
    path = _write(tmp_path / "edited.jsonl", _edit_payload(lines, seq, f'"n":{6100 + seq}', f'"n":{6099 + seq}'))
    report = verify_export(path)
    assert not report.ok and report.first_bad == seq
    assert report.problem == f"entry {seq}: its payload does not hash to its stored leaf hash (changed payload or leaf hash)"


def test_the_file_and_the_store_name_a_changed_entry_alike(exported: tuple[Path, list[str]], tmp_path: Path) -> None:
    folder, lines = exported
    path = _write(tmp_path / "edited.jsonl", _edit_payload(lines, 54, '"n":6154', '"n":6153'))
    with DuckDBStore.open(tmp_path / "copy.duckdb") as store:
        store.execute(f"ATTACH '{folder / 's.duckdb'}' AS src (READ_ONLY)")
        for table in ("ledger_keys", "ledger_heads", "ledger_tip"):
            store.execute(f"INSERT INTO {table} SELECT * FROM src.{table}")
        store.execute("INSERT INTO ledger (seq, payload, leaf_hash) SELECT seq, payload, leaf_hash FROM src.ledger")
        store.execute("DETACH src")
        payload = json.loads(lines[55])["payload"].replace('"n":6154', '"n":6153').encode("utf-8")
        store.execute("UPDATE ledger SET payload = ? WHERE seq = 54", [payload])
        in_store = Ledger(store, folder / "s.duckdb.keys").verify()
    in_file = verify_export(path)
    assert (in_file.first_bad, in_file.problem) == (in_store.first_bad, in_store.problem) == (
        54, "entry 54: its payload does not hash to its stored leaf hash (changed payload or leaf hash)")


def test_a_deleted_line_is_named(exported: tuple[Path, list[str]], tmp_path: Path) -> None:
    _folder, lines = exported
    report = verify_export(_write(tmp_path / "cut.jsonl", lines[:31] + lines[32:]))
    assert report.first_bad == 30 and report.problem == "entry 30 is missing (the next stored entry is 31)"


def test_swapped_lines_are_named(exported: tuple[Path, list[str]], tmp_path: Path) -> None:
    _folder, lines = exported
    swapped = list(lines)
    swapped[11], swapped[12] = swapped[12], swapped[11]
    report = verify_export(_write(tmp_path / "swapped.jsonl", swapped))
    assert report.first_bad == 10 and "position 10 holds entry 11" in (report.problem or "")


def test_a_moved_payload_with_a_recomputed_hash_is_named(exported: tuple[Path, list[str]], tmp_path: Path) -> None:
    _folder, lines = exported
    edited = _edit_payload(lines, 40, '{"seq":40,', '{"seq":41,', rehash=True)
    report = verify_export(_write(tmp_path / "moved.jsonl", edited))
    assert report.first_bad == 40 and report.problem == (
        "entry 40: its payload says it is entry 41 (moved, reordered or renumbered)")


def test_a_payload_rewritten_with_its_leaf_hash_fails_on_the_root(exported: tuple[Path, list[str]],
                                                                   tmp_path: Path) -> None:
    _folder, lines = exported
    edited = _edit_payload(lines, 54, '"n":6154', '"n":6153', rehash=True)
    report = verify_export(_write(tmp_path / "rehashed.jsonl", edited))
    assert not report.ok and "Merkle root of the entries does not match the signed head" in (report.problem or "")


def test_ledger_verify_export_names_the_entry_and_exits_4(exported: tuple[Path, list[str]], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIMELENS_PROGRESS", "false")
    _folder, lines = exported
    path = _write(tmp_path / "edited.jsonl", _edit_payload(lines, 54, '"n":6154', '"n":6153'))
    db = ["--db", str(tmp_path / "auditor.duckdb")]
    DuckDBStore.open(tmp_path / "auditor.duckdb").close()  # the auditor's own store, to log the check in
    for args, expected in ((["--json"], None), ([], "entry 54: its payload does not hash to its stored leaf")):
        try:
            main(["ledger", "verify", "--export", str(path), *db, *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, _err = capsys.readouterr()
        assert code == 4
        if expected is None:
            answer = json.loads(out)
            assert answer["first_bad"] == 54 and answer["problem"].startswith("entry 54: its payload")
        else:
            assert expected in " ".join(out.split())


def test_an_unreadable_line_is_an_input_error_naming_it(exported: tuple[Path, list[str]], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIMELENS_PROGRESS", "false")
    _folder, lines = exported
    path = _write(tmp_path / "junk.jsonl", [*lines[:5], "[1, 2]", *lines[6:]])
    DuckDBStore.open(tmp_path / "auditor.duckdb").close()
    with pytest.raises(SystemExit) as caught:
        main(["ledger", "verify", "--export", str(path), "--db", str(tmp_path / "auditor.duckdb"), "--json"])
    answer = json.loads(capsys.readouterr()[0])
    assert caught.value.code == 2 and answer["type"] == "InputError" and "line 6" in answer["error"]
