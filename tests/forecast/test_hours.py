"""Time of day on a planted city: night cells lead the night shift, day cells the day shift.

The city: 20 x 20 cells of 150 m over two years. Twenty "night" cells record their
incidents between 01:00 and 07:00 (UTC), twenty "day" cells between 09:00 and
15:00, both at 0.1 a day; twenty "all-day" cells record 0.12 a day at any hour.
By the daily count the all-day cells are the busiest; from 00:00 to 08:00 the
night cells expect 0.1 each, the all-day cells 0.04 and the day cells none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from crimelens.domain import Grid, IncidentTable, TimeWindow
from crimelens.errors import InvalidParameterError
from crimelens.forecast import GradientBoostedCells, StudyArea, TimeWeightedCounts
from crimelens.forecast._hours import time_of_day_scale

ORIGIN = pd.Timestamp("2016-01-01T00:00:00Z")
DAYS = 730
END = ORIGIN + pd.Timedelta(days=DAYS)


@dataclass(frozen=True)
class ClockCity:
    table: IncidentTable
    night: np.ndarray
    day: np.ndarray
    all_day: np.ndarray


@pytest.fixture(scope="module")
def city() -> ClockCity:
    rng = np.random.default_rng(7)
    cells = rng.permutation(400)
    night, day, all_day = cells[:20], cells[20:40], cells[40:60]
    times, where = [], []
    for group, rate, start_h, width_h in ((night, 0.1, 1.0, 6.0), (day, 0.1, 9.0, 6.0),
                                          (all_day, 0.12, 0.0, 24.0)):
        for c in group:
            k = rng.poisson(rate * DAYS)
            d = rng.integers(0, DAYS, k)
            h = (start_h + rng.uniform(0.0, width_h, k)) % 24.0
            times.append(d + h / 24.0)
            where.append(np.full(k, c))
    t, c = np.concatenate(times), np.concatenate(where)  # all inside [0, DAYS)
    row, col = np.divmod(c, 20)
    when = ORIGIN + pd.to_timedelta(t * 86400.0, unit="s")
    table = IncidentTable(pd.DataFrame({
        "incident_id": [f"e{i}" for i in range(len(t))], "offense": "assault",
        "occurred_from": when, "occurred_to": when,
        "x_m": (col + 0.5) * 150.0, "y_m": (row + 0.5) * 150.0, "crs": "EPSG:32616",
    }))
    return ClockCity(table, night, day, all_day)


@pytest.fixture(scope="module")
def area() -> StudyArea:
    return StudyArea.square(Grid(0.0, 0.0, 150.0, 20, 20, crs="EPSG:32616"))


def _top(intensity: np.ndarray, k: int = 20) -> np.ndarray:
    return np.argsort(-intensity, kind="stable")[:k]


@pytest.mark.parametrize("model_cls", [TimeWeightedCounts, GradientBoostedCells])
def test_each_shift_ranks_the_cells_busy_in_its_hours(city: ClockCity, area: StudyArea,
                                                      model_cls: type) -> None:
    model = model_cls(area=area).fit(city.table)
    night = model.predict(TimeWindow.starting(END.to_pydatetime(), days=1 / 3)).intensity
    day = model.predict(TimeWindow.starting((END + pd.Timedelta(hours=8)).to_pydatetime(), days=1 / 3)).intensity
    whole = model.predict(TimeWindow.starting(END.to_pydatetime(), days=1)).intensity
    assert len(set(_top(night)) & set(city.night)) >= 14  # 1 of 20 by chance
    assert len(set(_top(day)) & set(city.day)) >= 14
    assert night[city.night].mean() > 1.3 * night[city.all_day].mean() > 5 * night[city.day].mean()
    assert whole[city.all_day].mean() > 1.1 * max(whole[city.night].mean(), whole[city.day].mean())
    # without the time of day a shift is ranked as the whole day
    flat = model_cls(area=area, time_of_day=0.0).fit(city.table)
    flat_night = flat.predict(TimeWindow.starting(END.to_pydatetime(), days=1 / 3)).intensity
    np.testing.assert_array_equal(_top(flat_night, 60), _top(whole, 60))


@pytest.mark.parametrize("model_cls", [TimeWeightedCounts, GradientBoostedCells])
def test_a_day_or_more_is_unchanged(city: ClockCity, area: StudyArea, model_cls: type) -> None:
    on = model_cls(area=area).fit(city.table)
    off = model_cls(area=area, time_of_day=0.0).fit(city.table)
    for days in (1.0, 7.0):
        start = (END + pd.Timedelta(hours=5)).to_pydatetime()
        np.testing.assert_array_equal(on.predict(TimeWindow.starting(start, days=days)).intensity,
                                      off.predict(TimeWindow.starting(start, days=days)).intensity)


@pytest.mark.parametrize("strength", [0.0, 1.0])
def test_three_shifts_add_up_to_the_day(city: ClockCity, area: StudyArea, strength: float) -> None:
    """At strength 0 or 1 the three 8-hour shares of a cell sum to one, so do its forecasts."""
    model = TimeWeightedCounts(area=area, time_of_day=strength, seasonal_premises=()).fit(city.table)
    day = model.predict(TimeWindow.starting(END.to_pydatetime(), days=1)).intensity
    shifts = sum(model.predict(TimeWindow.starting(END.to_pydatetime() + timedelta(hours=8 * k),
                                                   days=1 / 3)).intensity for k in range(3))
    np.testing.assert_allclose(shifts, day, rtol=1e-3)


def test_the_night_shift_expects_the_planted_counts(city: ClockCity, area: StudyArea) -> None:
    """Strength 1: each group's mean forecast for 00:00-08:00 is within 15 % of its true count."""
    model = TimeWeightedCounts(area=area, time_of_day=1.0, neighbour_weight=0.0,
                               seasonal_premises=(), half_life_days=10_000.0).fit(city.table)
    night = model.predict(TimeWindow.starting(END.to_pydatetime(), days=1 / 3)).intensity
    assert night[city.night].mean() == pytest.approx(0.1, rel=0.15)
    assert night[city.all_day].mean() == pytest.approx(0.12 / 3, rel=0.15)
    assert night[city.day].mean() < 0.005


