"""Benchmark: feedback-loop simulations.

1. The issue's target: a 365-day simulation with a daily refit on 5,000 cells
   (planted city of 50 x 100 cells), for each grid-native model (naive, kde, sepp) and
   the engine's default model through the adapter (``forecast:weighted``, general path);
   the target is < 60 s per run.
2. The Ensign et al. urn: 1,000 days x 1,000 runs, uncorrected / corrected / 20 % reports,
   against the paper's 0.704 / 0.582 / 0.645.
3. Oakland (Lum & Isaac 2016): 549 days, top-20 bins, without feedback, with feedback and
   with the IPW correction, for the grid SEPP (fast path) and, unless ``--skip-engine``,
   the forecasting engine's GridETAS refit daily through the adapter (general path).

Run: ``.venv/bin/python benchmarks/feedback.py [--skip-engine] [--figures DIR]``.
Writes ``benchmarks/results/feedback.json``. Never asserts; a person reads the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from crimelens.feedback import (
    ObservationModel,
    compare_feedback,
    ensign_urn,
    make_count_model,
    oakland_scenario,
    planted_city,
    plot_comparison,
    plot_urn,
    read_areas,
    simulate,
)
from crimelens.ingest import read_file

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CRIMELENS_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _uptime() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "n/a"


def bench_365(model: str) -> dict[str, Any]:
    city = planted_city(nx=100, ny=50, observation=ObservationModel(), k=100, random_state=0)
    m = make_count_model(model, grid=city.grid, crs=city.grid.crs if city.grid else None)
    simulate(city, m, days=2)  # compile / warm caches outside the timing
    t0 = time.perf_counter()
    run = simulate(city, m, days=365, random_state=0)
    secs = time.perf_counter() - t0
    return {"model": model, "n_cells": city.n_cells, "days": 365, "seconds": round(secs, 2),
            "target_seconds": 60.0, "ratio_to_target": round(secs / 60.0, 4),
            "cells_ever_flagged": run.cells_ever_flagged}


def bench_urn() -> dict[str, Any]:
    out: dict[str, Any] = {}
    paper = {"uncorrected": 0.704, "corrected (ipw)": 0.582, "uncorrected, 20% citizen reports": 0.645}
    t0 = time.perf_counter()
    for kw in ({}, {"correction": "ipw"}, {"reported_weight": 0.2}):
        r = ensign_urn(days=1000, n_runs=1000, random_state=0, **kw)  # type: ignore[arg-type]
        out[r.label] = {"final_share": round(r.final_share, 4), "se": round(r.final_share_se, 4),
                        "paper": paper[r.label], "difference": round(r.final_share - paper[r.label], 4)}
        out["_results"] = [*out.get("_results", []), r]
    out["seconds"] = round(time.perf_counter() - t0, 2)
    out["true_share"] = 0.5668
    return out


def bench_oakland(model: str, days: int = 549) -> dict[str, Any]:
    table = read_file(DATA / "oakland_drug_2010" / "drug_crimes_with_bins.csv", format="oakland_lum_isaac").table
    bins = read_areas(DATA / "oakland_drug_2010" / "oakland_grid.geojson", id_field="bin", crs=table.crs)
    scenario = oakland_scenario(table, bins)
    m = make_count_model(model, centres_m=scenario.centres_m, crs=table.crs, origin="2010-01-02")
    t0 = time.perf_counter()
    comp = compare_feedback(scenario, m, days=days, correction="ipw", random_state=0)
    secs = time.perf_counter() - t0
    runs = {r.label: {"share_to_initial_top20": round(r.share_to_initial_flags, 4),
                      "bins_ever_flagged": r.cells_ever_flagged, "gini": round(r.gini, 4),
                      "discovered_to_reported": round(r.discovered_to_reported, 4)} for r in comp.runs}
    return {"model": model, "days": days, "seconds_three_runs": round(secs, 2), "runs": runs,
            "concentration_ratio": round(comp.concentration_ratio, 4), "_comparison": comp}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-engine", action="store_true", help="Skip the engine's GridETAS Oakland run.")
    parser.add_argument("--figures", type=Path, default=None, help="Write the PNG figures here.")
    args = parser.parse_args()
    result: dict[str, Any] = {"machine": platform.platform(), "cpus": os.cpu_count(), "loadavg_start": _uptime()}
    speed_models = ["naive", "kde", "sepp"] + ([] if args.skip_engine else ["forecast:weighted"])
    result["sim_365_days_5000_cells"] = [bench_365(m) for m in speed_models]
    for r in result["sim_365_days_5000_cells"]:
        print(f"365 days x {r['n_cells']} cells, {r['model']}: {r['seconds']} s (target 60 s)")
    urn = bench_urn()
    urns = urn.pop("_results")
    result["ensign_urn"] = urn
    for label, v in urn.items():
        if isinstance(v, dict):
            print(f"urn {label}: {v['final_share']} (paper {v['paper']})")
    oak = [bench_oakland("sepp")]
    failed: list[dict[str, Any]] = []
    if not args.skip_engine:
        for engine_model in ("forecast:etas", "forecast:kde"):
            try:
                oak.append(bench_oakland(engine_model))
            except Exception as exc:  # an engine model failing mid-run is a finding, not a crash
                failed.append({"model": engine_model, "error": f"{type(exc).__name__}: {exc}"})
                print(f"oakland {engine_model}: failed: {exc}")
    comps = [o.pop("_comparison") for o in oak]
    result["oakland"] = oak
    result["oakland_failed"] = failed
    for o in oak:
        print(f"oakland {o['model']}: {o['seconds_three_runs']} s; " + "; ".join(
            f"{k}: top-20 share {v['share_to_initial_top20']}, bins ever {v['bins_ever_flagged']}"
            for k, v in o["runs"].items()))
    if args.figures is not None:
        plot_urn(urns, args.figures / "ensign_urn.png")
        for o, c in zip(oak, comps, strict=True):
            plot_comparison(c, args.figures / f"oakland_{o['model'].replace(':', '_')}.png")
    result["loadavg_end"] = _uptime()
    out = ROOT / "benchmarks" / "results" / "feedback.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
