"""The ``similar`` density warning's pair estimate against counting every pair, on a million incidents.

``BlockingIndex.estimate_pairs`` (a seeded sample of 20,000 incidents' pair counts, what ``link
similar`` reads the dataset's candidate pairs per incident from) against the full count that
``link pairs``/``link series`` make (``BlockingIndex.build(count=True)``), on 1,000,000 incidents of
one offense family in a year, half clustered in hot spots and half spread over a 14 km square, within
1 km and 30 days: about the million-incident synthetic city's density (2,377 candidate pairs per
incident). Three rounds, alternating; per round the index build without counts, the estimate, the
full count, and the estimate's relative error. Medians in ``benchmarks/results/linkage_density.json``.
``.venv/bin/python benchmarks/linkage_density.py``. Never asserts; a person reads the figures.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crimelens.linkage import BlockingIndex  # noqa: E402


def incidents(n: int = 1_000_000, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    spots = rng.uniform(0, 14_000, (400, 2))
    hot = rng.random(n) < 0.5
    at = spots[rng.integers(0, len(spots), n)] + rng.normal(0, 600, (n, 2))
    xy = np.where(hot[:, None], at, rng.uniform(0, 14_000, (n, 2)))
    t = np.sort(rng.uniform(0, 365, n))
    return np.zeros(n, np.int64), xy[:, 0].copy(), xy[:, 1].copy(), t, t.copy()


def main() -> None:
    fam, x, y, lo, hi = incidents()
    n = len(x)
    BlockingIndex.build(fam[:5000], x[:5000], y[:5000], lo[:5000], hi[:5000], radius_m=1000.0,
                        window_days=30.0).estimate_pairs(sample=100)  # compile
    rounds = []
    for _ in range(3):
        t0 = time.perf_counter()
        idx = BlockingIndex.build(fam, x, y, lo, hi, radius_m=1000.0, window_days=30.0, count=False)
        t1 = time.perf_counter()
        est, sampled = idx.estimate_pairs()
        t2 = time.perf_counter()
        full = BlockingIndex.build(fam, x, y, lo, hi, radius_m=1000.0, window_days=30.0).n_pairs
        t3 = time.perf_counter()
        rounds.append({"index_s": t1 - t0, "estimate_s": t2 - t1, "full_count_build_s": t3 - t2,
                       "pairs_estimated": est, "pairs_counted": full, "sampled": sampled,
                       "relative_error": est / full - 1.0})
        print(json.dumps(rounds[-1]), flush=True)
    med = {k: statistics.median(r[k] for r in rounds)
           for k in ("index_s", "estimate_s", "full_count_build_s", "relative_error")}
    out = {"n_incidents": n, "pairs_per_incident": rounds[0]["pairs_counted"] / n, "sample": 20_000,
           "rounds": rounds, "median": med,
           "full_count_over_index_plus_estimate": med["full_count_build_s"] / (med["index_s"] + med["estimate_s"]),
           "loadavg_1m": os.getloadavg()[0]}
    (ROOT / "benchmarks" / "results" / "linkage_density.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out["median"]), out["pairs_per_incident"], out["full_count_over_index_plus_estimate"])


if __name__ == "__main__":
    main()
