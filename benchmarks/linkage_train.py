"""Training a linker through the service: where the time goes and how long the progress stands still.

``services.linkage.train_linker`` with a progress callback, each run in a fresh process (so its
peak RSS is its own), on two stores:

* ``scale3``: ``SyntheticCity(seed=7, scale=3)`` (about 90,000 incidents), trained on the series
  solved before 2024-10-01 and scored on the labelled incidents after it (the settings of
  ``benchmarks/linkage_api.py``);
* ``million`` (with ``--million``): the store of ``benchmarks/linkage.py`` (1,155,682 incidents,
  build it first with ``benchmarks/linkage.py --phase build``), trained on the half year before
  2024-07-01 with a 1 km / 30 day block, without the held-out evaluation.

Each store is trained with the narrative vectoriser as shipped (``current``) and, in alternate
rounds, with the vectoriser of the previous code (``previous``): scikit-learn's
``TfidfVectorizer.fit_transform`` over every narrative and the truncated SVD over every row, where
the shipped code analyses each distinct narrative once and weights it by its copies. Per run: wall
and CPU seconds, peak RSS, each stage's span, the longest wait between two progress lines, the
training counts and the held-out figures (which should agree between the two).

``--attrs`` compares, on the million-incident store (``--rounds`` rounds, alternating), the
incidents' attributes read as shipped (``current``) with the previous code's reading
(``previous_attrs``): every row's JSON parsed and framed, labels taken from that frame, where the
shipped code parses each distinct text once and reads the label key only from rows that can hold
it. Its figures go under ``million_attrs``.

``--baseline-tree PATH`` compares, on the million-incident store (``--rounds`` rounds,
alternating), this tree's code with another checkout's (``git worktree add PATH COMMIT``): the
same ``--one`` run from each tree's own ``src``. Its figures go under ``million_vs_COMMIT``,
the baseline's commit.

Run: ``.venv/bin/python benchmarks/linkage_train.py [--rounds 3] [--million] [--attrs]
[--baseline-tree PATH]``; writes
``benchmarks/results/linkage_train.json``. Never asserts; a person reads the figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks.api import uptime  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "linkage_train.json"
MILLION = ROOT / "build" / "bench_linkage" / "city.duckdb"
SETTINGS: dict[str, dict[str, Any]] = {
    "scale3": {"cutoff": "2024-10-01T00:00:00+00:00", "evaluate": True, "params": {}},
    "million": {"cutoff": "2024-07-01T00:00:00+00:00", "evaluate": False,
                "params": {"radius_m": 1000.0, "window_days": 30.0}},
}


def _previous_vectoriser() -> tuple[Any, Any]:
    """Stand-ins for ``_fit_tfidf`` and ``_svd_rows`` that do what the code before them did."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    def fit_tfidf(distinct: list[str], copies: np.ndarray, ngram_range: tuple[int, int], min_df: int) -> Any:
        texts = np.repeat(np.asarray(distinct, dtype=object), copies).tolist()  # every narrative
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=ngram_range, min_df=min_df, sublinear_tf=True,
                              lowercase=True, dtype=np.float64)
        return vec, vec.fit_transform(texts)

    def svd_rows(tfidf: Any, codes: np.ndarray, copies: np.ndarray, dims: int) -> Any:
        return tfidf  # already one row per narrative

    return fit_tfidf, svd_rows


def _previous_attrs() -> tuple[Any, Any]:
    """Stand-ins for ``parse_attrs`` and ``attr_values`` that do what the code before them did."""
    import pandas as pd

    def parse_attrs(attrs: Any) -> Any:
        rows: list[dict[str, Any]] = []
        for a in attrs:
            d = json.loads(a) if isinstance(a, str) and a else {}
            rows.append({k: ";".join(sorted(str(e) for e in v)) if isinstance(v, list | tuple | set) else v
                         for k, v in d.items()})
        frame = pd.DataFrame.from_records(rows, index=pd.RangeIndex(len(rows)))
        return frame.astype(object).where(frame.notna(), np.nan)

    def attr_values(attrs: Any, key: str) -> list[Any]:
        frame = parse_attrs(attrs)
        return frame[key].tolist() if key in frame.columns else [None] * len(frame)

    return parse_attrs, attr_values


