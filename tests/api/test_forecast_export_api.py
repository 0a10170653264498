"""A stored forecast run downloaded as the files QGIS opens: the same cells, polygons and metadata as
``forecast run --out`` wrote when the run was made."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyogrio
import pyogrio.raw
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crimelens.governance import Actor, Role
from crimelens.services.forecasts import run_forecast
from tests.api.city import City
from tests.api.conftest import auth


@pytest.fixture(scope="module")
def made(app: FastAPI, city: City, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("direct")
    run = run_forecast(app.state.ctx, offense=None, at=city.at, actor=Actor("ana", Role.ANALYST), dataset="synth",
                       out=folder / "direct.csv")
    return run.run_id, folder / "direct.csv"


def _rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_the_csv_of_a_stored_run_has_the_rows_written_when_it_ran(made: tuple[str, Path], client: TestClient,
                                                                  city: City) -> None:
    run_id, direct = made
    r = client.get(f"/api/forecasts/{run_id}/export", params={"format": "csv"}, headers=auth(city, "aud"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert f'forecast-{run_id}.csv' in r.headers["content-disposition"]
    # every row and column, the run's metadata included (its study area's keys were written in another order)
    assert r.text == direct.read_text(encoding="utf-8")
    # the header comes first (GDAL reads it); the run's metadata are columns, the same on every row
    meta = next(csv.DictReader(io.StringIO(r.text)))
    assert meta["run_id"] == run_id and meta["risk_units"].startswith("expected recorded incidents")
    assert meta["coverage"] == "0.05" and meta["output_hash"]


def test_geopackage_and_geojson_open_with_their_crs_and_every_cell(made: tuple[str, Path], client: TestClient,
                                                                   city: City, tmp_path: Path, app: FastAPI) -> None:
    run_id, direct = made
    n_cells = len(_rows(direct.read_text(encoding="utf-8"))) - 1
    crs = app.state.ctx.store.dataset_crs("synth")
    for fmt, want_crs in (("gpkg", crs), ("geojson", "EPSG:4326")):
        r = client.get(f"/api/forecasts/{run_id}/export", params={"format": fmt}, headers=auth(city, "ana"))
        assert r.status_code == 200, r.text
        path = tmp_path / f"x.{fmt}"
        path.write_bytes(r.content)
        info = pyogrio.read_info(path, layer="forecast" if fmt == "gpkg" else None)
        assert info["features"] == n_cells and info["geometry_type"] == "Polygon"
        assert pyogrio.read_info(path, layer="forecast" if fmt == "gpkg" else None)["crs"].upper().endswith(
            want_crs.split(":")[-1])
        meta, _, geometry, fields = pyogrio.raw.read(path)
        columns = dict(zip(meta["fields"].tolist(), fields, strict=True))
        assert set(columns) >= {"cell_id", "risk", "rank", "flagged"} and len(geometry) == n_cells
        assert int(columns["flagged"].sum()) == round(0.05 * n_cells)
    entries = client.get("/api/ledger/entries", params={"limit": 20}, headers=auth(city, "aud")).json()["items"]
    assert {("forecast.export", "aud"), ("forecast.export", "ana")} <= {(e["action"], e["user"]) for e in entries}


def test_export_requests_are_named_when_wrong(made: tuple[str, Path], client: TestClient, city: City) -> None:
    run_id, _ = made
    r = client.get(f"/api/forecasts/{run_id}/export", params={"format": "shp"}, headers=auth(city, "ana"))
    assert r.status_code == 422 and "format" in r.json()["error"]
    assert client.get("/api/forecasts/nope/export", headers=auth(city, "ana")).status_code == 404


def test_an_h3_run_exports_its_hexagons(app: FastAPI, city: City, client: TestClient, tmp_path: Path) -> None:
    run = run_forecast(app.state.ctx, offense=None, at=city.at, actor=Actor("ana", Role.ANALYST), dataset="synth",
                       mask="h3", h3_resolution=8)
    r = client.get(f"/api/forecasts/{run.run_id}/export", params={"format": "gpkg"}, headers=auth(city, "ana"))
    assert r.status_code == 200, r.text
    (tmp_path / "h.gpkg").write_bytes(r.content)
    _, _, geometry, _ = pyogrio.raw.read(tmp_path / "h.gpkg", layer="forecast")
    import shapely

    shapes = shapely.from_wkb(geometry)
    assert len(shapes) == run.surface.area.n_cells
    assert {len(shapely.get_coordinates(g)) for g in shapes} <= {6, 7}  # hexagons (pentagons are rare)


def test_a_stored_run_draws_as_a_png_map(made: tuple[str, Path], app: FastAPI, city: City, client: TestClient,
                                         tmp_path: Path) -> None:
    import matplotlib.image

    run_id, _ = made
    h3 = run_forecast(app.state.ctx, offense=None, at=city.at, actor=Actor("ana", Role.ANALYST), dataset="synth",
                      mask="h3", h3_resolution=8)
    for run in (run_id, h3.run_id):
        r = client.get(f"/api/forecasts/{run}/export", params={"format": "png"}, headers=auth(city, "bea"))
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert f"forecast-{run}.png" in r.headers["content-disposition"]
        (tmp_path / "m.png").write_bytes(r.content)
        img = matplotlib.image.imread(tmp_path / "m.png")
        assert img.shape[:2] == (770, 770)
        # the cells are drawn: many colours, not a blank figure
        assert len({tuple(p) for p in (img[::7, ::7, :3] * 255).astype(int).reshape(-1, 3)}) > 50
    entries = client.get("/api/ledger/entries", params={"action": "forecast.export"},
                         headers=auth(city, "aud")).json()["items"]
    assert {e["detail"]["run_id"] for e in entries if e["outcome"] == "ok" and e["detail"]["format"] == "png"} == {run_id, h3.run_id}
