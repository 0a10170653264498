"""Is the link probability calibrated? Held-out candidate pairs against the synthetic city's truth.

The linker samples the training pairs of two unlabelled incidents (``background_negatives``,
20,000: about 0.4 % of a city's candidate pairs) and fits its models on them unweighted. Its
probabilities used to come straight from those fits, so they referred to a population with
some 230 times fewer unlinked pairs than the candidates have. Now one map from the stages'
log-odds to the probability (``PairwiseLinker.calibration_``, a Platt fit with each sampled pair
weighted by the inverse of its chance of being drawn, plus ``calibration_pairs`` more background
pairs never fitted on) calibrates it on the training block's candidate pairs. The map is
increasing, so every ranking is unchanged; "before" here is the same fitted linker with the map
set to the identity, which is the previous code's probability (the fit's samples and models are
unchanged; checked against the previous code's output on the same city: the same counts per bin).

Cities: ``SyntheticCity(seed=3)`` (29,145 incidents in 2024, 40 planted series, half solved: the
city of the report this answers) and the same city with every series solved (``solved_fraction=1``:
its labels are the truth, so nothing is hidden among the "unlinked" training pairs), each written,
ingested into a DuckDB store and read back, as ``crimelens synth --db`` does. Each linker
(3 km / 60 days, as ``crimelens link train --radius-m 3000 --window-days 60``) is trained on the
labelled series before 2024-07-01; every candidate pair of the whole city is scored, as
``crimelens link pairs --min-score 0`` does, and the *held-out* pairs (both incidents from the
cut-off on) are compared with ``truth/series.csv``: a pair is linked iff both incidents are in
one planted series.

Figures per city, before and after: a reliability table (bins of reported probability: pairs,
mean reported, share truly linked) for all held-out candidate pairs, for those of two unlabelled
incidents (what an analyst queries) and for those with a labelled incident; the expected
calibration error (bin-weighted |mean reported - share|, over all pairs and over the pairs
reported at >= 0.01) and the Brier score; the expected number of links (sum of probabilities)
against the links in truth and the links the labels record; the held-out figures of ``link
train`` (AUC, top-50, series rebuilt at 0.5); series rebuilt at several thresholds (and on the
city of ``benchmarks/linkage.py``, seed 7, with the previous 0.5 and 0.7 mapped); members of a
series run whose strongest link lies outside the block (before: argmax over every series-mate, as
the previous ``describe_series`` did). And crimelinkage's grouped cross-validation (issue 5's
figures: pooled and per-fold AUC, top-50), before and after.

Run: ``.venv/bin/python benchmarks/linkage_calibration.py``; writes
``benchmarks/results/linkage_calibration.json``. Never asserts; a person reads the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crimelens.linkage import (  # noqa: E402
    PairwiseLinker,
    attr_values,
    cluster_pairs,
    describe_series,
    grouped_linkage_cv,
    normalise_labels,
    pair_labels,
    read_crimelinkage,
    series_recovery,
)
from crimelens.services.linkage import evaluate_after  # noqa: E402
from crimelens.synth import SyntheticCity  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "linkage_calibration.json"
DATA = Path(os.environ.get("CRIMELENS_SHARED_DATA", ROOT.parent / "shared" / "data"))
CUTOFF = "2024-07-01T00:00:00Z"
BINS = (0.0, 0.001, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 1.0)
IDENTITY = (1.0, 0.0)


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def reliability(p: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Bins of reported probability (the last one closed), ECE, Brier."""
    at = np.clip(np.searchsorted(BINS, p, side="right") - 1, 0, len(BINS) - 2)
    rows = []
    ece = ece_01 = 0.0
    n_01 = int((p >= 0.01).sum())
    for k in range(len(BINS) - 1):
        m = at == k
        if not m.any():
            continue
        mean, share = float(p[m].mean()), float(y[m].mean())
        rows.append({"bin": f"{BINS[k]:g}-{BINS[k + 1]:g}", "pairs": int(m.sum()), "mean_reported": mean,
                     "share_linked": share, "linked": int(y[m].sum())})
        ece += m.sum() / len(p) * abs(mean - share)
        if BINS[k] >= 0.01:
            ece_01 += m.sum() / max(n_01, 1) * abs(mean - share)
    return {"pairs": len(p), "linked": int(y.sum()), "expected_links": float(p.sum()),
            "ece": ece, "ece_pairs_at_0.01_up": ece_01, "pairs_at_0.01_up": n_01,
            "brier": float(np.mean((p - y) ** 2)), "bins": rows}


def _stored(city: Any, work: Path) -> Any:
    """The city's incidents as ``crimelens link`` reads them: written, ingested into a store, read back."""
    from typer.testing import CliRunner

    from crimelens.cli import app
    from crimelens.storage import DuckDBStore

    city.write(work / "city")
    db = work / "c.duckdb"
    done = CliRunner().invoke(app, ["ingest", str(work / "city" / "incidents.csv"), "--dataset", "synth",
                                    "--db", str(db), "--json"])
    if done.exit_code != 0:
        raise RuntimeError(done.output)
    with DuckDBStore.open(db) as store:
        return store.incidents(dataset="synth")


