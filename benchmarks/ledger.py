"""Ledger throughput: durable appends (single and batched) and full verification of a large ledger.

Targets (issue 3): append >= 5,000 entries/s durably; verify 1,000,000 entries in < 10 s.

"Durable" means each append call commits a DuckDB transaction (WAL written and synced) and
signs a new Ed25519 tree head. ``Ledger.append`` commits one entry per transaction;
``Ledger.append_many`` commits a batch in one transaction with one signed head. With several
threads calling ``Ledger.append`` at once, the group commit lets the entries that arrive during
one commit share the next transaction and head; each call still returns only after its own entry
is committed. All three are reported. Verification recomputes every leaf hash from the stored payloads, checks the
sequence number inside each payload, recomputes the Merkle root level by level, and checks
it and the signature against the latest signed head.

    .venv/bin/python benchmarks/ledger.py                 # 1,000,000 entries
    .venv/bin/python benchmarks/ledger.py --n 100000      # quicker

Writes benchmarks/results/ledger.json. The store lives in a temporary folder on disk
(``--dir`` to choose) and is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from crimelens.governance import Ledger, LedgerEntry
from crimelens.storage import DuckDBStore

RESULTS = Path(__file__).resolve().parent / "results"


def _entry(i: int, at: datetime) -> LedgerEntry:
    """A realistic entry: a forecast run with parameters and hashes (~550 bytes of payload)."""
    return LedgerEntry(
        action="forecast.run", user=f"analyst{i % 17}", role="analyst", purpose="patrol planning",
        legal_authority="Policy 4.2", deployment="hotspots-north", model="KDEHotspot", model_version="1.3.0",
        artefact_hash=f"{i:064x}", data_hash=f"{(i * 7) % 9973:064x}",
        params={"bandwidth_m": 250.0, "cell_m": 150.0, "kernel": "quartic", "window_days": 28},
        output_hash=f"{(i * 31) % 100003:064x}", detail={"cells": i % 400, "week": 1 + i % 52}, at=at,
    )


def _concurrent(ledger: Ledger, threads: int, total: int, at: datetime) -> dict[str, object]:
    """``threads`` callers each append single entries (``Ledger.append``) until ``total`` are in.

    Each call returns only after its entry is committed; entries that arrive while a commit runs
    share the next transaction and signed head (group commit).
    """
    per = max(1, total // threads)
    heads0, size0 = len(ledger.heads()), ledger.size()
    lat: list[float] = []
    cpu0 = time.process_time()

    def work(t: int) -> None:
        mine = []
        for j in range(per):
            t1 = time.perf_counter()
            ledger.append(_entry(size0 + t * per + j, at))
            mine.append(time.perf_counter() - t1)
        lat.extend(mine)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    t0 = time.perf_counter()
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    wall = time.perf_counter() - t0
    n = per * threads
    tx = len(ledger.heads()) - heads0
    ms = sorted(x * 1000 for x in lat)
    return {"threads": threads, "entries": n, "seconds": round(wall, 3), "cpu_seconds": round(time.process_time() - cpu0, 3),
            "entries_per_s": round(n / wall, 1), "transactions": tx, "mean_group": round(n / max(tx, 1), 1),
            "p50_ms": round(ms[len(ms) // 2], 2), "p99_ms": round(ms[int(len(ms) * 0.99)], 2)}


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="entries to append and then verify")
    parser.add_argument("--batch", type=int, default=10_000, help="entries per append_many transaction")
    parser.add_argument("--single", type=int, default=500, help="entries appended one per transaction")
    parser.add_argument("--threads", type=lambda v: [int(x) for x in v.split(",")], default=[8, 64, 128],
                        help="comma-separated counts of concurrent single-entry appenders (group commit)")
    parser.add_argument("--concurrent", type=int, default=20_000, help="entries per concurrent phase")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the temporary store (on disk)")
    parser.add_argument("--out", type=Path, default=RESULTS / "ledger.json")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="crimelens-ledger-bench-", dir=args.dir))
    figures: dict[str, object] = {
        "benchmark": "ledger", "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} cpus={os.cpu_count()}", "uptime_before": _uptime(),
        "n_entries": args.n, "batch": args.batch, "store_dir": str(folder),
    }
    at = datetime.now(UTC)
    try:
        with DuckDBStore.open(folder / "bench.duckdb") as store:
            ledger = Ledger(store)
            ledger.append(_entry(0, at))  # create the key outside the timings

            # 1. single-entry durable appends (one transaction + one signed head each)
            t0 = time.perf_counter()
            for i in range(1, args.single + 1):
                ledger.append(_entry(i, at))
            single_s = time.perf_counter() - t0
            figures["single_append_per_s"] = round(args.single / single_s, 1)
            print(f"single durable appends: {figures['single_append_per_s']:,} entries/s "
                  f"({args.single} appends in {single_s:.2f} s)")

            # 1b. single-entry durable appends from many threads at once (the group commit)
            figures["concurrent"] = []
            for threads in args.threads:
                row = _concurrent(ledger, threads, args.concurrent, at)
                figures["concurrent"].append(row)
                print(f"concurrent single appends, {threads} threads: {row['entries_per_s']:,} entries/s, "
                      f"{row['transactions']} transactions (mean group {row['mean_group']}), "
                      f"latency p50 {row['p50_ms']} ms p99 {row['p99_ms']} ms")

            # 2. batched durable appends up to n entries (entry objects built inside the timing)
            remaining = args.n - ledger.size()
            done, t0, batch_times = 0, time.perf_counter(), []
            while done < remaining:
                k = min(args.batch, remaining - done)
                tb = time.perf_counter()
                ledger.append_many([_entry(args.single + 1 + done + j, at) for j in range(k)])
                batch_times.append(time.perf_counter() - tb)
                done += k
                if len(batch_times) % 20 == 0:
                    print(f"  appended {ledger.size():,} entries ({done / (time.perf_counter() - t0):,.0f}/s)")
            many_s = time.perf_counter() - t0
            figures["append_many_per_s"] = round(done / many_s, 1)
            figures["append_many_seconds"] = round(many_s, 2)
            figures["append_many_batch_median_s"] = round(sorted(batch_times)[len(batch_times) // 2], 4)
            print(f"batched durable appends (append_many, {args.batch:,}/transaction): "
                  f"{figures['append_many_per_s']:,} entries/s ({done:,} in {many_s:.1f} s)")
            figures["db_bytes"] = os.path.getsize(folder / "bench.duckdb")

        # 3. verify all n entries from a freshly opened store (cold process state, warm OS cache)
        with DuckDBStore.open(folder / "bench.duckdb") as store:
            ledger = Ledger(store)
            phases: list[tuple[str, float]] = []
            t0 = time.perf_counter()
            report = ledger.verify(progress=lambda msg: phases.append((msg, time.perf_counter() - t0)))
            verify_s = time.perf_counter() - t0
            marks = [*phases, ("done", verify_s)]
            figures["verify_phases_s"] = {marks[i][0]: round(marks[i + 1][1] - marks[i][1], 3)
                                         for i in range(len(marks) - 1)}
            figures["verify_seconds"] = round(verify_s, 3)
            figures["verify_ok"] = report.ok
            figures["verified_entries"] = report.n_entries
            figures["verify_entries_per_s"] = round(report.n_entries / verify_s, 1)
            print(f"verify: {report.n_entries:,} entries in {verify_s:.2f} s ok={report.ok} "
                  f"phases={figures['verify_phases_s']}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    figures["uptime_after"] = _uptime()
    figures["targets"] = {"append_per_s": 5000, "verify_1m_seconds": 10}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
