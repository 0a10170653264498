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

Incidents recorded in no cell of the areas (beyond every area, or in no grid cell) are
counted in the ``(outside areas)`` group when given (``incidents_outside``), so the
groups' ``incident_share`` adds up to all incidents of the period; they are never in a
flagged cell (a miss for that group's ``hit_rate``), and that group gets no PAI (the
surface they came from is not measured).

Only cells with a forecast risk (score) above 0 count as flagged. Where fewer cells than
the coverage asks for have any risk (naive counts over a short window; a period whose
forecast is 0 everywhere), the rest of the cut would fall on cells tied at 0, picked by
the tie rule alone (the lowest cell indices, or every zero cell's pro-rata share): an
artefact of tie-breaking, not the model's choice, so those flags are not given and the
period flags less than the coverage. :meth:`RollingBacktest.flag_counts` gives, per
period, the flags the coverage asked for and the cells with risk above 0; the report's
``flags`` block and ``caution_zero_risk`` say where they differ.

Cells tied on a score above 0 at the cut share the flags left pro rata
(:func:`flags_from_scores`, ``ties="split"``): taking the tied ones by cell index (rows
from the south, say) would flag a group for nothing but its position in the grid.
:meth:`RollingBacktest.tie_summary` says how many flags went to tied cells.

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
from typing import Any, Literal

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
    "RollingBacktest",
    "exposure_audit",
    "exposure_of_surfaces",
    "flags_from_scores",
    "rolling_backtest",
    "rolling_flags",
    "split_ties",
    "tie_counts",
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


def flags_from_scores(
    scores: NDArray[np.float64],
    cell_area: NDArray[np.float64] | float,
    coverage: float,
    *,
    ties: Literal["split", "index"] = "split",
    positive_only: bool = False,
) -> NDArray[np.float64]:
    """Flag the highest-scoring cells until they cover ``coverage`` of the total surface.

    The cells are taken by descending score until their surface reaches ``coverage`` of
    the whole (the last one may overshoot it). Cells tied on the score of the last cell
    taken (the *cut*) are where the order decides: with ``ties="split"`` (default) every
    cell tied at the cut gets the same fraction of a flag, (flagged surface left after the
    cells above the cut) / (surface of the tied cells), which is the mean over every order
    of the tied cells, so no share depends on cell order; with ``ties="index"`` the tied
    cells are taken by ascending index (whole flags, the rule of ``RiskSurface.flagged``).
    With ``positive_only`` (the exposure audit's rule) a cell with a score of 0 or less is never
    flagged: only the tie rule would pick it, so the flags it would get are not given and the
    cells flagged may cover less than ``coverage``. Returns flags in [0, 1], one per cell.

    Examples
    --------
    >>> flags_from_scores(np.array([0.1, 0.9, 0.5, 0.0]), 1.0, 0.5).tolist()
    [0.0, 1.0, 1.0, 0.0]
    >>> flags_from_scores(np.array([2.0, 1.0, 1.0, 1.0]), 1.0, 0.5).round(3).tolist()
    [1.0, 0.333, 0.333, 0.333]
    >>> flags_from_scores(np.array([2.0, 1.0, 1.0, 1.0]), 1.0, 0.5, ties="index").tolist()
    [1.0, 1.0, 0.0, 0.0]
    >>> flags_from_scores(np.array([3.0, 0.0, 0.0, 0.0]), 1.0, 0.5, positive_only=True).tolist()
    [1.0, 0.0, 0.0, 0.0]
    """
    if not 0.0 < coverage <= 1.0:
        raise InvalidParameterError(f"coverage={coverage}: expected a share of the surface in (0, 1]")
    if ties not in ("split", "index"):
        raise InvalidParameterError(f"flags_from_scores(ties={ties!r}): expected 'split' or 'index'")
    s = np.asarray(scores, dtype=np.float64)
    area = np.broadcast_to(np.asarray(cell_area, dtype=np.float64), s.shape)
    flags = np.zeros(len(s), dtype=np.float64)
    if len(s) == 0:
        return flags
    order = np.argsort(-s, kind="stable")
    cum = np.cumsum(area[order])
    n_flag = min(int(np.searchsorted(cum, coverage * area.sum() - 1e-9 * area.sum()) + 1), len(s))
    flags[order[:n_flag]] = 1.0
    out = flags if ties == "index" else split_ties(s, flags, area)
    if positive_only:
        out[~(s > 0)] = 0.0
    return out


def split_ties(scores: NDArray[np.float64], flags: NDArray[np.float64],
               cell_area: NDArray[np.float64] | float = 1.0) -> NDArray[np.float64]:
    """Whole flags taken in some order, with the cells tied at the cut sharing them pro rata.

    The cut is the lowest score flagged; when the cells tied on it are not all flagged,
    each gets (their flagged surface) / (their whole surface) of a flag. Cells above the
    cut and the total flagged surface are unchanged.

    Examples
    --------
    >>> split_ties(np.array([5.0, 0.0, 0.0, 0.0]), np.array([1.0, 1.0, 0.0, 0.0])).round(3).tolist()
    [1.0, 0.333, 0.333, 0.333]
    """
    s = np.asarray(scores, dtype=np.float64)
    out = np.array(flags, dtype=np.float64)
    area = np.broadcast_to(np.asarray(cell_area, dtype=np.float64), s.shape)
    got = out > 0
    if not got.any():
        return out
    tied = s == s[got].min()
    if out[tied].min() < 1.0:  # the tied cells straddle the cut: they share what is left pro rata
        out[tied] = float((out[tied] * area[tied]).sum()) / float(area[tied].sum())
    return out


def tie_counts(scores: NDArray[np.float64], flags: NDArray[np.float64]) -> dict[str, float]:
    """How much of one period's flagging the order of tied cells could decide.

    Returns the cut (the lowest score that got any flag), the cells above it and tied on
    it, and the flags given to the tied cells when they straddle the cut (``flags_tied``)
    and to cells with a zero score (``flags_zero_score``), in cells' worth of flags.

    Examples
    --------
    >>> s = np.array([3.0, 0.0, 0.0, 0.0])
    >>> tie_counts(s, flags_from_scores(s, 1.0, 0.5))["flags_tied"]
    1.0
    """
    s = np.asarray(scores, dtype=np.float64)
    f = np.asarray(flags, dtype=np.float64)
    got = f > 0
    total = float(f.sum())
    if not got.any():
        return {"cut_score": float("nan"), "cells_above": 0.0, "cells_tied": 0.0, "flags": 0.0,
                "flags_tied": 0.0, "flags_zero_score": 0.0}
    cut = float(s[got].min())
    tied = s == cut
    straddles = bool(f[tied].min() < 1.0)
    return {"cut_score": cut, "cells_above": float((s > cut).sum()), "cells_tied": float(tied.sum()),
            "flags": total, "flags_tied": float(f[tied].sum()) if straddles else 0.0,
            "flags_zero_score": float(f[s <= 0].sum())}


#: Above this mean share of flags placed among tied cells the exposure audit warns.
TIED_SHARE_CAUTION = 0.10


@dataclass(frozen=True)
class RollingBacktest:
    """Flags, incidents and scores per backtest period (rows) and cell (columns)."""

    flagged: NDArray[np.float64]
    incidents: NDArray[np.float64]
    scores: NDArray[np.float64]
    ties: str
    #: per period, the flags (in cells) the coverage asked for; only cells with a score above 0 got
    #: one (``flagged``). None: as many as ``flagged`` holds
    asked: NDArray[np.float64] | None = None

    def flag_counts(self) -> pd.DataFrame:
        """Per period: the flags the coverage asked for (``flags_asked``), the cells with a score
        (forecast risk) above 0 (``cells_risk_above_0``) and the flags given (``flags``: only those
        cells hold one, so fewer than asked where fewer cells have any risk)."""
        given = self.flagged.sum(axis=1)
        return pd.DataFrame({"period": np.arange(self.flagged.shape[0]),
                             "flags_asked": given if self.asked is None else np.asarray(self.asked, dtype=np.float64),
                             "cells_risk_above_0": (self.scores > 0).sum(axis=1), "flags": given})

    def tie_table(self) -> pd.DataFrame:
        """Per period: the cut, the cells above and at it, and the flags the tie rule placed."""
        return pd.DataFrame([{"period": p, **tie_counts(self.scores[p], self.flagged[p])}
                             for p in range(self.flagged.shape[0])])

    def tie_summary(self) -> dict[str, Any]:
        """Mean (and largest) share of each period's flags given to tied cells and to zero-score cells."""
        t = self.tie_table()
        flags = t["flags"].to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            tied = np.where(flags > 0, t["flags_tied"].to_numpy(dtype=np.float64) / flags, np.nan)
            zero = np.where(flags > 0, t["flags_zero_score"].to_numpy(dtype=np.float64) / flags, np.nan)
        return {
            "rule": self.ties,
            "flags_per_period": _num(float(np.nanmean(flags))) if len(flags) else None,
            "share_of_flags_tied": {"mean": _num(_nanmean(tied)), "max": _num(_nanmax(tied))},
            "share_of_flags_zero_score": {"mean": _num(_nanmean(zero)), "max": _num(_nanmax(zero))},
            "cells_tied_at_cut": {"mean": _num(float(t["cells_tied"].mean())), "max": int(t["cells_tied"].max())},
            "per_period": [{k: (_num(v) if k != "period" else int(v)) for k, v in row.items()}
                           for row in t.to_dict("records")],
        }


def _nanmean(x: NDArray[np.float64]) -> float:
    return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")


def _nanmax(x: NDArray[np.float64]) -> float:
    return float(np.nanmax(x)) if np.isfinite(x).any() else float("nan")


def rolling_backtest(
    daily_counts: NDArray[np.float64],
    model: CountModel,
    centres_m: NDArray[np.float64] | None,
    *,
    n_periods: int,
    period_days: int,
    coverage: float,
    cell_area: NDArray[np.float64] | float = 1.0,
    ties: Literal["split", "index"] = "split",
) -> RollingBacktest:
    """Rolling-origin backtest: for each of the last ``n_periods`` periods, fit on everything
    before it, flag ``coverage`` of the surface (:func:`flags_from_scores`, ``ties``), keep the
    flags of the cells with a score above 0 only (how many the coverage asked for is kept in
    ``asked``), and count the period's incidents per cell. Keeps each period's scores for
    :func:`tie_counts`.
    """
    counts = np.asarray(daily_counts, dtype=np.float64)
    if n_periods < 1 or period_days < 1:
        raise InvalidParameterError(f"rolling_backtest(n_periods={n_periods}, period_days={period_days}): both must be >= 1")
    first = len(counts) - n_periods * period_days
    if first < 1:
        raise InputError(
            f"rolling_backtest: {len(counts)} days of counts cannot hold {n_periods} periods of {period_days} days "
            "after at least one training day"
        )
    flagged = np.zeros((n_periods, counts.shape[1]), dtype=np.float64)
    incidents = np.zeros((n_periods, counts.shape[1]), dtype=np.float64)
    scores = np.zeros((n_periods, counts.shape[1]), dtype=np.float64)
    asked = np.zeros(n_periods, dtype=np.float64)
    for p in range(n_periods):
        start = first + p * period_days
        scores[p] = model.fit_counts(counts[:start], centres_m).score()
        cut = flags_from_scores(scores[p], cell_area, coverage, ties=ties)
        asked[p] = round(float(cut.sum()), 9)  # split shares of a tie add up to whole cells, but for rounding
        flagged[p] = np.where(scores[p] > 0, cut, 0.0)  # a cell of risk 0 only the tie rule would pick
        incidents[p] = counts[start : start + period_days].sum(axis=0)
    return RollingBacktest(flagged=flagged, incidents=incidents, scores=scores, ties=ties, asked=asked)


def rolling_flags(
    daily_counts: NDArray[np.float64],
    model: CountModel,
    centres_m: NDArray[np.float64] | None,
    *,
    n_periods: int,
    period_days: int,
    coverage: float,
    cell_area: NDArray[np.float64] | float = 1.0,
    ties: Literal["split", "index"] = "split",
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Rolling-origin backtest: for each of the last ``n_periods`` periods, fit on everything
    before it, flag ``coverage`` of the surface, and count the period's incidents per cell.

    Returns ``(flagged, incidents)``, both of shape ``(n_periods, cells)``; flags are in
    [0, 1] (cells tied at the cut share it, see :func:`flags_from_scores`; cells with a score
    of 0 are never flagged). See
    :func:`rolling_backtest` for the scores and the tie counts as well.
    """
    run = rolling_backtest(daily_counts, model, centres_m, n_periods=n_periods, period_days=period_days,
                           coverage=coverage, cell_area=cell_area, ties=ties)
    return run.flagged, run.incidents


@dataclass(frozen=True)
class ExposureReport:
    """Exposure per area group, per period and summarised across periods."""

    group_by: str | None
    confidence: float
    n_periods: int
    per_period: pd.DataFrame = field(repr=False)
    table: pd.DataFrame = field(repr=False)
    #: incidents over all periods, and those recorded in no cell (counted under ``(outside areas)``)
    n_incidents: float = 0.0
    n_incidents_outside: float = 0.0
    #: per period: the flags the coverage asked for, the cells with a forecast risk above 0 and the
    #: flags given (:meth:`RollingBacktest.flag_counts`); None when the caller did not say
    flag_counts: pd.DataFrame | None = field(default=None, repr=False)

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
                               "n_periods": self.n_periods, "n_incidents": _num(self.n_incidents),
                               "n_incidents_outside_cells": _num(self.n_incidents_outside), "groups": {}}
        for g, frame in self.table.groupby("group", sort=False):
            entry: dict[str, Any] = {
                "population": _num(frame["population"].iloc[0]),
                "n_areas": int(frame["n_areas"].iloc[0]),
                "cells": round(float(frame["cells"].iloc[0]), 6),
            }
            for r in frame.itertuples():
                entry[str(r.metric)] = {"mean": _num(r.mean), "lo": _num(r.lo), "hi": _num(r.hi)}
            out["groups"][str(g)] = entry
        if self.flag_counts is not None:
            c = self.flag_counts
            out["flags"] = {
                "rule": "only cells with a forecast risk above 0 count as flagged",
                "asked_per_period": _num(float(c["flags_asked"].mean())) if len(c) else None,
                "n_periods_short": int((c["flags"] < c["flags_asked"] - 1e-9).sum()),
                "n_periods_all_zero": int((c["cells_risk_above_0"] == 0).sum()),
                "per_period": [{"period": int(p), "flags_asked": _num(a), "cells_risk_above_0": int(n),
                                "flags": _num(f)}
                               for p, a, n, f in zip(c["period"].to_numpy(np.int64), c["flags_asked"].to_numpy(np.float64),
                                                     c["cells_risk_above_0"].to_numpy(np.int64),
                                                     c["flags"].to_numpy(np.float64), strict=True)],
            }
            caution = _zero_risk_caution(c)
            if caution is not None:
                out["caution_zero_risk"] = caution
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


def _zero_risk_caution(counts: pd.DataFrame) -> str | None:
    """The caution for periods in which fewer cells had a forecast risk above 0 than the flags the
    coverage asked for (``counts``: :meth:`RollingBacktest.flag_counts`), or None when none did."""
    short = counts[counts["flags"] < counts["flags_asked"] - 1e-9]
    if short.empty:
        return None
    asked = sorted({round(float(a)) for a in short["flags_asked"]})
    wanted = f"{asked[0]:,}" if len(asked) == 1 else f"{asked[0]:,}-{asked[-1]:,}"
    lo, hi = int(short["cells_risk_above_0"].min()), int(short["cells_risk_above_0"].max())
    n_zero = int((short["cells_risk_above_0"] == 0).sum())
    given = float((short["flags"] / short["flags_asked"]).mean())
    return (f"in {len(short)} of {len(counts)} periods fewer cells had a forecast risk above 0 "
            f"({lo:,}" + ("" if lo == hi else f"-{hi:,}") + f") than the {wanted} flags the coverage asks for"
            + (f"; in {n_zero} of them every cell's forecast was 0" if n_zero else "")
            + f": only cells with risk above 0 count as flagged, so those periods flag {given:.0%} of the cells "
            "asked for (mean)" + (", and a period with no flag has no flag_share or PAI" if n_zero else "")
            + ". The rest of the cut would have fallen on cells tied at 0, picked by the tie rule alone, not by "
            "the model")


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
    incidents_outside: NDArray[np.float64] | None = None,
    flags_asked: NDArray[np.float64] | None = None,
    cells_risk_above_0: NDArray[np.float64] | NDArray[np.int64] | None = None,
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
    incidents_outside : (periods,) incidents recorded in no cell (outside every area's cells).
        They count in the ``(outside areas)`` group, never flagged, so every group's
        ``incident_share`` is a share of all the period's incidents and the shares add up to 1.
    flags_asked, cells_risk_above_0 : (periods,) the flags the coverage asked for and the cells whose
        forecast risk is above 0 (the only cells that can be flagged): given both, the report's
        ``flag_counts`` and its summary's ``flags`` block keep them, with ``caution_zero_risk`` where
        a period had fewer such cells than flags asked for.
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
    beyond = np.zeros(f.shape[0]) if incidents_outside is None else np.asarray(incidents_outside, dtype=np.float64)
    if beyond.shape != (f.shape[0],):
        raise InputError(f"exposure_audit: incidents_outside has shape {beyond.shape}; expected ({f.shape[0]},), "
                         "one count per period")
    counts = None
    if (flags_asked is None) != (cells_risk_above_0 is None):
        raise InputError("exposure_audit: got one of flags_asked and cells_risk_above_0; expected both or neither")
    if flags_asked is not None and cells_risk_above_0 is not None:
        asked = np.asarray(flags_asked, dtype=np.float64)
        positive = np.asarray(cells_risk_above_0, dtype=np.int64)
        if asked.shape != (f.shape[0],) or positive.shape != (f.shape[0],):
            raise InputError(f"exposure_audit: flags_asked has shape {asked.shape} and cells_risk_above_0 "
                             f"{positive.shape}; expected ({f.shape[0]},) each, one count per period")
        counts = pd.DataFrame({"period": np.arange(f.shape[0]), "flags_asked": asked,
                               "cells_risk_above_0": positive, "flags": f.sum(axis=1)})
    labels = area_groups(areas, group_by, n_quantiles=n_quantiles)
    order = list(dict.fromkeys(sorted(labels)))
    weights = {g: w[:, [i for i, lab in enumerate(labels) if lab == g]].sum(axis=1) for g in order}
    pops = {g: sum(a.population or 0 for a, lab in zip(areas, labels, strict=True) if lab == g) for g in order}
    n_areas = {g: sum(1 for lab in labels if lab == g) for g in order}
    outside = np.clip(1.0 - w.sum(axis=1), 0.0, 1.0)
    outside[outside < 1e-6] = 0.0  # slivers from rounded polygon coordinates
    if outside.sum() > 1e-6 or beyond.sum() > 0:
        weights[OUTSIDE] = outside
        pops[OUTSIDE] = 0
        n_areas[OUTSIDE] = 0
        order.append(OUTSIDE)
    area_c = np.broadcast_to(np.asarray(cell_area, dtype=np.float64), (f.shape[1],))
    total_pop = float(sum(pops.values()))
    rows = []
    for p in range(f.shape[0]):
        total_flags = float(f[p].sum())
        total_inc = float(y[p].sum()) + float(beyond[p])
        for g in order:
            wg = weights[g]
            flags_g = float((f[p] * wg).sum())
            inc_g = float((y[p] * wg).sum()) + (float(beyond[p]) if g == OUTSIDE else 0.0)
            hit_g = float((f[p] * y[p] * wg).sum())
            surf_g = float((area_c * wg).sum())
            flag_surf_g = float((f[p] * area_c * wg).sum())
            pop_g = float(pops[g])
            share = flags_g / total_flags if total_flags > 0 else np.nan
            inc_share = inc_g / total_inc if total_inc > 0 else np.nan
            pop_share = pop_g / total_pop if total_pop > 0 else np.nan
            hit = hit_g / inc_g if inc_g > 0 else np.nan
            frac = flag_surf_g / surf_g if surf_g > 0 else np.nan
            if g == OUTSIDE and beyond.sum() > 0:
                frac = np.nan  # incidents beyond the cells come from a surface nobody measured: no PAI
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
        n_incidents=float(y.sum() + beyond.sum()),
        n_incidents_outside=float(beyond.sum()),
        flag_counts=counts,
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
    ties: Literal["split", "index"] = "split",
) -> ExposureReport:
    """Exposure audit of the forecasting engine's ``RiskSurface`` objects, one per backtest period.

    Each surface flags its top ``coverage`` of cells (``RiskSurface.flagged``; with
    ``ties="split"`` the cells tied at its cut share those flags, see :func:`split_ties`), and only
    its cells with a risk above 0 keep them: a cell of risk 0 in the cut is there by the tie rule
    alone (an all-zero surface flags nothing). The report's ``flag_counts`` and summary say, per
    surface, how many flags the coverage asked for and how many cells had risk above 0.
    ``incidents[i]`` is the :class:`~crimelens.domain.IncidentTable` recorded during surface ``i``'s
    window. All surfaces must share one study area (its cell outlines are overlaid on ``areas``).
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
    cell_km2 = np.asarray(area.cell_area_m2) / 1e6
    flagged = np.stack([np.asarray(s.flagged(coverage), dtype=np.float64) for s in surfaces])
    if ties == "split":  # the surface's own flags take tied cells by index; spread them over the tie
        flagged = np.stack([split_ties(np.asarray(s.intensity, dtype=np.float64), fl, cell_km2)
                            for s, fl in zip(surfaces, flagged, strict=True)])
    risk = np.stack([np.asarray(s.intensity, dtype=np.float64) for s in surfaces])
    asked = np.round(flagged.sum(axis=1), 9)  # whole cells, but for the rounding of split shares
    flagged = np.where(risk > 0, flagged, 0.0)  # cells of risk 0: only the tie rule put them in the cut
    counts = np.stack([area.counts(t.xy_m) if len(t) else np.zeros(area.n_cells) for t in incidents])
    return exposure_audit(flagged, counts, overlap=overlap, areas=areas, group_by=group_by,
                          n_quantiles=n_quantiles, cell_area=cell_km2, confidence=confidence,
                          flags_asked=asked, cells_risk_above_0=(risk > 0).sum(axis=1))
