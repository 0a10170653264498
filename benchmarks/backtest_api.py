"""A backtest through the service beside the direct call the CLI makes, and what it costs other users.

Baseline: ``services.forecasts.run_backtest`` on ``chicago_agg_assault`` (104 weekly forecasts from
2018-01-01, 150 m cells, the study area the cells with an incident before 2018), which is what
``crimelens forecast backtest`` runs after start-up. Against it: ``POST /api/backtests`` with the same
settings to a real ``crimelens serve`` on loopback. The figures must be the same; the wall times
should be close.

While the backtest runs in one of the server's worker threads, a second client asks ``GET /api/me``
and ``GET /api/backtests`` every 0.25 s: their latency against the same calls on an idle server is
what a colleague feels while an analyst replays two years of forecasts.

Run: ``.venv/bin/python benchmarks/backtest_api.py [--models naive,weighted,gbm] [--rounds 1]``;
writes ``benchmarks/results/backtest_api.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks.api import latency_ms, start_server, uptime  # noqa: E402

from crimelens.config import Settings  # noqa: E402
from crimelens.governance import Actor, Role  # noqa: E402
from crimelens.services import forecasts as fc  # noqa: E402
from crimelens.services import governance as gs  # noqa: E402
from crimelens.services import ingest as ing  # noqa: E402
from crimelens.services import open_context  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "backtest_api.json"
DATA = Path(os.environ.get("CRIMELENS_SHARED_DATA", ROOT.parent / "shared" / "data"))
EXPORT = DATA / "chicago_agg_assault" / "chicago_aggravated_assaults.csv.gz"
START, PERIODS, COVERAGES = "2018-01-01T00:00:00+00:00", 104, [0.01, 0.05]


def _poll(c: httpx.Client, headers: dict[str, str], stop: threading.Event, out: list[float]) -> None:
    paths = ("/api/me", "/api/backtests?limit=5")
    i = 0
    while not stop.is_set():
        t0 = time.perf_counter()
        c.get(paths[i % 2], headers=headers).raise_for_status()
        out.append(time.perf_counter() - t0)
        i += 1
        stop.wait(0.25)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default="naive,weighted,gbm")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]
    with tempfile.TemporaryDirectory(prefix="crimelens-bt-") as tmp:
        db = Path(tmp) / "bench.duckdb"
        admin, ana = Actor("ada", Role.ADMIN), Actor("ana", Role.ANALYST)
        with open_context(Settings(db=db, progress=False)) as ctx:
            gs.add_user(ctx, name="ada", role="admin", actor=admin)
            token = gs.add_user(ctx, name="ana", role="analyst", actor=admin)[1]
            ing.ingest_file(ctx, EXPORT, actor=ana, purpose="benchmark", dataset="chicago")
            direct: list[float] = []
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                run = fc.run_backtest(ctx, models=models, offense=None, start=START, periods=PERIODS, actor=ana,
                                      coverages=COVERAGES, dataset="chicago", purpose="benchmark")
                direct.append(time.perf_counter() - t0)
            direct_doc = run.to_dict(per_period=False)
        server, base = start_server(db, {"CRIMELENS_PROGRESS": "false"})
        headers = {"Authorization": f"Bearer {token}", "X-Purpose": "benchmark"}
        try:
            with httpx.Client(base_url=base, timeout=900) as c, httpx.Client(base_url=base, timeout=60) as other:
                idle: list[float] = []
                for i in range(40):
                    t0 = time.perf_counter()
                    other.get(("/api/me", "/api/backtests?limit=5")[i % 2], headers=headers).raise_for_status()
                    idle.append(time.perf_counter() - t0)
                api: list[float] = []
                during: list[float] = []
                for _ in range(args.rounds):
                    stop = threading.Event()
                    poller = threading.Thread(target=_poll, args=(other, headers, stop, during))
                    poller.start()
                    t0 = time.perf_counter()
                    r = c.post("/api/backtests", headers=headers, json={
                        "dataset": "chicago", "models": models, "start": START, "periods": PERIODS,
                        "coverages": COVERAGES})
                    api.append(time.perf_counter() - t0)
                    stop.set()
                    poller.join()
                    r.raise_for_status()
                api_doc = r.json()
        finally:
            server.terminate()
            server.wait(timeout=30)
    same = all(api_doc["models"][m]["pai"][f"{c:g}"]["mean"] == direct_doc["models"][m]["pai"][f"{c:g}"]["mean"]
               for m in models for c in COVERAGES)
    d, a = statistics.median(direct), statistics.median(api)
    result: dict[str, Any] = {
        "dataset": str(EXPORT), "models": models, "periods": PERIODS, "start": START, "rounds": args.rounds,
        "direct_s": direct, "api_s": api, "direct_median_s": d, "api_median_s": a, "api_over_direct": a / d,
        "same_figures": same,
        "mean_pai": {m: {f"{c:g}": api_doc["models"][m]["pai"][f"{c:g}"]["mean"] for c in COVERAGES} for m in models},
        "other_calls_idle": latency_ms(idle), "other_calls_during_backtest": latency_ms(during),
        "uptime": uptime(),
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
