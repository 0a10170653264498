"""Ingest throughput: 1,000,000 synthetic rows from CSV through validation and projection into DuckDB.

Target (issue 2): >= 300,000 rows/s on the 2-core machine with peak RSS < 2 GiB.
Each run is a fresh process (so peak RSS is the run's own) ingesting into a fresh store.
Usage: python benchmarks/ingest.py [--rows 1000000] [--repeat 3] [--variants both|full|lean]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "bench"


def make_csv(rows: int, *, lean: bool = False) -> Path:
    """A canonical CSV written by the synthetic city at the scale that gives ``rows`` incidents.

    ``lean`` drops the free-text narrative (about 60 % of the bytes), which is closer to a
    typical records-system export of coded fields.
    """
    out = WORK / f"synth_{rows}{'_lean' if lean else ''}.csv"
    if out.exists():
        return out
    if lean:
        import pyarrow.csv as pacsv

        full = pacsv.read_csv(make_csv(rows))
        pacsv.write_csv(full.drop_columns(["narrative"]), out)
        return out
    import numpy as np

    from crimelens.ingest import write_canonical
    from crimelens.synth import SyntheticCity

    scale = rows / 25_000
    city = SyntheticCity(seed=11, days=365, scale=scale).generate()
    table = city.incidents
    if len(table) > rows:
        table = table.select(mask=np.arange(len(table)) < rows)
    WORK.mkdir(parents=True, exist_ok=True)
    write_canonical(table, out)
    return out


def one_run(csv: Path, db: Path) -> dict[str, float]:
    code = (
        "import json, time, resource\n"
        "from crimelens.config import Settings\n"
        "from crimelens.governance import Actor\n"
        "from crimelens.services import open_context\n"
        "import crimelens.ingest._api as api\n"
        "import crimelens.services.ingest as svc\n"
        "phases = {}\n"
        "def timed(mod, name, label):\n"  # wall and process CPU seconds per phase (CPU counts every thread)
        "    f = getattr(mod, name)\n"
        "    def g(*a, **k):\n"
        "        w, c = time.perf_counter(), time.process_time()\n"
        "        try:\n"
        "            return f(*a, **k)\n"
        "        finally:\n"
        "            phases[label] = [round(time.perf_counter() - w, 3), round(time.process_time() - c, 3)]\n"
        "    setattr(mod, name, g)\n"
        "timed(svc, 'file_digest', 'digest'); timed(api, 'read_raw', 'parse'); timed(api, 'validate', 'validate')\n"
        "timed(svc, 'insert_validated', 'insert')\n"
        f"t0 = time.perf_counter()\n"
        "c0 = time.process_time()\n"
        f"with open_context(Settings(db={str(db)!r})) as ctx:\n"
        f"    s = svc.ingest_file(ctx, {str(csv)!r}, actor=Actor('bench'), dataset='bench')\n"
        "dt = time.perf_counter() - t0\n"
        "cpu = time.process_time() - c0\n"
        "print(json.dumps({'seconds': dt, 'cpu_seconds': cpu, 'landed': s.n_landed, 'quarantined': s.n_quarantined, 'read': s.n_read,"
        " 'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'phases': phases}))\n"
    )
    for suffix in ("", ".wal"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--variants", choices=["both", "full", "lean"], default="both",
                        help="full: the canonical CSV with narratives (the issue's figure); lean: without them")
    args = parser.parse_args()
    leans = {"both": (False, True), "full": (False,), "lean": (True,)}[args.variants]
    results = [measure(make_csv(args.rows, lean=lean), args.repeat, "lean (no narrative)" if lean else "full")
               for lean in leans]
    (ROOT / "benchmarks" / "results" / "ingest.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


def measure(csv: Path, repeat: int, variant: str) -> dict[str, object]:
    runs = [one_run(csv, WORK / "bench.duckdb") for _ in range(repeat)]
    secs = statistics.median(r["seconds"] for r in runs)
    rows = runs[0]["read"]
    return {
        "benchmark": "ingest",
        "variant": variant,
        "rows": rows,
        "csv_mib": round(csv.stat().st_size / 2**20, 1),
        "runs_seconds": [round(r["seconds"], 3) for r in runs],
        "runs_cpu_seconds": [round(r["cpu_seconds"], 3) for r in runs],
        "median_cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in runs), 3),
        # per phase: [wall s, process CPU s] of the median run (digest = SHA-256 + line count,
        # parse = Arrow CSV read, validate = checks + projection + M.O. JSON, insert = DuckDB insert)
        "median_run_phases": sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]["phases"],
        "median_seconds": round(secs, 3),
        "rows_per_second": round(rows / secs),
        "target_rows_per_second": 300_000,
        "peak_rss_mib": round(max(r["peak_rss_mib"] for r in runs), 1),
        "target_peak_rss_mib": 2048,
        "landed": runs[0]["landed"],
        "quarantined": runs[0]["quarantined"],
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "commit": _commit(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _commit() -> str:
    """The code measured: CRIMELENS_BENCH_COMMIT if set (a snapshot on PYTHONPATH), else the checkout's HEAD."""
    if os.environ.get("CRIMELENS_BENCH_COMMIT"):
        return os.environ["CRIMELENS_BENCH_COMMIT"]
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip()


if __name__ == "__main__":
    main()
