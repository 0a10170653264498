"""Near-repeat alerts read from a measured Knox surface."""

from __future__ import annotations

import numpy as np
import pytest

from crimelens.errors import InvalidParameterError
from crimelens.nearrepeat import knox_test, near_repeat_alert


@pytest.fixture(scope="module")
def planted():  # type: ignore[no-untyped-def]
    """Whole-day events where every third one has a follower within 60 m and 0-4 days."""
    rng = np.random.default_rng(5)
    n = 600
    xy = rng.uniform(0, 10_000, (n, 2))
    t = np.floor(rng.uniform(0, 365, n))
    f = np.arange(0, n, 3)
    xy2 = np.vstack([xy, xy[f] + rng.uniform(-30, 30, (len(f), 2))])
    t2 = np.concatenate([t, t[f] + rng.integers(0, 5, len(f))])
    return xy2, t2


def test_alert_lists_elevated_bands_and_the_cells_inside_them(planted) -> None:  # type: ignore[no-untyped-def]
    xy, t = planted
    surface = knox_test(xy, t, space_bands=[100, 200, 400], time_bands=[7, 14, 28],
                        n_permutations=199, seed=2)
    a = near_repeat_alert(surface, incident_id="new-1", x_m=5012.0, y_m=4990.0,
                          occurred="2024-05-10T23:30:00Z", cell_m=50.0)
    sig = surface.significant(0.05)
    expected = {(surface.space.labels[s], surface.time.labels[c])
                for s in range(surface.space.n_finite) for c in range(surface.time.n_finite) if sig[s, c]}
    assert {(e.space_label, e.time_label) for e in a.elevated} == expected
    assert ("[0, 100) m", "[0, 7) d") in expected
    first = next(e for e in a.elevated if e.time_label == "[0, 7) d" and e.space_label == "[0, 100) m")
    # whole-day surface: band [0, 7) days runs from the incident's day to 6 days after
    assert (first.starts, first.ends) == ("2024-05-10", "2024-05-16")
    assert first.knox_ratio > 1 and first.p_value < 0.05
    reach = max(e.distance_to_m for e in a.elevated)
    assert a.cells and all(c.distance_m < reach for c in a.cells)
    for c in a.cells:  # every listed cell is inside an elevated band, by its centre's distance
        assert c.space_label in {e.space_label for e in a.elevated}
        assert c.distance_m == 0.0 or abs(c.x_m - 5012.0) + abs(c.y_m - 4990.0) == pytest.approx(c.distance_m)
    assert a.cells[0].distance_m == 0.0  # the incident's own cell comes first
    assert a.cells[0].cell_id == "50m:100:99"
    d = a.to_dict()
    assert d["n_cells"] == len(a.cells) and d["convention"] == "standard"


def test_nrc_surface_puts_the_incident_cell_in_same_location(planted) -> None:  # type: ignore[no-untyped-def]
    xy, t = planted
    xy = xy.copy()
    xy[-50:] = xy[-100:-50]  # exact repeats, close in time to their originals
    t = t.copy()
    t[-50:] = t[-100:-50] + 1
    surface = knox_test(xy, t, space_bands=[100, 200], time_bands=[7, 14], convention="nrc",
                        n_permutations=99, seed=3)
    a = near_repeat_alert(surface, incident_id="x", x_m=0.0, y_m=0.0, occurred="2024-01-01")
    assert surface.significant()[0, 0]  # the planted exact repeats make 'Same location' elevated
    assert a.cells[0].space_label == "Same location + 1 to 100" and a.cells[0].distance_m == 0.0
    assert a.elevated[0].space_label == "Same location" and a.elevated[0].time_label == "0 to 7"


def test_nrc_alert_keeps_the_incidents_own_cell_when_only_its_neighbours_band_is_elevated(
        planted) -> None:  # type: ignore[no-untyped-def]
    """Without exact repeats the 'Same location' row has no pairs and never alerts, but the
    neighbours a few metres away, in the incident's own cell, are in the elevated '1 to 100' band.
    Before, the own cell (distance 0) was read as 'Same location' only and left out, so the
    nearest listed cell was the next one."""
    xy, t = planted
    surface = knox_test(xy, t, space_bands=[100, 200], time_bands=[7, 14], convention="nrc",
                        n_permutations=99, seed=3)
    assert surface.observed[0].sum() == 0 and surface.significant()[1, 0]  # no same-location pairs
    a = near_repeat_alert(surface, incident_id="x", x_m=5012.0, y_m=4990.0, occurred="2024-01-01", cell_m=50.0)
    assert a.cells[0].cell_id == "50m:100:99" and a.cells[0].distance_m == 0.0
    assert a.cells[0].space_label == "1 to 100" and a.cells[0].time_bands[0] == "0 to 7"
    assert sum(c.distance_m == 0.0 for c in a.cells) == 1


def test_no_alert_without_elevated_bands() -> None:
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 20_000, (300, 2))
    t = np.floor(rng.uniform(0, 365, 300))
    surface = knox_test(xy, t, space_bands=[100], time_bands=[7], n_permutations=99, seed=1)
    assert not surface.significant()[0, 0]
    a = near_repeat_alert(surface, incident_id="q", x_m=1.0, y_m=1.0, occurred="2024-01-01T00:00:00Z")
    assert a.elevated == () and a.cells == () and not a.is_elevated


def test_alert_parameters_are_checked(planted) -> None:  # type: ignore[no-untyped-def]
    xy, t = planted
    s = knox_test(xy[:100], t[:100], n_permutations=9, seed=1)
    with pytest.raises(InvalidParameterError, match="alpha"):
        near_repeat_alert(s, incident_id="a", x_m=0, y_m=0, occurred="2024-01-01", alpha=1.5)
    with pytest.raises(InvalidParameterError, match="cell_m"):
        near_repeat_alert(s, incident_id="a", x_m=0, y_m=0, occurred="2024-01-01", cell_m=0)


def test_whole_days_are_the_incidents_own_local_days(planted) -> None:  # type: ignore[no-untyped-def]
    """A burglary at 20:15 on 29 December in Cincinnati is 01:15 UTC on the 30th: the days at risk
    start on the 29th, the date its analysts know it by. Exact surfaces keep exact times."""
    xy, t = planted
    days = knox_test(xy, t, space_bands=[100, 200], time_bands=[7, 14], n_permutations=99, seed=2)
    kw = {"incident_id": "n", "x_m": 5012.0, "y_m": 4990.0, "occurred": "2018-12-30T01:15:00Z"}
    local = near_repeat_alert(days, zone="America/New_York", **kw)  # type: ignore[arg-type]
    utc = near_repeat_alert(days, **kw)  # type: ignore[arg-type]
    first = next(e for e in local.elevated if e.time_label == "[0, 7) d")
    assert (first.starts, first.ends) == ("2018-12-29", "2019-01-04")
    assert next(e for e in utc.elevated if e.time_label == "[0, 7) d").starts == "2018-12-30"
    exact = knox_test(xy, t + 0.1, space_bands=[100, 200], time_bands=[7, 14], n_permutations=99, seed=2)
    assert exact.time_resolution != "day"
    timed = near_repeat_alert(exact, zone="America/New_York", **kw)  # type: ignore[arg-type]
    assert next(e for e in timed.elevated if e.time_label == "[0, 7) d").starts == "2018-12-30T01:15:00+00:00"
