"""Count models: naive counts over a window and exponentially time-weighted counts.

Naive counts are the baseline every hotspot method must beat: on Chicago
aggravated assaults at a 7-day horizon, two years of counts are within ~8 % of
the accuracy a forecaster knowing each cell's true rate would reach. The
time-weighted count (half-life ``half_life_days``) is the same idea with a
smooth memory; it breaks most of the ties that make plain counts' rankings
arbitrary.

Failure mode: both ignore space. A cell with no past incident gets zero risk,
however busy its neighbours are.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from crimelens.forecast._area import StudyArea
from crimelens.forecast._base import HotspotModel
from crimelens.forecast._hours import check_time_of_day, check_timezone, time_of_day_scale
from crimelens.forecast._params import check_positive
from crimelens.forecast._season import check_premise_names, premise_seasonal_adjustment

__all__ = ["NaiveCounts", "TimeWeightedCounts"]


class NaiveCounts(HotspotModel):
    """Incidents per cell in the last ``window_days`` days, scaled to the forecast window.

    Parameters
    ----------
    window_days : float
        Length of the counting window in days (default 730, two years).
    area, cell_m :
        See :class:`HotspotModel`.
    """

    def __init__(self, *, window_days: float = 730.0, area: StudyArea | None = None,
                 cell_m: float = 150.0) -> None:
        self.window_days = window_days
        self.area = area
        self.cell_m = cell_m

    def _validate(self) -> None:
        check_positive(self, "window_days", unit="days")

    def _predict(self, t0: float, horizon_days: float) -> NDArray[np.float64]:
        s = self._before(t0, self.window_days)
        cells = self.cell_[s]
        counts = np.bincount(cells[cells >= 0], minlength=self.area_.n_cells).astype(np.float64)
        span = min(float(self.window_days), max(t0 - float(self.t_[0]), 1.0))
        counts *= horizon_days / span
        return counts


class TimeWeightedCounts(HotspotModel):
    """Counts where an incident ``a`` days old weighs ``2 ** (-a / half_life_days)``, lightly smoothed.

    Each cell's weighted count is blended with ``neighbour_weight`` times the sum
    over its neighbours within ``neighbour_radius_m`` (the 8 surrounding square
    cells by default), then rescaled so the total expected count is unchanged.
    The defaults (half-life 730 days, weight 0.1) were chosen on a 2017 weekly
    validation run on Chicago, before and apart from the 2018-2019 test period; so was the
    school-calendar adjustment (``seasonal_premises``, 8.022 -> 8.218 PAI at 1 % there).

    Parameters
    ----------
    half_life_days : float
        Age in days at which an incident counts half (default 730).
    window_days : float or None
        Ignore incidents older than this (default 2920, eight years; None: all).
    neighbour_weight : float
        Weight of the neighbours' sum (default 0.1; 0 turns smoothing off).
    neighbour_radius_m : float or None
        Neighbourhood radius in metres (default 1.5 cell widths).
    seasonal_premises : tuple of str
        Premises whose share of a cell's count is scaled by the premise's
        city-wide seasonal multiplier for the forecast window (default
        ``("education",)``; ``()`` for none; see :mod:`crimelens.forecast._season`).
    time_of_day : float or None
        For a window shorter than a day (a shift), how far each cell's own share of
        incidents in the window's hours reorders the cells (default 0.5; 0: only the
        city's share scales them; None: the hours are not used, each cell's daily rate
        is spread evenly over the day; see :mod:`crimelens.forecast._hours`).
    timezone : str or None
        The zone whose wall clocks a shift's hours are read on (an IANA name such as
        ``America/Chicago``; default None: UTC). ``forecast run`` and ``forecast
        backtest`` set the zone the dataset's files were read in.
    """

    def __init__(self, *, half_life_days: float = 730.0, window_days: float | None = 2920.0,
                 neighbour_weight: float = 0.1, neighbour_radius_m: float | None = None,
                 seasonal_premises: tuple[str, ...] = ("education",), time_of_day: float | None = 0.5,
                 timezone: str | None = None,
                 area: StudyArea | None = None, cell_m: float = 150.0) -> None:
        self.half_life_days = half_life_days
        self.window_days = window_days
        self.neighbour_weight = neighbour_weight
        self.neighbour_radius_m = neighbour_radius_m
        self.seasonal_premises = seasonal_premises
        self.time_of_day = time_of_day
        self.timezone = timezone
        self.area = area
        self.cell_m = cell_m

    def _validate(self) -> None:
        check_positive(self, "half_life_days", unit="days")
        check_positive(self, "window_days", unit="days", allow_none=True)
        check_positive(self, "neighbour_weight", allow_zero=True)
        check_positive(self, "neighbour_radius_m", unit="metres", allow_none=True)
        check_premise_names(self, "seasonal_premises")
        check_time_of_day(self)
        check_timezone(self)

    def _uses_premise(self) -> bool:
        return bool(self.seasonal_premises)

    def _fit(self) -> None:
        if self.neighbour_weight > 0:
            spacing = float(np.sqrt(np.median(self.area_.cell_area_m2)))
            radius = 1.5 * spacing if self.neighbour_radius_m is None else float(self.neighbour_radius_m)
            self.neighbours_ = self.area_.neighbours(radius)

    def _predict(self, t0: float, horizon_days: float) -> NDArray[np.float64]:
        s = self._before(t0, self.window_days)
        cells = self.cell_[s]
        age = t0 - self.t_[s]
        w = np.exp2(-age / self.half_life_days)
        ok = cells >= 0
        score = np.bincount(cells[ok], weights=w[ok], minlength=self.area_.n_cells)
        # the weights of a constant rate integrate to (h / ln 2)(1 - 2^(-L/h)) over the L days of
        # history available, so this divisor turns the weighted sum into a daily rate
        span = max(t0 - float(self.t_[0]), 1.0)
        if self.window_days is not None:
            span = min(span, float(self.window_days))
        h = float(self.half_life_days)
        norm = h / math.log(2.0) * (1.0 - 2.0 ** (-span / h))
        out: NDArray[np.float64] = score.astype(np.float64) / norm * horizon_days
        if self.seasonal_premises:
            out += premise_seasonal_adjustment(
                self.t_, self.cell_, self.premise_, self.seasonal_premises, t0, horizon_days,
                self.area_.n_cells, half_life_days=h, history_days=span)
        if self.neighbour_weight > 0:
            total = float(out.sum())
            blended = out + float(self.neighbour_weight) * (self.neighbours_ @ out)
            if blended.sum() > 0:
                out = blended * (total / float(blended.sum()))
        hours = None if self.time_of_day is None else time_of_day_scale(
            self.t_, self.cell_, t0, horizon_days, self.area_.n_cells, strength=float(self.time_of_day),
            half_life_days=h, history_days=span, zone=self.timezone)
        if hours is not None:
            out = out * hours
        return out