def one_run(store: str, which: str, variant: str) -> dict[str, Any]:
    """Train once on a copy of ``store``; the figures of that run (called in a fresh process)."""
    from crimelens.config import load_settings
    from crimelens.governance import Actor
    from crimelens.linkage import _build, _features
    from crimelens.services import linkage as service
    from crimelens.services import open_context
    from crimelens.services.linkage import train_linker

    cfg = SETTINGS[which]
    marks: list[tuple[float, str, int, int]] = []
    with tempfile.TemporaryDirectory(prefix="crimelens-train-") as tmp:
        db = Path(tmp) / "store.duckdb"
        shutil.copyfile(store, db)
        patches = []
        if variant == "previous":
            fit_tfidf, svd_rows = _previous_vectoriser()
            patches = [mock.patch.object(_features, "_fit_tfidf", fit_tfidf),
                       mock.patch.object(_features, "_svd_rows", svd_rows)]
        elif variant == "previous_attrs":
            parse_attrs, attr_values = _previous_attrs()
            patches = [mock.patch.object(_features, "parse_attrs", parse_attrs),
                       mock.patch.object(_build, "parse_attrs", parse_attrs),
                       mock.patch.object(service, "attr_values", attr_values)]
        for p in patches:
            p.start()
        try:
            t0, c0 = time.perf_counter(), time.process_time()
            with open_context(load_settings(db=db)) as ctx:
                dataset = ctx.store.datasets()[0]
                res = train_linker(ctx, dataset=dataset, actor=Actor("bench"), cutoff=cfg["cutoff"],
                                   evaluate=cfg["evaluate"], purpose="benchmark",
                                   progress=lambda s, k, n: marks.append((time.perf_counter(), s, k, n)),
                                   **cfg["params"])
            total, cpu = time.perf_counter() - t0, time.process_time() - c0
        finally:
            for p in patches:
                p.stop()
    times = [t0] + [m[0] for m in marks] + [t0 + total]
    gaps = np.diff(times)
    worst = int(np.argmax(gaps))
    stages: dict[str, float] = {}
    for stage in dict.fromkeys(m[1] for m in marks):
        at = [m[0] for m in marks if m[1] == stage]
        stages[stage] = at[-1] - at[0]
    prep = [m for m in marks if m[1] == "preparing features"]
    return {
        "variant": variant, "total_s": total, "cpu_s": cpu,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "before_first_line_s": marks[0][0] - t0 if marks else total,
        "preparing_features_steps_s": [b[0] - a[0] for a, b in itertools.pairwise(prep)],
        "stage_spans_s": stages,
        "longest_silence_s": float(gaps[worst]),
        "longest_silence_ends_at": "the end" if worst == len(marks) else f"{marks[worst][1]} {marks[worst][2]}",
        "progress_lines": len(marks),
        "training": res.training, "evaluation": res.evaluation,
    }


