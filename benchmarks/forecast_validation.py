"""The 2017 validation weeks on which the Chicago defaults were chosen (never the test weeks).

Usage (from the repository root)::

    .venv/bin/python benchmarks/forecast_validation.py

52 weekly forecasts from 2017-01-02 (local Chicago midnights), study area: the
150 m cells with an incident in 2010-2016 (14,556 cells); each model refitted at
every origin on the incidents before it. Scores and intervals as in
``forecast_backtest.py``. Variants: naive 2-year counts, the time-weighted count
and the boosted model, each with and without the premise-seasonal (school
calendar) adjustment. Only the variant chosen here is scored on the 2018-2019
test weeks (``forecast_backtest.py``).

Writes ``benchmarks/results/forecast_validation_chicago_agg_assault.json``. Never asserts.
"""

from __future__ import annotations

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
    GradientBoostedCells,
    HotspotModel,
    NaiveCounts,
    StudyArea,
    TimeWeightedCounts,
    rolling_origin,
)

RESULTS = Path(__file__).resolve().parent / "results"
TZ = "America/Chicago"
COVERAGES = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)


def main() -> int:
    incidents = load("chicago_agg_assault")

    def local(d: str) -> Any:
        return pd.Timestamp(d).tz_localize(TZ).tz_convert("UTC").to_pydatetime()

    area = StudyArea.from_activity(incidents, 150.0, period=TimeWindow(local("2010-01-01"), local("2017-01-02")))
    origins = [local(str((pd.Timestamp("2017-01-02") + pd.Timedelta(days=7 * k)).date())) for k in range(52)]
    models: dict[str, HotspotModel] = {
        "naive": NaiveCounts(),
        "weighted": TimeWeightedCounts(),
        "weighted (no seasonal premises)": TimeWeightedCounts(seasonal_premises=()),
        "gbm": GradientBoostedCells(),
        "gbm (no seasonal premises)": GradientBoostedCells(seasonal_premises=()),
    }
    began, cpu0 = time.perf_counter(), time.process_time()
    res = rolling_origin(incidents, models, area=area, origins=origins, coverages=COVERAGES, ceiling=True)
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu0
    out: dict[str, Any] = {
        "dataset": "chicago_agg_assault", "split": "validation: 52 weeks from 2017-01-02",
        "area": area.describe(), "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "wall_seconds": wall, "cpu_seconds": cpu, "models": {}, "paired": {},
    }
    for m in res.models:
        out["models"][m] = {f"{c:g}": dict(zip(("mean", "low", "high"), res.mean(m, "pai", c), strict=True))
                            for c in COVERAGES}
        print(f"{m:34s}", " ".join(f"{res.mean(m, 'pai', c)[0]:6.3f}" for c in COVERAGES))
    pairs = [("weighted", "naive"), ("gbm", "naive"), ("weighted", "weighted (no seasonal premises)"),
             ("gbm", "gbm (no seasonal premises)"), ("gbm", "weighted")]
    for a, b in pairs:
        out["paired"][f"{a} / {b}"] = {f"{c:g}": dict(zip(("ratio", "low", "high"), res.paired(a, b, "pai", c),
                                                          strict=True)) for c in (0.01, 0.05, 0.2)}
        print(f"{a} / {b}:", "  ".join("@{:g} {:.3f} [{:.3f}, {:.3f}]".format(c, *res.paired(a, b, "pai", c))
                                       for c in (0.01, 0.05, 0.2)))
    path = RESULTS / "forecast_validation_chicago_agg_assault.json"
    path.write_text(json.dumps(out, indent=1, default=float))
    print(f"wall {wall:.1f} s, cpu {cpu:.1f} s; written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
