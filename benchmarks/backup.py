"""How long a checked backup takes, beside a bare file copy of the same store.

Builds a synthetic city (``--scale``; 4 gives about 115,000 incidents a year) into a DuckDB store
through the ordinary ingest path, adds ``--entries`` ledger entries (users listing the ledger) and
``--files`` evidence files of 64 KiB, then, alternating, ``--rounds`` times each:

* ``crimelens.services.store.backup`` (copy under the store's lock, evidence re-hashed, the
  copy's ledger verified, manifest written, one ledger entry) and ``verify_backup`` on the result;
* the baseline: ``shutil.copyfile`` of the closed store file and ``copytree`` of its evidence
  folder, which checks nothing and needs the service stopped.

Prints and writes ``benchmarks/results/backup.json`` (medians, ratios, CPU seconds, peak RSS).

Usage: ``python benchmarks/backup.py [--scale 4] [--entries 20000] [--files 200] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crimelens.config import Settings  # noqa: E402
from crimelens.governance import Actor, Role  # noqa: E402
from crimelens.services import governance as gs  # noqa: E402
from crimelens.services import open_context  # noqa: E402
from crimelens.services import store as svc  # noqa: E402
from crimelens.services.evidence import add_evidence  # noqa: E402
from crimelens.services.ingest import ingest_file  # noqa: E402
from crimelens.synth import SyntheticCity  # noqa: E402

ADMIN = Actor("ada", Role.ADMIN)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=4.0)
    ap.add_argument("--entries", type=int, default=20_000)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "backup.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="crimelens-bench-backup-"))
    db = work / "live" / "crimelens.duckdb"
    settings = Settings(db=db, user="ada", role="admin", progress=False)
    t0 = time.perf_counter()
    SyntheticCity(seed=11, days=365, scale=args.scale).generate().write(work / "synth")
    rng = os.urandom
    with open_context(settings) as ctx:
        gs.add_user(ctx, name="ada", role="admin", actor=ADMIN)
        ingest_file(ctx, work / "synth" / "incidents.csv", actor=ADMIN, format="canonical", dataset="synth")
        for _ in range(args.entries // 2):  # each listing writes one entry; a bounded read keeps it quick
            gs.ledger_entries(ctx, actor=ADMIN, limit=1)
            gs.ledger_head(ctx, actor=ADMIN)
        for k in range(args.files):
            f = work / f"item{k}.bin"
            f.write_bytes(rng(64 * 1024))
            add_evidence(ctx, f, case_id=f"C-{k % 20}", actor=ADMIN, source="benchmark")
            f.unlink()
        counts = ctx.store.table_counts()
    print(f"store built in {time.perf_counter() - t0:.0f} s: {counts['incidents']:,} incidents, "
          f"{counts['ledger']:,} ledger entries, {args.files} evidence files", flush=True)
    res: dict[str, Any] = {"scale": args.scale, "incidents": counts["incidents"], "ledger_entries": counts["ledger"],
                           "evidence_files": args.files, "store_bytes": db.stat().st_size,
                           "uptime": os.popen("uptime").read().strip(), "cpus": os.cpu_count(), "rounds": []}
    for r in range(args.rounds):
        out = work / f"backup{r}"
        c0, w0 = time.process_time(), time.perf_counter()
        with open_context(settings) as ctx:
            report = svc.backup(ctx, out=out, actor=ADMIN)
        w1, c1 = time.perf_counter(), time.process_time()
        check = svc.verify_backup(out)
        w2, c2 = time.perf_counter(), time.process_time()
        assert check.ok, check.problems
        plain = work / f"plain{r}"
        w3 = time.perf_counter()
        plain.mkdir()
        shutil.copyfile(db, plain / "crimelens.duckdb")
        shutil.copytree(Path(f"{db}.evidence"), plain / "evidence")
        w4 = time.perf_counter()
        row = {"backup_s": round(w1 - w0, 3), "backup_cpu_s": round(c1 - c0, 3), "verify_s": round(w2 - w1, 3),
               "verify_cpu_s": round(c2 - c1, 3), "plain_copy_s": round(w4 - w3, 3),
               "backup_store_bytes": report.store_bytes}
        res["rounds"].append(row)
        print(r, row, flush=True)
        shutil.rmtree(out)
        shutil.rmtree(plain)
    med = {k: statistics.median(x[k] for x in res["rounds"]) for k in res["rounds"][0]}
    res["median"] = med
    res["ratio_backup_to_plain_copy"] = round(med["backup_s"] / med["plain_copy_s"], 2)
    res["ratio_backup_and_verify_to_plain_copy"] = round((med["backup_s"] + med["verify_s"]) / med["plain_copy_s"], 2)
    res["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    res["uptime_after"] = os.popen("uptime").read().strip()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in res.items() if k != "rounds"}, indent=1))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
