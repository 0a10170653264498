"""Premise seasonality: how much a cell's place type changes its expected count this time of year.

Some places follow a calendar that counts alone cannot see. Assaults recorded at
schools (Chicago's ``education`` premise) stop in the summer holidays and are
twice their yearly mean in term: in the 2010-2016 Chicago data the city-wide
count of ``education`` incidents in a July week is about 0.15 of its yearly
mean and in a February week about 1.9. A count model gives a school cell the
same risk in July as in February; at the top 1 % of cells that is a visible
mistake, because busy high schools are among the busiest cells.

The adjustment added to a cell's expected count for a window ``[t0, t0 + h)``::

    adj_i = sum over listed premises p of  r_ip * h * (m_p(t0) - 1)

* ``r_ip``: the cell's daily rate of incidents at premise ``p``, a count weighted
  ``2 ** (-age / half_life_days)`` over the last ``history_days`` (730 and 2920
  days by default), divided by what a constant rate of one a day would give;
* ``m_p(t0)``: premise ``p``'s city-wide seasonal multiplier, the daily count of
  ``p`` incidents in the same calendar window of each of the last ``years``
  years (widened by ``half_window_days`` on each side) over its daily count in
  the whole year around it. Only years whose year-long window lies inside the
  training history count; with none, ``m_p = 1`` (no adjustment).

Everything uses incidents before ``t0`` only. Premises not listed keep their
rate: on the 2017 Chicago validation weeks applying every premise's multiplier
(streets and parks peak in summer too) scored below the school calendar alone
(docs/forecast.md). The result can be negative for a cell in the holidays; the
models clip the final intensity at zero.

Failure modes: a school calendar that moves (a strike, a late start, a year of
remote schooling) is not in past years' counts; a premise label recorded
inconsistently spreads the effect thin; a data set without premises (or
without the listed ones) gets no adjustment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crimelens.errors import InvalidParameterError

__all__ = ["PremiseCodes", "encode_premises", "premise_seasonal_adjustment"]

_HALF_YEAR = 365.25 / 2.0


class PremiseCodes(NamedTuple):
    """Premise of each event as an integer code into ``categories`` (-1: none recorded)."""

    codes: NDArray[np.int64]
    categories: tuple[str, ...]

    def take(self, index: Any) -> PremiseCodes:
        """The codes at ``index`` (a slice, mask or index array) with the same categories."""
        return PremiseCodes(np.asarray(self.codes[index], dtype=np.int64), self.categories)


def encode_premises(values: PremiseCodes | Sequence[str | None] | NDArray[Any] | pd.Series) -> PremiseCodes:
    """Integer codes for premise labels (missing values: -1); codes pass through unchanged.

    Examples
    --------
    >>> encode_premises(["street", None, "education", "street"])
    PremiseCodes(codes=array([ 1, -1,  0,  1]), categories=('education', 'street'))
    """
    if isinstance(values, PremiseCodes):
        return values
    codes, uniques = pd.factorize(pd.Series(values, dtype="string"), sort=True)
    return PremiseCodes(np.asarray(codes, dtype=np.int64), tuple(str(u) for u in uniques))


def check_premise_names(est: object, name: str) -> None:
    """Raise unless ``est.<name>`` is a tuple (or list) of non-empty strings."""
    value = getattr(est, name)
    ok = isinstance(value, tuple | list) and all(isinstance(v, str) and v for v in value)
    if not ok:
        raise InvalidParameterError(
            f"{type(est).__name__}({name}={value!r}): {name} must be a tuple of premise labels "
            "(e.g. ('education',)), or () for none"
        )


def premise_seasonal_adjustment(t: NDArray[np.float64], cells: NDArray[np.int64], premise: PremiseCodes | None,
                                seasonal: Sequence[str], t0: float, horizon_days: float, n_cells: int, *,
                                half_life_days: float = 730.0, history_days: float = 2920.0,
                                years: int = 7, half_window_days: float = 14.0) -> NDArray[np.float64]:
    """Per-cell change in the expected count over ``[t0, t0 + horizon_days)`` (see the module notes).

    Parameters
    ----------
    t, cells : arrays of shape (n,)
        Event times (float days, sorted ascending) and their cells (-1 outside the area).
    premise : PremiseCodes or None
        Each event's premise; None gives zeros.
    seasonal : sequence of str
        The premises whose seasonal multiplier is applied.
    t0, horizon_days : float
        The forecast window.
    n_cells : int
        Cells in the study area.
    """
    out = np.zeros(n_cells)
    if premise is None or not seasonal or len(t) == 0:
        return out
    wanted = [premise.categories.index(p) for p in dict.fromkeys(seasonal) if p in premise.categories]
    if not wanted:
        return out
    hi = int(np.searchsorted(t, t0, side="left"))
    # nothing at or after t0 is read, even when the model was fitted on later incidents
    t, cells, codes = t[:hi], cells[:hi], premise.codes[:hi]
    if hi == 0:
        return out
    t_first = float(t[0])
    h = float(horizon_days)
    lo_hist = int(np.searchsorted(t, t0 - history_days, side="left"))
    span = min(float(history_days), max(t0 - t_first, 1.0))
    norm = half_life_days / np.log(2.0) * (1.0 - 2.0 ** (-span / half_life_days))
    codes_hist = codes[lo_hist:]
    cells_hist = cells[lo_hist:]
    age = t0 - t[lo_hist:]
    for p in wanted:
        num = den = 0.0
        for y in range(1, int(years) + 1):
            a = t0 - 365.25 * y
            if a - _HALF_YEAR < t_first:
                break
            if a + max(h + half_window_days, _HALF_YEAR) > t0:
                continue
            win = np.searchsorted(t, [a - half_window_days, a + h + half_window_days, a - _HALF_YEAR,
                                      a + _HALF_YEAR], side="left")
            inside = (cells[win[0]:win[1]] >= 0) & (codes[win[0]:win[1]] == p)
            year = (cells[win[2]:win[3]] >= 0) & (codes[win[2]:win[3]] == p)
            num += float(np.count_nonzero(inside)) / (h + 2.0 * half_window_days)
            den += float(np.count_nonzero(year)) / 365.25
        if den <= 0:
            continue
        mult = num / den
        sel = (codes_hist == p) & (cells_hist >= 0)
        rate = np.bincount(cells_hist[sel], weights=np.exp2(-age[sel] / half_life_days),
                           minlength=n_cells) / norm
        out += rate * h * (mult - 1.0)
    return out
