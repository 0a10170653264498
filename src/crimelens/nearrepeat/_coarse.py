"""Coarse event times: incidents whose time is known only to a window wider than a time band.

A record's time is the window ``[occurred_from, occurred_to]`` its source gives. police.uk
publishes only the month ("December 2022"), so each record is the whole month and its time
(``--time-of mid``) is the month's middle. A Knox table with 7-day bands then holds only
pairs of the same month in ``[0, 7)`` and nothing in ``[7, 14)`` or ``[14, 21)``, by
construction: a "near repeat within a week" that the data cannot show, and an alert with
invented dates. Gaps in days can only be measured when the windows are no longer than the
narrowest time band.

Rule (documented in docs/nearrepeat.md): a window is *coarse* for the bands when it is

* longer than the narrowest finite time band by more than an hour (a whole-day window that spans
  a change of clocks lasts 25 hours), or
* comparable to it: longer than a day (25 hours) and at least half the narrowest band, so the
  window blurs a gap by as much as half a band (a month's window with 31- or 62-day bands), or
* a calendar month (28 to 31 days, police.uk): at month resolution every band edge in days is
  arbitrary, whatever the bands: consecutive months' midpoints are 29.5 to 31 days apart, so
  whether a pair of months falls below an edge of 31 days depends on the months' lengths.

When at least :data:`COARSE_SHARE` of the records have such windows, a Knox run or an alert is
refused unless the caller allows coarse times, and then it carries a warning; a smaller share is
reported as a warning only. Before, only windows longer than the narrowest band counted, so
month-only data with ``--time-bands 31,62,93`` ran without a word (July to August, 31.0 days
between midpoints, fell in [31, 62); June to July, 30.5 days, in [0, 31)).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from crimelens.nearrepeat._bands import BandSet

__all__ = ["COARSE_SHARE", "CoarseTimes", "coarse_times", "is_coarse_window", "is_month_window",
           "narrowest_band_days"]

#: Share of records with windows longer than the narrowest time band from which a run is refused.
COARSE_SHARE = 0.10
#: A whole-day window across a change of clocks lasts 25 hours: not longer than a 1-day band.
TOLERANCE_DAYS = 1.0 / 24.0 + 1e-6
#: The shortest and longest calendar month, days (a month's window across a change of clocks: +-1 hour).
MONTH_DAYS = (28.0, 31.0)
#: Consecutive months' midpoints are this far apart, days (January-February to July-August).
MONTH_GAP_DAYS = (29.5, 31.0)


def is_month_window(window_days: NDArray[np.floating] | float) -> NDArray[np.bool_]:
    """Whether each window is a calendar month long (28 to 31 days, give or take a change of clocks)."""
    w = np.asarray(window_days, dtype=np.float64)
    out: NDArray[np.bool_] = (w >= MONTH_DAYS[0] - TOLERANCE_DAYS) & (w <= MONTH_DAYS[1] + TOLERANCE_DAYS)
    return out


def is_coarse_window(window_days: NDArray[np.floating] | float, band_days: float) -> NDArray[np.bool_]:
    """Whether each window is too coarse for bands whose narrowest is ``band_days`` wide (module rule).

    Examples
    --------
    >>> is_coarse_window(np.array([0.0, 25 / 24, 3.0, 4.0, 10.0]), 7.0).tolist()
    [False, False, False, True, True]
    >>> is_coarse_window(np.array([31.0, 28.0, 31.0]), 31.0).tolist()  # months: whatever the bands
    [True, True, True]
    >>> bool(is_coarse_window(30.0, 365.0))
    True
    """
    w = np.asarray(window_days, dtype=np.float64)
    longer = w > band_days + TOLERANCE_DAYS
    comparable = (w > 1.0 + TOLERANCE_DAYS) & (w >= band_days / 2.0 - TOLERANCE_DAYS)
    out: NDArray[np.bool_] = longer | comparable | is_month_window(w)
    return out


def narrowest_band_days(time: BandSet) -> float:
    """Width in days of the narrowest finite time band (``[0, 7), [7, 14)`` -> 7)."""
    edges = np.asarray((0.0, *time.edges), dtype=np.float64)
    return float(np.diff(edges).min())


def _days(v: float) -> str:
    return f"{v:.3g} day{'' if v == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class CoarseTimes:
    """How many records have time windows longer than the narrowest time band, and how long.

    ``median_days``, ``min_days`` and ``max_days`` describe the long windows only.
    ``allowed``: the run went ahead anyway (``--allow-coarse-times``).
    """

    where: str
    n_events: int
    n_coarse: int
    band_days: float
    median_days: float
    min_days: float
    max_days: float
    allowed: bool = False
    #: "month" when most coarse windows are calendar months (police.uk); None otherwise
    resolution: str | None = None
    #: whether every coarse window is longer than the narrowest band (else some are comparable to it)
    all_longer: bool = True

    @property
    def share(self) -> float:
        return self.n_coarse / self.n_events if self.n_events else 0.0

    @property
    def is_coarse(self) -> bool:
        """Too many long windows for gaps in days to be measured (refused unless allowed)."""
        return self.share >= COARSE_SHARE

    @property
    def is_month(self) -> bool:
        """The records are known only to their month (police.uk): any band edge in days is arbitrary."""
        return self.resolution == "month"

    def describe(self) -> str:
        spread = (f" ({self.min_days:.3g} to {self.max_days:.3g})"
                  if round(self.min_days, 2) != round(self.max_days, 2) else "")
        how = (f"longer than the narrowest time band ({_days(self.band_days)})" if self.all_longer else
               f"as long as or comparable to the narrowest time band, {_days(self.band_days)} (longer than a day "
               "and at least half of it, or a calendar month)")
        return (f"{self.n_coarse:,} of {self.n_events:,} records ({100 * self.share:.3g}%) in {self.where} have a "
                f"time window (occurred_from to occurred_to) {how}, typically {_days(self.median_days)}{spread}")

    def _why(self) -> str:
        if self.is_month:
            return (f"At month resolution the time bands are arbitrary: each record stands at its month's middle, "
                    f"and consecutive months' middles are {MONTH_GAP_DAYS[0]:g} to {MONTH_GAP_DAYS[1]:g} days apart "
                    "(January to February 29.5, July to August 31.0), so which band a pair of months falls in "
                    "depends on the months' lengths, not on when the incidents happened; pairs within one month "
                    "all fall in the first time band")
        return ("Gaps in days cannot be measured from such records: each one stands at one point of its window, "
                "so a gap is uncertain by up to a window's length; pairs within one window fall in the first "
                "time band and the next bands can be empty by construction")

    def refusal(self, what: str) -> str:
        wider = ("" if self.is_month else
                 f"a narrowest time band wider than {_days(max(2 * self.max_days, self.max_days + 1))}, ")
        return (f"{what}: {self.describe()}. {self._why()}. Expected fewer than {COARSE_SHARE:.0%} of such windows: "
                f"use exactly timed data, {wider}or --allow-coarse-times to go ahead with a warning")

    def warning(self) -> str:
        if self.is_coarse:
            return (f"COARSE TIMES: {self.describe()}. {self._why()}. This table is not near-repeat evidence "
                    "(this run used --allow-coarse-times).")
        return (f"{self.describe()}; their gaps are uncertain by up to that much (below the "
                f"{COARSE_SHARE:.0%} at which a run is refused).")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "share": self.share, "is_coarse": self.is_coarse}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CoarseTimes:
        return cls(where=str(data["where"]), n_events=int(data["n_events"]), n_coarse=int(data["n_coarse"]),
                   band_days=float(data["band_days"]), median_days=float(data["median_days"]),
                   min_days=float(data["min_days"]), max_days=float(data["max_days"]),
                   allowed=bool(data.get("allowed", False)),
                   resolution=None if data.get("resolution") is None else str(data["resolution"]),
                   all_longer=bool(data.get("all_longer", True)))


def coarse_times(window_days: NDArray[np.floating], time: BandSet, *, where: str,
                 allowed: bool = False) -> CoarseTimes | None:
    """The records whose window (days) is longer than the narrowest band of ``time``; None when none is.

    Examples
    --------
    >>> from crimelens.nearrepeat import BandSet
    >>> c = coarse_times(np.array([31.0, 30.0, 0.0, 1.0]), BandSet.time([7, 14], "standard"),
    ...                  where="dataset 'nottingham'")
    >>> c.n_coarse, c.median_days, c.is_coarse
    (2, 30.5, True)
    >>> coarse_times(np.array([0.0, 1.0416]), BandSet.time([1], "standard"), where="x") is None
    True
    """
    w = np.asarray(window_days, dtype=np.float64)
    band = narrowest_band_days(time)
    long = w[is_coarse_window(w, band)]
    if long.size == 0:
        return None
    months = int(is_month_window(long).sum())
    return CoarseTimes(where=where, n_events=int(w.size), n_coarse=int(long.size), band_days=band,
                       median_days=float(np.median(long)), min_days=float(long.min()),
                       max_days=float(long.max()), allowed=allowed,
                       resolution="month" if 2 * months >= long.size else None,
                       all_longer=bool((long > band + TOLERANCE_DAYS).all()))
