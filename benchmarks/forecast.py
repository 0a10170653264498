"""Fit + predict times of every crimelens model beside its open_cp counterpart, at 2k, 8k, 32k events.

Usage::

    .venv/bin/python benchmarks/forecast.py [--opencp-python /work/opencp/venv/bin/python]

Training sets: the 2,000 / 8,000 / 32,000 most recent Chicago aggravated assaults
before 2018-01-01 (local), every model told to use all of them (windows widened),
forecasting the next 7 days on 150 m cells (crimelens: the 15,040 cells with an
incident in 2010-2017; open_cp: its own grid over the bounding box, masked for the
continuous KDE/SEPP predictions). Both sides start from the same event arrays
(times in days, x, y in metres): open_cp builds its ``TimedPoints``, crimelens calls
``fit_events``; the crimelens path from an ``IncidentTable`` (``fit``) is timed too.
Every time is the median over repeated runs: one run, then repeats until
``--budget`` seconds (default 1) have passed (crimelens: at least 3 repeats, after a
first ``cold`` run that includes numba's compilation). Speed-ups are the ratios of
the medians, in wall and in CPU seconds; crimelens is timed before and after
open_cp and its slower median is the one compared. The SEPP at 32k is
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
import statistics
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


def _repeat(fn: Any, budget_s: float, max_reps: int = 500) -> dict[str, Any]:
    """Run ``fn`` once (cold: numba compilation, imports), then until ``budget_s`` seconds of runs.

    Medians of wall and CPU seconds over the repeated runs (at least 3), as the
    open_cp side measures (benchmarks/forecast_opencp.py ``timing``).
    """
    began, cpu0 = time.perf_counter(), time.process_time()
    fn()
    first, first_cpu = time.perf_counter() - began, time.process_time() - cpu0
    walls: list[float] = []
    cpus: list[float] = []
    began_all = time.perf_counter()
    while len(walls) < 3 or (time.perf_counter() - began_all < budget_s and len(walls) < max_reps):
        began, cpu0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - began)
        cpus.append(time.process_time() - cpu0)
    return {"seconds": statistics.median(walls), "cpu_seconds": statistics.median(cpus),
            "first_seconds": first, "first_cpu_seconds": first_cpu, "runs": len(walls)}


def _time_ours(incidents: IncidentTable, area: Any, origins: Any, window: TimeWindow, sizes: list[int],
               budget: float, label: str = "") -> dict[str, Any]:
    ours: dict[str, Any] = {}
    for n in sizes:
        train = _train(incidents, origins[0], n)
        t_days, xy_m = train.t_days(how="mid"), train.xy_m
        for name, extra in WIDE.items():
            def from_arrays(name: str = name, extra: dict[str, Any] = extra, t_days: Any = t_days,
                            xy_m: Any = xy_m) -> None:
                make_model(name, area=area, **extra).fit_events(t_days, xy_m).predict(window)

            def from_table(name: str = name, extra: dict[str, Any] = extra, train: Any = train) -> None:
                make_model(name, area=area, **extra).fit(train).predict(window)

            arrays = _repeat(from_arrays, budget)
            table = _repeat(from_table, budget)
            ours[f"{name}@{n}"] = {"seconds": arrays["seconds"], "cpu_seconds": arrays["cpu_seconds"],
                                   "cold_seconds": arrays["first_seconds"], "runs": arrays["runs"],
                                   "table_seconds": table["seconds"], "table_cpu_seconds": table["cpu_seconds"],
                                   "table_runs": table["runs"]}
            print(f"crimelens{label} {name}@{n}: {arrays['seconds'] * 1e3:.3f} ms, cpu {arrays['cpu_seconds'] * 1e3:.3f} ms"
                  f" median of {arrays['runs']} (cold {arrays['first_seconds']:.3f} s); from the table "
                  f"{table['seconds'] * 1e3:.3f} ms, cpu {table['cpu_seconds'] * 1e3:.3f} ms", flush=True)
    return ours


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
    ap.add_argument("--budget", type=float, default=1.0,
                    help="seconds of repeated runs per model and size (medians; both sides)")
    ap.add_argument("--sepp-memory", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.sepp_memory:
        sepp_memory(args.sepp_memory)
        return 0
    sizes = [int(v) for v in args.sizes.split(",")]
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    incidents, area, origins, _ = setup("chicago_agg_assault", 150.0, 1)
    window = TimeWindow.starting(origins[0].to_pydatetime(), days=7)
    ours = _time_ours(incidents, area, origins, window, sizes, args.budget)
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
                        ",".join(map(str, sizes)), "--timing-out", str(out),
                        "--timing-budget", str(args.budget)], check=False)
        subprocess.run([args.opencp_python, str(Path(__file__).parent / "forecast_opencp.py"), "--splits",
                        str(splits), "--out", "/tmp", "--methods", "sepp", "--timing", str(min(sizes)),
                        "--timing-out", str(out.with_name("forecast_opencp_timing_sepp.json")),
                        "--timing-budget", str(args.budget)], check=False)
        for p in (out, out.with_name("forecast_opencp_timing_sepp.json")):
            if p.exists():
                theirs.update(json.loads(p.read_text()))
    else:
        print("open_cp not installed (no --opencp-python); its columns stay empty")
    if theirs and not args.reuse_opencp:
        # time crimelens again after open_cp, and keep the slower of the two medians: both sides
        # then bracket the same stretch of a shared, noisy machine
        again = _time_ours(incidents, area, origins, window, sizes, args.budget, label=" (after open_cp)")
        for key, first in ours.items():
            second = again[key]
            for k in ("seconds", "cpu_seconds", "table_seconds", "table_cpu_seconds"):
                first[f"{k}_before_open_cp"], first[f"{k}_after_open_cp"] = first[k], second[k]
                first[k] = max(first[k], second[k])
    rows = []
    for name in WIDE:
        for n in sizes:
            key = f"{name}@{n}"
            o = ours[key]
            row: dict[str, Any] = {"model": name, "n": n, "crimelens_s": o["seconds"],
                                   "crimelens_cpu_s": o["cpu_seconds"], "crimelens_cold_s": o["cold_seconds"],
                                   "crimelens_runs": o["runs"], "crimelens_table_s": o["table_seconds"],
                                   "crimelens_table_cpu_s": o["table_cpu_seconds"]}
            if name in COUNTERPART:
                ok = f"{COUNTERPART[name]}@{n}"
                if ok in theirs and "seconds" in theirs[ok]:
                    th = theirs[ok]
                    row.update({"open_cp_s": th["seconds"], "open_cp_cpu_s": th.get("cpu_seconds"),
                                "open_cp_runs": th.get("runs", 1), "open_cp_first_s": th.get("first_seconds"),
                                "speedup": th["seconds"] / o["seconds"],
                                "speedup_table": th["seconds"] / o["table_seconds"]})
                    if th.get("cpu_seconds"):
                        row["speedup_cpu"] = th["cpu_seconds"] / max(o["cpu_seconds"], 1e-9)
                        row["speedup_table_cpu"] = th["cpu_seconds"] / max(o["table_cpu_seconds"], 1e-9)
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
        "method": ("fit + predict of one 7-day forecast; medians over repeated runs (each side runs a "
                   "method once, then repeats it until --budget seconds have passed, at least 3 runs "
                   "for crimelens); both sides start from the same event arrays (t, x, y): open_cp "
                   "builds its TimedPoints, crimelens calls fit_events; crimelens_table_* start from "
                   "an IncidentTable (fit); speedups are open_cp / crimelens. crimelens is timed before "
                   "and after open_cp and the slower median of the two is used"),
        "rows": rows,
        "sepp_32k_fresh_process": sepp32,
        "whole_backtest": {k: bt.get(k) for k in ("crimelens_backtest_wall_seconds",
                                                  "crimelens_backtest_cpu_seconds", "uptime")},
    }
    (RESULTS / "forecast.json").write_text(json.dumps(out_doc, indent=1, default=float))
    for r in rows:
        sp = (f"{r['speedup']:.0f}x wall, {r.get('speedup_cpu', float('nan')):.0f}x cpu "
              f"(from the table {r['speedup_table']:.0f}x, {r.get('speedup_table_cpu', float('nan')):.0f}x)"
              if r.get("speedup") else r.get("note", ""))
        oc = f"{r['open_cp_s']:.4f}" if r.get("open_cp_s") else "-"
        print(f"{r['model']:12s} {r['n']:6d}  crimelens {r['crimelens_s']:.5f} s  open_cp {oc} s  {sp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
