"""An exported ledger is checked as the store is: the first changed, missing or moved entry is named."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crimelens.cli import main
from crimelens.governance import Ledger, LedgerEntry, SignedTreeHead, leaf_hash
from crimelens.governance._keys import key_id_of, raw_public_key
from crimelens.governance._ledger import export_ledger, verify_export
from crimelens.governance._merkle import root_of_array
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


def _cli(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_ledger_verify_export_names_the_entry_and_exits_4(exported: tuple[Path, list[str]], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIMELENS_PROGRESS", "false")
    monkeypatch.delenv("CRIMELENS_DB", raising=False)
    monkeypatch.chdir(tmp_path)  # a journalist's folder: the export and no store
    _folder, lines = exported
    path = _write(tmp_path / "edited.jsonl", _edit_payload(lines, 54, '"n":6154', '"n":6153'))
    for args, expected in ((["--json"], None), ([], "entry 54: its payload does not hash to its stored leaf")):
        code = _cli("ledger", "verify", "--export", str(path), *args)
        out, _err = capsys.readouterr()
        assert code == 4
        if expected is None:
            answer = json.loads(out)
            assert answer["first_bad"] == 54 and answer["problem"].startswith("entry 54: its payload")
        else:
            assert expected in " ".join(out.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edited.jsonl"]  # no store made, nothing logged


def _resign(lines: list[str], *, keep_key_id: bool) -> tuple[list[str], bytes]:
    """What a forger does (the tester's forge.py): edit entry 40, recompute every leaf hash and the root,
    sign the head with a fresh key; the head keeps the genuine key id or states the new key's."""
    edited = _edit_payload(lines, 40, '"n":6140', '"n":9999', rehash=True)
    head = json.loads(edited[0])["head"]
    leaves = np.array([list(bytes.fromhex(json.loads(x)["leaf_hash"])) for x in edited[1:]], dtype=np.uint8)
    key = Ed25519PrivateKey.generate()
    sth = SignedTreeHead.sign(key, head["tree_size"], root_of_array(leaves), head["timestamp_ms"])
    forged = sth.to_json(raw_public_key(key))
    if keep_key_id:
        forged["key_id"] = head["key_id"]
    return [json.dumps({"head": forged}), *edited[1:]], raw_public_key(key)


def test_a_re_signed_export_that_keeps_the_genuine_key_id_is_refused(exported: tuple[Path, list[str]],
                                                                     tmp_path: Path) -> None:
    _folder, lines = exported
    genuine_id = json.loads(lines[0])["head"]["key_id"]
    forged, new_key = _resign(lines, keep_key_id=True)
    report = verify_export(_write(tmp_path / "forged.jsonl", forged))
    assert not report.ok and report.key_id == key_id_of(new_key) != genuine_id  # the key that verified, not the claim
    assert report.problem == (f"the head at size {N} says it is signed by key {genuine_id}, but the public key it "
                              f"carries is key {key_id_of(new_key)}: the head was re-signed or edited")


def test_without_a_trusted_key_the_check_says_it_proves_integrity_not_origin(
        exported: tuple[Path, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIMELENS_PROGRESS", "false")
    monkeypatch.delenv("CRIMELENS_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    folder, lines = exported
    genuine = bytes.fromhex(json.loads(lines[0])["head"]["public_key"])
    forged, new_key = _resign(lines, keep_key_id=False)  # a careful forger states the new key's id
    path = _write(tmp_path / "forged.jsonl", forged)
    alone = verify_export(path)  # self-consistent: only the warning tells the reader what that means
    assert alone.ok and (alone.key_source, alone.key_id) == ("file", key_id_of(new_key))
    assert alone.warning is not None and "proves that no entry changed" in alone.warning
    assert "not who signed it" in alone.warning and "--public-key HEX" in alone.warning
    assert _cli("ledger", "verify", "--export", str(path)) == 0
    said = " ".join(capsys.readouterr()[0].split())
    assert f"head signed by key {key_id_of(new_key)} (checked only against the key inside the file)" in said
    assert "warning: the signature was checked only against the public key inside the file itself" in said
    # against the published key, or the store the export came from, the forgery fails
    trusted = verify_export(path, genuine)
    assert not trusted.ok and trusted.key_source == "given" and trusted.key_id == key_id_of(genuine)
    assert trusted.problem == (f"the signed head at size {N} has an invalid signature for key {key_id_of(genuine)} "
                               f"(the file's head carries key {key_id_of(new_key)}, not the key you trust)")
    assert _cli("ledger", "verify", "--export", str(path), "--public-key", genuine.hex(), "--json") == 4
    assert json.loads(capsys.readouterr()[0])["head_signature_ok"] is False
    source = {key_id_of(genuine): genuine}
    from_store = verify_export(path, store_keys=source)
    assert not from_store.ok and from_store.key_source == "store" and from_store.problem == (
        f"the head at size {N} is signed with key {key_id_of(new_key)}, and the store signs its ledger with key(s) "
        f"['{key_id_of(genuine)}']: this export did not come from this store's ledger, or it was re-signed")
    real = verify_export(folder / "ledger.jsonl", store_keys=source)
    assert real.ok and real.key_source == "store" and real.warning is None


def test_verify_export_with_the_store_it_came_from(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIMELENS_PROGRESS", "false")
    db = tmp_path / "agency.duckdb"
    code = _cli("users", "add", "ada", "--role", "admin", "--as", "ada", "--db", str(db), "--json")
    assert code == 0 and _cli("users", "add", "aud", "--role", "auditor", "--as", "ada", "--db", str(db)) == 0
    assert _cli("ledger", "export", "--out", str(tmp_path / "ledger.jsonl"), "--as", "aud", "--db", str(db)) == 0
    capsys.readouterr()
    lines = (tmp_path / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    assert _cli("ledger", "verify", "--export", str(tmp_path / "ledger.jsonl"), "--as", "aud", "--db", str(db),
                "--json") == 0
    answer = json.loads(capsys.readouterr()[0])
    assert answer["ok"] and answer["key_source"] == "store" and answer["warning"] is None
    row = json.loads(lines[2])
    row["payload"] = row["payload"].replace('"role":"auditor"', '"role":"admin"')
    row["leaf_hash"] = leaf_hash(row["payload"].encode("utf-8")).hex()
    lines[2] = json.dumps(row)
    leaves = np.array([list(bytes.fromhex(json.loads(x)["leaf_hash"])) for x in lines[1:]], dtype=np.uint8)
    head = json.loads(lines[0])["head"]
    key = Ed25519PrivateKey.generate()
    lines[0] = json.dumps({"head": SignedTreeHead.sign(key, head["tree_size"], root_of_array(leaves),
                                                       head["timestamp_ms"]).to_json(raw_public_key(key))})
    forged = _write(tmp_path / "forged.jsonl", lines)
    assert _cli("ledger", "verify", "--export", str(forged), "--as", "aud", "--db", str(db), "--json") == 4
    answer = json.loads(capsys.readouterr()[0])
    assert "this export did not come from this store's ledger, or it was re-signed" in answer["problem"]
    with DuckDBStore.open(db) as store:  # both checks are in the agency's ledger
        checks = Ledger(store).entries(action="ledger.verify")
    assert [(e.detail["ok"], e.detail["key_source"]) for _s, e in checks] == [(True, "store"), (False, "store")]


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
