"""Exposure audit of a place-based forecast or patrol allocation, per group of areas.

Given, for each backtest period, which cells were flagged and how many incidents each
cell recorded, and given areas (polygons with population and demographic audit
attributes) grouped by one attribute, the audit reports per group:

* ``flag_share`` — the group's share of all flagged cells (cells split between areas
  count in proportion to their surface in each);
* ``flags_per_1000`` — flagged cells per 1,000 residents of the group;
* ``hit_rate`` — share of the group's recorded incidents that fell in its flagged cells;
* ``pai`` — predictive accuracy index within the group: hit rate over the flagged share
  of the group's surface (Chainey et al. 2008);
* ``incident_share`` / ``population_share`` — the group's share of recorded incidents /
  residents;
* ``ratio_to_incidents`` / ``ratio_to_population`` — ``flag_share`` over those shares
  (1 = flags in proportion; above 1 = the group is flagged more than its share).

Each metric is computed per period; the report gives the mean over periods and a
Student-t interval across periods (``confidence``, default 95 %). With one period
there is no interval.

This is *exposure*, not accuracy: a group can be flagged in proportion to its
recorded incidents and still far beyond its share of residents, and recorded
incidents themselves depend on where police already were (see the feedback
simulator). Read the two ratios side by side; never collapse them into one badge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from crimelens.domain import Area
from crimelens.errors import InputError, InvalidParameterError
from crimelens.feedback._areas import OUTSIDE, area_groups, cell_area_overlap
from crimelens.feedback._models import CountModel

__all__ = [
    "METRICS",
    "ExposureReport",
    "exposure_audit",
    "exposure_of_surfaces",
    "flags_from_scores",
    "rolling_flags",
]

#: The metrics that are shares of a whole: their intervals are kept inside [0, 1].
SHARES = frozenset({"flag_share", "hit_rate", "incident_share", "population_share"})

METRICS: tuple[str, ...] = (
    "flag_share",
    "flags_per_1000",
    "hit_rate",
    "pai",
    "incident_share",
    "population_share",
    "ratio_to_incidents",
    "ratio_to_population",
)


def flags_from_scores(scores: NDArray[np.float64], cell_area: NDArray[np.float64] | float, coverage: float) -> NDArray[np.bool_]:
    """Flag the highest-scoring cells until they cover ``coverage`` of the total surface.

    Examples
    --------
    >>> flags_from_scores(np.array([0.1, 0.9, 0.5, 0.0]), 1.0, 0.5).tolist()
    [False, True, True, False]
    """
    if not 0.0 < coverage <= 1.0:
        raise InvalidParameterError(f"coverage={coverage}: expected a share of the surface in (0, 1]")
    s = np.asarray(scores, dtype=np.float64)
    area = np.broadcast_to(np.asarray(cell_area, dtype=np.float64), s.shape)
    order = np.argsort(-s, kind="stable")
    cum = np.cumsum(area[order])
    n_flag = int(np.searchsorted(cum, coverage * area.sum() - 1e-9 * area.sum()) + 1)
    flags = np.zeros(len(s), dtype=bool)
    flags[order[: min(n_flag, len(s))]] = True
    return flags


def rolling_flags(
    daily_counts: NDArray[np.float64],
    model: CountModel,
    centres_m: NDArray[np.float64] | None,
    *,
    n_periods: int,
    period_days: int,
    coverage: float,
    cell_area: NDArray[np.float64] | float = 1.0,
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Rolling-origin backtest: for each of the last ``n_periods`` periods, fit on everything
    before it, flag ``coverage`` of the surface, and count the period's incidents per cell.

    Returns ``(flagged, incidents)``, both of shape ``(n_periods, cells)``.
    """
    counts = np.asarray(daily_counts, dtype=np.float64)
    if n_periods < 1 or period_days < 1:
        raise InvalidParameterError(f"rolling_flags(n_periods={n_periods}, period_days={period_days}): both must be >= 1")
    first = len(counts) - n_periods * period_days
    if first < 1:
        raise InputError(
            f"rolling_flags: {len(counts)} days of counts cannot hold {n_periods} periods of {period_days} days "
            "after at least one training day"
        )
    flagged = np.zeros((n_periods, counts.shape[1]), dtype=bool)
    incidents = np.zeros((n_periods, counts.shape[1]), dtype=np.float64)
    for p in range(n_periods):
        start = first + p * period_days
        scores = model.fit_counts(counts[:start], centres_m).score()
        flagged[p] = flags_from_scores(scores, cell_area, coverage)
        incidents[p] = counts[start : start + period_days].sum(axis=0)
    return flagged, incidents