def city_figures(solved_fraction: float) -> dict[str, Any]:
    city = SyntheticCity(seed=3, solved_fraction=solved_fraction).generate()
    with tempfile.TemporaryDirectory() as tmp:
        table = _stored(city, Path(tmp))
    labels = normalise_labels(attr_values(table.frame["attrs"].to_numpy(dtype=object), "series_id"))
    before = (pd.Series(table.frame["occurred_from"]) < pd.Timestamp(CUTOFF)).to_numpy()  # as train_linker
    t0 = time.perf_counter()
    linker = PairwiseLinker(radius_m=3000.0, window_days=60.0).fit(
        table.select(mask=before), [labels[k] for k in np.flatnonzero(before)])
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    plain = PairwiseLinker(radius_m=3000.0, window_days=60.0, calibration_pairs=0).fit(
        table.select(mask=before), [labels[k] for k in np.flatnonzero(before)])
    fit_plain_s = time.perf_counter() - t0
    a, b = linker.calibration_
    out: dict[str, Any] = {"city": {"seed": 3, "solved_fraction": solved_fraction, "n_incidents": len(table),
                                    "cutoff": CUTOFF, "radius_m": 3000.0, "window_days": 60.0},
                           "training": linker.training_,
                           "fit_seconds": {"calibration_pairs=500000": fit_s, "calibration_pairs=0": fit_plain_s},
                           "map_without_calibration_pairs": list(plain.calibration_)}
    enc = linker.encode(table)
    scores = linker.score_all(enc)
    p_after = scores.probability
    z = (np.log(p_after) - np.log1p(-p_after) - b) / a  # the stages' log-odds
    p_before = 1.0 / (1.0 + np.exp(-z))
    code = {i: k for k, ids in enumerate(city.series.values()) for i in ids}
    ser = np.array([code.get(str(v), -1) for v in enc.incident_id], dtype=np.int64)
    y = (ser[scores.i] == ser[scores.j]) & (ser[scores.i] >= 0)
    labelled = np.array([bool(s) for s in labels])
    y_lab = pair_labels(labels, scores.i, scores.j)
    held = ~before[scores.i] & ~before[scores.j]
    unlab = ~labelled[scores.i] & ~labelled[scores.j]
    for name, p in (("before", p_before), ("after", p_after)):
        out[name] = {
            "held_out_all": reliability(p[held], y[held]),
            "held_out_both_unlabelled": reliability(p[held & unlab], y[held & unlab]),
            "held_out_with_a_labelled_incident": reliability(p[held & ~unlab], y[held & ~unlab]),
            "held_out_linked_by_labels": int(y_lab[held].sum()),
            "city_pairs_at_0.5": int((p >= 0.5).sum()), "city_pairs_at_0.5_linked": int(y[p >= 0.5].sum()),
        }
    # the map fitted on the fit's own sample alone (calibration_pairs=0)
    plain_scores = plain.score_all(plain.encode(table))  # the same pairs, maybe in another order
    order = np.lexsort((plain_scores.j, plain_scores.i))
    mine = np.lexsort((scores.j, scores.i))
    plain_p = np.empty_like(p_after)
    plain_p[mine] = plain_scores.probability[order]
    out["after_without_calibration_pairs"] = {"held_out_all": reliability(plain_p[held], y[held])}
    held_table = table.select(mask=~before)
    held_labels = [labels[k] for k in np.flatnonzero(~before)]
    evals = {}
    for name, cal in (("before", IDENTITY), ("after", (a, b))):
        linker.calibration_ = cal
        evals[name] = evaluate_after(linker, held_table, held_labels)
    linker.calibration_ = (a, b)
    out["evaluate_after"] = evals
    # series rebuilt from the held-out incidents, at thresholds of the new probability
    henc = linker.encode(held_table)
    hs = linker.score_all(henc, min_probability=1e-4)
    ids = set(henc.incident_id.astype(str).tolist())
    true = [s for s in ([set(v) & ids for v in city.series.values()]) if len(s) >= 2]
    old_half = float(1.0 / (1.0 + np.exp(-b)))  # where the previous 0.5 lies on the new scale
    rec = {}
    for th in (0.5, 0.2, 0.1, 0.05, 0.02, 0.01, old_half):
        row = {}
        for method in ("components", "average"):
            groups = cluster_pairs(len(henc), hs.i, hs.j, hs.probability, threshold=th, method=method)
            r = series_recovery(true, [set(henc.incident_id[g].astype(str)) for g in groups]).as_dict()
            row[method] = {"exact": r["n_exact"], "partial": r["n_partial"], "of": r["n_true"], "groups": len(groups)}
        rec[f"{th:.6g}"] = row
    out["series_recovery_held_out"] = {"previous_0.5_is": old_half, "by_threshold": rec}
    # the whole city's series at the previous default (0.5 then, old_half now): strongest links
    groups = cluster_pairs(len(enc), scores.i, scores.j, p_after, threshold=old_half, method="components")
    series = describe_series(linker, table, enc, groups)
    pos = {str(v): k for k, v in enumerate(enc.incident_id)}
    n_members = n_out_before = n_out_after = n_hi = n_hi_true = n_none = 0
    for g, s in zip(groups, series, strict=True):
        m = len(g)
        iu, ju = np.triu_indices(m, 1)
        _, pg = linker.score(enc, g[iu], g[ju])
        mat = np.zeros((m, m))
        mat[iu, ju] = mat[ju, iu] = 1.0 / (1.0 + np.exp(-((np.log(pg) - np.log1p(-pg) - b) / a)))  # before
        for r in range(m):
            n_members += 1
            q = int(np.argmax(mat[r]))  # the previous describe_series: over every series-mate
            if not linker.in_block(enc, np.array([g[r]]), np.array([g[q]]))[0]:
                n_out_before += 1
                if mat[r, q] >= 0.9:
                    n_hi += 1
                    n_hi_true += bool(ser[g[r]] >= 0 and ser[g[r]] == ser[g[q]])
        for e in s.explanations:
            if e.strongest_link is None:
                n_none += 1
            elif not linker.in_block(enc, np.array([pos[e.incident_id]]), np.array([pos[e.strongest_link]]))[0]:
                n_out_after += 1
    out["series_whole_city_previous_default"] = {
        "threshold": old_half, "series": len(series), "members": n_members,
        "before": {"strongest_link_outside_block": n_out_before, "of_those_at_p_0.9_up": n_hi,
                   "of_those_true_mates": n_hi_true},
        "after": {"strongest_link_outside_block": n_out_after, "no_strongest_link": n_none}}
    return out


