"""From a fitted linker and incidents to described candidate series."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crimelens.domain import IncidentTable
from crimelens.errors import InvalidParameterError
from crimelens.linkage._features import EncodedIncidents, parse_attrs
from crimelens.linkage._linker import Explanation, PairScores, PairwiseLinker
from crimelens.linkage._readings import pair_reading
from crimelens.linkage._series import MemberExplanation, Series, cluster_pairs

__all__ = ["describe_series", "find_series"]


def describe_series(linker: PairwiseLinker, incidents: IncidentTable, enc: EncodedIncidents,
                    groups: list[NDArray[np.int64]], *, prefix: str = "S", n_drivers: int = 3,
                    members_per_batch: int = 8_192,
                    progress: Callable[[int, int], None] | None = None) -> list[Series]:
    """A :class:`Series` per group of incident indices, with per-member explanations.

    The work is batched across series: the within-series pairs of a batch of series (at most
    ``linker.chunk_pairs`` of them, and at most ``members_per_batch`` members) are scored in one
    call, its members' strongest links explained in one call, and the M.O. attributes of every
    member parsed once, so a city's thousands of small series cost a few model calls rather than
    a few per series, and memory holds one batch's link matrices. ``progress(described,
    n_series)`` follows the series, at least once a batch: explaining a member's strongest link
    costs about 0.3 ms, so a batch of 8,192 members reports within a few seconds (the pair
    budget alone let the million-incident city's 60,000 small series form one batch and the
    progress stand still for 39 s).
    """
    frame = incidents.frame
    ordered = [np.asarray(g, np.int64) for g in groups]
    ordered = [g[np.argsort(enc.t_from[g], kind="stable")] for g in ordered]
    sizes = np.array([len(g) for g in ordered], dtype=np.int64)
    member_at = np.concatenate([[0], np.cumsum(sizes)])
    # every member's row and M.O. attributes, read once (the same columns for every series)
    a_all = np.concatenate(ordered or [np.zeros(0, np.int64)])
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
    step = max(1, int(linker.chunk_pairs))
    n_series = len(ordered)
    out: list[Series] = []
    memo: dict[Any, Any] = {}  # the M.O. vocabularies turned round once, for every member's readings
    if members_per_batch < 1:
        raise InvalidParameterError(f"describe_series(members_per_batch={members_per_batch}): expected >= 1")
    for lo_k, hi_k in _batches(sizes * (sizes - 1) // 2, step, sizes, members_per_batch):
        batch = ordered[lo_k:hi_k]
        probs, best, expl = _link_matrices(linker, enc, batch, step)
        at = 0
        for k, members in enumerate(batch, start=lo_k):
            m, prob, lo, hi = int(sizes[k]), probs[k - lo_k], int(member_at[k]), int(member_at[k + 1])
            explanations = []
            for r in range(m):
                others = np.delete(prob[r], r)
                inside = others[np.isfinite(others)]  # NaN: outside the block, no probability
                b = int(best[k - lo_k][r])
                e = expl[at + r]
                drivers = () if e is None else tuple(
                    (f, c, *_reading(linker, enc, int(members[r]), int(members[b]), f, v, memo))
                    for f, v, c in e.contributions[:n_drivers])
                explanations.append(MemberExplanation(
                    incident_id=str(enc.incident_id[members[r]]),
                    mean_probability=float(inside.mean()) if len(inside) else (1.0 if m == 1 else 0.0),
                    strongest_link=str(enc.incident_id[members[b]]) if b >= 0 else None,
                    strongest_probability=float(prob[r, b]) if b >= 0 else 0.0, drivers=drivers))
            at += m
            out.append(Series.build(f"{prefix}{k + 1:04d}", {c: v[lo:hi] for c, v in cols.items()},
                                    {c: v[lo:hi] for c, v in attr_cols.items()}, prob, explanations))
            if progress is not None and ((k + 1) % _SAY_EVERY == 0 or k + 1 == hi_k):
                progress(k + 1, n_series)
    return out


def _reading(linker: PairwiseLinker, enc: EncodedIncidents, a: int, b: int, feature: str, value: float,
             memo: dict[Any, Any]) -> tuple[str, str]:
    """(reading, agreement or "") of one driver of the pair ``(a, b)``."""
    words = pair_reading(linker, enc, a, b, feature, value, memo=memo)
    return words["reading"], words.get("agreement", "")


#: Series described between two progress reports (and at the end of every batch: a city's
#: largest series come first, a batch each).
_SAY_EVERY = 200


def _batches(n_pairs: NDArray[np.int64], budget: int, n_members: NDArray[np.int64],
             member_budget: int) -> list[tuple[int, int]]:
    """Consecutive ranges of series whose within-series pairs add up to at most ``budget`` and
    whose members to at most ``member_budget`` (a larger series is a batch of its own).

    >>> _batches(np.array([6, 1, 1, 1]), 7, np.array([4, 2, 2, 2]), 5)
    [(0, 1), (1, 3), (3, 4)]
    """
    out: list[tuple[int, int]] = []
    lo, used, members = 0, 0, 0
    for k, (n, m) in enumerate(zip(n_pairs.tolist(), n_members.tolist(), strict=True)):
        if k > lo and (used + n > budget or members + m > member_budget):
            out.append((lo, k))
            lo, used, members = k, 0, 0
        used += n
        members += m
    if lo < len(n_pairs):
        out.append((lo, len(n_pairs)))
    return out


def _link_matrices(linker: PairwiseLinker, enc: EncodedIncidents, batch: list[NDArray[np.int64]],
                   step: int) -> tuple[list[NDArray[np.float64]], list[NDArray[np.int64]], list[Explanation | None]]:
    """For each series of a batch (members in time order): its link-probability matrix and each
    member's strongest link; and the explanation of every member's strongest link, in member order.

    Only pairs inside the linker's block (same family, radius, window) have a probability: the
    others, which the linker never saw as candidates, are NaN, and a member's strongest link is
    the strongest inside the block (-1 and no explanation when it has no series-mate there).
    Scoring them anyway extrapolated the models: on the synthetic city of seed 3 (3 km / 60
    days), 219 members' "strongest link" lay outside the block, 152 of them at p >= 0.9, and
    15 of those were true series-mates.
    """
    tri = [np.triu_indices(len(g), 1) for g in batch]
    pair_at = np.concatenate([[0], np.cumsum([len(iu) for iu, _ in tri])])
    pi = np.concatenate([g[iu] for g, (iu, _) in zip(batch, tri, strict=True)] or [np.zeros(0, np.int64)])
    pj = np.concatenate([g[ju] for g, (_, ju) in zip(batch, tri, strict=True)] or [np.zeros(0, np.int64)])
    inside = linker.in_block(enc, pi, pj)
    # in chunks, as the city-wide scoring does: the shortlist stage builds a feature row per pair
    at = np.flatnonzero(inside)
    p_all = np.full(len(pi), np.nan)
    p_all[at] = np.concatenate([linker.score(enc, pi[at[k:k + step]], pj[at[k:k + step]])[1]
                                for k in range(0, len(at), step)] or [np.zeros(0)])
    probs: list[NDArray[np.float64]] = []
    best: list[NDArray[np.int64]] = []
    for k, (iu, ju) in enumerate(tri):
        m = len(batch[k])
        prob = np.full((m, m), np.nan)
        p = p_all[pair_at[k]:pair_at[k + 1]]
        prob[iu, ju] = p
        prob[ju, iu] = p
        probs.append(prob)
        ranked = np.where(np.isnan(prob), -1.0, prob)
        top = np.argmax(ranked, axis=1) if m else np.zeros(0, np.int64)
        best.append(np.where(ranked[np.arange(m), top] >= 0, top, -1).astype(np.int64) if m else top)
    a = np.concatenate(batch or [np.zeros(0, np.int64)])
    b_at = np.concatenate(best or [np.zeros(0, np.int64)])
    b = np.concatenate([g[np.maximum(x, 0)] for g, x in zip(batch, best, strict=True)] or [np.zeros(0, np.int64)])
    has = b_at >= 0
    # each distinct link explained once: two members are often each other's strongest link, and an
    # explanation (the boosted model's per-feature contributions) costs about 0.5 ms a pair
    pairs = np.column_stack([np.minimum(a[has], b[has]), np.maximum(a[has], b[has])])
    links, back = np.unique(pairs, axis=0, return_inverse=True)
    lo, hi = links[:, 0], links[:, 1]
    once = [e for k in range(0, len(lo), step) for e in linker.explain(enc, lo[k:k + step], hi[k:k + step])]
    out: list[Explanation | None] = [None] * len(a)
    for r, k in zip(np.flatnonzero(has).tolist(), back.ravel().tolist(), strict=True):
        out[r] = once[k]
    return probs, best, out


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
