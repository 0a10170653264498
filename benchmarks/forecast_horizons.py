"""Shorter horizons: next-day (or next-shift) forecasts beside the weekly ones.

Usage (from the repository root)::

    .venv/bin/python benchmarks/forecast_horizons.py --dataset chicago_agg_assault --split validation
    .venv/bin/python benchmarks/forecast_horizons.py --dataset chicago_agg_assault --split test
    .venv/bin/python benchmarks/forecast_horizons.py --dataset portland_nij_2016 --split test

Issue 4 names shorter horizons as a place where more signal may be than at 7
days: a self-exciting term (ETAS, SEPP) or a near-repeat feature should matter
more the sooner the forecast window closes. This runs every model as a rolling
origin backtest with one forecast per ``--horizon`` (days; default 1, local
midnights, DST-aware; ``--horizon 8h`` gives three 8-hour shifts a day
from midnight, ``--first-hour`` moves them; ``--day-step 7`` forecasts every
7th day only), each fitted on the incidents before its origin,
on the same study areas as ``forecast_backtest.py``. Splits:

* ``validation``: the year before the test period (Chicago 2017, Cincinnati
  2017), area from the incidents before it; variants are chosen here.
* ``test``: the periods of ``forecast_backtest.py`` (Chicago 2018-2019,
  Cincinnati 2018, Vancouver from 2020-07-06), and Portland's calls for
  service in September 2016 (the NIJ challenge's data: August is the history).

The boosted model is run twice: as ``forecast run`` fits it (trained on 7-day
targets, its forecast scaled to the window) and trained on targets of the
horizon itself; below a day, the time-weighted and boosted models are run with
and without the time of day (:mod:`crimelens.forecast._hours`; hours read on the dataset's
own clocks). The perfect-rate ceiling is measured as in the weekly
backtests. Writes ``benchmarks/results/forecast_horizons_<dataset>_<split>_<h>d.json``.
Never asserts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forecast_data import load

from crimelens.domain import TimeWindow
from crimelens.forecast import (
    MODELS,
    GradientBoostedCells,
    HotspotModel,
    StudyArea,
    make_model,
    rolling_origin,
)
from crimelens.services._context import count_records
from crimelens.services.forecasts import parse_horizon

RESULTS = Path(__file__).resolve().parent / "results"
COVERAGES = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)

# dataset: tz, and per split (area from, first origin, days covered)
CONFIG: dict[str, dict[str, Any]] = {
    "chicago_agg_assault": {"tz": "America/Chicago",
                            "validation": ("2010-01-01", "2017-01-01", 365),
                            "test": ("2010-01-01", "2018-01-01", 730)},
    "cincinnati_burglary": {"tz": "America/New_York",
                            "validation": ("2016-01-01", "2017-01-01", 365),
                            "test": ("2016-01-01", "2018-01-01", 365)},
    "vancouver_2020": {"tz": "America/Vancouver",
                       "test": ("2020-01-01", "2020-07-06", 175)},
    "portland_nij_2016": {"tz": "America/Los_Angeles",
                          "test": ("2016-08-01", "2016-09-01", 30)},
}


def local(stamp: pd.Timestamp, tz: str) -> Any:
    return stamp.tz_localize(tz, nonexistent="shift_forward", ambiguous=False).tz_convert("UTC").to_pydatetime()


def origins_for(first: str, days: int, horizon: float, first_hour: float, tz: str,
                day_step: int = 1) -> list[Any]:
    """Local wall-clock origins ``horizon`` days apart covering ``days`` days; with ``day_step``
    > 1 only the origins of every ``day_step``-th day (all of that day's shifts)."""
    n = round(days / horizon)
    base = pd.Timestamp(first) + pd.Timedelta(hours=first_hour)
    per_day = max(1, round(1.0 / horizon))
    return [local(base + pd.Timedelta(seconds=round(k * horizon * 86400.0)), tz) for k in range(n)
            if (k // per_day) % day_step == 0]


def models_for(names: list[str], horizon: float, *, variants: bool = True,
               zone: str | None = None) -> dict[str, HotspotModel]:
    """Every named model; the boosted model trained on 7-day and on ``horizon`` targets; below a
    day, the weighted and boosted models with and (``variants``) without the time of day, reading
    hours on the clocks of ``zone`` (the dataset's, as ``forecast backtest`` does)."""
    out: dict[str, HotspotModel] = {}
    for n in names:
        if n in ("weighted", "gbm") and horizon < 1.0:
            out[n] = make_model(n, timezone=zone)
            if variants:
                out[f"{n} (no time of day)"] = make_model(n, time_of_day=0.0, timezone=zone)
        elif n == "gbm":
            out["gbm (7-day trained)"] = GradientBoostedCells()
            out[f"gbm ({horizon:g}-day trained)"] = GradientBoostedCells(horizon_days=horizon)
        else:
            out[n] = make_model(n)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="rolling-origin backtests at short horizons")
    ap.add_argument("--dataset", default="chicago_agg_assault", choices=sorted(CONFIG))
    ap.add_argument("--split", default="test", choices=("validation", "test"))
    ap.add_argument("--horizon", type=parse_horizon, default=1.0, help="1d (default), 8h, 12h, 7d ...")
    ap.add_argument("--first-hour", type=float, default=0.0, help="local hour of the first origin")
    ap.add_argument("--days", type=int, default=None, help="days covered (default: the split's)")
    ap.add_argument("--day-step", type=int, default=1, help="forecast only every N-th day (all its shifts)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--per-period", type=Path, default=None, help="also write every period's PAI here")
    ap.add_argument("--records", default="incident", choices=("incident", "all"),
                    help="incident: each incident once, as the CLI counts (default); all: every record")
    ap.add_argument("--no-variants", action="store_true",
                    help="below a day, skip the weighted and gbm twins without the time of day")
    args = ap.parse_args(argv)
    cfg = CONFIG[args.dataset]
    if args.split not in cfg:
        ap.error(f"{args.dataset} has no {args.split} split (only {[k for k in cfg if k != 'tz']})")
    tz = cfg["tz"]
    mask_from, first, days = cfg[args.split]
    days = args.days or days
    incidents, n_left_out = count_records(load(args.dataset), args.records)  # only Cincinnati has ID#2 rows
    start = local(pd.Timestamp(first), tz)
    area = StudyArea.from_activity(incidents, 150.0, period=TimeWindow(local(pd.Timestamp(mask_from), tz), start))
    origins = origins_for(first, days, args.horizon, args.first_hour, tz, args.day_step)
    models = models_for([m for m in args.models.split(",") if m], args.horizon,
                        variants=not args.no_variants, zone=tz)
    print(f"{args.dataset} {args.split}: {len(incidents)} incidents, {len(origins)} origins of "
          f"{args.horizon:g} days from {origins[0]}; area {area.describe()}", flush=True)

    def tick(k: int, n: int) -> None:
        if k % 50 == 0 or k == n:
            print(f"  {k}/{n} periods ({time.perf_counter() - began:.0f} s)", flush=True)

    began, cpu0 = time.perf_counter(), time.process_time()
    res = rolling_origin(incidents, models, area=area, origins=origins, horizon_days=args.horizon,
                         coverages=COVERAGES, ceiling=True, progress=tick)
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu0
    names = [m for m in res.models if not m.startswith("ceiling")]
    out: dict[str, Any] = {
        "dataset": args.dataset, "split": args.split, "horizon_days": args.horizon,
        "first_origin_local": f"{first} {args.first_hour:g}:00 {tz}", "n_origins": len(origins),
        "day_step": args.day_step,
        "area": area.describe(), "n_incidents": len(incidents), "records": args.records,
        "n_records_left_out": n_left_out,
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "wall_seconds": wall, "cpu_seconds": cpu,
        "seconds_per_model": {m: float(res.seconds[res.models.index(m)].sum()) for m in names},
        "models": {}, "pei": {}, "hit_rate": {}, "paired_vs_naive": {}, "poisson_loglik": {},
    }
    for m in res.models:
        for metric, key in (("pai", "models"), ("pei", "pei"), ("hit_rate", "hit_rate")):
            if metric == "pei" and m.startswith("ceiling"):
                continue
            out[key][m] = {f"{c:g}": dict(zip(("mean", "low", "high"), res.mean(m, metric, c), strict=True))
                           for c in COVERAGES}
        if m != "naive" and "naive" in res.models:
            out["paired_vs_naive"][m] = {
                f"{c:g}": dict(zip(("ratio", "low", "high"), res.paired(m, "naive", "pai", c), strict=True))
                for c in COVERAGES}
        if not m.startswith("ceiling"):
            out["poisson_loglik"][m] = float(res.loglik[res.models.index(m)].mean())
    # each model against its own variant, over the same periods
    out["paired_variants"] = {}
    for a, b in (("weighted", "weighted (no time of day)"), ("gbm", "gbm (no time of day)"),
                 ("gbm (7-day trained)", f"gbm ({args.horizon:g}-day trained)"), ("gbm", "weighted")):
        if a in res.models and b in res.models:
            out["paired_variants"][f"{a} / {b}"] = {
                f"{c:g}": dict(zip(("ratio", "low", "high"), res.paired(a, b, "pai", c), strict=True))
                for c in COVERAGES}
    if args.per_period is not None:  # every period's PAI, for comparisons made later (large)
        args.per_period.write_text(json.dumps(
            {m: {f"{c:g}": [round(float(v), 5) for v in res.values(m, "pai", c)] for c in (0.01, 0.05)}
             for m in res.models}))
    step = f"_every{args.day_step}d" if args.day_step > 1 else ""
    span = f"{args.horizon:g}d" if args.horizon >= 1 else f"{args.horizon * 24:g}h"
    path = args.out or RESULTS / f"forecast_horizons_{args.dataset}_{args.split}_{span}{step}.json"
    path.write_text(json.dumps(out, indent=1, default=float))
    print(f"wall {wall:.0f} s, CPU {cpu:.0f} s; written {path}")
    print(f"{'model':28s} " + " ".join(f"PAI@{c:<6g}" for c in COVERAGES) + "  vs naive @1% / @5%")
    for m in res.models:
        line = f"{m:28s} " + " ".join(f"{res.mean(m, 'pai', c)[0]:9.3f}" for c in COVERAGES)
        if m in out["paired_vs_naive"]:
            p1, p5 = out["paired_vs_naive"][m]["0.01"], out["paired_vs_naive"][m]["0.05"]
            line += (f"  {p1['ratio']:.3f} [{p1['low']:.3f},{p1['high']:.3f}]"
                     f" / {p5['ratio']:.3f} [{p5['low']:.3f},{p5['high']:.3f}]")
        print(line, flush=True)
    for k, v in out["paired_variants"].items():
        print(f"{k}: " + "  ".join(f"@{c} {v[c]['ratio']:.3f} [{v[c]['low']:.3f}, {v[c]['high']:.3f}]"
                                   for c in ("0.01", "0.05")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
