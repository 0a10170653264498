"""A GIS analyst's findings on exports (tester s32-E): cells across the antimeridian, a CSV GDAL opens,
boundary files in metres or drawn crossing themselves, the series GeoJSON's layer name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyogrio
import pyogrio.raw
import pytest
import shapely
from pyproj import Transformer

from crimelens.domain import Grid, TimeWindow
from crimelens.errors import InvalidParameterError
from crimelens.forecast import RiskSurface, StudyArea
from crimelens.forecast._export import export_surface, write_cells
from crimelens.linkage._export import write_series
from crimelens.services.forecasts import _boundary
from tests.linkage.test_export import _frames

WEEK = TimeWindow.starting("2019-09-30", days=7)
MARK = "research — not for operational use"


def _fiji(crs: str) -> RiskSurface:
    """A 6 x 4 grid of 150 m cells whose middle column straddles lon 180 at lat -16.8 (the analyst's Fiji)."""
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(180.0, -16.8)
    grid = Grid(float(x) - 450.0, float(y) - 300.0, 150.0, 6, 4, crs=crs)
    area = StudyArea.square(grid)
    return RiskSurface(area, np.linspace(0.0, 1.0, area.n_cells), WEEK, "NaiveCounts")


def _spans(path: Path) -> list[tuple[str, float]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for feature in doc["features"]:
        geom = shapely.geometry.shape(feature["geometry"])
        out.append((geom.geom_type, max(p.bounds[2] - p.bounds[0] for p in shapely.get_parts(geom))))
    return out


@pytest.mark.parametrize("crs", ["EPSG:32701", "EPSG:32760"])  # UTM 1S and 60S
def test_square_cells_across_the_antimeridian_are_split_there(tmp_path: Path, crs: str) -> None:
    """Before: the crossing cells' rings jumped from 179.99 to -179.99 (359.998° wide)."""
    out = export_surface(_fiji(crs), tmp_path / "fiji.geojson", mark=MARK)
    spans = _spans(out)
    assert len(spans) == 24 and max(width for _, width in spans) < 0.01  # every part is one cell wide
    crossing = [kind for kind, _ in spans if kind == "MultiPolygon"]
    assert 4 <= len(crossing) <= 8  # the cells 180° runs through (a meridian is not a grid line in UTM)
    doc = json.loads(out.read_text(encoding="utf-8"))
    parts = [shapely.geometry.shape(f["geometry"]) for f in doc["features"]
             if f["geometry"]["type"] == "MultiPolygon"]
    for multi in parts:  # split at 180, each part ending at ±180 exactly, the whole area kept
        east, west = sorted(shapely.get_parts(multi), key=lambda p: p.bounds[0], reverse=True)
        assert east.bounds[2] == 180.0 and west.bounds[0] == -180.0


def test_h3_cells_across_the_antimeridian_are_split_there(tmp_path: Path) -> None:
    import h3

    cells = sorted({h3.latlng_to_cell(-16.8, lon, 9) for lon in np.linspace(179.99, 180.01, 9)})
    to = Transformer.from_crs("EPSG:4326", "EPSG:32760", always_xy=True)
    polys = []
    for cell in cells:
        lat, lon = np.array(h3.cell_to_boundary(cell)).T
        x, y = to.transform(lon, lat)
        polys.append(shapely.Polygon(list(zip(x, y, strict=True))))
    import pandas as pd

    centres = np.array([p.centroid.coords[0] for p in polys])
    lon, lat = Transformer.from_crs("EPSG:32760", "EPSG:4326", always_xy=True).transform(centres[:, 0], centres[:, 1])
    frame = pd.DataFrame({"cell": np.arange(len(cells)), "cell_id": [h3.str_to_int(c) for c in cells],
                          "x_m": centres[:, 0], "y_m": centres[:, 1], "lon": lon, "lat": lat,
                          "risk": np.ones(len(cells)), "rank": np.arange(1, len(cells) + 1),
                          "flagged": np.zeros(len(cells), dtype=bool)})
    meta = {"study_area": json.dumps({"kind": "h3", "resolution": 9}), "mark": MARK}
    out = write_cells(tmp_path / "h3.geojson", "geojson", frame, np.array(polys, dtype=object), "EPSG:32760", meta)
    spans = _spans(out)
    assert "MultiPolygon" in {kind for kind, _ in spans} and max(width for _, width in spans) < 0.01


def test_the_csv_opens_in_gdal_with_its_header_crs_and_metadata(tmp_path: Path) -> None:
    """Before: 15 '#' lines came first and GDAL read the fields as ['#', 'model:', 'NaiveCounts']."""
    extra = {"run_id": "0ae99c9530f4469d", "dataset": "fiji", "offense": "robbery"}
    out = export_surface(_fiji("EPSG:32760"), tmp_path / "fc.csv", mark=MARK, extra=extra)
    assert out.read_text(encoding="utf-8").startswith("cell,cell_id,x_m,y_m,lon,lat,risk,rank,flagged,wkt,crs,model,")
    info = pyogrio.read_info(out)
    fields = info["fields"].tolist()
    assert fields[:12] == ["cell", "cell_id", "x_m", "y_m", "lon", "lat", "risk", "rank", "flagged", "wkt", "crs",
                           "model"]
    assert {"run_id", "mark", "window", "output_hash", "study_area", "coverage"} <= set(fields)
    assert info["features"] == 24 and info["geometry_type"] != "None" and "UTM zone 60S" in info["crs"]
    meta, _, geometry, values = pyogrio.raw.read(out)
    col = dict(zip(meta["fields"].tolist(), values, strict=True))
    assert set(col["run_id"].tolist()) == {"0ae99c9530f4469d"} and set(col["mark"].tolist()) == {MARK}
    assert col["risk"].dtype.kind == "f" and col["rank"].tolist()[0] == 1  # typed by the .csvt
    assert shapely.from_wkb(geometry[0]).area == pytest.approx(150.0**2)


def test_a_boundary_in_metres_without_its_crs_is_refused_clearly(tmp_path: Path) -> None:
    """Before: GEOSException UnsupportedOperationException from make_valid on infinite coordinates."""
    ring = [[441891.55, 4633358.95], [448532.55, 4633307.91], [448572.65, 4638859.26], [441891.55, 4633358.95]]
    path = tmp_path / "a_utm_nocrs.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    with pytest.raises(InvalidParameterError, match=r"--polygon a_utm_nocrs.geojson: its coordinates \(x 441892\.\."
                                                    r"448573, y 4\.63331e\+06\.\.4\.63886e\+06\) are not on Earth in "
                                                    r"EPSG:4326 \(a GeoJSON without a `crs` member is read as lon/lat"):
        _boundary(str(path), "EPSG:32616")


def test_a_self_intersecting_boundary_is_repaired_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "bowtie.geojson"
    bowtie = [[-87.7, 41.85], [-87.62, 41.9], [-87.62, 41.85], [-87.7, 41.9], [-87.7, 41.85]]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "x"}, "geometry": {"type": "Polygon", "coordinates": [bowtie]}}]}))
    notes: list[str] = []
    geom, _ = _boundary(str(path), "EPSG:32616", notes)
    assert geom.geom_type == "MultiPolygon" and 18e6 < geom.area < 19e6
    assert len(notes) == 1 and notes[0].startswith(
        "--polygon bowtie.geojson: 1 of its 1 polygon(s) are not valid and were repaired (shapely make_valid): "
        "feature 1 (Self-intersection[")
    assert "0.000 km² as drawn, 18.4" in notes[0]
    square = tmp_path / "square.geojson"
    square.write_text(path.read_text().replace("[-87.62, 41.9], [-87.62, 41.85]", "[-87.62, 41.85], [-87.62, 41.9]")
                      .replace("[-87.7, 41.9], [-87.7, 41.85]]", "[-87.7, 41.9], [-87.7, 41.85]]"))
    quiet: list[str] = []
    _boundary(str(square), "EPSG:32616", quiet)
    assert quiet == []


def test_the_series_geojson_is_named_after_the_file_it_becomes(tmp_path: Path) -> None:
    """Before: "name" was the staging file's (".series2.ls-1e8974395cf5.121f0ae4.part")."""
    members, series = _frames()
    staged = tmp_path / ".series2.ls-1e8974395cf5.121f0ae4.part.geojson"
    write_series(staged, "geojson", members, series, "EPSG:32616", {"run_id": "ls-1e8974395cf5", "mark": MARK})
    assert json.loads(staged.read_text(encoding="utf-8"))["name"] == "series2"
    plain = write_series(tmp_path / "mine.geojson", "geojson", members, series, "EPSG:32616", {"mark": MARK})
    assert json.loads(plain.read_text(encoding="utf-8"))["name"] == "mine"