def seed7_series() -> dict[str, Any]:
    """``benchmarks/linkage.py``'s synthetic series figures (``SyntheticCity(seed=7)``, trained on the
    first half of 2024, the 27 true series after it): rebuilt at thresholds of the new probability
    and at the points where the previous 0.5 and 0.7 now lie (the previous code's series)."""
    from crimelens.domain import TimeWindow

    city = SyntheticCity(seed=7).generate()
    t = city.incidents
    train = t.select(window=TimeWindow("2024-01-01T00:00:00Z", "2024-07-01T00:00:00Z"))
    test = t.select(mask=~np.isin(t.incident_id, train.incident_id))
    labels = normalise_labels(attr_values(train.frame["attrs"].to_numpy(dtype=object), "series_id"))
    ids = set(test.incident_id.tolist())
    true = [s for s in ([set(v) & ids for v in city.series.values()]) if len(s) >= 2]
    out: dict[str, Any] = {}
    for radius, window in ((1000.0, 30.0), (3000.0, 60.0)):
        linker = PairwiseLinker(radius_m=radius, window_days=window).fit(train, labels)
        a, b = linker.calibration_
        enc = linker.encode(test)
        sc = linker.score_all(enc, min_probability=1e-4)
        then = {f"previous {q}": float(1 / (1 + np.exp(-(a * np.log(q / (1 - q)) + b)))) for q in (0.5, 0.7)}
        rows = {}
        for name, th in [*((f"{q:g}", q) for q in (0.7, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01)), *then.items()]:
            for method in ("components", "average"):
                groups = cluster_pairs(len(enc), sc.i, sc.j, sc.probability, threshold=th, method=method)
                r = series_recovery(true, [set(enc.incident_id[g]) for g in groups]).as_dict()
                rows[f"{method}@{name}"] = {"threshold": th, "exact": r["n_exact"], "partial": r["n_partial"],
                                            "of": r["n_true"], "groups": len(groups)}
        out[f"{int(radius)}m_{int(window)}d"] = {"calibration": [a, b], "series": rows}
    return out


class _PreviousProbability(PairwiseLinker):
    """The linker with the map set to the identity after fitting: the previous code's probability."""

    def fit(self, incidents: Any, labels: Any, **kw: Any) -> _PreviousProbability:
        super().fit(incidents, labels, **kw)
        self.calibration_ = IDENTITY
        return self


def crimelinkage() -> dict[str, Any]:
    data = read_crimelinkage(DATA / "crimelinkage")
    params = {"radius_m": None, "window_days": 365, "unlabelled": "exclude", "narrative": False, "shortlist": False}
    out = {}
    for name, cls in (("before", _PreviousProbability), ("after", PairwiseLinker)):
        cv = grouped_linkage_cv(cls(**params), data.incidents, data.offenders, n_splits=5, k=50)
        out[name] = cv.as_dict()
    return out


def main() -> None:
    out: dict[str, Any] = {"uptime_start": _uptime()}
    out["synth_seed3_half_solved"] = city_figures(0.5)
    out["synth_seed3_all_solved"] = city_figures(1.0)
    out["synth_seed7_series"] = seed7_series()
    out["crimelinkage"] = crimelinkage()
    out["uptime_end"] = _uptime()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1, default=str) + "\n")
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