@dataclass(frozen=True)
class ExposureReport:
    """Exposure per area group, per period and summarised across periods."""

    group_by: str | None
    confidence: float
    n_periods: int
    per_period: pd.DataFrame = field(repr=False)
    table: pd.DataFrame = field(repr=False)

    @property
    def groups(self) -> list[str]:
        return [str(g) for g in self.table["group"].unique()]

    def value(self, group: str, metric: str) -> tuple[float, float, float]:
        """``(mean, lo, hi)`` of one metric for one group."""
        row = self.table[(self.table["group"] == group) & (self.table["metric"] == metric)]
        if row.empty:
            raise InputError(f"ExposureReport.value: no row for group={group!r}, metric={metric!r}; groups {self.groups}")
        r = row.iloc[0]
        return float(r["mean"]), float(r["lo"]), float(r["hi"])

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"group_by": self.group_by, "confidence": self.confidence,
                               "n_periods": self.n_periods, "groups": {}}
        for g, frame in self.table.groupby("group", sort=False):
            entry: dict[str, Any] = {
                "population": _num(frame["population"].iloc[0]),
                "n_areas": int(frame["n_areas"].iloc[0]),
                "cells": round(float(frame["cells"].iloc[0]), 6),
            }
            for r in frame.itertuples():
                entry[str(r.metric)] = {"mean": _num(r.mean), "lo": _num(r.lo), "hi": _num(r.hi)}
            out["groups"][str(g)] = entry
        return out

    def to_markdown(self) -> str:
        """The summary table as Markdown (one row per group, ``mean [lo, hi]``)."""
        shown = ("flag_share", "flags_per_1000", "hit_rate", "pai", "ratio_to_incidents", "ratio_to_population")
        head = "| group | population | " + " | ".join(shown) + " |"
        sep = "|" + "---|" * (len(shown) + 2)
        lines = [head, sep]
        for g, frame in self.table.groupby("group", sort=False):
            cells = []
            for m in shown:
                r = frame[frame["metric"] == m].iloc[0]
                cells.append(_fmt(r["mean"], r["lo"], r["hi"]))
            pop = frame["population"].iloc[0]
            lines.append(f"| {g} | {'' if pd.isna(pop) else int(pop):} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _num(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else round(float(x), 6)


def _fmt(mean: float, lo: float, hi: float) -> str:
    if pd.isna(mean):
        return "–"
    if pd.isna(lo):
        return f"{mean:.3g}"
    return f"{mean:.3g} [{lo:.3g}, {hi:.3g}]"


def exposure_audit(
    flagged: NDArray[np.bool_] | NDArray[np.float64],
    incidents: NDArray[np.float64],
    *,
    overlap: NDArray[np.float64],
    areas: Sequence[Area],
    group_by: str | None = None,
    n_quantiles: int = 2,
    cell_area: NDArray[np.float64] | float = 1.0,
    confidence: float = 0.95,
) -> ExposureReport:
    """Audit flagged cells against area groups across backtest periods.

    Parameters
    ----------
    flagged : (periods, cells) booleans (or patrol presence in [0, 1]).
    incidents : (periods, cells) recorded incidents in each period.
    overlap : (cells, areas) fraction of each cell inside each area (:func:`cell_area_overlap`).
    areas : the areas, in the column order of ``overlap``.
    group_by : audit attribute that groups the areas (see :func:`area_groups`).
    cell_area : surface of each cell (any unit), for the PAI.
    confidence : level of the across-period intervals.
    """
    f = np.atleast_2d(np.asarray(flagged, dtype=np.float64))
    y = np.atleast_2d(np.asarray(incidents, dtype=np.float64))
    w = np.asarray(overlap, dtype=np.float64)
    if f.shape != y.shape:
        raise InputError(f"exposure_audit: flagged has shape {f.shape} but incidents {y.shape}; expected equal shapes")
    if w.shape != (f.shape[1], len(areas)):
        raise InputError(f"exposure_audit: overlap has shape {w.shape}; expected ({f.shape[1]}, {len(areas)})")
    if not 0 < confidence < 1:
        raise InvalidParameterError(f"exposure_audit(confidence={confidence}): expected a value in (0, 1)")
    labels = area_groups(areas, group_by, n_quantiles=n_quantiles)
    order = list(dict.fromkeys(sorted(labels)))
    weights = {g: w[:, [i for i, lab in enumerate(labels) if lab == g]].sum(axis=1) for g in order}
    pops = {g: sum(a.population or 0 for a, lab in zip(areas, labels, strict=True) if lab == g) for g in order}
    n_areas = {g: sum(1 for lab in labels if lab == g) for g in order}
    outside = np.clip(1.0 - w.sum(axis=1), 0.0, 1.0)
    outside[outside < 1e-6] = 0.0  # slivers from rounded polygon coordinates
    if outside.sum() > 1e-6:
        weights[OUTSIDE] = outside
        pops[OUTSIDE] = 0
        n_areas[OUTSIDE] = 0
        order.append(OUTSIDE)
    area_c = np.broadcast_to(np.asarray(cell_area, dtype=np.float64), (f.shape[1],))
    total_pop = float(sum(pops.values()))
    rows = []
    for p in range(f.shape[0]):
        total_flags = float(f[p].sum())
        total_inc = float(y[p].sum())
        for g in order:
            wg = weights[g]
            flags_g = float((f[p] * wg).sum())
            inc_g = float((y[p] * wg).sum())
            hit_g = float((f[p] * y[p] * wg).sum())
            surf_g = float((area_c * wg).sum())
            flag_surf_g = float((f[p] * area_c * wg).sum())
            pop_g = float(pops[g])
            share = flags_g / total_flags if total_flags > 0 else np.nan
            inc_share = inc_g / total_inc if total_inc > 0 else np.nan
            pop_share = pop_g / total_pop if total_pop > 0 else np.nan
            hit = hit_g / inc_g if inc_g > 0 else np.nan
            frac = flag_surf_g / surf_g if surf_g > 0 else np.nan
            rows.append(
                {
                    "period": p,
                    "group": g,
                    "flag_share": share,
                    "flags_per_1000": flags_g / pop_g * 1000.0 if pop_g > 0 else np.nan,
                    "hit_rate": hit,
                    "pai": hit / frac if frac and frac > 0 and not np.isnan(hit) else np.nan,
                    "incident_share": inc_share,
                    "population_share": pop_share,
                    "ratio_to_incidents": share / inc_share if inc_share and inc_share > 0 else np.nan,
                    "ratio_to_population": share / pop_share if pop_share and pop_share > 0 else np.nan,
                }
            )
    per_period = pd.DataFrame(rows)
    summary_rows = []
    for g in order:
        frame = per_period[per_period["group"] == g]
        for m in METRICS:
            vals = frame[m].to_numpy(dtype=np.float64)
            vals = vals[np.isfinite(vals)]
            mean = float(vals.mean()) if len(vals) else np.nan
            lo = hi = np.nan
            if len(vals) > 1:
                half = float(stats.t.ppf(0.5 + confidence / 2.0, len(vals) - 1) * vals.std(ddof=1) / np.sqrt(len(vals)))
                # within the metric's own range: a share lies in [0, 1], a rate or ratio is never negative
                lo, hi = max(mean - half, 0.0), (min(mean + half, 1.0) if m in SHARES else mean + half)
            summary_rows.append(
                {
                    "group": g,
                    "population": pops[g] if g != OUTSIDE else np.nan,
                    "n_areas": n_areas[g],
                    "cells": float(weights[g].sum()),
                    "metric": m,
                    "mean": mean,
                    "lo": lo,
                    "hi": hi,
                    "n_periods": len(vals),
                }
            )
    return ExposureReport(
        group_by=group_by,
        confidence=confidence,
        n_periods=f.shape[0],
        per_period=per_period,
        table=pd.DataFrame(summary_rows),
    )


def exposure_of_surfaces(
    surfaces: Sequence[Any],
    incidents: Sequence[Any],
    *,
    areas: Sequence[Area],
    coverage: float = 0.05,
    group_by: str | None = None,
    n_quantiles: int = 2,
    confidence: float = 0.95,
) -> ExposureReport:
    """Exposure audit of the forecasting engine's ``RiskSurface`` objects, one per backtest period.

    Each surface flags its top ``coverage`` of cells (``RiskSurface.flagged``); ``incidents[i]``
    is the :class:`~crimelens.domain.IncidentTable` recorded during surface ``i``'s window. All
    surfaces must share one study area (its cell outlines are overlaid on ``areas``).
    """
    if not surfaces or len(surfaces) != len(incidents):
        raise InputError(
            f"exposure_of_surfaces: got {len(surfaces)} surfaces and {len(incidents)} incident tables; "
            "expected one table per surface, at least one"
        )
    area = surfaces[0].area
    if any(s.area.describe() != area.describe() for s in surfaces[1:]):
        raise InputError("exposure_of_surfaces: the surfaces have different study areas; expected one")
    import shapely

    outlines = [shapely.to_wkt(p) for p in area.polygons()]
    overlap = cell_area_overlap(outlines, areas)
    flagged = np.stack([np.asarray(s.flagged(coverage)) for s in surfaces])
    counts = np.stack([area.counts(t.xy_m) if len(t) else np.zeros(area.n_cells) for t in incidents])
    return exposure_audit(flagged, counts, overlap=overlap, areas=areas, group_by=group_by,
                          n_quantiles=n_quantiles, cell_area=np.asarray(area.cell_area_m2) / 1e6,
                          confidence=confidence)
