"""What the shortlist threshold costs and buys: scoring time against links found.

The two-stage linker sends a pair to the boosted model when its cheap score reaches the threshold
that keeps ``shortlist_recall`` of the training links (default 0.98). A lower recall shortlists
fewer pairs, so city-wide scoring is faster, but links the cheap model ranks low never get the
boosted model's second look. Baseline: the default, 0.98. Against it, 0.95, 0.90 and 0.80, each
trained the same way on the same incidents.

City: ``SyntheticCity(seed=7, scale=3)`` (about 90,000 incidents in 2024, planted series, half
solved). Each linker (1 km / 30 days, ``random_state=0``) is trained on the solved series before
2024-10-01 and evaluated on the labelled incidents after it (``evaluate_after``: pairwise AUC,
series-mates in the top 50, planted series rebuilt at p >= 0.5). Then every candidate pair of the
whole city is scored (``score_all``, median of ``--rounds``), counting the pairs shortlisted and
the pairs at p >= 0.5, and how many of the baseline's pairs at p >= 0.5 each setting keeps.

Run: ``.venv/bin/python benchmarks/linkage_shortlist.py [--rounds 3]``; writes
``benchmarks/results/linkage_shortlist.json``. Never asserts; a person reads the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crimelens.linkage import PairwiseLinker, normalise_labels, parse_attrs  # noqa: E402
from crimelens.services.linkage import evaluate_after  # noqa: E402
from crimelens.synth import SyntheticCity  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "linkage_shortlist.json"
CUTOFF = "2024-10-01T00:00:00Z"
RECALLS = (0.98, 0.95, 0.90, 0.80)


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    table = SyntheticCity(seed=7, scale=3).generate().incidents
    labels = normalise_labels(parse_attrs(table.frame["attrs"].to_numpy(dtype=object)).get("series_id"))
    before = (pd.Series(table.frame["occurred_from"]) < pd.Timestamp(CUTOFF)).to_numpy()  # as train_linker
    train, held = table.select(mask=before), table.select(mask=~before)
    train_labels = [labels[k] for k in np.nonzero(before)[0]]
    held_labels = [labels[k] for k in np.nonzero(~before)[0]]
    out: dict[str, Any] = {"city": {"seed": 7, "scale": 3, "n_incidents": len(table), "cutoff": CUTOFF},
                           "uptime_before": _uptime(), "settings": {}}
    base_links: set[tuple[int, int]] | None = None
    for recall in RECALLS:
        t0 = time.perf_counter()
        linker = PairwiseLinker(radius_m=1000.0, window_days=30.0, shortlist_recall=recall,
                                random_state=0).fit(train, train_labels)
        fit_s = time.perf_counter() - t0
        ev = evaluate_after(linker, held, held_labels)
        enc = linker.encode(table)
        times = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            scores = linker.score_all(enc, min_probability=0.5)
            times.append(time.perf_counter() - t0)
        shortlisted = 0
        for part in linker.iter_scores(enc, cheap_only=True, min_probability=linker.shortlist_threshold_):
            shortlisted += len(part.i)
        links = set(zip(scores.i.tolist(), scores.j.tolist(), strict=True))
        if base_links is None:
            base_links = links
        out["settings"][str(recall)] = {
            "shortlist_threshold": linker.shortlist_threshold_, "fit_s": fit_s,
            "score_all_s": times, "score_all_median_s": statistics.median(times),
            "n_candidates": scores.n_candidates, "n_shortlisted": shortlisted,
            "shortlisted_share": shortlisted / scores.n_candidates,
            "n_pairs_ge_0_5": len(links), "baseline_pairs_kept": len(links & base_links),
            "baseline_pairs_kept_share": len(links & base_links) / len(base_links) if base_links else None,
            "held_out": {k: v for k, v in ev.items()
                         if k in ("auc", "top_k_found", "top_k_total", "top_k_share") or k.startswith("series_")}}
        print(recall, json.dumps(out["settings"][str(recall)]), flush=True)
    base = out["settings"][str(RECALLS[0])]["score_all_median_s"]
    for s in out["settings"].values():
        s["score_all_over_baseline"] = s["score_all_median_s"] / base
    out["uptime_after"] = _uptime()
    OUT.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
