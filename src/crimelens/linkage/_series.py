"""Candidate series from linked pairs: clustering, a seeded growing search, and summaries.

* ``method="components"``: connected components of the graph of pairs whose
  link probability is at least ``threshold`` — simple, but one spurious link
  merges two series (chaining).
* ``method="average"`` (default): components at ``threshold`` are split by
  average-linkage clustering on ``1 − p`` (missing pairs count as ``p = 0``)
  cut at ``1 − threshold``: every member's *mean* link to the rest of its series
  is at least about ``threshold``, which resists chaining.
* :func:`grow_series`: a seeded search in the spirit of Series Finder (Wang et
  al. 2013): start from one or more incidents and repeatedly add the incident
  with the highest mean link probability to the current members while that
  cohesion stays at or above ``threshold``.

Each :class:`Series` carries its members in time order, the M.O. values shared
by at least half of them, its time span, its area (centroid and convex-hull
area) and, per member, an explanation: its mean link probability to the
others, its strongest link and the features that drove that link. Only pairs
inside the linker's block (offense family, radius, window) have a probability:
a member's mean, its strongest link and the series' cohesion are taken over its
series-mates inside the block (a member with none there has no strongest link).

Either method caps a group at ``max_component`` members (2,000): a larger connected
component is a chain percolating through a dense city, not a series (at p >= 0.5 a
synthetic city of 1.16 M incidents has one of about 95,000), and describing it would
need every pair of its members. Such a component is split by raising its link
threshold in steps of 0.05 until every part has at most ``max_component`` members;
incidents left alone by the split are in no series.

Failure modes: a threshold too low chains unrelated incidents through dense
hotspots; too high splits a series whose M.O. drifts; incidents outside the
block of every other member can never join.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import squareform

from crimelens.errors import InvalidParameterError

__all__ = ["SERIES_THRESHOLD", "MemberExplanation", "Series", "cluster_pairs", "grow_series", "link_matrix"]

#: The link probability at which `link series` joins incidents by default. The probability is
#: calibrated on all candidate pairs, where look-alikes are many: a planted series' pairs are one by one
#: rarely more likely linked than not, and series are rebuilt by chains of weaker links. Measured on the
#: synthetic city of seed 7 (benchmarks/linkage_calibration.py): 0.01 rebuilds 12 of 27 planted series
#: exactly and 23 partly at 3 km / 60 days (5 and 20 at 1 km / 30 days); 0.5 rebuilds 2 and 10.
SERIES_THRESHOLD = 0.01


def link_matrix(n: int, i: NDArray[np.int64], j: NDArray[np.int64], p: NDArray[np.float64]) -> csr_matrix:
    """Symmetric sparse matrix of link probabilities over ``n`` incidents."""
    m = coo_matrix((np.concatenate([p, p]), (np.concatenate([i, j]), np.concatenate([j, i]))), shape=(n, n))
    return csr_matrix(m)


def cluster_pairs(n: int, i: NDArray[np.int64], j: NDArray[np.int64], p: NDArray[np.float64], *,
                  threshold: float = 0.5, method: Literal["average", "components"] = "average",
                  max_component: int = 2000) -> list[NDArray[np.int64]]:
    """Groups (of >= 2 incident indices) from scored pairs; see the module notes (a component
    of more than ``max_component`` incidents is split by raising its threshold).

    Examples
    --------
    >>> i = np.array([0, 1, 0, 3]); j = np.array([1, 2, 2, 4]); p = np.array([0.9, 0.8, 0.7, 0.2])
    >>> [g.tolist() for g in cluster_pairs(5, i, j, p, threshold=0.5)]
    [[0, 1, 2]]
    """
    if not 0 < threshold <= 1:
        raise InvalidParameterError(f"cluster_pairs(threshold={threshold}): expected a probability in (0, 1]")
    if method not in ("average", "components"):
        raise InvalidParameterError(f"cluster_pairs(method={method!r}): expected 'average' or 'components'")
    keep = p >= threshold
    i, j, p = i[keep], j[keep], p[keep]
    if len(i) == 0:
        return []
    g = link_matrix(n, i, j, p)
    groups: list[NDArray[np.int64]] = []
    for members in _capped_components(g, np.arange(n, dtype=np.int64), threshold, max_component):
        if method == "components" or len(members) == 2:
            groups.append(members)
            continue
        sub = g[members][:, members].toarray()
        dist = 1.0 - sub
        np.fill_diagonal(dist, 0.0)
        z = linkage(squareform(dist, checks=False), method="average")
        labels = fcluster(z, t=1.0 - threshold + 1e-12, criterion="distance")
        for lab in np.unique(labels):
            part = members[labels == lab]
            if len(part) >= 2:
                groups.append(part)
    groups.sort(key=lambda a: (-len(a), int(a[0])))
    return groups


def _components(g: csr_matrix, members: NDArray[np.int64]) -> list[NDArray[np.int64]]:
    """Connected components (of >= 2 members, each sorted) of ``g`` restricted to ``members``."""
    sub = g[members][:, members] if len(members) < g.shape[0] else g
    _, comp = connected_components(sub, directed=False)
    sizes = np.bincount(comp)
    order = np.argsort(comp, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return [np.sort(members[order[bounds[c]:bounds[c + 1]]]).astype(np.int64) for c in np.nonzero(sizes >= 2)[0]]


def _capped_components(g: csr_matrix, members: NDArray[np.int64], threshold: float,
                       cap: int) -> list[NDArray[np.int64]]:
    """Components of ``g`` (edges already >= ``threshold``); one larger than ``cap`` is split by
    keeping only its edges >= the threshold raised by 0.05, repeatedly, until no part exceeds ``cap``."""
    out: list[NDArray[np.int64]] = []
    todo = [(part, threshold) for part in _components(g, members)]
    while todo:
        part, t = todo.pop()
        if len(part) <= cap:
            out.append(part)
            continue
        t = t + 0.05
        sub = g[part][:, part].tocsr()
        sub.data[sub.data < t] = 0.0
        sub.eliminate_zeros()
        todo += [(part[k], t) for k in _components(sub, np.arange(len(part), dtype=np.int64))]
    out.sort(key=lambda a: int(a[0]))
    return out


def grow_series(matrix: csr_matrix, seeds: Sequence[int], *, threshold: float = 0.5,
                max_size: int = 100) -> NDArray[np.int64]:
    """Series-Finder-style growth from ``seeds`` over a link-probability matrix.

    Examples
    --------
    >>> m = link_matrix(4, np.array([0, 0, 1, 2]), np.array([1, 2, 2, 3]), np.array([.9, .8, .7, .3]))
    >>> grow_series(m, [0], threshold=0.5).tolist()
    [0, 1, 2]
    """
    if not seeds:
        raise InvalidParameterError("grow_series: got no seed incidents; expected at least one")
    members = list(dict.fromkeys(int(s) for s in seeds))
    total = np.asarray(matrix[members].sum(axis=0)).ravel()
    while len(members) < max_size:
        cohesion = total / len(members)
        cohesion[members] = -1.0
        best = int(np.argmax(cohesion))
        if cohesion[best] < threshold:
            break
        members.append(best)
        total += np.asarray(matrix[best].toarray()).ravel()
    return np.array(sorted(members), dtype=np.int64)


@dataclass(frozen=True, slots=True)
class MemberExplanation:
    """Why one incident is in its series: its mean link probability to its series-mates inside the
    linker's block, the strongest of those links (``None``, probability 0, when it has no
    series-mate inside the block) and the features that drove it, each with what the pair has
    (its reading: ``both 'rear door' (rare: 4 % of the training incidents)``, ``860 m apart``) and,
    for an M.O. attribute, whether the two agree (``agree``, ``differ``, ``missing``; else "")."""

    incident_id: str
    mean_probability: float
    strongest_link: str | None
    strongest_probability: float
    # (feature, contribution to the strongest link's log-odds, reading, agreement)
    drivers: tuple[tuple[str, float, str, str], ...]

    def as_dict(self) -> dict[str, Any]:
        return {"incident_id": self.incident_id, "mean_probability": self.mean_probability,
                "strongest_link": self.strongest_link, "strongest_probability": self.strongest_probability,
                "drivers": [{"feature": f, "contribution": c, "reading": r, **({"agreement": a} if a else {})}
                            for f, c, r, a in self.drivers]}


def _utc(times: NDArray[np.datetime64], pick: Any) -> datetime:
    """The earliest / latest (``pick``) of naive-UTC ``datetime64`` values, as an aware datetime."""
    known = times[~np.isnat(times)]
    return pd.Timestamp(pick(known)).tz_localize(UTC).to_pydatetime()


def _cohesion(p: NDArray[np.float64]) -> float:
    """Mean link probability of the member pairs inside the block (0 when none is)."""
    inside = p[np.isfinite(p)]
    return float(inside.mean()) if len(inside) else 0.0


@dataclass(frozen=True, slots=True)
class Series:
    """One candidate series, computed at construction from its members."""

    series_id: str
    members: tuple[str, ...]
    offense: tuple[str, ...]
    first_from: datetime
    last_to: datetime
    centroid_x_m: float
    centroid_y_m: float
    hull_area_m2: float
    max_extent_m: float
    common_mo: tuple[tuple[str, str, float], ...]  # (attribute, value, share of members)
    cohesion: float  # mean link probability over the member pairs inside the linker's block
    explanations: tuple[MemberExplanation, ...]

    @property
    def n_members(self) -> int:
        return len(self.members)

    @property
    def span_days(self) -> float:
        return (self.last_to - self.first_from).total_seconds() / 86400.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "series_id": self.series_id, "n_members": self.n_members, "members": list(self.members),
            "offense": list(self.offense), "first_from": self.first_from.isoformat(),
            "last_to": self.last_to.isoformat(), "span_days": self.span_days,
            "centroid_x_m": self.centroid_x_m, "centroid_y_m": self.centroid_y_m,
            "hull_area_m2": self.hull_area_m2, "max_extent_m": self.max_extent_m,
            "common_mo": [{"attribute": a, "value": v, "share": s} for a, v, s in self.common_mo],
            "cohesion": self.cohesion, "explanations": [e.as_dict() for e in self.explanations],
        }

    @classmethod
    def build(cls, series_id: str, members: Mapping[str, NDArray[Any]], attrs: Mapping[str, NDArray[Any]],
              prob: NDArray[np.float64], explanations: Sequence[MemberExplanation]) -> Series:
        """From the members' columns in time order (``incident_id``, ``offense``, ``x_m``, ``y_m``,
        ``occurred_from`` and ``occurred_to`` as UTC ``datetime64``), their parsed M.O. attributes
        (one object array per attribute, NaN where absent) and their pair matrix (NaN: a pair
        outside the linker's block, which has no probability and does not count in the cohesion)."""
        import shapely

        xy = np.column_stack([members["x_m"], members["y_m"]]).astype(np.float64)
        hull = shapely.convex_hull(shapely.multipoints(xy))
        d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
        n = len(xy)
        common: list[tuple[str, str, float]] = []
        for col, arr in attrs.items():
            if col in ("series_id",):
                continue
            values = [str(v) for v in arr.tolist() if not (isinstance(v, float) and math.isnan(v))]
            if not values:
                continue
            value, count = Counter(values).most_common(1)[0]  # ties: the value seen first
            share = float(count / n)
            if share >= 0.5:
                common.append((str(col), value, share))
        common.sort(key=lambda t: (-t[2], t[0]))
        iu = np.triu_indices(n, 1)
        return cls(
            series_id=series_id, members=tuple(str(v) for v in members["incident_id"]),
            offense=tuple(sorted({str(v) for v in members["offense"]})),
            first_from=_utc(members["occurred_from"], np.min), last_to=_utc(members["occurred_to"], np.max),
            centroid_x_m=float(xy[:, 0].mean()), centroid_y_m=float(xy[:, 1].mean()),
            hull_area_m2=float(hull.area), max_extent_m=float(d.max()) if n else 0.0,
            common_mo=tuple(common), cohesion=_cohesion(prob[iu]) if n > 1 else 1.0,
            explanations=tuple(explanations),
        )
