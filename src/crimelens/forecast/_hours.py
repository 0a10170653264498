"""Time of day: forecasts for a window shorter than a day (a shift) from each cell's hours.

A count model spreads a cell's daily rate evenly over the day, so for an 8-hour
shift it ranks cells exactly as for a whole day. Places keep hours: of the
2010-2016 Chicago assaults recorded at schools (premise ``education``), 92 % fell
between 08:00 and 16:00 local time and 2 % between midnight and 08:00, against
32 % and 25 % of all assaults. For a window
``[t0, t0 + h)`` with ``h`` under one day, the models that take ``time_of_day``
replace a cell's expected count ``e_i`` (its daily rate times ``h``) by::

    e_i / h * c ** (1 - s) * q_i ** s,    q_i = (w_i(window) + k * c) / (w_i + k)

* ``w_i``: the cell's incidents before ``t0``, each weighted
  ``2 ** (-age / half_life_days)`` over the last ``history_days`` (730 and 2920
  days, as the time-weighted count); ``w_i(window)`` the same sum over the
  incidents whose time of day falls in the window's hours;
* ``c``: the same share over every cell (the city's share of incidents in these
  hours), ``k`` (``prior``, default 1) how many incidents' worth of weight the
  city share gets in a cell's own share ``q_i``;
* ``s`` (``strength``): 0 keeps every cell's ranking and only scales the total
  to the city's share of these hours, 1 trusts each cell's own share.

On the 2017 Chicago validation year (1,095 shifts of 8 hours from local
midnight, the time-weighted count; docs/forecast.md) ``s = 0.5`` raised PAI at
1 % from 7.94 to 8.97 (paired ratio 1.13 [1.08, 1.18]) and left 5 % unchanged
(0.99 [0.97, 1.02]); 0.35 and 0.65 scored within 0.1 of it, ``k`` from 0.3 to 3
within 0.05 (that grid with hours read in UTC). On the 2,190 test shifts of
2018-2019: 8.50 to 9.18 at 1 % (1.08 [1.05, 1.11]), 5.21 to 5.36 at 5 % (1.03
[1.01, 1.04]), above the perfect-rate ceiling (9.01), which assumes a cell's
rate is the same at every hour.

Hours are read on the wall clocks of the model's ``timezone`` (the zone the
dataset's files were read in; ``forecast run`` and ``forecast backtest`` set it):
a 22:00-06:00 shift in Chicago matches the incidents recorded between 22:00 and
06:00 Chicago time in winter and in summer alike. A shift across a clock change
covers the clock hours it actually passes: the 7 hours from midnight on the
spring night are 00:00-02:00 and 03:00-08:00, the 9 hours on the autumn night
00:00-08:00 with 01:00-02:00 twice. Without a zone (None) hours
are matched in UTC, so across a daylight-saving change an incident of the other
season is one hour off (on those shifts local hours moved PAI at 1 % by -0.8 % to
+2.1 %, inside every interval). A window of a day or more
covers every hour, and the adjustment is exactly none.

Failure modes: a cell with few incidents has a noisy share (``k`` shrinks it
towards the city's); times recorded as a default (midnight for "unknown") make a
false night peak (Chicago's file: 0.3 % at exactly 00:00); incidents known only
to the day (a day-long window, such as the NIJ Portland calls) or the month
(data.police.uk) are all read at their window's midpoint, one or two times of day,
so a shift without those times gets no expected incident: forecast whole days
from such data. ``time_of_day=None`` turns the adjustment off (each cell's daily
rate spread evenly over the day); ``forecast run`` sets it, with a warning, when
half or more of the training records' windows (:func:`day_long_share`) are a day
or longer. :func:`share_in_hours` counts the incidents whose time of day falls in
a window's hours (the run names it when that share, and so every cell, is 0).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from numpy.typing import NDArray

from crimelens.domain import IncidentTable
from crimelens.domain._time import utc_offset_days
from crimelens.errors import InvalidParameterError

__all__ = ["check_time_of_day", "check_timezone", "day_long_share", "share_in_hours", "time_of_day_scale"]


def check_time_of_day(owner: object, name: str = "time_of_day") -> None:
    """``owner.<name>`` must be a strength in [0, 1], or None (the hours are not used)."""
    value = getattr(owner, name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise InvalidParameterError(
            f"{type(owner).__name__}({name}={value!r}): expected a strength between 0 and 1 "
            "(0: only the city's share of the window's hours; 1: each cell's own share), or None "
            "(the hours not used: the daily rate spread evenly over the day)"
        )


def day_long_share(incidents: IncidentTable) -> float:
    """The share of ``incidents`` whose time is a window of a day or longer (``occurred_to -
    occurred_from >= 1 day``): records known only to the day or the month, whose time of day
    (their window's middle) says nothing about when in the day they happened. 0 for no records.

    >>> import pandas as pd
    >>> from crimelens.domain import IncidentTable
    >>> start = pd.to_datetime(["2022-09-01 00:00", "2022-09-01 00:00", "2022-09-03 14:05"], utc=True)
    >>> end = pd.to_datetime(["2022-10-01 00:00", "2022-09-02 00:00", "2022-09-03 14:05"], utc=True)
    >>> table = IncidentTable(pd.DataFrame({"incident_id": ["a", "b", "c"], "offense": "burglary",
    ...     "occurred_from": start, "occurred_to": end, "x_m": 0.0, "y_m": 0.0, "crs": "EPSG:32630"}))
    >>> round(day_long_share(table), 3)   # a month and a day of three records
    0.667
    """
    if len(incidents) == 0:
        return 0.0
    width = incidents.t_days(how="to") - incidents.t_days(how="from")
    return float(np.mean(np.nan_to_num(width, nan=0.0) >= 1.0))


def _inside(tt: NDArray[np.float64], t0: float, horizon_days: float, zone: str | None) -> NDArray[np.float64]:
    """How many times (0, 1 or 2: the repeated autumn hour) the time of day of each of ``tt`` (UTC
    days) falls in the hours of the window ``[t0, t0 + horizon_days)`` on the clocks of ``zone``."""
    pieces = [(t0, horizon_days)]
    if zone is not None:  # each time on the local clock, daylight saving included
        tt = tt + utc_offset_days(tt, zone)
        pieces = _local_pieces(t0, horizon_days, zone)
    # compared in whole milliseconds of the day: in float days 00:00 sat a rounding error inside
    # [16:00, 24:00) ((0 - 2/3) mod 1 < 1/3), so midnight records counted in the evening shift too
    ms = 86_400_000
    out: NDArray[np.float64] = sum((np.mod(np.rint((tt - start) * ms), ms) < round(length * ms)).astype(np.float64)
                                   for start, length in pieces)
    return out


def share_in_hours(t: NDArray[np.float64], t0: float, horizon_days: float, *, history_days: float = 2920.0,
                   zone: str | None = None) -> tuple[int, int]:
    """``(in the hours, all)``: of the times ``t`` (days since the epoch, UTC) in the ``history_days``
    before ``t0``, how many have a time of day inside the hours of ``[t0, t0 + horizon_days)`` on the
    clocks of ``zone`` (None: UTC), and how many there are. A window of a day or more holds every hour.

    >>> import numpy as np
    >>> t = np.array([0.5, 1.5, 2.0])   # 12:00, 12:00 and 00:00 UTC
    >>> share_in_hours(t, 3.0 + 14 / 24, 8 / 24)   # 14:00-22:00: none of them
    (0, 3)
    >>> share_in_hours(t, 3.0 + 10 / 24, 8 / 24)   # 10:00-18:00: the two at noon
    (2, 3)
    """
    tt = np.asarray(t, dtype=np.float64)
    tt = tt[np.isfinite(tt) & (tt < t0) & (tt >= t0 - history_days)]
    if horizon_days >= 1.0:
        return len(tt), len(tt)
    return int(np.count_nonzero(_inside(tt, t0, horizon_days, zone))), len(tt)


def check_timezone(owner: object, name: str = "timezone") -> None:
    """``owner.<name>`` must be None or a time zone this machine knows (an IANA name)."""
    value = getattr(owner, name)
    if value is None:
        return
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise InvalidParameterError(
            f"{type(owner).__name__}({name}={value!r}): unknown time zone; expected an IANA name "
            "such as America/Chicago, or None for UTC"
        ) from exc


def time_of_day_scale(t: NDArray[np.float64], cells: NDArray[np.int64], t0: float, horizon_days: float,
                      n_cells: int, *, strength: float, half_life_days: float = 730.0,
                      history_days: float = 2920.0, prior: float = 1.0,
                      zone: str | None = None) -> NDArray[np.float64] | None:
    """Per-cell factor for a daily-rate forecast of ``[t0, t0 + horizon_days)``; None for a day or more.

    ``t`` (days since the epoch, sorted) and ``cells`` (cell index, -1 outside the
    area) are the model's training events; only those before ``t0`` count.
    Multiply a cell's expected count by its factor (see the module notes). Hours are
    compared on the wall clocks of ``zone`` (an IANA name; None: UTC).

    >>> import numpy as np
    >>> t = np.array([0.1, 1.1, 2.1, 0.6, 1.6, 2.6])   # cell 0 at 02:24, cell 1 at 14:24
    >>> cells = np.array([0, 0, 0, 1, 1, 1])
    >>> order = np.argsort(t)
    >>> night = time_of_day_scale(t[order], cells[order], 3.0, 1 / 3, 2, strength=1.0)
    >>> [round(float(v), 2) for v in night]   # 00:00-08:00 UTC: 3 x (3.5 / 4) and 3 x (0.5 / 4)
    [2.62, 0.38]
    >>> [round(float(v), 2) for v in time_of_day_scale(t[order], cells[order], 3.0, 1 / 3, 2,
    ...                                                strength=0.0)]   # the city's share: 1/2 in 1/3
    [1.5, 1.5]
    >>> time_of_day_scale(t, cells, 3.0, 1.0, 2, strength=1.0) is None
    True
    """
    if horizon_days >= 1.0:
        return None
    hi = int(np.searchsorted(t, t0, side="left"))
    lo = int(np.searchsorted(t, t0 - history_days, side="left"))
    c = cells[lo:hi]
    ok = c >= 0
    if not ok.any():
        return None
    tt = t[lo:hi][ok]
    c = c[ok]
    w = np.exp2(-(t0 - tt) / half_life_days)
    inside = _inside(tt, t0, horizon_days, zone)
    w_all = np.bincount(c, weights=w, minlength=n_cells)
    w_in = np.bincount(c, weights=w * inside, minlength=n_cells)
    total = float(w_all.sum())
    if total <= 0.0:
        return None
    city = float(w_in.sum()) / total
    if city <= 0.0:
        return np.zeros(n_cells)
    share = (w_in + prior * city) / (w_all + prior)
    scale: NDArray[np.float64] = (city ** (1.0 - strength)) * share ** strength / horizon_days
    return scale


def _local_pieces(t0: float, horizon_days: float, zone: str) -> list[tuple[float, float]]:
    """The window ``[t0, t0 + horizon_days)`` (UTC days) as (local start, length) pieces on the
    clocks of ``zone``: one piece, or two where the clocks change inside it.

    A 7-hour night across the spring change covers 00:00-02:00 and 03:00-08:00 on the clock, not
    00:00-07:00; a 9-hour night across the autumn change covers 00:00-02:00 and 01:00-08:00, the
    repeated hour twice.

    >>> t0 = 17965.25   # 2019-03-10 00:00 in Chicago (06:00 UTC); clocks go forward at 02:00
    >>> [(round(s % 1 * 24, 3), round(n * 24, 3)) for s, n in _local_pieces(t0, 7 / 24, "America/Chicago")]
    [(0.0, 2.0), (3.0, 5.0)]
    """
    t1 = t0 + horizon_days
    o0, o1 = (float(v) for v in utc_offset_days(np.array([t0, t1]), zone))
    if o0 == o1:
        return [(t0 + o0, horizon_days)]
    lo, hi = t0, t1  # offset(lo) is the old one, offset(hi) the new; the change found to the second
    while hi - lo > 1.0 / 86400:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if float(utc_offset_days(np.array([mid]), zone)[0]) == o0 else (lo, mid)
    change = round(hi * 86400) / 86400
    return [(t0 + o0, change - t0), (change + o1, t1 - change)]
