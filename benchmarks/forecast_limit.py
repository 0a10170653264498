"""How much room is there above naive counts? Oracles that know the test period's own counts.

Usage (from the repository root)::

    .venv/bin/python benchmarks/forecast_limit.py [--dataset chicago_agg_assault]

Same study area, origins and scoring as ``forecast_backtest.py`` (ties split).
None of these is a forecast: each one reads the test period. They bound what a
forecaster of a cell's *constant* rate could reach:

* ``ceiling:perfect-rate`` (as in the backtest): each cell's mean count over the
  test period and an equal span before it, scored against itself;
* ``oracle: test-span rate``: each cell's count over the test period *without the
  week being scored*, scored on that week's recorded counts (likewise with the
  equal span before added);
* the same oracle ranked on ``n`` randomly drawn other test weeks, for several
  ``n``, and ``PAI(n) = a - b / n`` fitted to them: ``a`` is the extrapolated
  PAI of ranking by a rate known exactly (constant over the test period).

The ceiling scored against itself overstates what knowing a rate gives when the
rate is estimated from counts (the top cells of a noisy count are partly its
noise); the oracle with the test period's other weeks shows what even 103 weeks
of the period's own counts reach.

Writes ``benchmarks/results/forecast_limit_<dataset>.json``. Never asserts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forecast_backtest import CONFIG, observed_counts, setup

from crimelens.domain._time import wall_clock_add
from crimelens.forecast import bootstrap_interval, coverage_scores
from crimelens.forecast._base import days_since_epoch

RESULTS = Path(__file__).resolve().parent / "results"
COVERAGES = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)


def paired(a: np.ndarray, b: np.ndarray, n_boot: int = 2000) -> tuple[float, float, float]:
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(a), size=(n_boot, len(a)))
    r = a[idx].mean(1) / b[idx].mean(1)
    return float(a.mean() / b.mean()), float(np.quantile(r, 0.025)), float(np.quantile(r, 0.975))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="chicago_agg_assault", choices=sorted(CONFIG))
    ap.add_argument("--horizon", type=float, default=7.0)
    args = ap.parse_args(argv)
    incidents, area, origins, cfg = setup(args.dataset, 150.0, None)
    obs = observed_counts(incidents, area, origins, args.horizon, cfg["tz"])  # windows to the next local midnight
    periods = len(origins)
    t = incidents.t_days(how="mid")
    cells = area.cell_of(incidents.xy_m)
    t_first = days_since_epoch(origins[0].to_pydatetime())
    t_last = days_since_epoch(wall_clock_add(origins[-1].to_pydatetime(), args.horizon, cfg["tz"]))
    span = t_last - t_first
    before = np.bincount(cells[(t >= t_first - span) & (t < t_first) & (cells >= 0)],
                         minlength=area.n_cells).astype(float)
    test_total = obs.sum(axis=0)

    def score(rank: np.ndarray) -> np.ndarray:
        return np.array([coverage_scores(rank[p], obs[p], COVERAGES)["pai"] for p in range(periods)])

    naive = np.array([np.bincount(cells[(t >= o - 730) & (t < o) & (cells >= 0)], minlength=area.n_cells)
                      for o in (days_since_epoch(x.to_pydatetime()) for x in origins)], dtype=float)
    rows: dict[str, np.ndarray] = {"naive (2 y)": score(naive)}
    # as the backtest counts it: the whole span at once (DST makes the weekly windows differ by an hour)
    rate = before + np.bincount(cells[(t >= t_first) & (t < t_last) & (cells >= 0)],
                                minlength=area.n_cells).astype(float)
    rows["ceiling:perfect-rate (scored against itself)"] = np.tile(
        coverage_scores(rate, rate, COVERAGES, ties="index")["pai"], (periods, 1))
    rows["oracle: test-span rate without the scored week"] = score(test_total[None, :] - obs)
    rows["oracle: test span + equal span before, without the scored week"] = score(
        (before + test_total)[None, :] - obs)
    rng = np.random.default_rng(0)
    by_n: dict[int, list[float]] = {}
    ns = [n for n in (periods // 4, periods // 2, (3 * periods) // 4, periods - 1) if n >= 2]
    for n in ns:
        reps = 1 if n == periods - 1 else 3
        pai = np.zeros(len(COVERAGES))
        for _ in range(reps):
            ranks = np.empty_like(obs)
            for p in range(periods):
                pick = rng.choice(np.delete(np.arange(periods), p), n, replace=False)
                ranks[p] = obs[pick].sum(axis=0)
            pai += score(ranks).mean(axis=0) / reps
        by_n[n] = [float(v) for v in pai]
    design = np.column_stack([np.ones(len(ns)), -1.0 / np.array(ns, dtype=float)])
    extrapolated = {f"{c:g}": float(np.linalg.lstsq(design, np.array([by_n[n][j] for n in ns]), rcond=None)[0][0])
                    for j, c in enumerate(COVERAGES)}
    out: dict[str, Any] = {
        "dataset": args.dataset, "area": area.describe(), "periods": periods,
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "mean_pai": {k: {f"{c:g}": dict(zip(("mean", "low", "high"), bootstrap_interval(v[:, j]), strict=True))
                         for j, c in enumerate(COVERAGES)} for k, v in rows.items()},
        "paired_vs_naive": {k: {f"{c:g}": dict(zip(("ratio", "low", "high"), paired(v[:, j], rows["naive (2 y)"][:, j]),
                                                   strict=True)) for j, c in enumerate(COVERAGES) if c in (0.01, 0.05)}
                            for k, v in rows.items() if not k.startswith("ceiling") and k != "naive (2 y)"},
        "oracle_ranked_on_n_other_test_weeks": {str(n): dict(zip((f"{c:g}" for c in COVERAGES), v, strict=True))
                                                for n, v in by_n.items()},
        "extrapolated_known_constant_rate": extrapolated,
    }
    for k, v in rows.items():
        print(f"{k:66s}", " ".join(f"{x:6.3f}" for x in v.mean(axis=0)))
    for n, v in by_n.items():
        print(f"{'oracle ranked on ' + str(n) + ' other test weeks':66s}", " ".join(f"{x:6.3f}" for x in v))
    print(f"{'extrapolated: rate known exactly (constant over the test period)':66s}",
          " ".join(f"{x:6.3f}" for x in extrapolated.values()))
    path = RESULTS / f"forecast_limit_{args.dataset}.json"
    path.write_text(json.dumps(out, indent=1, default=float))
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
