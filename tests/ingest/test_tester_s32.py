"""A GIS analyst's findings (tester s32-E): Web Mercator input, GeoPackage geometry columns, swapped pairs,
``areas load --population-field``. Files are small copies of theirs, rebuilt in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyogrio
import pyogrio.raw
import pytest
import shapely
from pyproj import Transformer

from crimelens.cli import main
from crimelens.config import Settings
from crimelens.errors import SchemaError
from crimelens.governance import Actor
from crimelens.ingest import read_file
from crimelens.services import open_context
from crimelens.services.ingest import ingest_file, load_areas

# eight robberies in San Francisco (lon, lat), from the analyst's file
SF = np.array([(-122.402066, 37.788721), (-122.408493, 37.784464), (-122.419116, 37.775421),
               (-122.411758, 37.787231), (-122.447792, 37.719928), (-122.434961, 37.761892),
               (-122.404427, 37.785014), (-122.391023, 37.730262)])
MAPPING = """[source]
name = "{name}"
timezone = "America/Los_Angeles"
{crs}dataset = "{name}"
[columns]
incident_id = "uid"
offense = "offense_type"
occurred_from = {{ column = "date_time", format = "iso" }}
{where}
[offenses]
"PERSONAL ROBBERY" = "robbery"
"""


def _csv(tmp_path: Path, name: str, xy: np.ndarray, crs: str, cols: tuple[str, str]) -> tuple[Path, Path]:
    rows = [f"uid,offense_type,date_time,{cols[0]},{cols[1]}"]
    rows += [f"{100 + i},personal robbery,2019-01-0{1 + i}T19:50:00,{float(x)!r},{float(y)!r}" for i, (x, y) in enumerate(xy)]
    data = tmp_path / f"{name}.csv"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    mapping = tmp_path / f"{name}.toml"
    where = f'{"lon" if cols[0] == "lon" else "x"} = "{cols[0]}"\n{"lat" if cols[1] == "lat" else "y"} = "{cols[1]}"'
    mapping.write_text(MAPPING.format(name=name, crs=f'crs = "{crs}"\n', where=where), encoding="utf-8")
    return data, mapping


def _projected(crs: str) -> np.ndarray:
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(SF[:, 0], SF[:, 1])
    return np.column_stack([x, y])


def test_web_mercator_input_gets_the_data_utm_zone_without_a_warning(tmp_path: Path) -> None:
    """Before: EPSG:3857 was kept (scale 1.265 at SF: 150 m cells were 119 m on the ground), with a warning
    advising what the tool should have done itself."""
    data, mapping = _csv(tmp_path, "sf3857", _projected("EPSG:3857"), "EPSG:3857", ("X", "Y"))
    r = read_file(data, mapping=mapping)
    assert (r.n_landed, r.crs, r.warnings) == (8, "EPSG:32610", [])
    low, high = r.validated.scale or (0.0, 0.0)
    assert 0.9995 < low <= high < 1.0
    x, y = _projected("EPSG:32610")[0]
    assert r.table.xy_m[0] == pytest.approx((x, y), abs=0.01)


def test_a_source_crs_true_to_scale_is_kept_and_a_stored_dataset_keeps_its_crs(tmp_path: Path) -> None:
    # NAD83 / California zone 3 in metres: scale error under 0.01 % at SF, kept as it is
    data, mapping = _csv(tmp_path, "sfspcs", _projected("EPSG:26943"), "EPSG:26943", ("X", "Y"))
    assert read_file(data, mapping=mapping).crs == "EPSG:26943"
    # a dataset stored in EPSG:3857 (by --crs) keeps it: later Web Mercator files are not moved to UTM
    merc, merc_map = _csv(tmp_path, "sfmerc", _projected("EPSG:3857"), "EPSG:3857", ("X", "Y"))
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        first = ingest_file(ctx, merc, actor=Actor("analyst"), mapping=merc_map, dataset="m", crs="EPSG:3857")
        assert first.crs == "EPSG:3857" and first.warnings  # asked for: kept, and warned about
        more = merc.with_name("sfmerc_more.csv")
        more.write_text(merc.read_text(encoding="utf-8").replace(",personal", "9,personal"), encoding="utf-8")
        later = ingest_file(ctx, more, actor=Actor("analyst"), mapping=merc_map, dataset="m")
        assert later.crs == "EPSG:3857" and later.n_landed == 8


@pytest.mark.parametrize("column", ["geom", "Shape"])
def test_a_geopackage_with_its_own_geometry_column_name_is_read(tmp_path: Path, column: str) -> None:
    """Before: ArrowInvalid 'Invalid UTF8 payload' (the WKB column was read as text)."""
    path = tmp_path / f"pts_{column}.gpkg"
    xy = _projected("EPSG:2227")
    pyogrio.raw.write(path, shapely.to_wkb(shapely.points(xy)),
                      [np.arange(100, 108), np.array(["personal robbery"] * 8, dtype=object),
                       np.array([f"2019-01-0{1 + i}T19:50:00" for i in range(8)], dtype=object)],
                      ["uid", "offense_type", "date_time"], driver="GPKG", geometry_type="Point", crs="EPSG:2227",
                      layer_options={"GEOMETRY_NAME": column})
    assert pyogrio.read_info(path)["geometry_name"] == column
    mapping = tmp_path / "geom.toml"
    mapping.write_text(MAPPING.format(name="sfgeom", crs="", where="geometry = true"), encoding="utf-8")
    r = read_file(path, mapping=mapping)
    assert (r.n_landed, r.crs) == (8, "EPSG:32610")
    x, y = _projected("EPSG:32610")[3]
    assert r.table.xy_m[3] == pytest.approx((x, y), abs=0.01)


def _districts(tmp_path: Path, column: str = "geom") -> Path:
    """Two Portland districts in Oregon North (ft), as the analyst's districts_2913.gpkg holds them."""
    path = tmp_path / "districts_2913.gpkg"
    to = Transformer.from_crs("EPSG:4326", "EPSG:2913", always_xy=True)
    polys = []
    for lon, lat in ((-122.68, 45.52), (-122.62, 45.52)):
        x, y = to.transform([lon, lon + 0.05, lon + 0.05, lon], [lat, lat, lat + 0.03, lat + 0.03])
        polys.append(shapely.Polygon(list(zip(x, y, strict=True))))
    pyogrio.raw.write(path, shapely.to_wkb(np.array(polys, dtype=object)),
                      [np.array(["510", "520"], dtype=object), np.array(["NO", "NE"], dtype=object),
                       np.array([2788, 3100]), np.array(["1,500", "900"], dtype=object)],
                      ["district", "precinct", "population", "residents"], driver="GPKG",
                      geometry_type="Polygon", crs="EPSG:2913", layer_options={"GEOMETRY_NAME": column})
    return path


