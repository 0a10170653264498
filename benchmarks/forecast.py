"""Fit + predict times of every crimelens model beside its open_cp counterpart, at 2k, 8k, 32k events.

Usage::

    .venv/bin/python benchmarks/forecast.py [--opencp-python /work/opencp/venv/bin/python]

Training sets: the 2,000 / 8,000 / 32,000 most recent Chicago aggravated assaults
before 2018-01-01 (local), every model told to use all of them (windows widened),
forecasting the next 7 days on 150 m cells (crimelens: the 15,040 cells with an
incident in 2010-2017; open_cp: its own grid over the bounding box, masked for the
continuous KDE/SEPP predictions). Each crimelens time is the second of two runs
(the first includes numba's compilation, reported as ``cold``). The SEPP at 32k is
also run in a fresh process to record its peak resident memory. open_cp runs in its
own virtual environment (see benchmarks/forecast_opencp.py); without it, its
columns are empty. Also reads the whole-backtest wall time from
``results/forecast_backtest_chicago_agg_assault.json`` when present.

Writes ``benchmarks/results/forecast.json``. Never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forecast_backtest import setup, write_splits

from crimelens.domain import IncidentTable, TimeWindow
from crimelens.forecast import make_model

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = (2000, 8000, 32000)
WIDE: dict[str, dict[str, Any]] = {
    "naive": {"window_days": 1e6},
    "weighted": {"window_days": None},
    "retro": {"window_days": 1e6},
    "prospective": {"time_window_days": 1e6},
    "kde": {"window_days": 1e6},
    "etas": {"window_days": 1e6},
    "sepp": {"window_days": 1e6},
    "gbm": {},
}
COUNTERPART = {"naive": "naive", "retro": "retro", "prospective": "prospective", "kde": "kde",
               "etas": "etas", "sepp": "sepp"}
# open_cp runs skipped on purpose, with the reason (figures from issue 4's probe)
OPENCP_SKIP = {"sepp@8000": "not run: 531 s and 3.6 GB at 8k in issue 4's probe (about N^2.6)",
               "sepp@32000": "not run: cannot run at 32k in 24 GB (issue 4's probe)"}


def _train(incidents: IncidentTable, origin: Any, n: int) -> IncidentTable:
    t = incidents.t_days()
    order = np.argsort(t, kind="stable")
    t0 = (origin.to_pydatetime() - TimeWindow.starting("1970-01-01", days=1).start).total_seconds() / 86400
    before = order[t[order] < t0]
    return IncidentTable(incidents.frame.iloc[before[-n:]])


def sepp_memory(n: int) -> None:
    """Child process: fit + predict SEPP on n events; print seconds and peak RSS (MiB)."""
    incidents, area, origins, _ = setup("chicago_agg_assault", 150.0, 1)
    train = _train(incidents, origins[0], n)
    window = TimeWindow.starting(origins[0].to_pydatetime(), days=7)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    began, cpu0 = time.perf_counter(), time.process_time()
    make_model("sepp", area=area, **WIDE["sepp"]).fit(train).predict(window)
    secs, cpu = time.perf_counter() - began, time.process_time() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": secs, "cpu_seconds": cpu, "peak_rss_mib": peak, "rss_before_fit_mib": base}))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="crimelens vs open_cp fit+predict times")
    ap.add_argument("--opencp-python", default=os.environ.get("OPENCP_PYTHON", "/work/opencp/venv/bin/python"))
    ap.add_argument("--reuse-opencp", action="store_true",
                    help="reuse results/forecast_opencp_timing*.json from an earlier run instead of rerunning open_cp")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--sepp-memory", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.sepp_memory:
        sepp_memory(args.sepp_memory)
        return 0
    sizes = [int(v) for v in args.sizes.split(",")]
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    incidents, area, origins, _ = setup("chicago_agg_assault", 150.0, 1)
    window = TimeWindow.starting(origins[0].to_pydatetime(), days=7)
    ours: dict[str, Any] = {}
    for n in sizes:
        train = _train(incidents, origins[0], n)
        for name, extra in WIDE.items():
            times, cpus = [], []
            for _ in range(2):
                began, cpu0 = time.perf_counter(), time.process_time()
                make_model(name, area=area, **extra).fit(train).predict(window)
                times.append(time.perf_counter() - began)
                cpus.append(time.process_time() - cpu0)
            ours[f"{name}@{n}"] = {"seconds": times[1], "cpu_seconds": cpus[1], "cold_seconds": times[0]}
            print(f"crimelens {name}@{n}: {times[1]:.3f} s, cpu {cpus[1]:.3f} s (cold {times[0]:.2f} s)",
                  flush=True)
    mem = subprocess.run([sys.executable, __file__, "--sepp-memory", "32000"], capture_output=True, text=True)
    sepp32 = json.loads(mem.stdout.strip().splitlines()[-1]) if mem.returncode == 0 else {"error": mem.stderr[-500:]}
    print("sepp@32000 fresh process:", sepp32)
    theirs: dict[str, Any] = {}
    if args.reuse_opencp:
        for p in sorted(RESULTS.glob("forecast_opencp_timing*.json")):
            theirs.update(json.loads(p.read_text()))
    elif Path(args.opencp_python).exists():
        splits = Path("/tmp/forecast_timing_splits.npz")
        write_splits(splits, "chicago_agg_assault", incidents, area, origins, 7.0)
        out = RESULTS / "forecast_opencp_timing.json"
        cheap = "naive,retro,prospective,kde,etas"
        subprocess.run([args.opencp_python, str(Path(__file__).parent / "forecast_opencp.py"), "--splits",
                        str(splits), "--out", "/tmp", "--methods", cheap, "--timing",
                        ",".join(map(str, sizes)), "--timing-out", str(out)], check=False)
        subprocess.run([args.opencp_python, str(Path(__file__).parent / "forecast_opencp.py"), "--splits",
                        str(splits), "--out", "/tmp", "--methods", "sepp", "--timing", str(min(sizes)),
                        "--timing-out", str(out.with_name("forecast_opencp_timing_sepp.json"))], check=False)
        for p in (out, out.with_name("forecast_opencp_timing_sepp.json")):
            if p.exists():
                theirs.update(json.loads(p.read_text()))
    else:
        print("open_cp not installed (no --opencp-python); its columns stay empty")
    rows = []
    for name in WIDE:
        for n in sizes:
            key = f"{name}@{n}"
            row: dict[str, Any] = {"model": name, "n": n, "crimelens_s": ours[key]["seconds"],
                                   "crimelens_cold_s": ours[key]["cold_seconds"]}
            if name in COUNTERPART:
                ok = f"{COUNTERPART[name]}@{n}"
                row["crimelens_cpu_s"] = ours[key]["cpu_seconds"]
                if ok in theirs and "seconds" in theirs[ok]:
                    row["open_cp_s"] = theirs[ok]["seconds"]
                    row["open_cp_cpu_s"] = theirs[ok].get("cpu_seconds")
                    row["speedup"] = theirs[ok]["seconds"] / ours[key]["seconds"]
                    if theirs[ok].get("cpu_seconds"):
                        row["speedup_cpu"] = theirs[ok]["cpu_seconds"] / max(ours[key]["cpu_seconds"], 1e-6)
                else:
                    row["open_cp_s"] = None
                    row["note"] = theirs.get(ok, {}).get("error") or OPENCP_SKIP.get(ok, "not run")
            rows.append(row)
    bt_path = RESULTS / "forecast_backtest_chicago_agg_assault.json"
    bt = json.loads(bt_path.read_text()) if bt_path.exists() else {}
    out_doc = {
        "uptime_before": uptime_before,
        "uptime_after": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "nproc": os.cpu_count(),
        "rows": rows,
        "sepp_32k_fresh_process": sepp32,
        "whole_backtest": {k: bt.get(k) for k in ("crimelens_backtest_wall_seconds",
                                                  "crimelens_backtest_cpu_seconds", "uptime")},
    }
    (RESULTS / "forecast.json").write_text(json.dumps(out_doc, indent=1, default=float))
    for r in rows:
        sp = (f"{r['speedup']:.0f}x wall, {r.get('speedup_cpu', float('nan')):.0f}x cpu" if r.get("speedup")
              else r.get("note", ""))
        oc = f"{r['open_cp_s']:.2f}" if r.get("open_cp_s") else "-"
        print(f"{r['model']:12s} {r['n']:6d}  crimelens {r['crimelens_s']:.3f} s  open_cp {oc} s  {sp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
