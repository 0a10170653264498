"""An auditor's findings on `crimelens ledger verify`, on copies of a real store tampered with in DuckDB.

A. A verify that finds the ledger bad signs nothing over it, so the next verify reports the same
   problem again; every stored head is checked (signature, and root against its entries), and a
   head whose root was changed is called a changed head.
B. A store copied without its key folder is verified read-only: no key is made, nothing is written,
   and the agency's published key still checks it. Commands that must sign refuse, naming the folder.
C. The ledger's tip (the size each append leaves) is compared with the heads and the entries, so the
   newest entries deleted together with their heads are found.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from crimelens.config import Settings
from crimelens.errors import StoreError
from crimelens.governance import Actor, Ledger, LedgerEntry, Role, leaf_hash
from crimelens.governance._keys import KEY_FILE
from crimelens.governance._ledger import (
    _THREADED_SIGNATURES,
    _frontier_of,
    _root_at,
    _subtree_levels,
)
from crimelens.governance._merkle import root_of_array
from crimelens.services import governance as gs
from crimelens.services._context import open_context
from crimelens.storage import DuckDBStore
from tests.conftest import copy_store, run_json

ADMIN = Actor("ada", Role.ADMIN)
USERS = 2   # two users added: two entries, one signed head each
BATCH = 5   # then one append_many: one head for the five
SINGLE = 8  # then entries appended one per transaction (one signed head each)


def _entry(i: int) -> LedgerEntry:
    return LedgerEntry("forecast.run", "ana", "analyst", "research", detail={"i": i, "place": "Zürich"})


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with users, single appends and a batch: every entry under a signed head."""
    db = tmp_path_factory.mktemp("agency") / "city.duckdb"
    with open_context(Settings(db=db, progress=False)) as ctx:
        gs.add_user(ctx, name="ada", role="admin", actor=ADMIN)
        gs.add_user(ctx, name="aud", role="auditor", actor=ADMIN)
        ctx.ledger.append_many([_entry(i) for i in range(BATCH)])
        for i in range(SINGLE):
            ctx.ledger.append(_entry(BATCH + i))
    return db


@pytest.fixture
def store(template: Path, tmp_path: Path) -> Path:
    """A copy of the agency's store with its key folder, as the auditor made one per tampering."""
    return copy_store(template, tmp_path / "copy.duckdb")


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CRIMELENS_PROGRESS", "false")
    monkeypatch.delenv("CRIMELENS_DB", raising=False)
    monkeypatch.delenv("CRIMELENS_KEY_DIR", raising=False)
    yield


run = run_json
def verify(capsys: pytest.CaptureFixture[str], db: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    return run(capsys, "ledger", "verify", "--db", str(db), *extra)


def _sql(db: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db)) as con:
        return con.execute(sql, params or []).fetchall()


def _counts(db: Path) -> tuple[int, int, int, int]:
    (row,) = _sql(db, "SELECT (SELECT count(*) FROM ledger), (SELECT count(*) FROM ledger_heads), "
                      "(SELECT tree_size FROM ledger_tip), (SELECT count(*) FROM ledger_keys)")
    return row


def _newest_size(db: Path) -> int:
    return int(_sql(db, "SELECT max(tree_size) FROM ledger_heads")[0][0])


def _twice(capsys: pytest.CaptureFixture[str], db: Path) -> dict[str, Any]:
    """Verify twice: the same failure (exit 4, same entry, same words) both times, and nothing written."""
    before = _counts(db)
    code1, first = verify(capsys, db)
    code2, second = verify(capsys, db)
    assert (code1, code2) == (4, 4), (first, second)
    assert (second["first_bad"], second["problem"]) == (first["first_bad"], first["problem"])
    assert _counts(db) == before  # no entry, no head, the tip where it was
    assert "nothing was appended" in first["not_logged"]
    return first


