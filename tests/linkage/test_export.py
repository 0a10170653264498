"""Series files for QGIS from frames built here: layers, geometries, a member without coordinates, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import CRS as CRS_

from crimelens.errors import InvalidParameterError
from crimelens.linkage._export import write_series

CRS = "EPSG:32616"
META = {"run_id": "ls-test", "mark": "research — not for operational use"}


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    members = pd.DataFrame({
        "series_id": ["S0001", "S0001", "S0001", "S0002", "S0002"],
        "position": [0, 1, 2, 0, 1],
        "incident_id": ["a", "b", "c", "d", "e"],
        "offense": ["burglary"] * 3 + ["robbery"] * 2,
        "occurred_from": ["2024-01-01T10:00:00+00:00"] * 5,
        "occurred_to": [None, None, None, None, "2024-01-02T10:00:00+00:00"],
        "area": ["A1", "A1", None, "A2", "A2"],
        "mean_probability": [0.9, 0.8, 0.7, 0.95, 0.95],
        "strongest_link": ["b", "a", "a", "e", "d"],
        "strongest_probability": [0.97, 0.97, 0.9, 0.95, 0.95],
        "drivers": ["narrative_cosine +4.000"] * 5,
        # c has no coordinates; S0002 has two members 300 m apart (a line, as a hull)
        "x_m": [440_000.0, 440_100.0, np.nan, 445_000.0, 445_300.0],
        "y_m": [4_630_000.0, 4_630_100.0, np.nan, 4_632_000.0, 4_632_000.0],
    })
    members["lon"] = [-87.72, -87.72, np.nan, -87.66, -87.65]
    members["lat"] = [41.82, 41.82, np.nan, 41.84, 41.84]
    series = pd.DataFrame({
        "series_id": ["S0001", "S0002"], "n_members": [3, 2], "first_from": ["2024-01-01T10:00:00+00:00"] * 2,
        "last_to": ["2024-01-02T10:00:00+00:00"] * 2, "span_days": [1.0, 1.0], "cohesion": [0.8, 0.95],
        "hull_area_m2": [0.0, 0.0], "max_extent_m": [141.4, 300.0], "offense": ["burglary", "robbery"],
        "common_mo": ["entry=rear door (100%)", ""]})
    return members, series


def test_geopackage_has_hulls_members_and_links(tmp_path: Path) -> None:
    members, series = _frames()
    out = write_series(tmp_path / "s.gpkg", "gpkg", members, series, CRS, META, pad_m=50.0)
    meta, _, geom, fields = pyogrio.raw.read(out, layer="series")
    hulls = dict(zip(dict(zip(meta["fields"], fields, strict=True))["series_id"], shapely.from_wkb(geom),
                     strict=True))
    # a two-member series still has an area: the 300 m segment widened by 50 m on each side
    assert hulls["S0002"].geom_type == "Polygon"
    assert hulls["S0002"].area == pytest.approx(300 * 100 + np.pi * 50**2, rel=0.05)
    assert hulls["S0001"].covers(shapely.Point(440_100.0, 4_630_100.0))
    assert pyogrio.read_info(out, layer="series")["layer_metadata"]["hull_pad_m"] == "50"

    meta, _, geom, fields = pyogrio.raw.read(out, layer="series_members")
    col = dict(zip(meta["fields"], fields, strict=True))
    assert list(col["incident_id"]) == ["a", "b", "c", "d", "e"]  # c kept, with no point
    pts = shapely.from_wkb(geom)
    assert pts[2] is None or pts[2].is_empty
    assert (pts[0].x, pts[0].y) == (440_000.0, 4_630_000.0)
    assert col["area"][2] is None and col["occurred_to"][4] == "2024-01-02T10:00:00+00:00"

    meta, _, geom, fields = pyogrio.raw.read(out, layer="series_links")
    col = dict(zip(meta["fields"], fields, strict=True))
    # c (no place) has no line, and nothing links to it
    assert list(zip(col["incident_id"], col["linked_to"], strict=True)) == [("a", "b"), ("b", "a"), ("d", "e"),
                                                                            ("e", "d")]
    assert shapely.from_wkb(geom)[2].length == pytest.approx(300.0)
    assert pyogrio.read_info(out, layer="series_links")["crs"] == CRS


def test_geojson_is_lonlat_and_csv_carries_the_metadata(tmp_path: Path) -> None:
    members, series = _frames()
    gj = write_series(tmp_path / "s.geojson", "geojson", members, series, CRS, META)
    info = pyogrio.read_info(gj)
    assert info["crs"] == "EPSG:4326" and info["features"] == 5
    _, _, geom, _ = pyogrio.raw.read(gj)
    p = shapely.from_wkb(geom)[0]
    assert (round(p.x, 2), round(p.y, 2)) == (-87.72, 41.82)
    out = write_series(tmp_path / "s.csv", "csv", members, series, CRS, META)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("series_id,position,incident_id,") and lines[0].endswith(",wkt,crs,run_id,mark")
    body = pd.read_csv(out)
    assert len(body) == 5 and set(body["crs"]) == {CRS} and body.loc[3, "cohesion"] == 0.95
    assert set(body["run_id"]) == {"ls-test"} and set(body["mark"]) == {"research — not for operational use"}
    # GDAL (what QGIS and ogr2ogr read with) takes the header as the header, the numbers as numbers and the
    # wkt column as points in the data's CRS
    info = pyogrio.read_info(out)
    assert info["fields"][0] == "series_id" and info["features"] == 5
    assert CRS_.from_user_input(info["crs"]).to_epsg() == 32616
    meta, _, geom, fields = pyogrio.raw.read(out)
    cols = dict(zip(meta["fields"], fields, strict=True))
    assert cols["cohesion"].dtype == np.float64 and cols["position"].dtype.kind == "i"
    points = shapely.from_wkb(geom)
    assert {p.geom_type for p in points if p is not None} == {"Point"}
    got = np.array([[p.x, p.y] if p is not None else [np.nan, np.nan] for p in points])
    assert np.allclose(got, members[["x_m", "y_m"]].to_numpy(np.float64), equal_nan=True)


def test_bad_format_and_missing_columns_are_named(tmp_path: Path) -> None:
    members, series = _frames()
    with pytest.raises(InvalidParameterError, match=r"'s\.shp': got format 'shp'"):
        write_series(tmp_path / "s.shp", "shp", members, series, CRS, META)
    with pytest.raises(InvalidParameterError, match=r"\['drivers'\] are missing"):
        write_series(tmp_path / "s.csv", "csv", members.drop(columns=["drivers"]), series, CRS, META)
    assert not (tmp_path / "s.csv").exists()
