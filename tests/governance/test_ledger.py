"""The ledger: appends, signed heads, proofs, and verification that names the first bad entry."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crimelens.governance import Ledger, LedgerEntry, SignedTreeHead, leaf_hash
from crimelens.governance._merkle import root_of, verify_consistency, verify_inclusion
from crimelens.storage import DuckDBStore

N = 12


def _entry(i: int) -> LedgerEntry:
    return LedgerEntry(action="forecast.run", user=f"user{i % 3}", role="analyst", purpose="research",
                       model="KDEHotspot", params={"bandwidth_m": 250.0 + i}, detail={"i": i, "note": "Zürich ✓"})


@pytest.fixture(scope="module")
def built() -> Iterator[tuple[DuckDBStore, Ledger]]:
    """A ledger of N entries, each appended on its own (one signed head each)."""
    folder = Path(tempfile.mkdtemp())
    with DuckDBStore.open(folder / "ledger.duckdb") as store:
        ledger = Ledger(store)
        for i in range(N):
            ledger.append(_entry(i))
        yield store, ledger


def _row(store: DuckDBStore, seq: int) -> tuple[bytes, bytes]:
    p, h = next(iter(store.iter_rows("SELECT payload, leaf_hash FROM ledger WHERE seq = ?", [seq])))
    return bytes(p), bytes(h)


def _put(store: DuckDBStore, seq: int, payload: bytes, lh: bytes) -> None:
    store.execute("DELETE FROM ledger WHERE seq = ?", [seq])
    store.execute("INSERT INTO ledger (seq, payload, leaf_hash) VALUES (?, ?, ?)", [seq, payload, lh])


def test_untouched_ledger_verifies(built: tuple[DuckDBStore, Ledger]) -> None:
    _store, ledger = built
    report = ledger.verify()
    assert report.ok, report.problem
    assert report.n_entries == report.signed_size == N
    assert report.head_signature_ok
    assert report.root_hash == report.signed_root


def test_payload_binds_its_position_and_reads_back(built: tuple[DuckDBStore, Ledger]) -> None:
    store, ledger = built
    payload, lh = _row(store, 5)
    assert payload.startswith(b'{"seq":5,')
    assert lh == leaf_hash(payload)
    assert json.loads(payload)["seq"] == 5
    assert ledger.entry(5) == LedgerEntry.from_payload(json.loads(payload))
    assert ledger.entry(5).detail["note"] == "Zürich ✓"


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_flipped_byte_is_found_and_named(built: tuple[DuckDBStore, Ledger], data: st.DataObject) -> None:
    store, ledger = built
    seq = data.draw(st.integers(0, N - 1), label="entry")
    column = data.draw(st.sampled_from(["payload", "leaf_hash"]), label="column")
    payload, lh = _row(store, seq)
    target = payload if column == "payload" else lh
    pos = data.draw(st.integers(0, len(target) - 1), label="byte")
    bit = data.draw(st.integers(0, 7), label="bit")
    flipped = bytearray(target)
    flipped[pos] ^= 1 << bit
    try:
        _put(store, seq, bytes(flipped) if column == "payload" else payload,
             bytes(flipped) if column == "leaf_hash" else lh)
        report = ledger.verify()
        assert not report.ok
        assert report.first_bad == seq, report.problem
        assert f"entry {seq}" in (report.problem or "")
    finally:
        _put(store, seq, payload, lh)
    assert ledger.verify().ok


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=st.integers(0, N - 1), edit=st.sampled_from([b"user0", b"user1", b"research", b"250", b"Z"]))
def test_rewritten_entry_with_recomputed_hash_is_named_by_the_signed_heads(
    built: tuple[DuckDBStore, Ledger], seq: int, edit: bytes
) -> None:
    store, ledger = built
    payload, lh = _row(store, seq)
    if edit not in payload:
        edit = b"forecast.run"
    forged = payload.replace(edit, b"x" * len(edit), 1)
    try:
        _put(store, seq, forged, leaf_hash(forged))  # consistent row: only the Merkle root can tell
        report = ledger.verify()
        assert not report.ok
        assert report.first_bad == seq, report.problem
    finally:
        _put(store, seq, payload, lh)


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=st.integers(0, N - 1))
def test_deleted_entry_is_named(built: tuple[DuckDBStore, Ledger], seq: int) -> None:
    store, ledger = built
    payload, lh = _row(store, seq)
    try:
        store.execute("DELETE FROM ledger WHERE seq = ?", [seq])
        report = ledger.verify()
        assert not report.ok
        assert report.first_bad == seq, report.problem
        assert "missing" in (report.problem or "")
    finally:
        _put(store, seq, payload, lh)


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pair=st.lists(st.integers(0, N - 1), min_size=2, max_size=2, unique=True))
def test_reordered_entries_are_named(built: tuple[DuckDBStore, Ledger], pair: list[int]) -> None:
    store, ledger = built
    i, j = sorted(pair)
    pi, hi = _row(store, i)
    pj, hj = _row(store, j)
    try:
        _put(store, i, pj, hj)
        _put(store, j, pi, hi)
        report = ledger.verify()
        assert not report.ok
        assert report.first_bad == i, report.problem
    finally:
        _put(store, i, pi, hi)
        _put(store, j, pj, hj)


def test_deletion_with_renumbering_is_named(built: tuple[DuckDBStore, Ledger]) -> None:
    store, ledger = built
    rows = [_row(store, s) for s in range(N)]
    try:
        store.execute("DELETE FROM ledger WHERE seq >= 4")
        for s in range(5, N):  # move every later entry one place down
            _put(store, s - 1, *rows[s])
        report = ledger.verify()
        assert not report.ok and report.first_bad == 4, report.problem
    finally:
        store.execute("DELETE FROM ledger WHERE seq >= 4")
        for s in range(4, N):
            _put(store, s, *rows[s])
    assert ledger.verify().ok


def test_forged_head_signature_is_caught(tmp_path: Path) -> None:
    with DuckDBStore.open(tmp_path / "t.duckdb") as store:
        ledger = Ledger(store)
        for i in range(3):
            ledger.append(_entry(i))
        store.execute("UPDATE ledger_heads SET signature = ? WHERE tree_size = 3", [b"\x00" * 64])
        report = ledger.verify()
        assert not report.ok and report.head_signature_ok is False


def test_outsider_key_must_match(tmp_path: Path) -> None:
    with DuckDBStore.open(tmp_path / "t.duckdb") as store:
        ledger = Ledger(store)
        ledger.append(_entry(0))
        assert ledger.verify(public_key=ledger.public_key()).ok
        assert not ledger.verify(public_key=b"\x01" * 32).ok


def test_batch_append_signs_one_head_and_verifies(tmp_path: Path) -> None:
    with DuckDBStore.open(tmp_path / "t.duckdb") as store:
        ledger = Ledger(store)
        seqs = ledger.append_many([_entry(i) for i in range(25)])
        ledger.append(_entry(25))
        assert seqs == list(range(25))
        assert [h.tree_size for h in ledger.heads()] == [25, 26]
        assert ledger.verify().ok
        stored = ledger.leaf_hash_array()
        assert ledger.latest_head().root_hash == root_of([bytes(r) for r in stored])  # type: ignore[union-attr]


def test_signing_key_file_is_private_and_created_once(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    with DuckDBStore.open(tmp_path / "t.duckdb") as store:
        ledger = Ledger(store, keys)
        ledger.append(_entry(0))
        mode = stat.S_IMODE(os.stat(keys / "ledger-ed25519.pem").st_mode)
        assert mode == 0o600
        first = ledger.public_key()
    with DuckDBStore.open(tmp_path / "t.duckdb") as store:
        again = Ledger(store, keys)
        again.append(_entry(1))
        assert again.public_key() == first
        assert again.verify().ok


def test_default_key_dir_sits_beside_the_store(tmp_path: Path) -> None:
    with DuckDBStore.open(tmp_path / "t.duckdb") as store:
        Ledger(store).append(_entry(0))
    assert (tmp_path / "t.duckdb.keys" / "ledger-ed25519.pem").exists()


def test_proofs_check_against_the_signed_head(tmp_path: Path) -> None:
    with DuckDBStore.open(tmp_path / "t.duckdb") as store:
        ledger = Ledger(store)
        for i in range(11):
            ledger.append(_entry(i))
        proof = ledger.inclusion_proof(7)
        head = SignedTreeHead.from_json(proof["head"])
        assert head.verify(bytes.fromhex(proof["head"]["public_key"]))
        assert leaf_hash(proof["payload"].encode("utf-8")).hex() == proof["leaf_hash"]
        assert verify_inclusion(bytes.fromhex(proof["leaf_hash"]), 7, 11,
                                [bytes.fromhex(h) for h in proof["audit_path"]], head.root_hash)
        cons = ledger.consistency_proof(6)
        old = ledger.head_at(6)
        assert cons["old_root"] == old.root_hash.hex()
        assert verify_consistency(6, 11, old.root_hash, head.root_hash, [bytes.fromhex(h) for h in cons["proof"]])


def test_canonical_json_is_strict(tmp_path: Path) -> None:
    entry = LedgerEntry("x.run", "ada", "analyst", "research", detail={"nan": float("nan"), "b": 1, "a": [1.5]})
    raw = entry.payload_bytes(3)
    assert raw.startswith(b'{"seq":3,"action":"x.run"')
    assert json.loads(raw)["detail"] == {"a": [1.5], "b": 1, "nan": "nan"}