def test_areas_load_reads_a_geopackage_geometry_column_named_geom(tmp_path: Path) -> None:
    """Before: StopIteration (only wkb_geometry / geometry were looked for)."""
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        areas = load_areas(ctx, _districts(tmp_path), dataset="pdx", actor=Actor("analyst"), id_field="district")
    assert [(a.area_id, a.population, a.crs) for a in areas] == [("510", 2788, "EPSG:32610"),
                                                                 ("520", 3100, "EPSG:32610")]
    assert 12.9e6 < shapely.from_wkt(areas[0].wkt).area < 13.1e6  # 0.05° x 0.03° at 45.5° N: 3.9 km x 3.3 km


def test_areas_load_takes_a_population_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, db = _districts(tmp_path), str(tmp_path / "s.duckdb")
    with pytest.raises(SystemExit) as exc:  # the population field is ours to name now; a bad value is named
        main(["areas", "load", str(path), "--dataset", "pdx", "--id-field", "district", "--population-field",
              "residents", "--db", db, "--json"])
    assert exc.value.code == 2
    assert ("districts_2913.gpkg feature 1, property 'residents': got '1,500'; expected a whole number of "
            "residents >= 0") in json.loads(capsys.readouterr().out)["error"]
    try:
        main(["areas", "load", str(path), "--dataset", "pdx", "--id-field", "district", "--population-field",
              "population", "--db", db, "--json"])
    except SystemExit as done:
        assert done.code in (0, None)
    assert json.loads(capsys.readouterr().out)["n_areas"] == 2
    with (open_context(Settings(db=tmp_path / "s.duckdb")) as ctx,
          pytest.raises(SchemaError, match=r"population_field 'people' is not a property of its features; "
                                           r"expected one of 'district', 'precinct', 'population', 'residents'")):
        load_areas(ctx, path, dataset="pdx", actor=Actor("analyst"), population_field="people")


def test_a_swapped_pair_that_is_no_position_is_hinted_at(tmp_path: Path) -> None:
    """Before: '37.788721, -122.402066' read as lon, lat was 'not a valid position in EPSG:4326', no hint."""
    xy = SF.copy()
    xy[[0, 5]] = xy[[0, 5], ::-1]
    xy[6] = (137.5, -95.0)  # no position either way: no hint
    data, mapping = _csv(tmp_path, "sfll", xy, "EPSG:4326", ("lon", "lat"))
    r = read_file(data, mapping=mapping)
    assert (r.n_landed, r.crs) == (5, "EPSG:32610")
    reasons = dict(zip(r.quarantine["line"], r.quarantine["reason"], strict=True))
    invalid = "out-of-area coordinates: not a valid position in EPSG:4326"
    assert reasons == {2: f"{invalid}; latitude and longitude swapped?",
                       7: f"{invalid}; latitude and longitude swapped?", 8: invalid}
    assert r.quarantine.set_index("line").loc[2, "value"] == "37.788721, -122.402066"