# A. a failing verify signs nothing, and every head is checked -------------------------------------
def test_a_flipped_signature_of_the_newest_head_is_reported_on_every_run(
        store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    size = _newest_size(store)
    sig = bytearray(_sql(store, "SELECT signature FROM ledger_heads WHERE tree_size = ?", [size])[0][0])
    sig[0] ^= 1
    _sql(store, "UPDATE ledger_heads SET signature = ? WHERE tree_size = ?", [bytes(sig), size])
    found = _twice(capsys, store)
    assert found["first_bad"] == size and found["head_signature_ok"] is False
    assert found["problem"].startswith(f"the signed head at size {size} has an invalid signature for key ")


def test_deleted_heads_are_reported_on_every_run_with_the_tip_that_shows_it(
        store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = _counts(store)[0]
    _sql(store, "DELETE FROM ledger_heads")
    found = _twice(capsys, store)
    assert found["first_bad"] == 0
    assert found["problem"] == (f"entry 0: {n} entries are stored but no signed head exists, though the ledger's "
                                f"tip records {n} appended entries: its signed heads were deleted")


def test_a_changed_head_root_is_called_a_changed_head_not_a_rewritten_entry(
        store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    size = _newest_size(store)
    _sql(store, "UPDATE ledger_heads SET root_hash = ? WHERE tree_size = ?", [b"\x22" * 32, size])
    found = _twice(capsys, store)
    assert found["first_bad"] == size
    assert found["problem"].startswith(f"the signed head at size {size}: its root is not the root of entries "
                                       f"0..{size - 1}, with which the ledger's tip agrees: a changed head")


def test_an_older_head_changed_is_found_although_the_newest_head_is_intact(
        store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sizes = [int(s) for (s,) in _sql(store, "SELECT tree_size FROM ledger_heads ORDER BY tree_size")]
    old, newer = sizes[3], sizes[4]
    _sql(store, "UPDATE ledger_heads SET root_hash = ? WHERE tree_size = ?", [b"\x33" * 32, old])
    found = _twice(capsys, store)
    assert found["first_bad"] == old
    assert found["problem"] == (f"the signed head at size {old}: its root is not the root of entries 0..{old - 1}, "
                                f"which the newer head at size {newer} covers and matches: a changed head")


def test_an_older_head_signature_is_checked(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = int(_sql(store, "SELECT tree_size FROM ledger_heads ORDER BY tree_size LIMIT 1 OFFSET 2")[0][0])
    _sql(store, "UPDATE ledger_heads SET signature = ? WHERE tree_size = ?", [b"\x00" * 64, old])
    found = _twice(capsys, store)
    assert found["first_bad"] == old and found["head_signature_ok"] is False
    assert found["problem"].startswith(f"the signed head at size {old} has an invalid signature")


def test_a_forged_entry_appended_keeps_its_diagnosis(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = _counts(store)[0]
    last = json.loads(bytes(_sql(store, "SELECT payload FROM ledger WHERE seq = ?", [n - 1])[0][0]))
    last.update(action="review.decide", detail={"forged": True})
    payload = LedgerEntry.from_payload(last).payload_bytes(n)  # well formed, bound to position n, hashed right
    _sql(store, "INSERT INTO ledger (seq, payload, leaf_hash) VALUES (?, ?, ?)", [n, payload, leaf_hash(payload)])
    found = _twice(capsys, store)
    assert found["first_bad"] == n
    assert found["problem"] == f"entry {n}: not covered by any signed head (entries {n}..{n} were added outside the ledger)"


def test_an_entry_rewritten_in_a_batch_is_localised_to_the_batch(store: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    size = USERS + BATCH  # the head the append_many signed
    seq = size - 2  # inside its batch, entries USERS .. size-1
    payload = bytes(_sql(store, "SELECT payload FROM ledger WHERE seq = ?", [seq])[0][0])
    forged = payload.replace(b"Z\xc3\xbcrich", b"Bern\xc3\xa9", 1)
    assert forged != payload
    _sql(store, "UPDATE ledger SET payload = ?, leaf_hash = ? WHERE seq = ?", [forged, leaf_hash(forged), seq])
    found = _twice(capsys, store)
    first = USERS
    assert found["first_bad"] == first
    assert found["problem"] == (f"entry {first}: the Merkle root no longer matches the signed head at size {size} "
                                f"(an entry among {first}..{size - 1} rewritten with a recomputed hash)")


def test_a_ledger_that_verifies_logs_its_check_under_a_new_head(store: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    n, heads, _tip, _keys = _counts(store)
    code, report = verify(capsys, store)
    assert code == 0 and report["ok"] and report["not_logged"] is None
    assert _counts(store)[:3] == (n + 1, heads + 1, n + 1)
    code, again = verify(capsys, store)
    assert code == 0 and again["n_entries"] == n + 1


# B. a store without its key folder -----------------------------------------------------------------
def _keyless(store: Path, tmp_path: Path) -> Path:
    (tmp_path / "auditor").mkdir()
    copy = tmp_path / "auditor" / "copy.duckdb"
    shutil.copyfile(store, copy)
    return copy


def test_verify_without_the_key_folder_makes_no_key_and_writes_nothing(
        store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, head = run(capsys, "ledger", "head", "--db", str(store))  # what the agency publishes
    assert code == 0
    copy = _keyless(store, tmp_path)
    digest = hashlib.sha256(copy.read_bytes()).hexdigest()
    for _ in range(2):
        code, report = verify(capsys, copy)
        assert code == 0 and report["ok"], report
        assert report["n_entries"] == head["tree_size"] + 1 and report["key_source"] == "store"  # + ledger.head
        assert "signing key" in report["not_logged"] and "is not here" in report["not_logged"]
    code, report = verify(capsys, copy, "--public-key", head["public_key"])
    assert code == 0 and report["ok"] and report["key_source"] == "given", report
    assert not Path(f"{copy}.keys").exists()
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest
    assert [k for (k,) in _sql(copy, "SELECT key_id FROM ledger_keys")] == [head["key_id"]]


def test_verify_without_the_key_folder_still_finds_tampering(store: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    copy = _keyless(store, tmp_path)
    _sql(copy, "UPDATE ledger SET payload = encode(replace(decode(payload), 'Zürich', 'Zurich')) WHERE seq = 5")
    for _ in range(2):
        code, report = verify(capsys, copy)
        assert code == 4 and report["first_bad"] == 5 and "not logged" not in report["problem"]
        assert "is not here" in report["not_logged"]
    assert not Path(f"{copy}.keys").exists()


def test_commands_that_sign_refuse_without_the_key_folder_and_name_it(
        store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = _keyless(store, tmp_path)
    before = _counts(copy)
    code, err = run(capsys, "ledger", "head", "--db", str(copy))
    assert code == 5 and err["type"] == "StoreError"
    assert f"its ledger signing key {str(Path(f'{copy}.keys') / KEY_FILE)!r} is not here" in err["error"]
    assert "crimelens does not start a new key for a ledger that has one" in err["error"]
    with open_context(Settings(db=copy, progress=False)) as ctx, pytest.raises(StoreError, match="is not here"):
        ctx.ledger.append(_entry(99))
    assert _counts(copy) == before and not Path(f"{copy}.keys").exists()


def test_a_new_store_still_gets_its_key_on_first_use(tmp_path: Path) -> None:
    with DuckDBStore.open(tmp_path / "new.duckdb") as s:
        ledger = Ledger(s)
        assert ledger.is_new() and ledger.has_signing_key()
        ledger.append(_entry(0))
        assert ledger.verify().ok
    assert (tmp_path / "new.duckdb.keys" / KEY_FILE).exists()


def test_a_new_signer_is_started_only_on_purpose(store: Path, tmp_path: Path) -> None:
    copy = _keyless(store, tmp_path)
    with DuckDBStore.open(copy) as s:
        ledger = Ledger(s)
        assert not ledger.has_signing_key()
        with pytest.raises(StoreError):
            ledger.append(_entry(0))
        ledger.new_signing_key()  # e.g. a store restored from a backup without its key
        ledger.append(_entry(1))
        report = ledger.verify()  # the old heads against the old key, the new one against the new key
        assert report.ok, report.problem
        assert len(list(s.iter_rows("SELECT key_id FROM ledger_keys"))) == 2


def test_only_a_restore_entry_starts_a_new_signer_by_itself(store: Path, tmp_path: Path) -> None:
    copy = _keyless(store, tmp_path)
    with DuckDBStore.open(copy) as s:
        with pytest.raises(StoreError):
            Ledger(s).append(LedgerEntry("store.restore", "ada", "admin", "restore", outcome="refused"))
        restore = LedgerEntry("store.restore", "ada", "admin", "restore", detail={"key_restored": False})
        ledger = Ledger(s)
        ledger.append(restore)  # what `crimelens store restore` logs for a backup made without its key
        assert ledger.verify().ok
    assert Path(f"{copy}.keys", KEY_FILE).exists()


# C. the tip against the heads --------------------------------------------------------------------------
def test_the_newest_entry_deleted_with_its_head_is_found_by_the_tip(store: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    n = _counts(store)[0]
    _sql(store, "DELETE FROM ledger WHERE seq = ?", [n - 1])
    _sql(store, "DELETE FROM ledger_heads WHERE tree_size > ?", [n - 1])
    found = _twice(capsys, store)
    assert found["first_bad"] == n - 1
    assert found["problem"] == (f"entry {n - 1} is missing: the ledger's tip records {n} appended entries, but only "
                                f"{n - 1} are stored and the newest signed head is at size {n - 1}: the newest "
                                "entries were deleted together with their signed heads")


def test_the_newest_heads_deleted_are_found_by_the_tip(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = _counts(store)[0]
    sizes = [int(s) for (s,) in _sql(store, "SELECT tree_size FROM ledger_heads ORDER BY tree_size")]
    _sql(store, "DELETE FROM ledger_heads WHERE tree_size > ?", [sizes[-3]])
    found = _twice(capsys, store)
    assert found["first_bad"] == sizes[-3]
    assert found["problem"] == (f"entry {sizes[-3]}: not covered by any signed head, though the ledger's tip records "
                                f"{n} appended entries: the signed heads after size {sizes[-3]} were deleted")


def test_a_changed_tip_is_found(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = _counts(store)[0]
    _sql(store, "UPDATE ledger_tip SET frontier = ? WHERE id = 1", [b"\x44" * 32])
    found = _twice(capsys, store)
    assert found["first_bad"] == n
    assert found["problem"].startswith(f"the ledger's tip at size {n} holds a root that is not the newest signed "
                                       "head's: the tip was changed")


def test_entries_heads_and_tip_deleted_together_pass_as_the_docs_say(store: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The limit the docs state: only a head published earlier catches this (ledger head, proof --from)."""
    code, published = run(capsys, "ledger", "head", "--db", str(store))
    assert code == 0
    keep = published["tree_size"] - 3  # back to a head signed earlier
    (root,) = _sql(store, "SELECT root_hash FROM ledger_heads WHERE tree_size = ?", [keep])[0]
    with DuckDBStore.open(store) as s:
        kept = Ledger(s).leaf_hash_array()[:keep]
    assert root_of_array(kept) == bytes(root)
    _sql(store, "DELETE FROM ledger WHERE seq >= ?", [keep])
    _sql(store, "DELETE FROM ledger_heads WHERE tree_size > ?", [keep])
    _sql(store, "UPDATE ledger_tip SET tree_size = ?, frontier = ? WHERE id = 1", [keep, b"".join(_frontier_of(kept))])
    code, report = verify(capsys, store)
    assert code == 0 and report["n_entries"] == keep  # a shorter log that verifies on its own...
    code, _proof = run(capsys, "ledger", "proof", "--from", str(published["tree_size"]), "--db", str(store))
    assert code != 0  # ...but cannot be proved consistent with the head published before


def test_a_bad_signature_among_many_heads_is_the_first_one_named(fast_dir: Path) -> None:
    """Past _THREADED_SIGNATURES heads the signatures are checked on threads; the first bad one is named."""
    with DuckDBStore.open(fast_dir / "many.duckdb") as s:
        ledger = Ledger(s)
        for i in range(_THREADED_SIGNATURES + 20):
            ledger.append(_entry(i))
        assert ledger.verify().ok
        for size in (_THREADED_SIGNATURES + 5, 200):
            s.execute("UPDATE ledger_heads SET signature = ? WHERE tree_size = ?", [b"\x00" * 64, size])
        report = ledger.verify()
        assert report.first_bad == 200 and report.head_signature_ok is False, report.problem


def test_every_head_root_is_a_prefix_root() -> None:
    rng = np.random.default_rng(7)
    leaves = rng.integers(0, 256, size=(70, 32), dtype=np.uint8)
    levels = _subtree_levels(leaves)
    for size in range(71):
        assert _root_at(levels, size) == root_of_array(leaves[:size]), size
