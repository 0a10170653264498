"""Group commit: concurrent appends share transactions and heads, stay ordered, durable and verifiable."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from crimelens.governance import Ledger, LedgerEntry
from crimelens.storage import DuckDBStore


def _entry(i: int) -> LedgerEntry:
    return LedgerEntry("forecast.run", f"analyst{i % 5}", "analyst", "patrol planning", detail={"i": i})


def _run_threads(ledger: Ledger, n_threads: int, per_thread: int) -> dict[int, int]:
    """Each thread appends its own entries; returns {i: seq}."""
    got: dict[int, int] = {}
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for j in range(per_thread):
                i = t * per_thread + j
                got[i] = ledger.append(_entry(i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    return got


def test_concurrent_appends_get_distinct_seqs_matching_their_payloads(tmp_path: Path) -> None:
    with DuckDBStore.open(tmp_path / "l.duckdb") as store:
        ledger = Ledger(store)
        got = _run_threads(ledger, n_threads=12, per_thread=25)
        assert sorted(got.values()) == list(range(300))
        for i, seq in got.items():  # each caller got the position its own entry landed at
            assert ledger.entry(seq).detail == {"i": i}
        report = ledger.verify()
        assert report.ok and report.n_entries == 300
        assert len(ledger.heads()) <= 300


def test_waiting_callers_are_committed_as_one_group(tmp_path: Path) -> None:
    """While the store is busy, appends queue up; the next commit takes them all under one head."""
    with DuckDBStore.open(tmp_path / "l.duckdb") as store:
        ledger = Ledger(store)
        ledger.append(_entry(-1))
        n = 20
        results: list[int] = []
        with store._lock:  # another writer holds the store: the first leader blocks, the rest queue
            threads = [threading.Thread(target=lambda i=i: results.append(ledger.append(_entry(i)))) for i in range(n)]
            for th in threads:
                th.start()
            deadline = time.monotonic() + 30
            while len(ledger._queue) < n - 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(ledger._queue) == n - 1
            assert results == []  # nobody returns before the commit
        for th in threads:
            th.join()
        assert sorted(results) == list(range(1, n + 1))
        # the leader that was blocked commits what it took (1 entry), the next leader all the others
        assert len(ledger.heads()) == 3
        assert ledger.verify().ok


def test_group_appends_survive_reopening(tmp_path: Path) -> None:
    db = tmp_path / "l.duckdb"
    with DuckDBStore.open(db) as store:
        _run_threads(Ledger(store), n_threads=8, per_thread=10)
    with DuckDBStore.open(db) as store:
        report = Ledger(store).verify()
        assert report.ok and report.n_entries == 80 and report.signed_size == 80


def test_append_inside_a_transaction_joins_it_and_rolls_back_with_it(tmp_path: Path) -> None:
    with DuckDBStore.open(tmp_path / "l.duckdb") as store:
        ledger = Ledger(store)
        ledger.append(_entry(0))
        try:
            with store.transaction():
                assert store.in_transaction()
                assert ledger.append(_entry(1)) == 1
                raise RuntimeError("the output could not be written")
        except RuntimeError:
            pass
        assert not store.in_transaction()
        assert ledger.size() == 1 and ledger.verify().ok


def test_another_threads_transaction_is_not_joined(tmp_path: Path) -> None:
    """An append from thread B while thread A holds a transaction waits for A, then commits alone."""
    with DuckDBStore.open(tmp_path / "l.duckdb") as store:
        ledger = Ledger(store)
        seen: list[bool] = []
        out: list[int] = []
        b = threading.Thread(target=lambda: (seen.append(store.in_transaction()), out.append(ledger.append(_entry(2)))))
        try:
            with store.transaction():
                ledger.append(_entry(1))
                b.start()
                time.sleep(0.2)
                assert out == []  # B is waiting for A's transaction
                raise RuntimeError("A rolls back")
        except RuntimeError:
            pass
        b.join()
        assert seen == [False]
        assert out == [0]  # A's entry was rolled back; B's is the first entry
        assert ledger.size() == 1 and ledger.entry(0).detail == {"i": 2}
        assert ledger.verify().ok


def test_submit_queues_and_wait_commits_everything_queued_before(tmp_path: Path) -> None:
    with DuckDBStore.open(tmp_path / "l.duckdb") as store:
        ledger = Ledger(store)
        first, second = ledger.submit(_entry(1)), ledger.submit(_entry(2))
        assert ledger.size() == 0 and not first.done  # queued, not yet committed
        assert ledger.wait(second) == 1  # one commit takes the whole queue, in order
        assert first.done and ledger.wait(first) == 0
        assert len(ledger.heads()) == 1 and ledger.verify().ok
        with store.transaction():  # inside a transaction, submit joins it at once
            inside = ledger.submit(_entry(3))
            assert inside.done and inside.result() == 2
        assert ledger.size() == 3


def test_two_ledger_objects_on_one_store_take_turns_without_a_stale_tip(tmp_path: Path) -> None:
    """Each object remembers the tip it committed; when the other appended meanwhile it re-reads."""
    with DuckDBStore.open(tmp_path / "l.duckdb") as store:
        a, b = Ledger(store), Ledger(store)
        seqs = [(a if i % 3 else b).append(_entry(i)) for i in range(30)]
        assert seqs == list(range(30))
        assert [a.entry(i).detail["i"] for i in range(30)] == list(range(30))
        report = b.verify()
        assert report.ok and report.n_entries == report.signed_size == 30
