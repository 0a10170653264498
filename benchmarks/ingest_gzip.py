"""What the whole-stream gzip check costs a .gz ingest (read, validate, project; no store write).

Before a .gz file's rows are read, its stream is decompressed once in full (`check_gzip`) so that
a cut or damaged download is refused whole. This measures, side by side in one process, reading
Chicago's aggravated assaults (1.4 MB gzip, 148,636 rows) with the check and with it switched off,
alternating, and the check alone. Medians of --repeat runs; the ratio is with ÷ without.

Usage: python benchmarks/ingest_gzip.py [--repeat 7] [--out benchmarks/results/ingest_gzip.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "chicago_agg_assault" / "chicago_aggravated_assaults.csv.gz"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ingest_gzip.json")
    args = ap.parse_args()

    import crimelens.ingest._read as read_mod
    from crimelens.ingest import read_file

    check = read_mod.check_gzip
    read_file(DATA)  # warm: imports, layout tables, the file in the page cache
    timings: dict[str, list[float]] = {"with_check": [], "without_check": [], "check_alone": []}
    for _ in range(args.repeat):
        for variant in ("with_check", "without_check"):
            read_mod.check_gzip = check if variant == "with_check" else (lambda path: None)
            t0 = time.perf_counter()
            result = read_file(DATA)
            timings[variant].append(time.perf_counter() - t0)
            assert result.n_read == 148_636
        read_mod.check_gzip = check
        t0 = time.perf_counter()
        check(DATA)
        timings["check_alone"].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in timings.items()}
    doc = {
        "file": DATA.name, "bytes": DATA.stat().st_size, "rows": 148_636, "repeat": args.repeat,
        "median_s": {k: round(v, 4) for k, v in med.items()},
        "all_s": {k: [round(x, 4) for x in v] for k, v in timings.items()},
        "ratio_with_over_without": round(med["with_check"] / med["without_check"], 3),
        "load_average": os.getloadavg(), "cpus": os.cpu_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
