"""Time windows: every time in crimelens is tz-aware UTC; uncertain times are windows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crimelens.errors import InvalidParameterError

__all__ = ["TimeWindow", "as_utc", "in_zone", "wall_clock_steps"]


def as_utc(value: datetime | str, zone: str | None = None) -> datetime:
    """Return ``value`` as an aware UTC datetime.

    Without ``zone`` a bare date means its midnight UTC and a time without an offset is refused.
    With ``zone`` (an IANA name, e.g. the zone a dataset's files were read in) both are read in
    that zone: "2018-01-01" is local midnight there. A time that names its offset keeps it.

    Examples
    --------
    >>> as_utc("2018-01-01T00:00:00Z").isoformat()
    '2018-01-01T00:00:00+00:00'
    >>> as_utc("2018-01-01", "America/Chicago").isoformat()
    '2018-01-01T06:00:00+00:00'
    >>> as_utc("2018-07-01T22:00", "America/Chicago").isoformat()
    '2018-07-02T03:00:00+00:00'
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
        value = value.replace(tzinfo=_zone(zone))
    return value.astimezone(UTC)


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
