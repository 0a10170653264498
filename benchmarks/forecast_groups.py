"""Per-group hit rates of the Chicago weekly backtest: how the flagged cells' captures spread
over police districts (the incidents' ``area``), for naive counts and the default gbm.

Same splits as ``forecast_backtest.py`` (104 weekly forecasts from 2018-01-01 at local midnight,
150 m cells masked to cells with an incident in 2010-2017). A district's hit rate is the share of
its recorded incidents that fell in flagged cells, pooled over the weeks, with a bootstrap interval
resampling whole weeks. The districts are an audit label: the models never see them.

Run: ``.venv/bin/python benchmarks/forecast_groups.py`` (about a minute on one core); writes
``benchmarks/results/forecast_groups_chicago_agg_assault.json``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import forecast_backtest as fb  # noqa: E402

from crimelens.forecast import make_model, rolling_origin  # noqa: E402

DATASET = "chicago_agg_assault"
COVERAGES = (0.01, 0.05)
OUT = ROOT / "benchmarks" / "results" / f"forecast_groups_{DATASET}.json"


def main() -> None:
    incidents, area, origins, _ = fb.setup(DATASET, 150.0, None)
    labels = [None if v is None or v != v else str(v) for v in incidents.frame["area"].tolist()]
    t0, c0 = time.perf_counter(), time.process_time()
    res = rolling_origin(incidents, {"naive": make_model("naive"), "gbm": make_model("gbm")}, area=area,
                         origins=[o.to_pydatetime() for o in origins], coverages=COVERAGES, groups=labels)
    out = {"dataset": DATASET, "group_by": "area (police district)", "periods": len(origins),
           "area": area.describe(), "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
           "uptime": os.popen("uptime").read().strip(),
           "models": {m: {f"{c:g}": res.group_hit_rates(m, c) for c in COVERAGES} for m in ("naive", "gbm")}}
    text = json.dumps(out, indent=1).replace("NaN", "null")  # a district with no incidents in the test weeks
    OUT.write_text(text + "\n")
    for c in COVERAGES:
        rows = sorted(out["models"]["gbm"][f"{c:g}"].items(), key=lambda kv: -kv[1]["n"])
        print(f"coverage {c:g}: district, n, gbm hit rate [interval], naive hit rate")
        for g, v in rows:
            nv = out["models"]["naive"][f"{c:g}"][g]["hit_rate"]
            print(f"  {g:>3} {v['n']:6.0f}  {v['hit_rate']:.3f} [{v['low']:.3f}, {v['high']:.3f}]  {nv:.3f}")
    print(f"{out['seconds']:.1f} s wall, {out['cpu_seconds']:.1f} s CPU; {out['uptime']}")


if __name__ == "__main__":
    main()
