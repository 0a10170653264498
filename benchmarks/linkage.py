"""Benchmark: crime-series linkage at city scale, plus the linkage quality figures.

1. ``--phase build`` (a subprocess, so its memory is not counted): a synthetic city of about
   1,000,000 incidents in a year (``SyntheticCity(seed, scale=40)``) written into a DuckDB store,
   and a linker trained on the solved series of a normal-size city of the same generator.
2. ``--phase score`` (a fresh process; the timed figure): read the incidents from the store,
   encode them, enumerate every candidate pair within 1 km and 30 days (same offense family)
   and score each with the cheap model; wall time and peak RSS.
3. ``similar`` queries on that store through the service (each one logged): median and p95 ms,
   cached (what the API does: the first query builds the dataset's encoded snapshot) and per
   query (what the one-shot CLI does), with CPU ms.
4. Quality: crimelinkage grouped-CV AUC and top-50 share; the synthetic city's planted series
   rebuilt exactly / partially from a linker trained on solved series before a cut-off.

5. ``--phase series`` (run by hand after the others; a fresh process): ``build_series`` through the
   service on that store with the same linker, every candidate scored by both stages, clustered,
   described and stored; wall time before, during and after the scoring, CPU and peak RSS.

Run: ``.venv/bin/python benchmarks/linkage.py [--scale 40] [--skip-quality]``.
Writes ``benchmarks/results/linkage.json``. Never asserts; a person reads the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CRIMELENS_SHARED_DATA", ROOT.parent / "shared" / "data"))
WORK = ROOT / "build" / "bench_linkage"
OUT = ROOT / "benchmarks" / "results" / "linkage.json"


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "n/a"


def _rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def build(scale: float, seed: int) -> dict[str, Any]:
    import pickle

    from crimelens.domain import TimeWindow
    from crimelens.linkage import PairwiseLinker, parse_attrs
    from crimelens.storage import DuckDBStore
    from crimelens.synth import SyntheticCity

    WORK.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    city = SyntheticCity(seed=seed, scale=scale).generate()
    frame = city.incidents.frame
    gen_s = time.perf_counter() - t0
    db = WORK / "city.duckdb"
    if db.exists():
        db.unlink()
    t0 = time.perf_counter()
    with DuckDBStore.open(db) as store:
        store.insert_incidents(frame.assign(line=np.arange(1, len(frame) + 1)), ingest_id="bench-linkage")
    store_s = time.perf_counter() - t0
    # the linker: trained on the solved series of a normal-size city (first half year)
    small = SyntheticCity(seed=seed).generate().incidents
    train = small.select(window=TimeWindow("2024-01-01T00:00:00Z", "2024-07-01T00:00:00Z"))
    labels = parse_attrs(train.frame["attrs"].to_numpy(dtype=object)).get("series_id")
    t0 = time.perf_counter()
    linker = PairwiseLinker(radius_m=1000.0, window_days=30.0).fit(train, list(labels))
    fit_s = time.perf_counter() - t0
    (WORK / "linker.pkl").write_bytes(pickle.dumps(linker))
    return {"n_incidents": len(frame), "generate_s": gen_s, "store_write_s": store_s, "linker_fit_s": fit_s,
            "linker_training": linker.training_, "scale": scale, "seed": seed}


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def score() -> dict[str, Any]:
    import pickle

    from crimelens.storage import DuckDBStore

    log = (WORK / "score_progress.log").open("w")

    def note(msg: str) -> None:
        log.write(f"{time.strftime('%H:%M:%S')} cpu={_cpu_s():.1f}s {msg}\n")
        log.flush()

    linker = pickle.loads((WORK / "linker.pkl").read_bytes())
    t_all = time.perf_counter()
    with DuckDBStore.open(WORK / "city.duckdb", read_only=True) as store:
        t0 = time.perf_counter()
        table = store.incidents(dataset="synth")
        load_s = time.perf_counter() - t0
    note(f"loaded {len(table)} incidents in {load_s:.1f}s")
    t0 = time.perf_counter()
    c0 = _cpu_s()
    enc = linker.encode(table)
    encode_s = time.perf_counter() - t0
    encode_cpu_s = _cpu_s() - c0
    note(f"encoded in {encode_s:.1f}s")
    del table
    t0 = time.perf_counter()
    index = linker.index(enc)
    index_s = time.perf_counter() - t0
    note(f"indexed {index.n_pairs} candidate pairs in {index_s:.1f}s")
    t0 = time.perf_counter()
    c0 = _cpu_s()
    # what PairwiseLinker.iter_scores does: score in the index's sorted order, where
    # block-mates are neighbours in memory
    ordered = enc.take(index.order)
    n = 0
    hist = np.zeros(20, dtype=np.int64)
    kept = 0
    for a, b in index.iter_sorted_pairs(2_000_000):
        p = linker.cheap_proba(ordered, a, b)
        n += len(p)
        hist += np.bincount(np.minimum((p * 20).astype(np.intp), 19), minlength=20)
        kept += int(np.count_nonzero(p >= 0.5))
        if n % 100_000_000 < len(p):
            note(f"scored {n} pairs")
    score_s = time.perf_counter() - t0
    score_cpu_s = _cpu_s() - c0
    total_s = time.perf_counter() - t_all
    return {"n_incidents": len(enc), "n_candidate_pairs": n, "pairs_ge_0_5": kept,
            "cheap_score_histogram_20_bins": hist.tolist(), "load_s": load_s, "encode_s": encode_s,
            "index_s": index_s, "enumerate_and_score_s": score_s, "total_s": total_s,
            "encode_cpu_s": encode_cpu_s, "enumerate_and_score_cpu_s": score_cpu_s, "total_cpu_s": _cpu_s(),
            "peak_rss_gib": _rss_gib(), "pairs_per_s": n / score_s if score_s else None,
            "numba_threads": int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count() or 1))}


def _linker_store() -> Path:
    """``similar.duckdb``: a copy of the built city's store with the benchmark's linker saved as 'bench'."""
    import hashlib
    import pickle
    import shutil
    from datetime import UTC, datetime

    from crimelens.storage import DuckDBStore
    from crimelens.storage import _linkage as db

    linker = pickle.loads((WORK / "linker.pkl").read_bytes())
    copy = WORK / "similar.duckdb"
    shutil.copyfile(WORK / "city.duckdb", copy)
    blob = pickle.dumps(linker)
    with DuckDBStore.open(copy) as store:
        db.save_linker(store, linker_id="bench", dataset="synth", created_at=datetime.now(UTC), user_name="bench",
                       label_source="attrs.series_id", cutoff=None, params=linker.get_params(),
                       features=linker.feature_names_, training=linker.training_, evaluation=None,
                       protected_descriptors=[], artefact=blob, artefact_sha256=hashlib.sha256(blob).hexdigest())
    return copy


def similar(n_queries: int) -> dict[str, Any]:

    from crimelens.config import load_settings
    from crimelens.governance import Actor
    from crimelens.services import open_context
    from crimelens.services.linkage import similar_incidents
    from crimelens.storage import DuckDBStore

    copy = _linker_store()
    with DuckDBStore.open(copy) as store:
        ids = store.query("SELECT incident_id FROM incidents USING SAMPLE 200 ROWS (reservoir, 7)")
    rng = np.random.default_rng(7)
    picks = rng.choice(ids["incident_id"].astype(str).to_numpy(), size=n_queries, replace=False)
    out: dict[str, Any] = {}
    with open_context(load_settings(db=copy)) as ctx:
        actor = Actor("bench")
        # cache=True: what the API does (the first query reads and encodes the dataset once);
        # cache=False: what the one-shot CLI does (reads the incident's neighbourhood per query)
        for label, cache in (("cached", True), ("per_query", False)):
            first = time.perf_counter()
            c0 = _cpu_s()
            similar_incidents(ctx, dataset="synth", incident_id=str(picks[0]), actor=actor, k=10, cache=cache)
            cold_ms = (time.perf_counter() - first) * 1000
            cold_cpu_ms = (_cpu_s() - c0) * 1000
            times, cpu, n_cand, matches = [], [], [], []
            for q in picks[1:]:
                t0 = time.perf_counter()
                c0 = _cpu_s()
                res = similar_incidents(ctx, dataset="synth", incident_id=str(q), actor=actor, k=10, cache=cache)
                times.append((time.perf_counter() - t0) * 1000)
                cpu.append((_cpu_s() - c0) * 1000)
                n_cand.append(res.n_candidates)
                matches.append([m["incident_id"] for m in res.matches])
            out[label] = {"cold_ms": cold_ms, "cold_cpu_ms": cold_cpu_ms, "median_ms": float(np.median(times)),
                          "p95_ms": float(np.percentile(times, 95)), "max_ms": float(np.max(times)),
                          "median_cpu_ms": float(np.median(cpu)), "p95_cpu_ms": float(np.percentile(cpu, 95)),
                          "n_queries": len(times), "median_candidates": float(np.median(n_cand)),
                          "_matches": matches}
    same = out["cached"].pop("_matches") == out["per_query"].pop("_matches")
    return {**out["cached"], "per_query": out["per_query"], "same_matches_both_paths": same,
            "uptime": _uptime()}


def quality() -> dict[str, Any]:
    from crimelens.domain import TimeWindow
    from crimelens.linkage import (
        PairwiseLinker,
        cluster_pairs,
        grouped_linkage_cv,
        parse_attrs,
        read_crimelinkage,
        series_recovery,
    )
    from crimelens.synth import SyntheticCity

    out: dict[str, Any] = {}
    data = read_crimelinkage(DATA / "crimelinkage")
    t0 = time.perf_counter()
    cv = grouped_linkage_cv(PairwiseLinker(radius_m=None, window_days=365, unlabelled="exclude", narrative=False,
                                           shortlist=False), data.incidents, data.offenders, n_splits=5, k=50)
    out["crimelinkage"] = {**cv.as_dict(), "model": "logistic (cheap stage only)", "seconds": time.perf_counter() - t0}
    city = SyntheticCity(seed=7).generate()
    t = city.incidents
    cut = TimeWindow("2024-01-01T00:00:00Z", "2024-07-01T00:00:00Z")
    train = t.select(window=cut)
    test = t.select(mask=~np.isin(t.incident_id, train.incident_id))
    labels = parse_attrs(train.frame["attrs"].to_numpy(dtype=object)).get("series_id")
    ids = set(test.incident_id.tolist())
    true = [set(v) & ids for v in city.series.values()]
    true = [s for s in true if len(s) >= 2]
    solved_true = [set(v) & ids for k, v in city.series.items() if k in city.solved]
    unsolved_true = [set(v) & ids for k, v in city.series.items() if k not in city.solved]
    for radius, window in ((1000.0, 30.0), (3000.0, 60.0)):
        t0 = time.perf_counter()
        linker = PairwiseLinker(radius_m=radius, window_days=window).fit(train, list(labels))
        enc = linker.encode(test)
        sc = linker.score_all(enc, min_probability=0.05)
        rows = {}
        for th in (0.5, 0.7):
            for method in ("components", "average"):
                groups = cluster_pairs(len(enc), sc.i, sc.j, sc.probability, threshold=th, method=method)
                pred = [set(enc.incident_id[g]) for g in groups]
                rows[f"{method}@{th}"] = {
                    "all": series_recovery(true, pred).as_dict(),
                    "solved": series_recovery([s for s in solved_true if len(s) >= 2], pred).as_dict(),
                    "unsolved": series_recovery([s for s in unsolved_true if len(s) >= 2], pred).as_dict(),
                }
        out[f"synth_{int(radius)}m_{int(window)}d"] = {"training": linker.training_, "n_candidates": sc.n_candidates,
                                                        "series": rows, "seconds": time.perf_counter() - t0}
    return out


def series(threshold: float) -> dict[str, Any]:
    """``build_series`` through the service on the million-incident store (a fresh process): every
    candidate pair scored by the full two-stage linker, clustered (connected components at
    ``threshold``), each series described and stored with its ledger entry."""
    import shutil

    from crimelens.config import load_settings
    from crimelens.governance import Actor
    from crimelens.services import open_context
    from crimelens.services.linkage import build_series

    copy = WORK / "series.duckdb"
    if not (WORK / "similar.duckdb").exists():
        _linker_store()
    shutil.copyfile(WORK / "similar.duckdb", copy)  # the store with the benchmark's linker in it
    marks: list[tuple[float, str, int]] = []
    log = (WORK / "series_progress.log").open("w")

    def mark(stage: str, k: int, n: int) -> None:
        marks.append((time.perf_counter(), stage, k))
        if len(marks) % 50 == 1 or k == n:
            log.write(f"{time.strftime('%H:%M:%S')} cpu={_cpu_s():.1f}s {stage}: {k} of {n}\n")
            log.flush()

    t0 = time.perf_counter()
    c0 = _cpu_s()
    with open_context(load_settings(db=copy)) as ctx:
        run = build_series(ctx, dataset="synth", actor=Actor("bench"), linker_id="bench", threshold=threshold,
                           method="components", progress=mark)
    total_s = time.perf_counter() - t0
    sizes = np.array([s["n_members"] for s in run.series], dtype=np.int64)
    first = {st: min(t for t, s, _ in marks if s == st) for _, st, _ in marks}
    last = {st: max(t for t, s, _ in marks if s == st) for _, st, _ in marks}
    scoring, clustering, describing = "scoring candidate pairs", "clustering", "describing series"
    gaps = np.diff([t0] + [t for t, _, _ in marks] + [t0 + total_s])
    worst = int(np.argmax(gaps))
    ends_at = "the end" if worst == len(marks) else f"{marks[worst][1]} {marks[worst][2]}"
    return {"n_candidate_pairs": run.n_candidates, "n_series": len(run.series),
            "n_members": int(sizes.sum()), "largest_series": int(sizes.max()) if len(sizes) else 0,
            "series_of_two": int((sizes == 2).sum()),
            "before_scoring_s": first[scoring] - t0,  # load, encode, build the blocking index
            "scoring_s": last[scoring] - first[scoring],
            "clustering_s": last[clustering] - first[clustering],
            "describing_s": last[describing] - last[clustering],
            "storing_s": t0 + total_s - last[describing],  # the run, its series and its ledger entry
            "after_scoring_s": t0 + total_s - last[scoring],
            "longest_silence_s": float(gaps.max()), "longest_silence_ends_at": ends_at,
            "progress_lines": len(marks), "total_s": total_s, "total_cpu_s": _cpu_s() - c0,
            "peak_rss_gib": _rss_gib(), "uptime": _uptime(), "threshold": threshold,
            "series_of_100_or_more": int((sizes >= 100).sum()),
            "members_in_series_of_100_or_more": int(sizes[sizes >= 100].sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--phase", choices=["all", "build", "score", "quality", "series"], default="all")
    ap.add_argument("--scale", type=float, default=40.0)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--threshold", type=float, default=0.5,
                    help="--phase series: the link threshold (0.5 for the figures before stop 30; "
                         "0.01 is link series' default since then, kept under its own key)")
    args = ap.parse_args()
    if args.phase == "build":
        print(json.dumps(build(args.scale, args.seed)))
        return
    if args.phase == "score":
        print(json.dumps(score()))
        return
    if args.phase == "series":  # one figure, kept beside the others in the results file
        key = "series_1km_30d" if args.threshold == 0.5 else f"series_1km_30d_at_{args.threshold:g}"
        got = {key: series(args.threshold)}
        previous = json.loads(OUT.read_text()) if OUT.exists() else {}
        if key in previous:  # the run before this one stays beside it
            previous[f"{key}_previous"] = previous[key]
        previous.update(got)
        OUT.write_text(json.dumps(previous, indent=2, default=str))
        print(json.dumps(got))
        return
    if args.phase == "quality":
        q = {"quality": quality(), "quality_uptime": _uptime()}
        previous = json.loads(OUT.read_text()) if OUT.exists() else {}
        previous.update(q)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(previous, indent=2, default=str))
        print(json.dumps(q, default=str))
        return
    result: dict[str, Any] = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                                          "uptime_before": _uptime()}}
    if not args.skip_build:
        done = subprocess.run([sys.executable, __file__, "--phase", "build", "--scale", str(args.scale),
                               "--seed", str(args.seed)], capture_output=True, text=True, check=True)
        result["build"] = json.loads(done.stdout.strip().splitlines()[-1])
        print("build", result["build"], flush=True)
    done = subprocess.run([sys.executable, __file__, "--phase", "score"], capture_output=True, text=True, check=True)
    result["score_1km_30d"] = json.loads(done.stdout.strip().splitlines()[-1])
    print("score", result["score_1km_30d"], flush=True)
    result["similar"] = similar(args.queries)
    print("similar", result["similar"], flush=True)
    if not args.skip_quality:
        result["quality"] = quality()
        result["quality_uptime"] = _uptime()
        print("quality", json.dumps(result["quality"])[:2000], flush=True)
    result["machine"]["uptime_after"] = _uptime()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(OUT.read_text()) if OUT.exists() else {}
    previous.update(result)
    OUT.write_text(json.dumps(previous, indent=2, default=str))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