def test_only_incidents_before_the_window_count(city: ClockCity) -> None:
    t = city.table.t_days(ORIGIN.to_pydatetime())
    order = np.argsort(t)
    cells = np.zeros(len(t), dtype=np.int64)
    t0 = 365.0
    a = time_of_day_scale(t[order], cells, t0, 1 / 3, 1, strength=1.0)
    later = t[order] >= t0
    moved = np.where(later, t[order] + 0.5, t[order])  # everything after t0 shifted by 12 hours
    b = time_of_day_scale(np.sort(moved), cells, t0, 1 / 3, 1, strength=1.0)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("value", [-0.1, 1.5, True, "0.5"])
def test_time_of_day_is_validated(value: object, city: ClockCity, area: StudyArea) -> None:
    with pytest.raises(InvalidParameterError, match="time_of_day"):
        TimeWeightedCounts(area=area, time_of_day=value).fit(city.table)


def _evening_cells() -> tuple[np.ndarray, np.ndarray]:
    """Two cells over 2016-2017, one incident a day each on Chicago's clocks: cell 0 at 22:30,
    cell 1 at 21:30 (in UTC an hour earlier in summer than in winter)."""
    days = pd.date_range("2016-01-01", "2017-12-31", freq="D")
    local = [days + pd.Timedelta(hours=h) for h in (22.5, 21.5)]
    t = np.concatenate([(d.tz_localize("America/Chicago").tz_convert("UTC") - pd.Timestamp("1970-01-01", tz="UTC"))
                        / pd.Timedelta(days=1) for d in local])
    cells = np.repeat([0, 1], len(days))
    order = np.argsort(t, kind="stable")
    return t[order], cells[order]


@pytest.mark.parametrize(("start", "utc_shares"), [
    ("2018-01-10T22:00", (0.35, 0.0)),   # CST: the summer 22:30s fall at 03:30 UTC, before 04:00
    ("2018-07-10T22:00", (1.0, 0.35)),   # CDT: the winter 21:30s fall at 03:30 UTC, after 03:00
])
def test_a_shift_reads_hours_on_the_local_clock(start: str, utc_shares: tuple[float, float]) -> None:
    """22:00-06:00 in Chicago holds every 22:30 and no 21:30, in January and in July alike; read in
    UTC, an hour of the other season's incidents is lost or gained."""
    t, cells = _evening_cells()
    t0 = float((pd.Timestamp(start, tz="America/Chicago").tz_convert("UTC") - pd.Timestamp("1970-01-01", tz="UTC"))
               / pd.Timedelta(days=1))
    kw = {"strength": 1.0, "prior": 1e-9, "half_life_days": 1e9}  # each cell's own, unweighted share
    local = time_of_day_scale(t, cells, t0, 1 / 3, 2, zone="America/Chicago", **kw)
    in_utc = time_of_day_scale(t, cells, t0, 1 / 3, 2, **kw)
    assert local is not None and in_utc is not None
    np.testing.assert_allclose(local / 3, [1.0, 0.0], atol=1e-6)
    # 2016-2017 had 2 x 237 days of daylight-saving time and 2 x 128.5 of standard time
    np.testing.assert_allclose(in_utc / 3, utc_shares, atol=0.02)


