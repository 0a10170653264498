"""Linker training and series building with their progress streamed, and series exports for QGIS.

Baseline: ``services.linkage.train_linker`` and ``build_series`` called directly with no progress
callback, on a synthetic city of one year (``SyntheticCity(seed=7, scale=S)``, default S = 3, about
90,000 incidents) in a DuckDB store; training uses the series solved before 2024-10-01 and scores
the labelled incidents after it. Against it, on the same store:

* the same calls with a progress callback (what ``crimelens link train|series`` do for their bars);
* ``POST /api/linkers`` and ``POST /api/series-runs`` with ``Accept: application/x-ndjson`` to a real
  ``crimelens serve`` on loopback (the series page's path): wall time, progress lines, and the
  longest gap between two lines (how long the page's bar can stand still);
* the same direct calls with the boosted model's trees walked by LightGBM itself rather than
  crimelens's compiled trees (the same scores; ``series_lightgbm``, ``train_lightgbm``), in
  alternate rounds;
* ``export_series_run`` of the series run as GeoPackage, GeoJSON and CSV: wall time and size.

Run: ``.venv/bin/python benchmarks/linkage_api.py [--scale 3] [--rounds 3]``; writes
``benchmarks/results/linkage_api.json``. Never asserts; a person reads the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks.api import start_server, uptime  # noqa: E402

from crimelens.config import Settings  # noqa: E402
from crimelens.governance import Actor, Role  # noqa: E402
from crimelens.linkage._forest import Forest  # noqa: E402
from crimelens.services import governance as gs  # noqa: E402
from crimelens.services import linkage as lk  # noqa: E402
from crimelens.services import open_context  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "linkage_api.json"
CUTOFF, THRESHOLD = "2024-10-01T00:00:00+00:00", 0.5


def _stream(c: httpx.Client, path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """POST with the NDJSON stream: wall time, number of progress lines, the longest silence, stages."""
    t0 = time.perf_counter()
    last, gaps, n, stages = t0, [], 0, []
    result: dict[str, Any] = {}
    with c.stream("POST", path, json=body, headers={**headers, "Accept": "application/x-ndjson"}) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line:
                continue
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
            doc = json.loads(line)
            if "result" in doc:
                result = doc["result"]
            elif "done" in doc:
                n += 1
                if doc.get("stage") and (not stages or stages[-1] != doc["stage"]):
                    stages.append(doc["stage"])
            else:
                raise RuntimeError(f"{path}: {doc}")
    return {"s": time.perf_counter() - t0, "lines": n, "max_gap_s": max(gaps), "stages": stages,
            "result": result}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from crimelens.synth import SyntheticCity

    city = SyntheticCity(seed=7, scale=args.scale).generate()
    frame = city.incidents.frame
    dataset = str(frame["dataset"].iloc[0])
    times: dict[str, list[float]] = {k: [] for k in ("train_direct", "train_progress", "train_lightgbm",
                                                     "series_direct", "series_progress", "series_lightgbm")}
    with tempfile.TemporaryDirectory(prefix="crimelens-lk-") as tmp:
        db = Path(tmp) / "bench.duckdb"
        admin, ana = Actor("ada", Role.ADMIN), Actor("ana", Role.ANALYST)
        with open_context(Settings(db=db, progress=False)) as ctx:
            gs.add_user(ctx, name="ada", role="admin", actor=admin)
            token = gs.add_user(ctx, name="ana", role="analyst", actor=admin)[1]
            ctx.store.insert_incidents(frame.assign(line=np.arange(1, len(frame) + 1)), ingest_id="bench")
            ticks: list[int] = []
            for _ in range(args.rounds):  # alternate, so drift on a noisy machine hits both alike
                t0 = time.perf_counter()
                tr = lk.train_linker(ctx, dataset=dataset, actor=ana, cutoff=CUTOFF, purpose="benchmark")
                times["train_direct"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                lk.train_linker(ctx, dataset=dataset, actor=ana, cutoff=CUTOFF, purpose="benchmark",
                                progress=lambda s, k, n: ticks.append(k))
                times["train_progress"].append(time.perf_counter() - t0)
                with mock.patch.object(Forest, "raw_score", lambda self, X: None):
                    t0 = time.perf_counter()
                    lk.train_linker(ctx, dataset=dataset, actor=ana, cutoff=CUTOFF, purpose="benchmark")
                    times["train_lightgbm"].append(time.perf_counter() - t0)
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                lk.build_series(ctx, dataset=dataset, actor=ana, linker_id=tr.linker_id, threshold=THRESHOLD,
                                purpose="benchmark")
                times["series_direct"].append(time.perf_counter() - t0)
                with mock.patch.object(Forest, "raw_score", lambda self, X: None):  # LightGBM's own predict
                    t0 = time.perf_counter()
                    lk.build_series(ctx, dataset=dataset, actor=ana, linker_id=tr.linker_id,
                                    threshold=THRESHOLD, purpose="benchmark")
                    times["series_lightgbm"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                run = lk.build_series(ctx, dataset=dataset, actor=ana, linker_id=tr.linker_id,
                                      threshold=THRESHOLD, purpose="benchmark",
                                      progress=lambda s, k, n: ticks.append(k))
                times["series_progress"].append(time.perf_counter() - t0)
            exports: dict[str, dict[str, float]] = {}
            for fmt in ("gpkg", "geojson", "csv"):
                out = Path(tmp) / f"series.{fmt}"
                took = []
                for _ in range(args.rounds):
                    t0 = time.perf_counter()
                    matches = lk.export_series_run(ctx, run.run_id, out, actor=ana, purpose="benchmark")
                    took.append(time.perf_counter() - t0)
                exports[fmt] = {"median_s": statistics.median(took), "bytes": out.stat().st_size,
                                "matches_ledger": matches}
            n_members = sum(s["n_members"] for s in run.series)
        server, base = start_server(db, {"CRIMELENS_PROGRESS": "false"})
        headers = {"Authorization": f"Bearer {token}", "X-Purpose": "benchmark"}
        api_train, api_series = [], []
        try:
            with httpx.Client(base_url=base, timeout=1800) as c:
                for _ in range(args.rounds):
                    api_train.append(_stream(c, "/api/linkers", {"dataset": dataset, "cutoff": CUTOFF}, headers))
                    api_series.append(_stream(c, "/api/series-runs", {
                        "dataset": dataset, "threshold": THRESHOLD, "method": "components",
                        "linker_id": tr.linker_id}, headers))
        finally:
            server.terminate()
            server.wait(timeout=30)
    med = {k: statistics.median(v) for k, v in times.items()}
    api_t = statistics.median(x["s"] for x in api_train)
    api_s = statistics.median(x["s"] for x in api_series)
    result: dict[str, Any] = {
        "city": {"scale": args.scale, "seed": 7, "n_incidents": len(frame), "dataset": dataset},
        "rounds": args.rounds, "cutoff": CUTOFF, "threshold": THRESHOLD,
        "training": {"n_candidate_pairs": tr.training["n_candidate_pairs"],
                     "held_out_auc": (tr.evaluation or {}).get("auc")},
        "series_run": {"n_candidates": run.n_candidates, "n_series": len(run.series), "n_members": n_members},
        "seconds": times, "median_s": med,
        "train_progress_over_direct": med["train_progress"] / med["train_direct"],
        "series_progress_over_direct": med["series_progress"] / med["series_direct"],
        "series_direct_over_lightgbm": med["series_direct"] / med["series_lightgbm"],
        "train_direct_over_lightgbm": med["train_direct"] / med["train_lightgbm"],
        "api_train_median_s": api_t, "api_train_over_direct": api_t / med["train_direct"],
        "api_series_median_s": api_s, "api_series_over_direct": api_s / med["series_direct"],
        "api_train_stream": [{k: v for k, v in x.items() if k != "result"} for x in api_train],
        "api_series_stream": [{k: v for k, v in x.items() if k != "result"} for x in api_series],
        "same_series_count_api": all(x["result"]["n_series"] == len(run.series) for x in api_series),
        "exports": exports,
        "uptime": uptime(),
    }
    if OUT.exists():  # the figures before a change stay beside the new ones
        old = json.loads(OUT.read_text())
        kept = {k: v for k, v in old.items() if k == "before" or k.startswith("stop")}  # named earlier runs
        result.update(kept)
        result["previous"] = {k: v for k, v in old.items() if k not in kept and k != "previous"}
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
