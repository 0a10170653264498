"""The fast paths give the same answers as the plain ones: array fits, cached neighbours, banded counts."""

from __future__ import annotations

import numpy as np
import pytest

from crimelens.domain import Grid, IncidentTable, TimeWindow
from crimelens.errors import InvalidParameterError
from crimelens.forecast import MODELS, GradientBoostedCells, NaiveCounts, StudyArea, make_model
from tests.forecast.conftest import simulate_grid_hawkes, table_from

FAST = {"gbm": {"n_estimators": 10, "n_origins": 4}, "sepp": {"n_iter": 6}}


@pytest.fixture(scope="module")
def hawkes_table() -> IncidentTable:
    sim = simulate_grid_hawkes(seed=4, n_side=12, days=500.0)
    return table_from(sim.t_days, sim.xy)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fit_events_learns_what_fit_learns(name: str, hawkes_table: IncidentTable) -> None:
    area = StudyArea.square(Grid(0.0, 0.0, 150.0, 12, 12, crs="EPSG:32616"))
    window = TimeWindow.starting("2021-05-16", days=7)
    from_table = make_model(name, area=area, **FAST.get(name, {})).fit(hawkes_table).predict(window)
    t, xy = hawkes_table.t_days(how="mid"), hawkes_table.xy_m
    shuffled = np.random.default_rng(0).permutation(len(t))  # fit_events sorts what it is given
    from_arrays = make_model(name, area=area, **FAST.get(name, {})).fit_events(t[shuffled], xy[shuffled])
    np.testing.assert_array_equal(from_arrays.predict(window).intensity, from_table.intensity)
    order = np.argsort(t, kind="stable")
    located = make_model(name, area=area, **FAST.get(name, {})).fit_events(
        t[order], xy[order], cells=area.cell_of(xy[order]))
    np.testing.assert_array_equal(located.predict(window).intensity, from_table.intensity)


def test_fit_events_without_area_covers_the_events_and_refuses_bad_input() -> None:
    t = np.array([0.0, 1.0, 2.0, np.nan])
    xy = np.array([[10.0, 10.0], [460.0, 10.0], [10.0, 310.0], [0.0, 0.0]])
    model = NaiveCounts(cell_m=150.0).fit_events(t, xy)
    assert model.area_.n_cells == 4 * 3 and model.n_incidents_ == 3  # the NaN time is dropped
    with pytest.raises(InvalidParameterError, match="got 3 times and 4 points"):
        NaiveCounts().fit_events(t[:3], xy)
    with pytest.raises(InvalidParameterError, match="got 0 events"):
        NaiveCounts().fit_events(np.empty(0), np.empty((0, 2)))
    with pytest.raises(InvalidParameterError, match=r"cells=\.\.\.\): expected one cell per event"):
        NaiveCounts().fit_events(t, xy, cells=np.zeros(4, dtype=np.int64))


def test_risk_surface_ranks_lazily_but_the_same_way() -> None:
    area = StudyArea.square(Grid(0.0, 0.0, 150.0, 3, 2))
    t = np.array([0.0, 1.0, 2.0, 3.0])
    xy = np.array([[200.0, 10.0], [200.0, 20.0], [10.0, 200.0], [400.0, 200.0]])
    surface = NaiveCounts(area=area).fit_events(t, xy).predict(TimeWindow.starting("1970-01-05", days=7))
    assert surface.order.tolist() == [1, 3, 5, 0, 2, 4]  # 2 in cell 1; 1 in cells 3 and 5; ties by index
    assert surface.rank.tolist() == [4, 1, 5, 2, 6, 3]
    assert surface.order is surface.order  # computed once
    with pytest.raises(ValueError, match="read-only"):
        surface.order[0] = 2


def test_neighbour_matrices_are_cached_per_radius_and_handed_out_as_copies() -> None:
    area = StudyArea.square(Grid(0.0, 0.0, 150.0, 4, 4))
    first = area.neighbours(160.0)
    first.data[:] = 99.0
    again = area.neighbours(160.0)
    assert again.sum() == 2 * (3 * 4 * 2)  # 24 edges of a 4 x 4 rook grid, both directions, ones
    assert area.neighbours(160.0, include_self=True).sum() == again.sum() + 16


def test_boosted_model_banded_counts_equal_direct_counts() -> None:
    sim = simulate_grid_hawkes(seed=7, n_side=10, days=900.0)
    area = StudyArea.square(Grid(0.0, 0.0, 150.0, 10, 10))
    model = GradientBoostedCells(area=area, n_estimators=5, n_origins=2).fit_events(sim.t_days, sim.xy)
    t0 = float(sim.t_days[len(sim.t_days) // 2])  # an event time: the edges fall on events
    looks = [7.0, 28.0, 91.0, 365.0, 2920.0, 14.0]
    banded = model._lookback_counts(t0, looks)
    cells = area.cell_of(sim.xy)
    for look in looks:
        inside = (sim.t_days >= t0 - look) & (sim.t_days < t0) & (cells >= 0)
        direct = np.bincount(cells[inside], minlength=area.n_cells)
        np.testing.assert_array_equal(banded[look], direct)


def test_square_cell_lookup_matches_the_grid_and_drops_nan_points() -> None:
    grid = Grid(0.0, 0.0, 150.0, 7, 5)
    area = StudyArea.square(grid, mask=np.random.default_rng(1).random(35) < 0.6)
    xy = np.random.default_rng(2).uniform(-200.0, 1300.0, (5000, 2))
    xy[:4] = [[0.0, 0.0], [1050.0, 10.0], [-1e-12, 5.0], [1049.999, 749.999]]  # edges of the grid
    full = grid.cell_of(xy)
    expected = np.full(len(xy), -1)
    expected[full >= 0] = np.searchsorted(area.cell_ids, full[full >= 0])
    expected[full >= 0] = np.where(area.cell_ids[np.minimum(expected[full >= 0], area.n_cells - 1)]
                                   == full[full >= 0], expected[full >= 0], -1)
    np.testing.assert_array_equal(area.cell_of(xy), expected)
    assert area.cell_of(np.array([[np.nan, 10.0], [10.0, np.inf]])).tolist() == [-1, -1]
