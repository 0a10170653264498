"""Knox / near-repeat benchmark: 999 permutations on 50,000 real events.

Events: the most recent 50,000 Chicago aggravated assaults (``../shared/data/chicago_agg_assault``),
read and projected to metres (EPSG:32616) by ``crimelens.ingest.read_file``. Bands: 100, 200,
300 m (Manhattan) x 7, 14, 21, 30 days. Target (DESIGN.md): < 60 s on 2 cores. For comparison
the Near Repeat Calculator is documented to break above about 10,000 points.

Also times the two Near Repeat Calculator reference runs (970 and 522 events).

    .venv/bin/python benchmarks/knox.py [--events 50000] [--permutations 999] [--conventions standard,nrc]

Prints the figures and writes ``benchmarks/results/knox.json``. Never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "2")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CRIMELENS_SHARED_DATA", ROOT.parent / "shared" / "data"))


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--permutations", type=int, default=999)
    ap.add_argument("--conventions", default="standard,nrc")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scaling", default="", help="extra event counts to time (nrc convention), e.g. 10000,148636")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "knox.json")
    args = ap.parse_args(argv)

    import numba

    from crimelens.ingest import read_file
    from crimelens.nearrepeat import knox_test, read_xyt_csv

    started = uptime()
    t0 = time.perf_counter()
    res = read_file(DATA / "chicago_agg_assault" / "chicago_aggravated_assaults.csv.gz")
    everything = res.table.sorted_by_time()
    all_xy, all_t = everything.xy_m, everything.t_days(how="mid")
    n = min(args.events, len(everything))
    keep = np.zeros(len(everything), dtype=bool)
    keep[len(everything) - n :] = True
    table = everything.select(mask=keep)
    xy = table.xy_m
    t = table.t_days(how="mid")
    read_s = time.perf_counter() - t0
    span = (str(table.frame["occurred_from"].min())[:10], str(table.frame["occurred_from"].max())[:10])

    # compile (or load from numba's cache) the kernels on a tiny input first; reported apart
    t0 = time.perf_counter()
    for conv in ("standard", "nrc"):
        knox_test(xy[:200], t[:200], convention=conv, n_permutations=3, seed=0)
        knox_test(xy[:200], np.floor(t[:200]), convention=conv, n_permutations=3, seed=0)
    warm_s = time.perf_counter() - t0

    runs = []
    for conv in [c for c in args.conventions.split(",") if c]:
        t0 = time.perf_counter()
        r = knox_test(xy, t, space_bands=[100, 200, 300], time_bands=[7, 14, 21, 30],
                      distance="manhattan", convention=conv, n_permutations=args.permutations,
                      seed=args.seed, keep_simulations=False)
        wall = time.perf_counter() - t0
        runs.append({
            "convention": conv, "time_resolution": r.time_resolution, "n_events": r.n_events,
            "n_pairs": r.n_pairs, "n_close_pairs": r.n_close_pairs, "permutations": r.n_permutations,
            "seconds": round(wall, 2), "pair_tallies_per_second": round(r.n_close_pairs * (r.n_permutations + 1) / wall),
            "knox_ratio_0_7d_first_band": round(float(r.ratio[0, 0]), 3),
            "p_value_0_7d_first_band": float(r.p_value[0, 0]),
            "target_seconds": 60.0, "ratio_to_target": round(wall / 60.0, 3),
        })
        print(f"{conv:9s} {r.n_events:,} events, {r.n_close_pairs:,} pairs within 300 m, "
              f"{r.n_permutations} permutations: {wall:.1f} s (target < 60 s: {wall / 60:.2f} of it)")

    scaling = []
    for size in [int(v) for v in args.scaling.split(",") if v]:
        m = min(size, len(all_t))
        t0 = time.perf_counter()
        r = knox_test(all_xy[-m:], all_t[-m:], space_bands=[100, 200, 300], time_bands=[7, 14, 21, 30],
                      convention="nrc", n_permutations=args.permutations, seed=args.seed,
                      keep_simulations=False)
        wall = time.perf_counter() - t0
        scaling.append({"n_events": m, "n_close_pairs": r.n_close_pairs, "seconds": round(wall, 2)})
        print(f"scaling   {m:,} events, {r.n_close_pairs:,} pairs within 300 m: {wall:.1f} s")

    nrc = []
    for stem, sb, tb in (("chicago_be_month1", [100, 200, 300], [7, 14, 21]),
                         ("chicago_arson", [200, 400, 600], [1, 2, 3])):
        f = read_xyt_csv(DATA / "knox_reference" / f"{stem}.csv")
        t0 = time.perf_counter()
        r = knox_test(f.xy, f.day.astype(float), space_bands=sb, time_bands=tb, convention="nrc",
                      n_permutations=999, seed=1)
        nrc.append({"file": stem, "n_events": len(f), "permutations": 999,
                    "seconds": round(time.perf_counter() - t0, 3)})
        print(f"NRC reference {stem}: {len(f)} events, 999 permutations: {nrc[-1]['seconds']:.2f} s")

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    doc = {
        "benchmark": "knox", "data": "chicago_agg_assault (most recent events)", "span": span,
        "read_seconds": round(read_s, 2), "compile_or_cache_seconds": round(warm_s, 2),
        "space_bands_m": [100, 200, 300], "time_bands_days": [7, 14, 21, 30], "distance": "manhattan",
        "runs": runs, "scaling_nrc": scaling, "nrc_reference_runs": nrc, "peak_rss_mib": round(peak_mib, 1),
        "numba_threads": numba.get_num_threads(), "cpu_count": os.cpu_count(),
        "nrc_documented_limit_events": 10_000,
        "uptime_before": started, "uptime_after": uptime(),
        "python": sys.version.split()[0], "machine": platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"peak RSS {peak_mib:.0f} MiB · numba threads {doc['numba_threads']} · {started}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