def _run_in_process(store: Path, which: str, variant: str, tree: Path = ROOT) -> dict[str, Any]:
    script = tree / "benchmarks" / "linkage_train.py"
    out = subprocess.run([sys.executable, str(script), "--one", str(store), which, variant],
                         capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _commit(tree: Path) -> str:
    return subprocess.run(["git", "-C", str(tree), "describe", "--always", "--dirty"], capture_output=True,
                          text=True, check=True).stdout.strip()


def _scale3_store(folder: Path) -> Path:
    from crimelens.config import Settings
    from crimelens.services import open_context
    from crimelens.synth import SyntheticCity

    frame = SyntheticCity(seed=7, scale=3).generate().incidents.frame
    db = folder / "scale3.duckdb"
    with open_context(Settings(db=db, progress=False)) as ctx:
        ctx.store.insert_incidents(frame.assign(line=np.arange(1, len(frame) + 1)), ingest_id="bench")
    return db


def _summary(runs: list[dict[str, Any]], before: str = "previous") -> dict[str, Any]:
    out: dict[str, Any] = {"runs": runs}
    for variant in (before, "current"):
        mine = [r for r in runs if r["variant"] == variant]
        out[variant] = {k: statistics.median(r[k] for r in mine)
                        for k in ("total_s", "cpu_s", "peak_rss_gib", "longest_silence_s", "before_first_line_s")}
        out[variant]["preparing_features_s"] = statistics.median(
            r["stage_spans_s"]["preparing features"] for r in mine)
        out[variant]["reading_incidents_s"] = statistics.median(
            r["stage_spans_s"]["reading incidents"] for r in mine)
    cur, prev = out["current"], out[before]
    out[f"current_over_{before}"] = {k: cur[k] / prev[k] for k in cur if prev[k]}
    first = {v: next(r for r in runs if r["variant"] == v) for v in (before, "current")}
    out["same_training_counts"] = first[before]["training"] == first["current"]["training"]
    out["same_evaluation"] = first[before]["evaluation"] == first["current"]["evaluation"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--million", action="store_true", help="also the million-incident store (one round)")
    ap.add_argument("--baseline-tree", type=Path,
                    help="another checkout to compare with on the million-incident store")
    ap.add_argument("--attrs", action="store_true",
                    help="only the attribute reading, shipped against previous, on the million-incident store")
    ap.add_argument("--one", nargs=3, metavar=("STORE", "WHICH", "VARIANT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_run(*args.one), default=str))
        return
    result: dict[str, Any] = json.loads(OUT.read_text()) if OUT.exists() else {}
    if args.baseline_tree:
        if not MILLION.exists():
            raise SystemExit(f"{MILLION} is missing: run benchmarks/linkage.py --phase build first")
        runs = []
        for _ in range(args.rounds):
            for variant, tree in (("baseline", args.baseline_tree), ("current", ROOT)):
                runs.append({**_run_in_process(MILLION, "million", "current", tree), "variant": variant})
                print(f"million {variant}: {runs[-1]['total_s']:.1f} s", flush=True)
        key = f"million_vs_{_commit(args.baseline_tree)}"
        result[key] = {**_summary(runs, "baseline"), "baseline_commit": _commit(args.baseline_tree),
                       "current_commit": _commit(ROOT), "uptime": uptime()}
        OUT.write_text(json.dumps(result, indent=2, default=str) + "\n")
        print(json.dumps({k: v for k, v in result[key].items() if k != "runs"}, indent=1))
        return
    if args.attrs:
        if not MILLION.exists():
            raise SystemExit(f"{MILLION} is missing: run benchmarks/linkage.py --phase build first")
        runs = []
        for _ in range(args.rounds):
            for variant in ("previous_attrs", "current"):
                runs.append(_run_in_process(MILLION, "million", variant))
                print(f"million {variant}: {runs[-1]['total_s']:.1f} s", flush=True)
        result["million_attrs"] = {**_summary(runs, "previous_attrs"), "uptime": uptime()}
        OUT.write_text(json.dumps(result, indent=2, default=str) + "\n")
        print(json.dumps({k: v for k, v in result["million_attrs"].items() if k != "runs"}, indent=1))
        return
    with tempfile.TemporaryDirectory(prefix="crimelens-train-") as tmp:
        store = _scale3_store(Path(tmp))
        runs = []
        for _ in range(args.rounds):  # alternate, so drift on a noisy machine hits both alike
            for variant in ("previous", "current"):
                runs.append(_run_in_process(store, "scale3", variant))
                print(f"scale3 {variant}: {runs[-1]['total_s']:.1f} s", flush=True)
        result["scale3"] = {**_summary(runs), "uptime": uptime()}
    if args.million:
        if not MILLION.exists():
            raise SystemExit(f"{MILLION} is missing: run benchmarks/linkage.py --phase build first")
        runs = []
        for variant in ("previous", "current"):
            runs.append(_run_in_process(MILLION, "million", variant))
            print(f"million {variant}: {runs[-1]['total_s']:.1f} s", flush=True)
        result["million"] = {**_summary(runs), "uptime": uptime()}
    OUT.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "runs"} for k, v in result.items()}, indent=1))


if __name__ == "__main__":
    main()
