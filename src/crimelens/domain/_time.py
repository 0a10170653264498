"""Time windows: every time in crimelens is tz-aware UTC; uncertain times are windows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from numpy.typing import NDArray

from crimelens.errors import InvalidParameterError

__all__ = ["TimeWindow", "as_utc", "in_zone", "utc_offset_days", "wall_clock_add", "wall_clock_steps"]


def as_utc(value: datetime | str, zone: str | None = None) -> datetime:
    """Return ``value`` as an aware UTC datetime.

    Without ``zone`` a bare date means its midnight UTC and a time without an offset is refused.
    With ``zone`` (an IANA name, e.g. the zone a dataset's files were read in) both are read in
    that zone: "2018-01-01" is local midnight there. A time that names its offset keeps it.

    A local time the zone's clocks skipped (02:30 on the night they went from 02:00 to 03:00) is
    refused: which instant was meant cannot be known. A local time they showed twice (01:30 on the
    night they went back) is the first of the two; give the offset to mean the second.

    Examples
    --------
    >>> as_utc("2018-01-01T00:00:00Z").isoformat()
    '2018-01-01T00:00:00+00:00'
    >>> as_utc("2018-01-01", "America/Chicago").isoformat()
    '2018-01-01T06:00:00+00:00'
    >>> as_utc("2018-07-01T22:00", "America/Chicago").isoformat()
    '2018-07-02T03:00:00+00:00'
    >>> as_utc("2020-11-01T01:30", "America/Vancouver").isoformat()   # the first 01:30 (PDT)
    '2020-11-01T08:30:00+00:00'
    >>> as_utc("2020-03-08T02:30", "America/Vancouver")
    Traceback (most recent call last):
    ...
    crimelens.errors.InvalidParameterError: time '2020-03-08T02:30:00' did not exist in America/Vancouver: ...
    """
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10:  # a bare date means its midnight (UTC, or in ``zone``)
            text += "T00:00:00" if zone is not None else "T00:00:00+00:00"
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidParameterError(
                f"time {value!r}: {exc}; expected an ISO-8601 date or time, e.g. 2018-01-01 or "
                "2018-01-01T00:00:00-06:00") from exc
    if value.tzinfo is None:
        if zone is None:
            raise InvalidParameterError(
                f"time {value.isoformat()!r} has no time zone; expected an aware time, "
                "e.g. 2018-01-01T00:00:00Z"
            )
        tz = _zone(zone)
        value = value.replace(tzinfo=tz)
        if value.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != value.replace(tzinfo=None):
            before = (value - timedelta(hours=3)).astimezone(UTC).astimezone(tz)
            after = (value + timedelta(hours=3)).astimezone(UTC).astimezone(tz)
            raise InvalidParameterError(
                f"time {value.replace(tzinfo=None).isoformat()!r} did not exist in {zone}: its clocks jumped from "
                f"UTC{_offset_text(before)} to UTC{_offset_text(after)} that night and skipped it; expected a local "
                f"time that was shown there, or one with its offset (e.g. "
                f"{value.replace(tzinfo=None).isoformat()}{_offset_text(before)})")
    return value.astimezone(UTC)


def _offset_text(t: datetime) -> str:
    off = t.utcoffset() or timedelta(0)
    sign = "-" if off < timedelta(0) else "+"
    minutes = abs(int(off.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def wall_clock_add(start: datetime, days: float, zone: str | None) -> datetime:
    """``start`` plus ``days`` on the wall clocks of ``zone`` (UTC when None), as an aware UTC time:
    the end of a window that starts at ``start`` and lasts ``days`` of the calendar there. A week
    from a Monday's midnight ends at the next Monday's midnight, 167 or 169 hours later across a
    daylight-saving change, so windows from :func:`wall_clock_steps` tile time with no overlap and
    no gap. An end the clocks skipped is moved on by the jump, as the steps are.

    >>> wall_clock_add(as_utc("2019-03-04", "America/Chicago"), 7, "America/Chicago").isoformat()
    '2019-03-11T05:00:00+00:00'
    >>> wall_clock_add(as_utc("2019-03-04", "America/Chicago"), 7, None).isoformat()
    '2019-03-11T06:00:00+00:00'
    """
    if zone is None:
        return as_utc(start) + timedelta(days=days)
    tz = _zone(zone)
    local = as_utc(start).astimezone(tz).replace(tzinfo=None)
    return (local + timedelta(days=days)).replace(tzinfo=tz).astimezone(UTC)


def wall_clock_steps(first: datetime, n: int, days: float, zone: str) -> list[datetime]:
    """``n`` times, ``days`` apart on the wall clocks of ``zone``, from ``first``, as aware UTC times:
    weekly forecasts keep starting at local midnight across a daylight-saving change (then one week
    is an hour shorter or longer in UTC).

    Examples
    --------
    >>> [t.isoformat() for t in wall_clock_steps(as_utc("2018-03-05", "America/Chicago"), 2, 7, "America/Chicago")]
    ['2018-03-05T06:00:00+00:00', '2018-03-12T05:00:00+00:00']
    """
    tz = _zone(zone)
    local = as_utc(first).astimezone(tz).replace(tzinfo=None)
    return [(local + timedelta(days=days * k)).replace(tzinfo=tz).astimezone(UTC) for k in range(n)]


def in_zone(value: datetime, zone: str | None) -> tuple[datetime, str]:
    """``value`` on the wall clocks of ``zone`` for showing to people, and the zone's name; UTC when
    ``zone`` is None or unknown (a display never fails on a stored zone name).

    >>> t, name = in_zone(as_utc("2018-01-01T06:00:00Z"), "America/Chicago")
    >>> t.isoformat(), name
    ('2018-01-01T00:00:00-06:00', 'America/Chicago')
    """
    try:
        return value.astimezone(ZoneInfo(zone or "UTC")), zone or "UTC"
    except (ZoneInfoNotFoundError, ValueError):
        return value.astimezone(UTC), "UTC"


def utc_offset_days(t_days: NDArray[np.float64], zone: str) -> NDArray[np.float64]:
    """How far the wall clocks of ``zone`` were ahead of UTC at each time (float days since the
    epoch, UTC), in days: add it to read a time of day on the local clock.

    Offsets change only at a zone's transitions, so they are looked up among those (found once per
    zone and span of years, to the second), not converted one time at a time. A time that is not
    finite gets 0.

    Examples
    --------
    >>> t = np.array([17532.5, 17713.5])   # 2018-01-01 and 2018-07-01, 12:00 UTC
    >>> [float(v * 24) for v in utc_offset_days(t, "America/Chicago")]
    [-6.0, -5.0]
    """
    t = np.asarray(t_days, dtype=np.float64)
    ok = np.isfinite(t)
    if not ok.any():
        return np.zeros(t.shape)
    block = 4096  # days: a zone's changes are found per block of about 11 years, each cached
    steps = [_offset_steps(zone, b * block, (b + 1) * block)
             for b in range(int(np.floor(t[ok].min() / block)), int(np.floor(t[ok].max() / block)) + 1)]
    starts = np.concatenate([s[1:] if k else s for k, (s, _) in enumerate(steps)])
    offsets = np.concatenate([v[1:] if k else v for k, (_, v) in enumerate(steps)])
    out: NDArray[np.float64] = np.where(ok, offsets[np.searchsorted(starts, np.where(ok, t, 0.0), side="right") - 1], 0.0)
    return out


@lru_cache(maxsize=64)
def _offset_steps(zone: str, first_day: int, end_day: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The offsets (days) of ``zone`` in force from each start (days since the epoch) on, for
    ``[first_day, end_day)``: sampled at every UTC midnight, each change then found to the second."""
    tz = _zone(zone)

    def offset(second: int) -> int:
        delta = datetime.fromtimestamp(second, tz).utcoffset()
        return 0 if delta is None else int(delta.total_seconds())

    days = range(first_day, end_day + 1)
    daily = [offset(d * 86400) for d in days]
    starts, values = [-np.inf], [daily[0]]
    for k in range(len(daily) - 1):
        if daily[k + 1] == daily[k]:
            continue
        lo, hi = days[k] * 86400, days[k + 1] * 86400  # offset(lo) is the old one, offset(hi) the new
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if offset(mid) == daily[k] else (lo, mid)
        starts.append(hi / 86400.0)
        values.append(daily[k + 1])
    return np.array(starts), np.array(values, dtype=np.float64) / 86400.0


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidParameterError(f"time zone {name!r}: unknown; expected an IANA name, e.g. "
                                    "America/Chicago or UTC") from exc


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A half-open interval ``[start, end)`` of aware UTC times.

    Examples
    --------
    >>> w = TimeWindow.starting("2018-01-01", days=7)
    >>> w.days
    7.0
    >>> w.contains(as_utc("2018-01-07T23:59:00Z"))
    True
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", as_utc(self.start))
        object.__setattr__(self, "end", as_utc(self.end))
        if self.end < self.start:
            raise InvalidParameterError(
                f"TimeWindow(start={self.start.isoformat()}, end={self.end.isoformat()}): "
                "end must not be before start"
            )

    @classmethod
    def starting(cls, start: datetime | str, *, days: float) -> TimeWindow:
        begin = as_utc(start)
        return cls(begin, begin + timedelta(days=days))

    @classmethod
    def local(cls, start: datetime | str, *, days: float, zone: str | None) -> TimeWindow:
        """``days`` of the calendar of ``zone`` from ``start`` (see :func:`wall_clock_add`)."""
        begin = as_utc(start, zone)
        return cls(begin, wall_clock_add(begin, days, zone))

    @classmethod
    def ending(cls, end: datetime | str, *, days: float) -> TimeWindow:
        stop = as_utc(end)
        return cls(stop - timedelta(days=days), stop)

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400.0

    def contains(self, t: datetime) -> bool:
        return self.start <= as_utc(t) < self.end

    def shifted(self, days: float) -> TimeWindow:
        delta = timedelta(days=days)
        return TimeWindow(self.start + delta, self.end + delta)

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"
