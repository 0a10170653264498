"""Study areas (square, masked, polygon, H3) and the frozen RiskSurface."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import shapely

from crimelens.domain import Grid, TimeWindow
from crimelens.errors import InvalidParameterError
from crimelens.forecast import RiskSurface, StudyArea
from tests.conftest import shared
from tests.forecast.conftest import table_from

WEEK = TimeWindow.starting("2020-03-01", days=7)


def test_activity_mask_keeps_only_cells_with_incidents_and_states_its_rule() -> None:
    xy = np.array([[10.0, 10.0], [20.0, 20.0], [460.0, 10.0], [460.0, 310.0]])
    table = table_from(np.array([0.0, 1.0, 2.0, 40.0]), xy)
    area = StudyArea.from_activity(table, 150.0, period=TimeWindow.starting("2020-01-01", days=10))
    # the 4th incident (day 40) is outside the period; grid covers the first three only
    assert area.n_cells == 2
    assert area.cell_of(xy[:3]).tolist() == [0, 0, 1]
    d = area.describe()
    assert d["kind"] == "square" and d["cell_m"] == 150.0 and d["n_cells"] == 2
    assert "cells with >= 1 incident(s)" in d["rule"] and d["area_km2"] == pytest.approx(0.045)


def test_polygon_mask_uses_cell_centres() -> None:
    tri = shapely.Polygon([(0, 0), (600, 0), (0, 600)])
    area = StudyArea.from_polygon(tri, 150.0, name="triangle")
    inside = [shapely.Point(x, y).within(tri) for x, y in area.centres_m.tolist()]
    # centres (75 + 150 i, 75 + 150 j) strictly inside x + y < 600: 3 + 2 + 1 (on the edge is out)
    assert all(inside) and area.n_cells == 6
    assert "triangle" in area.describe()["rule"]


def test_neighbours_are_symmetric_and_exclude_self() -> None:
    area = StudyArea.square(Grid(0.0, 0.0, 100.0, 3, 3))
    nb = area.neighbours(150.0)
    assert (nb != nb.T).nnz == 0
    assert nb.diagonal().sum() == 0
    assert int(nb[4].sum()) == 8  # the centre cell touches all eight (diagonal 141 m < 150 m)


def test_h3_area_on_real_chicago_points() -> None:
    import pandas as pd
    from pyproj import Transformer

    raw = pd.read_csv(shared("chicago_agg_assault/chicago_aggravated_assaults.csv.gz"), nrows=400)
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32616", always_xy=True).transform(
        raw["longitude"].to_numpy(), raw["latitude"].to_numpy())
    table = table_from(np.arange(400) / 10.0, np.column_stack([x, y]))
    area = StudyArea.h3(table, resolution=8)
    cells = area.cell_of(table.xy_m)
    assert (cells >= 0).all()  # every incident lies in one of the chosen hexagons
    assert area.describe()["kind"] == "h3"
    # resolution 8 hexagons are about 0.74 km²
    assert float(np.median(area.cell_area_m2)) == pytest.approx(737_000, rel=0.1)
    assert area.counts(table.xy_m).sum() == 400


def test_risk_surface_is_frozen_ranked_and_validated() -> None:
    area = StudyArea.square(Grid(0.0, 0.0, 150.0, 2, 2))
    s = RiskSurface(area, np.array([0.2, 0.5, 0.5, 0.0]), WEEK, "NaiveCounts", {"window_days": 730})
    assert s.order.tolist() == [1, 2, 0, 3] and s.rank.tolist() == [3, 1, 2, 4]
    assert s.flagged(0.25).tolist() == [False, True, False, False]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.model = "other"  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        s.intensity[0] = 9.0
    with pytest.raises(InvalidParameterError, match="expected one per cell of the study area"):
        RiskSurface(area, np.zeros(3), WEEK, "NaiveCounts")
    with pytest.raises(InvalidParameterError, match="finite and >= 0"):
        RiskSurface(area, np.array([0.0, -1.0, 0.0, 0.0]), WEEK, "NaiveCounts")
    assert s.hash() != RiskSurface(area, np.array([0.2, 0.5, 0.5, 0.1]), WEEK, "NaiveCounts").hash()
    assert s.describe()["area"]["n_cells"] == 4