@pytest.mark.parametrize("model_cls", [TimeWeightedCounts, GradientBoostedCells])
def test_the_models_take_the_zone(model_cls: type, city: ClockCity, area: StudyArea) -> None:
    """The planted city's hours are UTC: read on Tokyo's clocks (9 hours ahead, no daylight saving) the
    night shift 00:00-08:00 UTC is 09:00-17:00 there, and the same cells lead it."""
    utc = model_cls(area=area).fit(city.table)
    tokyo = model_cls(area=area, timezone="Asia/Tokyo").fit(city.table)
    window = TimeWindow.starting(END.to_pydatetime(), days=1 / 3)
    np.testing.assert_allclose(tokyo.predict(window).intensity, utc.predict(window).intensity, rtol=1e-9)
    assert tokyo.predict(window).params["timezone"] == "Asia/Tokyo"
    with pytest.raises(InvalidParameterError, match=r"timezone='Mars/Olympus'\): unknown time zone"):
        model_cls(area=area, timezone="Mars/Olympus").fit(city.table)


def _morning_cells(hours: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """One incident a day over 2016-2017 per cell, at the given hours on Chicago's clocks."""
    days = pd.date_range("2016-01-01", "2017-12-31", freq="D")
    first = np.ones(len(days), dtype=bool)  # a 01:30 on an autumn change night: the first one
    t = np.concatenate([(((days + pd.Timedelta(hours=h)).tz_localize("America/Chicago", ambiguous=first)
                          .tz_convert("UTC")
                          - pd.Timestamp("1970-01-01", tz="UTC")) / pd.Timedelta(days=1)) for h in hours])
    cells = np.repeat(np.arange(len(hours)), len(days))
    order = np.argsort(t, kind="stable")
    return t[order], cells[order]


@pytest.mark.parametrize(("night", "hours", "shares"), [
    # clocks forward at 02:00: 7 hours from midnight reach 08:00 on the clock, holding 07:30
    ("2019-03-10", 7, (1.0, 0.0, 1.0)),
    # clocks back at 02:00: 9 hours from midnight reach 08:00, with 01:00-02:00 passed twice
    ("2019-11-03", 9, (1.0, 0.0, 2.0)),
])
def test_a_shift_across_the_clock_change_covers_the_hours_it_passes(
        night: str, hours: int, shares: tuple[float, float, float]) -> None:
    """Cells at 07:30, 08:30 and 01:30 on the clock. Before, the shift's clock hours were its length
    from its start: 00:00-07:00 (no 07:30) in spring, 00:00-09:00 (with 08:30, 01:30 once) in autumn."""
    t, cells = _morning_cells((7.5, 8.5, 1.5))
    t0 = float((pd.Timestamp(night, tz="America/Chicago").tz_convert("UTC") - pd.Timestamp("1970-01-01", tz="UTC"))
               / pd.Timedelta(days=1))
    h = hours / 24
    scale = time_of_day_scale(t, cells, t0, h, 3, zone="America/Chicago",
                              strength=1.0, prior=1e-9, half_life_days=1e9)
    assert scale is not None
    np.testing.assert_allclose(scale * h, shares, atol=1e-6)


def test_a_midnight_record_is_in_the_shift_from_midnight_only() -> None:
    """Three 8-hour shifts of a day hold a record at 00:00 once: in float days (0 - 2/3) mod 1 fell a
    rounding error below 1/3, so the 16:00-24:00 shift held it too (its share read 1, not 0)."""
    days = np.arange(17000.0, 17100.0)  # every day at 00:00 UTC, one cell
    cells = np.zeros(len(days), dtype=np.int64)
    kw = {"strength": 1.0, "prior": 1e-9, "half_life_days": 1e9}
    shares = [time_of_day_scale(days, cells, 17100.0 + k / 3, 1 / 3, 1, **kw) for k in range(3)]
    assert [round(float(s[0]) / 3, 6) for s in shares if s is not None] == [1.0, 0.0, 0.0]
