"""From a fitted linker and incidents to described candidate series."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crimelens.domain import IncidentTable
from crimelens.linkage._features import EncodedIncidents, parse_attrs
from crimelens.linkage._linker import PairScores, PairwiseLinker
from crimelens.linkage._series import MemberExplanation, Series, cluster_pairs

__all__ = ["describe_series", "find_series"]


def describe_series(linker: PairwiseLinker, incidents: IncidentTable, enc: EncodedIncidents,
                    groups: list[NDArray[np.int64]], *, prefix: str = "S", n_drivers: int = 3) -> list[Series]:
    """A :class:`Series` per group of incident indices, with per-member explanations.

    The work is batched across series: every within-series pair is scored in one call, every
    member's strongest link explained in one call and the M.O. attributes parsed once, so a
    city's thousands of small series cost a few model calls rather than a few per series.
    """
    frame = incidents.frame
    ordered = [np.asarray(g, np.int64) for g in groups]
    ordered = [g[np.argsort(enc.t_from[g], kind="stable")] for g in ordered]
    sizes = np.array([len(g) for g in ordered], dtype=np.int64)
    # every within-series pair (upper triangle, member order), all series at once
    tri = [np.triu_indices(int(m), 1) for m in sizes]
    n_pairs = np.array([len(iu) for iu, _ in tri], dtype=np.int64)
    pair_at = np.concatenate([[0], np.cumsum(n_pairs)])
    pi = np.concatenate([g[iu] for g, (iu, _) in zip(ordered, tri, strict=True)] or [np.zeros(0, np.int64)])
    pj = np.concatenate([g[ju] for g, (_, ju) in zip(ordered, tri, strict=True)] or [np.zeros(0, np.int64)])
    # in chunks, as the city-wide scoring does: the shortlist stage builds a feature row per pair
    step = max(1, int(linker.chunk_pairs))
    p_all = np.concatenate([linker.score(enc, pi[k:k + step], pj[k:k + step])[1]
                            for k in range(0, len(pi), step)] or [np.zeros(0)])
    probs: list[NDArray[np.float64]] = []
    best: list[NDArray[np.int64]] = []
    for k, (iu, ju) in enumerate(tri):
        m = int(sizes[k])
        prob = np.zeros((m, m))
        p = p_all[pair_at[k]:pair_at[k + 1]]
        prob[iu, ju] = p
        prob[ju, iu] = p
        probs.append(prob)
        best.append(np.argmax(prob, axis=1) if m else np.zeros(0, np.int64))
    # each member's strongest link, explained (all members of all series in one call)
    a_all = np.concatenate(ordered or [np.zeros(0, np.int64)])
    b_all = np.concatenate([g[b] for g, b in zip(ordered, best, strict=True)] or [np.zeros(0, np.int64)])
    lo_ab, hi_ab = np.minimum(a_all, b_all), np.maximum(a_all, b_all)
    expl = [e for k in range(0, len(lo_ab), step) for e in linker.explain(enc, lo_ab[k:k + step], hi_ab[k:k + step])]
    member_at = np.concatenate([[0], np.cumsum(sizes)])
    rows_all = frame.iloc[a_all].reset_index(drop=True)
    attrs_all = parse_attrs(rows_all["attrs"].to_numpy(dtype=object))
    if "premise" not in attrs_all.columns:
        attrs_all["premise"] = rows_all["premise"].astype(object).where(rows_all["premise"].notna(), np.nan)
    keep = [c for c in attrs_all.columns if c in linker.featurizer_.mo_columns_
            or c in linker.featurizer_.numeric_columns_]
    attr_cols = {c: attrs_all[c].to_numpy(dtype=object) for c in keep}
    cols: dict[str, NDArray[Any]] = {c: rows_all[c].to_numpy() for c in ("incident_id", "offense", "x_m", "y_m")}
    for c in ("occurred_from", "occurred_to"):  # naive UTC datetime64, sliced per series below
        cols[c] = pd.to_datetime(rows_all[c], utc=True).dt.tz_localize(None).to_numpy()
    ids = enc.incident_id
    out: list[Series] = []
    for k, members in enumerate(ordered):
        m, prob, lo, hi = int(sizes[k]), probs[k], int(member_at[k]), int(member_at[k + 1])
        explanations = []
        for r in range(m):
            others = np.delete(prob[r], r)
            drivers = tuple((f, c) for f, _, c in expl[lo + r].contributions[:n_drivers])
            explanations.append(MemberExplanation(
                incident_id=str(ids[members[r]]), mean_probability=float(others.mean()) if m > 1 else 1.0,
                strongest_link=str(ids[members[best[k][r]]]) if m > 1 else None,
                strongest_probability=float(prob[r, best[k][r]]), drivers=drivers))
        out.append(Series.build(f"{prefix}{k + 1:04d}", {c: v[lo:hi] for c, v in cols.items()},
                                {c: v[lo:hi] for c, v in attr_cols.items()}, prob, explanations))
    return out


def find_series(linker: PairwiseLinker, incidents: IncidentTable, *, threshold: float = 0.5,
                method: Literal["average", "components"] = "components", scores: PairScores | None = None,
                enc: EncodedIncidents | None = None, prefix: str = "S",
                progress: Callable[[int, int], None] | None = None) -> tuple[list[Series], PairScores]:
    """Score the candidate pairs of ``incidents``, cluster them into series and describe each one.

    Pairs below ``min(threshold, 0.05)`` are dropped while scoring to bound memory;
    ``progress(scored, total)`` follows the scoring (when ``scores`` is not given).
    """
    enc = linker.encode(incidents) if enc is None else enc
    if scores is None:
        scores = linker.score_all(enc, min_probability=min(threshold, 0.05), progress=progress)
    groups = cluster_pairs(len(enc), scores.i, scores.j, scores.probability, threshold=threshold, method=method)
    return describe_series(linker, incidents, enc, groups, prefix=prefix), scores


def _frame_ids(frame: pd.DataFrame) -> NDArray[np.object_]:
    return frame["incident_id"].astype(str).to_numpy(dtype=object)
