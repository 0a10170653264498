"""crimelens's linker beside the crimelinkage R package, on the package's own data and folds.

Issue 5's anchor for the top-50 share is Porter (2016); the crimelinkage R package
(Porter & Reich, 0.0.4) is that author's code, and ``../shared/data/crimelinkage``
is the package's own fictitious data. This script runs both under the *same*
grouped 5-fold cross-validation (folds by offender component, exactly the folds
of ``crimelens.linkage.grouped_linkage_cv``):

* crimelens: the shipped first-pass logistic linker, as in ``benchmarks/linkage.py``;
* the package: its vignette's recipe, unchanged (``makePairs(thres = 365, m = 40)``,
  ``compareCrimes(binary = TRUE)``; stepwise logistic, naive Bayes and gbm with the
  vignette's settings), fitted on the training folds by
  ``benchmarks/peers/crimelinkage_cv.R``.

Both are scored the same way here: pairwise ROC AUC over the held-out pairs inside
the 365-day block (the pairs ``grouped_linkage_cv`` scores), and for every held-out
crime of a series, how many of its series-mates rank in its top 50 among all 489
other crimes (ties broken by row order, as ``PairwiseLinker.similar`` does).

R is not a crimelens dependency and this script is not run by CI. To run it on a
Debian machine (nothing from the package is committed here)::

    apt-get install -y r-base-core r-cran-igraph r-cran-geosphere r-cran-gbm
    # the package source, e.g. a checkout of github.com/cran/crimelinkage (0.0.4):
    R CMD INSTALL -l /tmp/Rlib path/to/crimelinkage
    R_LIBS=/tmp/Rlib .venv/bin/python benchmarks/linkage_peer.py

Writes ``benchmarks/results/linkage_peer.json``.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crimelens.linkage import (  # noqa: E402
    PairwiseLinker,
    grouped_linkage_cv,
    label_components,
    read_crimelinkage,
)
from crimelens.linkage._linker import normalise_labels  # noqa: E402

DATA = Path(os.environ.get("CRIMELENS_SHARED_DATA", ROOT.parent / "shared" / "data")) / "crimelinkage"
R_SCRIPT = ROOT / "benchmarks" / "peers" / "crimelinkage_cv.R"
OUT = ROOT / "benchmarks" / "results" / "linkage_peer.json"
K = 50
PEER_MODELS = ("logistic", "naive_bayes", "gbm")
SEEDS = (0, 100, 200)  # the package samples its unlinked training pairs; three draws show the spread


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "n/a"


def _linker() -> PairwiseLinker:
    return PairwiseLinker(radius_m=None, window_days=365, unlabelled="exclude", narrative=False, shortlist=False)


def _folds(sets: list[frozenset[str]]) -> NDArray[np.int64]:
    """The fold that holds each crime out (-1: unlabelled), as grouped_linkage_cv splits."""
    labelled = np.array([bool(s) for s in sets])
    comp = label_components(sets)
    idx = np.nonzero(labelled)[0]
    fold = np.full(len(sets), -1, dtype=np.int64)
    for f, (_tr, te) in enumerate(GroupKFold(n_splits=5).split(idx, groups=comp[idx])):
        fold[idx[te]] = f
    return fold


def _held_out_pairs(data: Any, sets: list[frozenset[str]], fold: NDArray[np.int64]) -> list[tuple[int, int]]:
    """The held-out pairs grouped_linkage_cv scores: both crimes in the same test fold, inside the block."""
    pairs: list[tuple[int, int]] = []
    for f in range(5):
        test = fold == f
        train_labels = [s if not test[m] else frozenset() for m, s in enumerate(sets)]
        model = clone(_linker()).fit(data.incidents.select(mask=~test),
                                     [train_labels[m] for m in np.nonzero(~test)[0]])
        sub = np.nonzero(test)[0]
        index = model.index(model.encode(data.incidents).take(sub))
        for i, j in index.iter_pairs():
            pairs += [(int(a), int(b)) for a, b in zip(sub[i], sub[j], strict=True)]
    return pairs


def _top_k(score: dict[tuple[int, int], float], sets: list[frozenset[str]], fold: NDArray[np.int64],
           n: int) -> tuple[int, int, float]:
    found = total = 0
    shares: list[float] = []
    cand_all = np.arange(n)
    for q in np.nonzero(fold >= 0)[0]:
        mates = {m for m in range(n) if m != q and sets[q] & sets[m]}
        if not mates:
            continue
        cand = cand_all[cand_all != q]
        s = np.array([score[(int(q), int(c))] for c in cand])
        top = cand[np.lexsort((cand, -s))[:K]]
        hit = len(mates & set(top.tolist()))
        found += hit
        total += len(mates)
        shares.append(hit / len(mates))
    return found, total, float(np.mean(shares))


def _run_peer(rscript: str, ids: list[str], fold: NDArray[np.int64], sets: list[frozenset[str]],
              pairs: list[tuple[int, int]], y: NDArray[np.bool_], seed: int) -> dict[str, Any]:
    """One run of the package over the five folds; its figures on the shared pairs and queries."""
    with tempfile.TemporaryDirectory() as tmp:
        folds_csv, scores_csv, times_csv = (Path(tmp) / f for f in ("folds.csv", "scores.csv", "times.csv"))
        with folds_csv.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["crimeID", "fold"])
            w.writerows(zip(ids, fold.tolist(), strict=True))
        cpu0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime, time.perf_counter()
        subprocess.run([rscript, str(R_SCRIPT), str(DATA / "crimes.csv"), str(DATA / "offenders.csv"),
                        str(folds_csv), str(scores_csv), str(times_csv), str(seed)], check=True)
        wall, cpu = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - cpu0
        pos = {c: k for k, c in enumerate(ids)}
        scores: dict[str, dict[tuple[int, int], float]] = {m: {} for m in PEER_MODELS}
        with scores_csv.open() as fh:
            for row in csv.DictReader(fh):
                key = (pos[row["query"]], pos[row["candidate"]])
                for m in PEER_MODELS:
                    scores[m][key] = float(row[m]) if row[m] not in ("", "NA") else float("-inf")
        with times_csv.open() as fh:
            fold_times = list(csv.DictReader(fh))
    models: dict[str, Any] = {}
    for m in PEER_MODELS:
        s = np.array([scores[m][p] for p in pairs])
        s = np.where(np.isfinite(s), s, np.min(s[np.isfinite(s)]) - 1.0)
        found, total, mean_share = _top_k(scores[m], sets, fold, len(ids))
        models[m] = {"auc": float(roc_auc_score(y, s)), "top_k_found": found, "top_k_total": total,
                     "top_k_share": found / total, "top_k_mean_share": mean_share}
    return {"seed": seed, "models": models, "wall_s": wall, "cpu_s": cpu, "folds": fold_times}


def main() -> None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        raise SystemExit("linkage_peer: Rscript is not on PATH; see this script's header for the set-up")
    data = read_crimelinkage(DATA)
    sets = normalise_labels(data.offenders)
    ids = data.incidents.incident_id.tolist()
    fold = _folds(sets)

    cpu0, t0 = time.process_time(), time.perf_counter()
    ours = grouped_linkage_cv(_linker(), data.incidents, data.offenders, n_splits=5, k=K)
    ours_s, ours_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    pairs = _held_out_pairs(data, sets, fold)
    y = np.array([bool(sets[a] & sets[b]) for a, b in pairs])

    runs = [_run_peer(rscript, ids, fold, sets, pairs, y, seed) for seed in SEEDS]
    peer = {m: {"auc_median": float(np.median([r["models"][m]["auc"] for r in runs])),
                "top_k_found_median": float(np.median([r["models"][m]["top_k_found"] for r in runs])),
                "top_k_found_range": [min(r["models"][m]["top_k_found"] for r in runs),
                                      max(r["models"][m]["top_k_found"] for r in runs)]}
            for m in PEER_MODELS}
    result: dict[str, Any] = {
        "data": str(DATA), "k": K, "folds": "GroupKFold(5) by offender component, as grouped_linkage_cv",
        "held_out_pairs": len(pairs), "held_out_linked": int(y.sum()),
        "crimelens": {**ours.as_dict(), "model": "PairwiseLinker logistic first pass (shipped)",
                      "wall_s": ours_s, "cpu_s": ours_cpu},
        "crimelinkage": {"version": "0.0.4 (vignette recipe, unchanged settings)", "seeds": list(SEEDS),
                         "summary": peer, "runs": runs},
        "uptime": _uptime(),
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"crimelens": {k: result["crimelens"][k] for k in ("auc", "top_k_found", "top_k_total")},
                      **{f"crimelinkage {m}": peer[m] for m in PEER_MODELS}},
                     indent=2))


if __name__ == "__main__":
    main()
