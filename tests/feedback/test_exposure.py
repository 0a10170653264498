"""Exposure audits: hand-computed figures, polygon files, and planted truth found (or not) by the audit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyogrio.raw
import pytest
import shapely

from crimelens.domain import Area, Grid
from crimelens.errors import InputError, InvalidParameterError, NotFoundError
from crimelens.feedback import (
    NaiveCounts,
    area_groups,
    cell_area_overlap,
    daily_counts,
    exposure_audit,
    flags_from_scores,
    planted_city,
    read_areas,
    rolling_backtest,
    rolling_flags,
    tie_counts,
)
from crimelens.feedback._areas import OUTSIDE, cell_geometries
from tests.conftest import shared


def _square(x0: float, y0: float, x1: float, y1: float) -> str:
    return shapely.to_wkt(shapely.box(x0, y0, x1, y1))


def test_overlap_splits_a_cell_between_areas() -> None:
    grid = Grid(0.0, 0.0, 100.0, 2, 1)
    areas = [Area("w", "west", _square(0, 0, 150, 100), 100), Area("e", "east", _square(150, 0, 200, 100), 300)]
    ov = cell_area_overlap(grid, areas)
    np.testing.assert_allclose(ov, [[1.0, 0.0], [0.5, 0.5]])


def test_exposure_figures_by_hand() -> None:
    # 4 cells of 1 km2: cells 0,1 in area a (pop 1000, group x); cells 2,3 in area b (pop 3000, group y)
    grid = Grid(0.0, 0.0, 1000.0, 4, 1)
    areas = [Area("a", "a", _square(0, 0, 2000, 1000), 1000, audit={"g": "x"}),
             Area("b", "b", _square(2000, 0, 4000, 1000), 3000, audit={"g": "y"})]
    ov = cell_area_overlap(grid, areas)
    flagged = np.array([[1, 0, 1, 0], [1, 1, 0, 0]], dtype=bool)
    incidents = np.array([[4.0, 0.0, 2.0, 2.0], [1.0, 1.0, 0.0, 2.0]])
    rep = exposure_audit(flagged, incidents, overlap=ov, areas=areas, group_by="g", cell_area=1.0)
    per = rep.per_period.set_index(["period", "group"])
    # period 0: x has 1 of 2 flags, 4 of 8 incidents, 4 hit; y has 1 flag, 4 incidents, 2 hit
    assert per.loc[(0, "x"), "flag_share"] == 0.5
    assert per.loc[(0, "x"), "flags_per_1000"] == 1.0
    assert per.loc[(0, "y"), "flags_per_1000"] == pytest.approx(1 / 3)
    assert per.loc[(0, "x"), "hit_rate"] == 1.0
    assert per.loc[(0, "x"), "pai"] == 2.0  # hit rate 1 on half the group's surface
    assert per.loc[(0, "y"), "hit_rate"] == 0.5 and per.loc[(0, "y"), "pai"] == 1.0
    assert per.loc[(0, "x"), "ratio_to_incidents"] == 1.0
    assert per.loc[(0, "x"), "ratio_to_population"] == 2.0  # 0.5 / 0.25
    # period 1: x has both flags
    assert per.loc[(1, "x"), "flag_share"] == 1.0 and per.loc[(1, "y"), "flag_share"] == 0.0
    mean, lo, hi = rep.value("x", "flag_share")
    assert mean == 0.75
    # t interval with 1 degree of freedom: 0.75 +- 12.706 * 0.3536 / sqrt(2), kept inside [0, 1] (a share)
    assert (lo, hi) == (0.0, 1.0)
    mean, lo, hi = rep.value("x", "ratio_to_population")  # 2.0 and 4.0 (1 / 0.25): never below 0
    assert lo == 0.0 and hi - mean == pytest.approx(12.7062047 * np.std([2.0, 4.0], ddof=1) / np.sqrt(2), rel=1e-6)
    assert "| x | 1000 |" in rep.to_markdown()
    assert rep.summary()["groups"]["y"]["population"] == 3000


def test_cells_outside_every_area_are_reported_apart() -> None:
    grid = Grid(0.0, 0.0, 100.0, 3, 1)
    areas = [Area("a", "a", _square(0, 0, 200, 100), 10)]
    rep = exposure_audit(np.array([[0, 0, 1]]), np.array([[1.0, 1.0, 1.0]]), overlap=cell_area_overlap(grid, areas),
                         areas=areas)
    assert rep.groups == ["a", OUTSIDE]
    assert rep.value(OUTSIDE, "flag_share")[0] == 1.0
    assert np.isnan(rep.value("a", "flag_share")[1])  # one period: no interval


def test_flags_cover_the_requested_share_of_the_surface() -> None:
    flags = flags_from_scores(np.array([5.0, 4.0, 3.0, 2.0]), np.array([1.0, 3.0, 1.0, 1.0]), 0.5)
    assert flags.tolist() == [1.0, 1.0, 0.0, 0.0]


def test_area_groups_text_and_quantiles() -> None:
    areas = [Area(str(i), str(i), _square(i, 0, i + 1, 1), 10, audit={"share_b": v, "label": "p" if v < 0.5 else "q"})
             for i, v in enumerate([0.1, 0.2, 0.7, 0.9])]
    assert area_groups(areas, "label") == ["p", "p", "q", "q"]
    labels = area_groups(areas, "share_b", n_quantiles=2)
    assert labels[0] == labels[1] != labels[2] == labels[3]
    assert labels[0].startswith("share_b Q1")
    with pytest.raises(InputError, match="lack that audit attribute"):
        area_groups(areas, "income")


def _write_layer(path: Path, driver: str) -> None:
    geoms = [shapely.to_wkb(shapely.box(-122.30, 37.80, -122.29, 37.81)),
             shapely.to_wkb(shapely.box(-122.29, 37.80, -122.28, 37.81))]
    pyogrio.raw.write(path, np.array(geoms, dtype=object), [np.array(["N1", "N2"], dtype=object),
                      np.array([1200, 800], dtype=np.int64), np.array([0.2, 0.8])],
                      fields=["code", "population", "share_b"], crs="EPSG:4326", driver=driver,
                      geometry_type="Polygon")


@pytest.mark.parametrize(("name", "driver"), [("a.geojson", "GeoJSON"), ("a.gpkg", "GPKG"), ("a.shp", "ESRI Shapefile")])
def test_read_areas_from_every_polygon_format(tmp_path: Path, name: str, driver: str) -> None:
    path = tmp_path / name
    _write_layer(path, driver)
    areas = read_areas(path, id_field="code")
    assert [a.area_id for a in areas] == ["N1", "N2"]
    assert [a.population for a in areas] == [1200, 800]
    assert areas[0].crs == "EPSG:32610"
    assert areas[1].audit == {"share_b": 0.8}  # shapefile names stay <= 10 characters
    # about 880 m x 1110 m in metres
    assert shapely.from_wkt(areas[0].wkt).area == pytest.approx(0.01 * 88_000 * 0.01 * 111_000, rel=0.02)


def test_read_areas_from_shared_files() -> None:
    bins = read_areas(shared("oakland_drug_2010/oakland_grid.geojson"), id_field="bin")
    assert len(bins) == 661 and bins[0].area_id == "1" and bins[0].crs == "EPSG:32610"
    districts = read_areas(shared("portland_nij_2016/portland-police-districts.zip"), id_field="DISTRICT")
    assert len(districts) == 60 and districts[0].crs == "EPSG:32610"  # feet-based EPSG:2913 reprojected


def test_read_areas_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        read_areas(tmp_path / "nope.geojson")
    bad = tmp_path / "points.geojson"
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [0, 0]}}]}))
    with pytest.raises(InputError, match="expected Polygon or MultiPolygon"):
        read_areas(bad)
    _write_layer(tmp_path / "ok.geojson", "GeoJSON")
    with pytest.raises(InputError, match="id_field='nope' is not an attribute"):
        read_areas(tmp_path / "ok.geojson", id_field="nope")


def _audit_planted(ratio: float, seed: int):  # type: ignore[no-untyped-def]
    # each period is forecast from the 28 days before it only, so periods are independent and the
    # t intervals across them are honest (overlapping training windows would make them too narrow)
    city = planted_city(nx=30, ny=30, group_rate_ratio=ratio, random_state=seed)
    rng = np.random.default_rng(seed + 100)
    daily = rng.poisson(city.true_rate * 0.5, size=(28 + 10 * 28, city.n_cells)).astype(float)
    flagged, counts = rolling_flags(daily, NaiveCounts(window_days=28), city.centres_m, n_periods=10,
                                    period_days=28, coverage=0.05)
    assert city.grid is not None and city.areas is not None
    return exposure_audit(flagged, counts, overlap=cell_area_overlap(city.grid, city.areas), areas=city.areas,
                          group_by="group", cell_area=city.grid.cell_area_km2)


def test_a_planted_disparity_is_found_and_a_balanced_city_shows_none() -> None:
    planted = _audit_planted(2.0, seed=2)
    _, lo_b, _ = planted.value("B", "ratio_to_population")
    _, _, hi_a = planted.value("A", "ratio_to_population")
    assert lo_b > 1.4 and hi_a < 0.6
    balanced = _audit_planted(1.0, seed=2)
    for group in ("A", "B"):
        _, lo, hi = balanced.value(group, "ratio_to_population")
        assert lo < 1.0 < hi
        _, lo, hi = balanced.value(group, "flag_share")
        assert lo < 0.5 < hi


@pytest.mark.slow
def test_synthetic_city_patrol_disparity_shows_in_exposure() -> None:
    from crimelens.synth import SyntheticCity

    shares = {}
    for disparity in (0.0, 3.0):
        city = SyntheticCity(seed=5, days=200, n_series=0, disparity=disparity).generate()
        grid = city.truth.grid
        inside = city.truth.intensity.sum(axis=0).ravel() > 0
        lookup = np.full(grid.n_cells, -1)
        lookup[inside] = np.arange(int(inside.sum()))
        full = grid.cell_of(city.incidents.xy_m)
        cells = np.where(full >= 0, lookup[np.maximum(full, 0)], -1)
        daily = daily_counts(city.incidents, cells, int(inside.sum()), start="2024-01-01", n_days=200,
                             timezone="America/Chicago")
        flagged, counts = rolling_flags(daily, NaiveCounts(window_days=100), None, n_periods=7, period_days=14,
                                        coverage=0.05)
        overlap = cell_area_overlap([shapely.to_wkt(g) for g in cell_geometries(grid)[inside]], city.areas)
        rep = exposure_audit(flagged, counts, overlap=overlap, areas=city.areas, group_by="group")
        shares[disparity] = rep.value("group_b", "flag_share")
        # the truth: the same share of the true-intensity top 5 % does not move with the patrol disparity
        truth_flags = flags_from_scores(city.truth.intensity.sum(axis=0).ravel()[inside], 1.0, 0.05)
        truth = exposure_audit(truth_flags[None], counts[:1], overlap=overlap, areas=city.areas, group_by="group")
        shares[f"truth-{disparity}"] = truth.value("group_b", "flag_share")
    # planted: patrolling group B more records more there, and the audit finds the rise beyond its intervals
    assert shares[3.0][1] > shares[0.0][2]
    assert shares["truth-3.0"][0] == pytest.approx(shares["truth-0.0"][0], abs=0.02)


def test_engine_surfaces_audit_like_the_arrays() -> None:
    from crimelens.domain import Incident, IncidentTable, TimeWindow
    from crimelens.feedback import exposure_of_surfaces
    from crimelens.forecast import RiskSurface, StudyArea

    grid = Grid(0.0, 0.0, 1000.0, 4, 1, "EPSG:32610")
    area = StudyArea.square(grid)
    areas = [Area("a", "a", _square(0, 0, 2000, 1000), 1000, audit={"g": "x"}),
             Area("b", "b", _square(2000, 0, 4000, 1000), 3000, audit={"g": "y"})]
    weeks = [TimeWindow.starting("2020-01-06", days=7), TimeWindow.starting("2020-01-13", days=7)]
    surfaces = [RiskSurface(area, np.array([3.0, 1.0, 2.0, 0.0]), weeks[0], "hand"),
                RiskSurface(area, np.array([3.0, 2.0, 0.0, 0.0]), weeks[1], "hand")]

    def table(counts: list[int], week: TimeWindow) -> IncidentTable:
        rows = [Incident(f"{week.start.date()}-{c}-{k}", "theft", week.start, week.start,
                         x_m=500.0 + 1000 * c, y_m=500.0)
                for c, n in enumerate(counts) for k in range(n)]
        return IncidentTable.from_incidents(rows, crs="EPSG:32610")

    rep = exposure_of_surfaces(surfaces, [table([4, 0, 2, 2], weeks[0]), table([1, 1, 0, 2], weeks[1])],
                               areas=areas, coverage=0.5, group_by="g")
    by_hand = exposure_audit(np.array([[1, 0, 1, 0], [1, 1, 0, 0]], dtype=bool),
                             np.array([[4.0, 0.0, 2.0, 2.0], [1.0, 1.0, 0.0, 2.0]]),
                             overlap=cell_area_overlap(grid, areas), areas=areas, group_by="g", cell_area=1.0)
    np.testing.assert_allclose(rep.table[["mean", "lo", "hi"]].to_numpy(dtype=float),
                               by_hand.table[["mean", "lo", "hi"]].to_numpy(dtype=float), equal_nan=True)
    with pytest.raises(InputError, match="one table per surface"):
        exposure_of_surfaces(surfaces, [], areas=areas)


def _halves() -> tuple[Grid, list[Area]]:
    # 10 x 10 cells of 100 m; rows 0-4 (the south, first in cell order) and rows 5-9 (the north)
    grid = Grid(0.0, 0.0, 100.0, 10, 10)
    return grid, [Area("s", "south", _square(0, 0, 1000, 500), 5000, audit={"half": "south"}),
                  Area("n", "north", _square(0, 500, 1000, 1000), 5000, audit={"half": "north"})]


def test_tied_cells_share_the_flags_so_cell_order_invents_no_disparity() -> None:
    """A symmetric city: one cell with a history in each half, every other cell at 0. 10 flags: 2 go to
    the two cells with a history, 8 to cells tied at 0. Taken by cell index the 8 all land in the south
    (its rows come first) and the audit shows a disparity of 0.9 / 0.1 that nothing in the data holds;
    split pro rata, every tied cell gets 8/98 of a flag and the halves are flagged alike."""
    grid, areas = _halves()
    scores = np.zeros(100)
    scores[[2 * 10 + 5, 7 * 10 + 5]] = 3.0  # mirror images of each other
    incidents = scores[None] / 3.0
    overlap = cell_area_overlap(grid, areas)
    by_index = exposure_audit(flags_from_scores(scores, 1.0, 0.1, ties="index")[None], incidents, overlap=overlap,
                              areas=areas, group_by="half")
    assert by_index.value("south", "flag_share")[0] == pytest.approx(0.9)
    assert by_index.value("south", "ratio_to_population")[0] == pytest.approx(1.8)
    flags = flags_from_scores(scores, 1.0, 0.1)
    assert flags.sum() == pytest.approx(10.0) and flags[0] == pytest.approx(8 / 98)
    split = exposure_audit(flags[None], incidents, overlap=overlap, areas=areas, group_by="half")
    for half in ("south", "north"):
        assert split.value(half, "flag_share")[0] == pytest.approx(0.5)
        assert split.value(half, "ratio_to_population")[0] == pytest.approx(1.0)
        assert split.value(half, "hit_rate")[0] == pytest.approx(1.0)
    ties = tie_counts(scores, flags)
    assert (ties["cut_score"], ties["cells_above"], ties["cells_tied"]) == (0.0, 2.0, 98.0)
    assert ties["flags_tied"] == pytest.approx(8.0) and ties["flags_zero_score"] == pytest.approx(8.0)
    # the audit's own backtest flags only the cells with risk above 0: the two with a history, not the
    # 8 flags' worth the tie rule alone would spread over the 98 cells tied at 0
    daily = np.zeros((30, 100))
    daily[::3, 2 * 10 + 5] = daily[::3, 7 * 10 + 5] = 1.0
    run = rolling_backtest(daily, NaiveCounts(window_days=10), None, n_periods=2, period_days=5, coverage=0.1)
    assert run.flagged.sum(axis=1).tolist() == [2.0, 2.0] and set(np.flatnonzero(run.flagged[0])) == {25, 75}
    counts = run.flag_counts()
    assert counts[["flags_asked", "cells_risk_above_0", "flags"]].to_numpy().tolist() == [[10, 2, 2], [10, 2, 2]]
    rep = exposure_audit(run.flagged, run.incidents, overlap=overlap, areas=areas, group_by="half",
                         flags_asked=counts["flags_asked"].to_numpy(), cells_risk_above_0=counts["cells_risk_above_0"])
    assert rep.value("south", "flag_share")[0] == pytest.approx(0.5)
    assert rep.value("south", "pai")[0] == pytest.approx(50.0)  # all its incidents in 1 of its 50 cells
    assert run.tie_summary()["share_of_flags_tied"]["mean"] == 0.0
    summary = rep.summary()
    assert summary["flags"]["n_periods_short"] == 2 and summary["flags"]["per_period"][0] == {
        "period": 0, "flags_asked": 10.0, "cells_risk_above_0": 2, "flags": 2.0}
    assert summary["caution_zero_risk"].startswith("in 2 of 2 periods fewer cells had a forecast risk above 0 (2) "
                                                   "than the 10 flags the coverage asks for")


def test_cells_of_risk_zero_are_never_flagged_by_the_audit() -> None:
    """A forecast that is 0 everywhere (or in most cells) has no top cells: the cut falls among cells tied at
    0 and only the tie rule places the flags. `exposure_of_surfaces` flagged them all the same (by cell
    index, or split pro rata): group x, the first cells, got every flag of the all-zero week. Now only
    cells with risk above 0 hold a flag, and the report says how many flags were asked for."""
    from crimelens.domain import Incident, IncidentTable, TimeWindow
    from crimelens.feedback import exposure_of_surfaces
    from crimelens.forecast import RiskSurface, StudyArea

    grid = Grid(0.0, 0.0, 1000.0, 4, 1, "EPSG:32610")
    area = StudyArea.square(grid)
    areas = [Area("a", "a", _square(0, 0, 2000, 1000), 1000, audit={"g": "x"}),
             Area("b", "b", _square(2000, 0, 4000, 1000), 3000, audit={"g": "y"})]
    weeks = [TimeWindow.starting("2020-01-06", days=7), TimeWindow.starting("2020-01-13", days=7)]
    surfaces = [RiskSurface(area, np.zeros(4), weeks[0], "hand"),
                RiskSurface(area, np.array([0.0, 0.0, 0.0, 2.0]), weeks[1], "hand")]
    seen = [IncidentTable.from_incidents([Incident(f"{w.start.date()}-{c}", "theft", w.start, w.start,
                                                   x_m=500.0 + 1000 * c, y_m=500.0)], crs="EPSG:32610")
            for w, c in zip(weeks, (0, 3), strict=True)]
    for ties in ("index", "split"):
        rep = exposure_of_surfaces(surfaces, seen, areas=areas, coverage=0.5, group_by="g", ties=ties)
        per = rep.per_period.set_index(["period", "group"])
        assert np.isnan(per.loc[(0, "x"), "flag_share"])  # before: 1.0 by index, 0.5 split: nothing flagged
        assert per.loc[(0, "x"), "hit_rate"] == 0.0  # its incident fell in no flagged cell
        assert per.loc[(1, "y"), "flag_share"] == 1.0 and per.loc[(1, "y"), "hit_rate"] == 1.0  # cell 3 only
        assert rep.flag_counts is not None
        assert rep.flag_counts[["flags_asked", "cells_risk_above_0", "flags"]].to_numpy().tolist() == [
            [2, 0, 0], [2, 1, 1]]
        caution = rep.summary()["caution_zero_risk"]
        assert caution.startswith("in 2 of 2 periods fewer cells had a forecast risk above 0 (0-1) than the 2 flags")
        assert "in 1 of them every cell's forecast was 0" in caution
    assert flags_from_scores(np.zeros(4), 1.0, 0.5, positive_only=True).tolist() == [0.0] * 4
    with pytest.raises(InputError, match="expected both or neither"):
        exposure_audit(np.ones((1, 4)), np.ones((1, 4)), overlap=cell_area_overlap(grid, areas), areas=areas,
                       flags_asked=np.ones(1))


def test_flags_tied_at_the_cut_are_split_by_surface() -> None:
    # cells 1-3 tied: cell 1 (surface 3) is taken by index; split, the three share 3 of their 5 units
    flags = flags_from_scores(np.array([5.0, 1.0, 1.0, 1.0]), np.array([1.0, 3.0, 1.0, 1.0]), 0.5)
    np.testing.assert_allclose(flags, [1.0, 0.6, 0.6, 0.6])
    with pytest.raises(InvalidParameterError, match="ties='random'"):
        flags_from_scores(np.ones(3), 1.0, 0.5, ties="random")  # type: ignore[arg-type]


def test_incidents_outside_the_cells_count_under_outside_areas() -> None:
    grid = Grid(0.0, 0.0, 100.0, 2, 1)
    areas = [Area("a", "a", _square(0, 0, 100, 100), 10, audit={"g": "x"}),
             Area("b", "b", _square(100, 0, 200, 100), 10, audit={"g": "y"})]
    flagged = np.array([[1.0, 0.0], [1.0, 0.0]])
    incidents = np.array([[2.0, 1.0], [1.0, 1.0]])
    rep = exposure_audit(flagged, incidents, overlap=cell_area_overlap(grid, areas), areas=areas, group_by="g",
                         incidents_outside=np.array([1.0, 2.0]))
    per = rep.per_period.set_index(["period", "group"])
    assert rep.groups == ["x", "y", OUTSIDE]  # no cell lies outside, yet incidents did
    assert per.loc[(0, "x"), "incident_share"] == 0.5 and per.loc[(0, OUTSIDE), "incident_share"] == 0.25
    assert per.loc[(0, "x"), "hit_rate"] == 1.0 and per.loc[(0, OUTSIDE), "hit_rate"] == 0.0
    assert np.isnan(per.loc[(0, OUTSIDE), "pai"]) and per.loc[(0, OUTSIDE), "flag_share"] == 0.0
    for p in (0, 1):
        assert per.loc[p, "incident_share"].sum() == pytest.approx(1.0)
    assert rep.summary()["n_incidents"] == 8.0 and rep.summary()["n_incidents_outside_cells"] == 3.0
    with pytest.raises(InputError, match="one count per period"):
        exposure_audit(flagged, incidents, overlap=cell_area_overlap(grid, areas), areas=areas,
                       incidents_outside=np.array([1.0]))
