"""Verification while other callers append: no false alarm, and a real unsigned entry is still caught.

A verify that read the signed head, then (after other requests committed) the entries, took the
newer entries for ones "added outside the ledger" and the API stored that false result for good.
"""

from __future__ import annotations

import threading
from pathlib import Path

from crimelens.governance import Ledger, LedgerEntry, leaf_hash
from crimelens.storage import DuckDBStore


def _entry(i: int) -> LedgerEntry:
    return LedgerEntry("evidence.show", f"analyst{i % 3}", "analyst", "enquête témoin", detail={"i": i})


def test_an_append_between_reading_the_head_and_the_entries_is_not_a_false_alarm(tmp_path: Path) -> None:
    """Deterministic: the progress callback appends (committed by another thread) just as the read starts."""
    with DuckDBStore.open(tmp_path / "l.duckdb") as store:
        ledger = Ledger(store)
        ledger.append_many([_entry(i) for i in range(20)])
        appended: list[int] = []

        def on_note(msg: str) -> None:
            if msg == "reading entries" and not appended:
                worker = threading.Thread(target=lambda: appended.append(ledger.append(_entry(99))))
                worker.start()
                worker.join()

        report = ledger.verify(progress=on_note)
        assert appended == [20]
        assert report.ok, report.problem
        assert report.n_entries == report.signed_size == 21
        assert ledger.verify().ok


def test_verify_while_threads_append_never_reports_tampering(tmp_path: Path) -> None:
    with DuckDBStore.open(tmp_path / "l.duckdb") as store:
        ledger = Ledger(store)
        ledger.append_many([_entry(i) for i in range(200)])
        stop = threading.Event()
        errors: list[BaseException] = []

        def writer(t: int) -> None:
            i = 0
            try:
                while not stop.is_set():
                    ledger.append(_entry(1000 * t + i))
                    i += 1
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        try:
            reports = [ledger.verify() for _ in range(40)]
        finally:
            stop.set()
            for th in threads:
                th.join()
        assert not errors, errors
        bad = [(r.n_entries, r.signed_size, r.problem) for r in reports if not r.ok]
        assert bad == []
        assert reports[-1].n_entries > 200  # the writers did write while we verified
        assert ledger.verify().ok


def test_an_entry_inserted_without_a_signed_head_still_fails(tmp_path: Path) -> None:
    with DuckDBStore.open(tmp_path / "l.duckdb") as store:
        ledger = Ledger(store)
        ledger.append_many([_entry(i) for i in range(5)])
        payload = _entry(5).payload_bytes(5)  # well formed, hashed right, but signed by no head
        store.execute("INSERT INTO ledger (seq, payload, leaf_hash) VALUES (?, ?, ?)", [5, payload, leaf_hash(payload)])
        report = ledger.verify()
        assert not report.ok and report.first_bad == 5
        assert report.problem == ("entry 5: not covered by any signed head "
                                  "(entries 5..5 were added outside the ledger)")
