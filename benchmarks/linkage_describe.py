"""Describing a million-incident city's series: how long the progress stands still.

``linkage.describe_series`` on every series that ``benchmarks/linkage.py --phase series`` built
(62,003 series, 399,196 members, read back from ``build/bench_linkage/series.duckdb``), with the
benchmark's linker and the whole store encoded once, run twice in one process:

* ``pairs_only``: batches bounded only by the linker's ``chunk_pairs`` within-series pairs (the
  code before ``members_per_batch``; the same call with ``members_per_batch=10**9``);
* ``pairs_and_members``: as shipped, at most 8,192 members a batch as well.

Per run: wall and CPU seconds, the longest wait between two progress calls and the series it
ended at, the first call's delay, the number of calls; and whether both runs give the same series
documents. Run ``benchmarks/linkage.py --phase build`` and ``--phase series`` first, then
``.venv/bin/python benchmarks/linkage_describe.py``; writes ``benchmarks/results/linkage_describe.json``.

``--index`` instead times the block index of the whole store (2.7 billion candidate pairs within
1 km and 30 days), built three times in alternation as before (``one_loop``: the pairs counted in
one parallel loop over the incidents, no progress) and as shipped (``sliced``: in 32 slices, with a
progress call after each): wall seconds, the longest wait between two calls, and whether the
counts agree. Its figures go under ``index``.
Never asserts; a person reads the figures.
"""

from __future__ import annotations

import json
import pickle
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks.api import uptime  # noqa: E402

WORK = ROOT / "build" / "bench_linkage"
OUT = ROOT / "benchmarks" / "results" / "linkage_describe.json"


def index_runs(rounds: int = 3) -> dict[str, Any]:
    from crimelens.config import load_settings
    from crimelens.linkage import _blocking
    from crimelens.services import open_context

    linker = pickle.loads((WORK / "linker.pkl").read_bytes())
    with open_context(load_settings(db=WORK / "city.duckdb")) as ctx:
        table = ctx.store.incidents(dataset=ctx.store.datasets()[0])
    enc = linker.encode(table)
    runs: list[dict[str, Any]] = []
    counts: dict[str, Any] = {}
    for _ in range(rounds):
        for variant in ("one_loop", "sliced"):
            marks: list[float] = []
            shipped = _blocking._COUNT_SLICES
            _blocking._COUNT_SLICES = 1 if variant == "one_loop" else shipped
            t0 = time.perf_counter()
            try:
                index = linker.index(enc, progress=None if variant == "one_loop" else
                                     (lambda _k, _n, marks=marks: marks.append(time.perf_counter())))
            finally:
                _blocking._COUNT_SLICES = shipped
            total = time.perf_counter() - t0
            gaps = np.diff([t0, *marks, t0 + total])
            runs.append({"variant": variant, "total_s": total, "longest_silence_s": float(gaps.max()),
                         "progress_lines": len(marks), "n_pairs": int(index.n_pairs)})
            counts[variant] = index.counts
            print(runs[-1], flush=True)
    med = {v: {k: float(np.median([r[k] for r in runs if r["variant"] == v])) for k in ("total_s", "longest_silence_s")}
           for v in ("one_loop", "sliced")}
    return {"runs": runs, **med, "sliced_over_one_loop": med["sliced"]["total_s"] / med["one_loop"]["total_s"],
            "same_counts": bool(np.array_equal(counts["one_loop"], counts["sliced"])), "uptime": uptime()}


def main() -> None:
    import duckdb

    if "--index" in sys.argv[1:]:
        result = json.loads(OUT.read_text()) if OUT.exists() else {}
        result["index"] = index_runs()
        OUT.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps({k: v for k, v in result["index"].items() if k != "runs"}, indent=1))
        return

    from crimelens.config import load_settings
    from crimelens.linkage import describe_series
    from crimelens.services import open_context

    for need in ("linker.pkl", "city.duckdb", "series.duckdb"):
        if not (WORK / need).exists():
            raise SystemExit(f"{WORK / need} is missing: run benchmarks/linkage.py --phase build, then --phase series")
    linker = pickle.loads((WORK / "linker.pkl").read_bytes())
    with open_context(load_settings(db=WORK / "city.duckdb")) as ctx:
        table = ctx.store.incidents(dataset=ctx.store.datasets()[0])
    enc = linker.encode(table)
    with duckdb.connect(str(WORK / "series.duckdb"), read_only=True) as con:
        members = con.sql("SELECT series_id, incident_id, position FROM link_series_members "
                          "ORDER BY series_id, position").df()
    at = {iid: k for k, iid in enumerate(enc.incident_id.tolist())}
    members["idx"] = members["incident_id"].map(at)
    groups = [g["idx"].to_numpy(np.int64) for _, g in members.groupby("series_id", sort=True)]  # largest first
    out: dict[str, Any] = {}
    docs: dict[str, str] = {}
    for name, per_batch in (("pairs_only", 10**9), ("pairs_and_members", 8192)):
        marks: list[tuple[float, int]] = []
        t0, c0 = time.perf_counter(), time.process_time()
        series = describe_series(linker, table, enc, groups, members_per_batch=per_batch,
                                 progress=lambda k, _n, marks=marks: marks.append((time.perf_counter(), k)))
        total = time.perf_counter() - t0
        gaps = np.diff([t0] + [t for t, _ in marks] + [t0 + total])
        worst = int(np.argmax(gaps))
        out[name] = {"total_s": total, "cpu_s": time.process_time() - c0, "longest_silence_s": float(gaps[worst]),
                     "silence_ends_at_series": marks[worst][1] if worst < len(marks) else "end",
                     "first_line_s": marks[0][0] - t0, "progress_lines": len(marks)}
        docs[name] = json.dumps([s.as_dict() for s in series], default=str)
        print(name, out[name], flush=True)
    out["same_documents"] = docs["pairs_only"] == docs["pairs_and_members"]
    out["n_series"] = len(groups)
    out["n_members"] = int(sum(len(g) for g in groups))
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    out["uptime"] = uptime()
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
