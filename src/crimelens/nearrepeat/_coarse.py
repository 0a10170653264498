"""Coarse event times: incidents whose time is known only to a window wider than a time band.

A record's time is the window ``[occurred_from, occurred_to]`` its source gives. police.uk
publishes only the month ("December 2022"), so each record is the whole month and its time
(``--time-of mid``) is the month's middle. A Knox table with 7-day bands then holds only
pairs of the same month in ``[0, 7)`` and nothing in ``[7, 14)`` or ``[14, 21)``, by
construction: a "near repeat within a week" that the data cannot show, and an alert with
invented dates. Gaps in days can only be measured when the windows are no longer than the
narrowest time band.

Rule (documented in docs/nearrepeat.md): a window is *longer* than the narrowest finite time
band when it exceeds the band's width by more than an hour (a whole-day window that spans a
change of clocks lasts 25 hours). When at least :data:`COARSE_SHARE` of the records have such
windows, a Knox run or an alert is refused unless the caller allows coarse times, and then it
carries a warning; a smaller share is reported as a warning only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from crimelens.nearrepeat._bands import BandSet

__all__ = ["COARSE_SHARE", "CoarseTimes", "coarse_times", "narrowest_band_days"]

#: Share of records with windows longer than the narrowest time band from which a run is refused.
COARSE_SHARE = 0.10
#: A whole-day window across a change of clocks lasts 25 hours: not longer than a 1-day band.
TOLERANCE_DAYS = 1.0 / 24.0 + 1e-6


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

    @property
    def share(self) -> float:
        return self.n_coarse / self.n_events if self.n_events else 0.0

    @property
    def is_coarse(self) -> bool:
        """Too many long windows for gaps in days to be measured (refused unless allowed)."""
        return self.share >= COARSE_SHARE

    def describe(self) -> str:
        spread = (f" ({self.min_days:.3g} to {self.max_days:.3g})"
                  if round(self.min_days, 2) != round(self.max_days, 2) else "")
        return (f"{self.n_coarse:,} of {self.n_events:,} records ({100 * self.share:.3g}%) in {self.where} have a "
                f"time window (occurred_from to occurred_to) longer than the narrowest time band "
                f"({_days(self.band_days)}), typically {_days(self.median_days)}{spread}")

    def refusal(self, what: str) -> str:
        return (f"{what}: {self.describe()}. Gaps in days cannot be measured from such records: each one stands "
                f"at one point of its window, so the first time band holds the pairs of one window and the "
                f"next bands are empty by construction. Expected fewer than {COARSE_SHARE:.0%} of windows longer "
                f"than {_days(self.band_days)}: use exactly timed data, time bands at least "
                f"{_days(round(self.max_days))} wide, or --allow-coarse-times to go ahead with a warning")

    def warning(self) -> str:
        if self.is_coarse:
            return (f"COARSE TIMES: {self.describe()}. Gaps in days are not measured: pairs within one window "
                    "fall in the first time band and later bands are empty by construction. This table is not "
                    "near-repeat evidence (this run used --allow-coarse-times).")
        return (f"{self.describe()}; their gaps are uncertain by up to that much (below the "
                f"{COARSE_SHARE:.0%} at which a run is refused).")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "share": self.share, "is_coarse": self.is_coarse}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CoarseTimes:
        return cls(where=str(data["where"]), n_events=int(data["n_events"]), n_coarse=int(data["n_coarse"]),
                   band_days=float(data["band_days"]), median_days=float(data["median_days"]),
                   min_days=float(data["min_days"]), max_days=float(data["max_days"]),
                   allowed=bool(data.get("allowed", False)))


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
    long = w[w > band + TOLERANCE_DAYS]
    if long.size == 0:
        return None
    return CoarseTimes(where=where, n_events=int(w.size), n_coarse=int(long.size), band_days=band,
                       median_days=float(np.median(long)), min_days=float(long.min()),
                       max_days=float(long.max()), allowed=allowed)
