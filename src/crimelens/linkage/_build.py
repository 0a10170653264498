"""From a fitted linker and incidents to described candidate series."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

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
    """A :class:`Series` per group of incident indices, with per-member explanations."""
    frame = incidents.frame
    out: list[Series] = []
    for k, members in enumerate(groups):
        members = np.asarray(members, np.int64)
        members = members[np.argsort(enc.t_from[members], kind="stable")]
        m = len(members)
        iu, ju = np.triu_indices(m, 1)
        _, p = linker.score(enc, members[iu], members[ju])
        prob = np.zeros((m, m))
        prob[iu, ju] = p
        prob[ju, iu] = p
        best = np.argmax(prob, axis=1)
        a = members
        b = members[best]
        expl = linker.explain(enc, np.minimum(a, b), np.maximum(a, b))
        ids = enc.incident_id
        explanations = []
        for r in range(m):
            others = np.delete(prob[r], r)
            drivers = tuple((f, c) for f, _, c in expl[r].contributions[:n_drivers])
            explanations.append(MemberExplanation(
                incident_id=str(ids[members[r]]), mean_probability=float(others.mean()) if m > 1 else 1.0,
                strongest_link=str(ids[b[r]]) if m > 1 else None,
                strongest_probability=float(prob[r, best[r]]), drivers=drivers))
        rows = frame.iloc[members].reset_index(drop=True)
        attrs = parse_attrs(rows["attrs"].to_numpy(dtype=object))
        if "premise" not in attrs.columns:
            attrs["premise"] = rows["premise"].astype(object).where(rows["premise"].notna(), np.nan)
        keep = [c for c in attrs.columns if c in linker.featurizer_.mo_columns_
                or c in linker.featurizer_.numeric_columns_]
        out.append(Series.build(f"{prefix}{k + 1:04d}", rows, attrs[keep], prob, explanations))
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
