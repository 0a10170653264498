"""Benchmark: the COMPAS audit with 1,000 bootstrap replicates against Fairlearn's
MetricFrame bootstrap (same metrics, same replicates, one run), and a 10,000,000-row
score table audited with intervals.

Run: ``.venv/bin/python benchmarks/audit.py [--rows 10000000] [--skip-fairlearn]``.
Writes ``benchmarks/results/audit.json``. Never asserts; a person reads the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from crimelens.audit import audit_scores
from crimelens.risk import load_compas

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CRIMELENS_SHARED_DATA", ROOT.parent / "shared" / "data"))


def fairlearn_bootstrap(y: np.ndarray, s: np.ndarray, race: np.ndarray, n_boot: int,
                        ) -> tuple[float, float]:
    """Wall and CPU seconds of Fairlearn's MetricFrame bootstrap for the same metrics."""
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_negative_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, precision_score, roc_auc_score

    pred = (s >= 5).astype(int)
    sf = pd.Series(race, name="race")
    t0, c0 = time.perf_counter(), time.process_time()
    MetricFrame(
        metrics={"n": count, "selection_rate": selection_rate, "tpr": true_positive_rate,
                 "fpr": false_positive_rate, "fnr": false_negative_rate,
                 "tnr": true_negative_rate, "accuracy": accuracy_score, "ppv": precision_score},
        y_true=y, y_pred=pred, sensitive_features=sf, n_boot=n_boot,
        ci_quantiles=[0.025, 0.975], random_state=0,
    )
    MetricFrame(metrics={"auc": roc_auc_score}, y_true=y, y_pred=s, sensitive_features=sf,
                n_boot=n_boot, ci_quantiles=[0.025, 0.975], random_state=0)
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--skip-fairlearn", action="store_true")
    ap.add_argument("--out", default="audit.json", help="file name under benchmarks/results/")
    args = ap.parse_args()
    out: dict[str, object] = {"uptime": os.popen("uptime").read().strip(),
                              "python": platform.python_version(), "n_boot": args.boot}

    dest = ROOT / "benchmarks" / "results" / args.out
    dest.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        dest.write_text(json.dumps(out, indent=2))

    d = load_compas(DATA / "compas" / "compas-scores-two-years.deid.csv.gz")
    y, s, race = d.y, d.decile.astype(float), d.audit["race"].to_numpy()
    audit_scores(s, y, {"race": race}, threshold=5, n_boot=10)  # warm-up (imports)
    t0, c0 = time.perf_counter(), time.process_time()
    r = audit_scores(s, y, {"race": race}, threshold=5, n_boot=args.boot,
                     reference={"race": "Caucasian"})
    ours_same, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    audit_scores(s, y, d.audit[["race", "sex", "age_cat"]], threshold=5, n_boot=args.boot,
                 reference={"race": "Caucasian"})
    ours_full = time.perf_counter() - t0
    g = r.group_table("race")
    compas: dict[str, object] = {
        "rows": len(y), "ours_race_s": ours_same, "ours_race_cpu_s": ours_cpu,
        "ours_race_sex_agecat_intersections_s": ours_full,
        "auc": float(r.group_table("overall").loc["all", "auc"]),
        "fpr_black": [float(g.loc["African-American", c]) for c in ("fpr", "fpr_low", "fpr_high")],
        "fpr_white": [float(g.loc["Caucasian", c]) for c in ("fpr", "fpr_low", "fpr_high")],
    }
    out["compas"] = compas
    print(f"COMPAS audit, race, {args.boot} replicates: {ours_same:.3f} s wall, {ours_cpu:.3f} s CPU "
          f"(race+sex+age_cat with intersections: {ours_full:.3f} s)", flush=True)
    save()

    rng = np.random.default_rng(0)
    n = args.rows
    t0 = time.perf_counter()
    grp = pd.Categorical.from_codes(rng.choice(6, n, p=[.45, .3, .1, .08, .05, .02]),
                                    ["a", "b", "c", "d", "e", "f"])
    sex = pd.Categorical.from_codes(rng.integers(0, 2, n), ["female", "male"])
    yy = (rng.random(n) < 0.4).astype(np.int8)
    score = rng.normal(size=n) + yy
    gen = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    big = audit_scores(score, yy, {"group": grp, "sex": sex}, threshold=0.5, n_boot=args.boot)
    big_s, big_cpu = time.perf_counter() - t0, time.process_time() - c0
    out["large"] = {"rows": n, "seconds": big_s, "cpu_seconds": big_cpu, "generate_s": gen,
                    "groups": len(big.groups), "levels_exact": big.levels_exact,
                    "n_boot": args.boot}
    print(f"{n:,}-row score table, 2 audit columns + intersection, {args.boot} replicates: "
          f"{big_s:.1f} s wall, {big_cpu:.1f} s CPU", flush=True)
    save()
    del grp, sex, yy, score, big

    if not args.skip_fairlearn:
        fl, fl_cpu = fairlearn_bootstrap(y, s, race, args.boot)
        compas.update(fairlearn_metricframe_s=fl, fairlearn_metricframe_cpu_s=fl_cpu,
                      speedup_wall=fl / ours_same, speedup_cpu=fl_cpu / ours_cpu)
        print(f"Fairlearn MetricFrame bootstrap, same metrics, {args.boot} replicates: {fl:.1f} s "
              f"wall, {fl_cpu:.1f} s CPU -> ours takes {ours_same / fl:.5f} of its wall time "
              f"({fl / ours_same:.0f}x), {ours_cpu / fl_cpu:.5f} of its CPU time", flush=True)
    out["uptime_end"] = os.popen("uptime").read().strip()
    print("uptime:", out["uptime"], "| end:", out["uptime_end"])
    save()


if __name__ == "__main__":
    main()
