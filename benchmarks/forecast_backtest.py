"""Weekly rolling-origin backtests of every crimelens model, beside open_cp and the ceiling.

Usage (from the repository root)::

    .venv/bin/python benchmarks/forecast_backtest.py --dataset chicago_agg_assault \
        --write-splits /tmp/splits_chicago.npz            # 1. splits for open_cp
    /work/opencp/venv/bin/python benchmarks/forecast_opencp.py \
        --splits /tmp/splits_chicago.npz --out /work/opencp/out   # 2. open_cp (own venv)
    .venv/bin/python benchmarks/forecast_backtest.py --dataset chicago_agg_assault \
        --opencp /work/opencp/out                          # 3. crimelens + scoring of both

Study areas (stated in the JSON): 150 m cells in the data's UTM zone, masked to the
cells with at least one incident before the first origin (Chicago: 2010-2017,
15,040 cells). Origins are local midnights, one week apart; each model is fitted on
the incidents before its origin only. Scores: hit rate, PAI and PEI with tied cells
split pro rata; 95 % bootstrap intervals over weeks; paired ratios over the same
weeks. The "gap closed" compares the best crimelens model with 2-year naive counts
and the perfect-rate ceiling at 1 % (each cell's mean rate over the test period and
an equal span before it, e.g. 2016-2019: the share of that rate in the top cells).

Also scores the NIJ challenge's smallest and largest flagged areas (0.25 and 0.75
sq mi: 28 and 86 cells of 150 m) with PAI, hit rate and PEI.

Writes ``benchmarks/results/forecast_backtest_<dataset>.json``. Never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forecast_data import load

from crimelens.domain import TimeWindow
from crimelens.domain._time import wall_clock_add
from crimelens.forecast import (
    DEFAULT_CURVE,
    MODELS,
    StudyArea,
    make_model,
    nij_coverages,
    rolling_origin,
)
from crimelens.forecast._backtest import BacktestResult, _score
from crimelens.forecast._base import days_since_epoch
from crimelens.forecast._metrics import KM2_PER_SQ_MI
from crimelens.services._context import count_records

RESULTS = Path(__file__).resolve().parent / "results"

CONFIG: dict[str, dict[str, Any]] = {
    "chicago_agg_assault": {"tz": "America/Chicago", "mask_from": "2010-01-01",
                            "start": "2018-01-01", "periods": 104},
    "vancouver_2020": {"tz": "America/Vancouver", "mask_from": "2020-01-01",
                       "start": "2020-07-06", "periods": 25},
    "cincinnati_burglary": {"tz": "America/New_York", "mask_from": "2016-01-01",
                            "start": "2018-01-01", "periods": 52},
}


def local_midnight(date: str, tz: str) -> pd.Timestamp:
    return pd.Timestamp(date).tz_localize(tz).tz_convert("UTC")


def setup(dataset: str, cell_m: float, periods: int | None,
          records: str = "incident") -> tuple[Any, StudyArea, list[pd.Timestamp], dict[str, Any]]:
    cfg = dict(CONFIG[dataset])
    if periods is not None:
        cfg["periods"] = periods
    # as `crimelens forecast backtest` counts: each incident once unless records="all" (Cincinnati's
    # export has a row per victim or offence; the other sets have no repeated ids and are unchanged)
    incidents, cfg["n_records_left_out"] = count_records(load(dataset), records)
    cfg["records"] = records
    start = local_midnight(cfg["start"], cfg["tz"])
    mask_period = TimeWindow(local_midnight(cfg["mask_from"], cfg["tz"]).to_pydatetime(),
                             start.to_pydatetime())
    area = StudyArea.from_activity(incidents, cell_m, period=mask_period)
    # weekly origins at local midnight (DST-aware)
    origins = [(pd.Timestamp(cfg["start"]) + pd.Timedelta(days=7 * k)).tz_localize(cfg["tz"]).tz_convert("UTC")
               for k in range(cfg["periods"])]
    return incidents, area, origins, cfg


def write_splits(path: Path, dataset: str, incidents: Any, area: StudyArea, origins: list[pd.Timestamp],
                 horizon: float) -> None:
    t = incidents.t_days(how="mid")
    order = np.argsort(t, kind="stable")
    g = area.grid
    assert g is not None
    np.savez(path, dataset=dataset, t=t[order], xy=incidents.xy_m[order], x0=g.x0, y0=g.y0,
             cell=g.cell_m, nx=g.nx, ny=g.ny, cell_ids=area.cell_ids,
             origins=np.array([days_since_epoch(o.to_pydatetime()) for o in origins]),
             horizon=horizon)


def backtest_per_origin(incidents: Any, models: dict[str, Any], area: StudyArea,
                        origins: list[pd.Timestamp], horizon: float, ceiling: bool, tz: str) -> BacktestResult:
    """Origins are local midnights (not evenly spaced in UTC across DST): pass them explicitly; each
    window ends at the local midnight ``horizon`` days on (167 or 169 hours across a DST change)."""
    done = [0]

    def tick(k: int, n: int) -> None:
        if k % 10 == 0 or k == n:
            print(f"  {k}/{n} periods", flush=True)
        done[0] = k

    covs = sorted(set(DEFAULT_CURVE) | set(nij_coverages(area).values()))
    return rolling_origin(incidents, models, area=area, origins=[o.to_pydatetime() for o in origins],
                          horizon_days=horizon, coverages=covs, ceiling=ceiling, progress=tick, zone=tz)


def observed_counts(incidents: Any, area: StudyArea, origins: list[pd.Timestamp], horizon: float,
                    tz: str) -> np.ndarray:
    t = incidents.t_days(how="mid")
    cells = area.cell_of(incidents.xy_m)
    out = np.zeros((len(origins), area.n_cells))
    for p, o in enumerate(origins):
        t0 = days_since_epoch(o.to_pydatetime())
        t1 = days_since_epoch(wall_clock_add(o.to_pydatetime(), horizon, tz))  # the same windows as the backtest
        sel = (t >= t0) & (t < t1) & (cells >= 0)
        out[p] = np.bincount(cells[sel], minlength=area.n_cells)
    return out


def append_models(res: BacktestResult, names: list[str], intensities: list[np.ndarray],
                  observed: np.ndarray, seconds: list[np.ndarray], ties: str = "split") -> BacktestResult:
    n_new, periods, ncov = len(names), len(res.origins), len(res.coverages)
    arrs = {k: np.full((n_new, periods, ncov), np.nan) for k in ("hit_rate", "pai", "pei")}
    ll, br = np.full((n_new, periods), np.nan), np.full((n_new, periods), np.nan)
    for m, inten in enumerate(intensities):
        for p in range(periods):
            if inten[p] is None or not np.isfinite(inten[p]).all():
                continue
            _score(inten[p], observed[p], res.coverages, ties, m, p, arrs["hit_rate"], arrs["pai"],
                   arrs["pei"], ll, br)
    return BacktestResult(
        res.models + tuple(names), dict(res.params), res.origins, res.horizon_days, res.coverages,
        res.area, res.n_events,
        np.concatenate([res.hit_rate, arrs["hit_rate"]]), np.concatenate([res.pai, arrs["pai"]]),
        np.concatenate([res.pei, arrs["pei"]]), np.concatenate([res.loglik, ll]),
        np.concatenate([res.brier, br]), np.concatenate([res.seconds, np.vstack(seconds)]), ends=res.ends)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="crimelens weekly backtests beside open_cp")
    ap.add_argument("--dataset", default="chicago_agg_assault", choices=sorted(CONFIG))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--periods", type=int, default=None)
    ap.add_argument("--cell-m", type=float, default=150.0)
    ap.add_argument("--horizon", type=float, default=7.0)
    ap.add_argument("--write-splits", type=Path, default=None)
    ap.add_argument("--opencp", type=Path, default=None, help="folder of forecast_opencp.py outputs")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--records", default="incident", choices=("incident", "all"),
                    help="incident: each incident once, as the CLI counts (default); all: every record")
    ap.add_argument("--chosen", default=None,
                    help="the model chosen on validation weeks (forecast_validation.py): the comparisons "
                         "and the gap use it; default: the best crimelens model by 1 %% PAI here")
    args = ap.parse_args(argv)
    incidents, area, origins, cfg = setup(args.dataset, args.cell_m, args.periods, args.records)
    print(f"{args.dataset}: {len(incidents)} incidents; area {area.describe()}")
    if args.write_splits is not None:
        write_splits(args.write_splits, args.dataset, incidents, area, origins, args.horizon)
        print(f"splits written to {args.write_splits}")
        return 0
    names = [m for m in args.models.split(",") if m]
    models = {n: make_model(n) for n in names}
    began, cpu0 = time.perf_counter(), time.process_time()
    res = backtest_per_origin(incidents, models, area, origins, args.horizon, ceiling=True, tz=cfg["tz"])
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu0
    opencp_names: list[str] = []
    if args.opencp is not None and args.opencp.exists():
        obs = observed_counts(incidents, area, origins, args.horizon, cfg["tz"])
        for path in sorted(args.opencp.glob(f"{args.dataset}_*.npz")):
            d = np.load(path)
            if d["intensity"].shape != (len(origins), area.n_cells):
                continue
            inten = [d["intensity"][p].astype(np.float64) if d["done"][p] else None for p in range(len(origins))]
            name = "open_cp:" + path.stem[len(args.dataset) + 1:]
            res = append_models(res, [name], [inten], obs, [d["seconds"]])
            opencp_names.append(name)
    covs = list(DEFAULT_CURVE)
    summary = res.summary(covs)
    for m in res.models:
        i = res.models.index(m)
        pai = res.pai[i, :, 0]
        summary["models"][m]["n_periods_scored"] = int(np.isfinite(pai).sum())
    best_here = max(names, key=lambda m: res.mean(m, "pai", 0.01)[0])
    best = args.chosen if args.chosen in names else best_here
    comparisons: dict[str, Any] = {"best_crimelens": best, "best_by_1pct_pai_on_these_weeks": best_here,
                                   "chosen_on_validation": args.chosen, "paired": {}}
    rivals = ["naive", *opencp_names]
    for rival in rivals:
        if rival == best or rival not in res.models:
            continue
        comparisons["paired"][f"{best} / {rival}"] = {
            f"{c:g}": dict(zip(("ratio", "low", "high"), res.paired(best, rival, "pai", c), strict=True))
            for c in covs}
    comparisons["paired_vs_naive"] = {
        m: {f"{c:g}": dict(zip(("ratio", "low", "high"), res.paired(m, "naive", "pai", c), strict=True))
            for c in covs}
        for m in names if m != "naive" and "naive" in names}
    if opencp_names:
        full = [n for n in opencp_names if summary["models"][n]["n_periods_scored"] == len(origins)]
        pool = full or opencp_names
        best_oc = max(pool, key=lambda m: res.mean(m, "pai", 0.01)[0])
        comparisons["best_open_cp"] = best_oc
        comparisons["best_vs_best_open_cp_every_coverage"] = {
            f"{c:g}": {"crimelens": res.mean(best, "pai", c)[0], "open_cp": res.mean(best_oc, "pai", c)[0]}
            for c in covs}
    nij: dict[str, Any] = {}
    for sq_mi, c in nij_coverages(area).items():
        nij[f"{sq_mi:g} sq mi"] = {
            "km2": sq_mi * KM2_PER_SQ_MI, "coverage": c, "n_flagged": round(c * area.n_cells),
            "models": {m: {metric: dict(zip(("mean", "low", "high"), res.mean(m, metric, c), strict=True))
                           for metric in ("pai", "hit_rate", "pei")} for m in res.models},
            "paired_vs_naive": {m: dict(zip(("ratio", "low", "high"), res.paired(m, "naive", "pai", c), strict=True))
                                for m in names if m != "naive" and "naive" in names}}
    naive1 = res.mean("naive", "pai", 0.01)[0] if "naive" in res.models else float("nan")
    ceil1 = res.mean("ceiling:perfect-rate", "pai", 0.01)[0]
    best1 = res.mean(best, "pai", 0.01)[0]
    comparisons["gap_closed_at_1pct"] = {
        "naive_2y": naive1, "ceiling_perfect_rate": ceil1, "best": best1,
        "fraction_closed": (best1 - naive1) / (ceil1 - naive1) if ceil1 != naive1 else float("nan"),
        "per_model": {m: (res.mean(m, "pai", 0.01)[0] - naive1) / (ceil1 - naive1) if ceil1 != naive1
                      else float("nan") for m in names}}
    out = {
        "dataset": args.dataset, "config": cfg, "cell_m": args.cell_m, "horizon_days": args.horizon,
        "n_incidents": len(incidents), "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "crimelens_backtest_wall_seconds": wall, "crimelens_backtest_cpu_seconds": cpu,
        "nproc": os.cpu_count(),
        "seconds_per_model": {m: float(np.nansum(res.seconds[res.models.index(m)])) for m in names},
        "summary": summary, "comparisons": comparisons,
        "nij_flagged_areas": nij,
    }
    path = args.out or RESULTS / f"forecast_backtest_{args.dataset}.json"
    path.write_text(json.dumps(out, indent=1, default=float))
    print(f"wall {wall:.1f} s for {len(names)} models x {len(origins)} periods; written {path}")
    for m in res.models:
        line = [f"{m:22s}"]
        for c in (0.01, 0.05, 0.2):
            mean, lo, hi = res.mean(m, "pai", c)
            line.append(f"PAI@{c:g} {mean:6.3f} [{lo:.3f},{hi:.3f}]")
        line.append(f"PEI@0.01 {res.mean(m, 'pei', 0.01)[0]:.3f}")
        print("  ".join(line))
    print(json.dumps(comparisons, indent=1, default=float))
    for label, entry in nij.items():
        print(f"NIJ {label} ({entry['km2']:.4f} km², {entry['n_flagged']} cells): " + "  ".join(
            f"{m} PAI {v['pai']['mean']:.2f} PEI {v['pei']['mean']:.3f}" for m, v in entry["models"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
