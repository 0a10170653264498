"""Map shapes the API serves: H3 forecast cells as hexagons, near-repeat bands in their true distance."""

from __future__ import annotations

import json
from pathlib import Path

import h3
import numpy as np
import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from typer.testing import CliRunner

from crimelens.cli import app as cli_app
from crimelens.errors import InvalidParameterError
from crimelens.services.dashboard import band_rings
from tests.api.city import City, copy_city
from tests.api.conftest import auth

UTM16N = "EPSG:32616"


def _to_metres(ring: list[list[float]]) -> np.ndarray:
    tr = Transformer.from_crs("EPSG:4326", UTM16N, always_xy=True)
    x, y = tr.transform([p[0] for p in ring], [p[1] for p in ring])
    return np.column_stack([x, y])


def test_band_rings_are_diamonds_for_manhattan_and_circles_for_euclidean() -> None:
    x0, y0 = 447_000.0, 4_640_000.0
    diamond, none = band_rings(UTM16N, x0, y0, [200.0, float("inf")], "manhattan")
    assert none is None  # an open-ended band has no outer edge to draw
    assert diamond is not None and diamond["type"] == "Polygon"
    ring = diamond["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 65
    xy = _to_metres(ring) - [x0, y0]
    np.testing.assert_allclose(np.abs(xy).sum(axis=1), 200.0, atol=0.05)  # |dx| + |dy| = r, in the data CRS
    assert np.abs(xy).max() == pytest.approx(200.0, abs=0.05)
    circle = band_rings(UTM16N, x0, y0, [200.0], "euclidean")[0]
    assert circle is not None
    np.testing.assert_allclose(np.hypot(*(_to_metres(circle["coordinates"][0]) - [x0, y0]).T), 200.0, atol=0.05)
    with pytest.raises(InvalidParameterError, match="expected 'manhattan' or 'euclidean'"):
        band_rings(UTM16N, x0, y0, [100.0], "chebyshev")


def test_nearrepeat_alert_carries_one_ring_per_elevated_band(client: TestClient, city: City) -> None:
    r = client.post(f"/api/incidents/{city.incident_id}/nearrepeat", json={"dataset": "synth", "alpha": 0.99},
                    headers=auth(city, "ana"))
    assert r.status_code == 200, r.text
    alert = r.json()
    assert alert["distance"] == "manhattan" and alert["elevated"]  # alpha 0.99: nearly every band with a ratio > 1
    assert len(alert["rings"]) == len(alert["elevated"]) and any(g is not None for g in alert["rings"])
    tr = Transformer.from_crs(alert["crs"], "EPSG:4326", always_xy=True)
    lon0, lat0 = tr.transform(alert["x_m"], alert["y_m"])
    for band, ring in zip(alert["elevated"], alert["rings"], strict=True):
        if ring is None:
            assert not np.isfinite(band["distance_to_m"])
            continue
        xy = _to_metres(ring["coordinates"][0]) - _to_metres([[lon0, lat0]])[0]
        np.testing.assert_allclose(np.abs(xy).sum(axis=1), band["distance_to_m"], rtol=1e-4)


def test_h3_forecast_layer_draws_hexagons_and_scores_by_h3_cell(client: TestClient, city: City) -> None:
    h = auth(city, "ana")
    made = client.post("/api/forecasts", json={"at": city.at, "dataset": "synth", "model": "naive", "mask": "h3",
                                               "h3_resolution": 8, "horizon_days": 28}, headers=h)
    assert made.status_code == 200, made.text
    run = made.json()
    assert run["area"]["kind"] == "h3" and run["area"]["resolution"] == 8
    layer = client.get(f"/api/forecasts/{run['run_id']}/cells", headers=h).json()
    assert layer["properties"]["cell_shape"] == "hexagon (H3)"
    assert len(layer["features"]) == run["area"]["n_cells"] > 5
    for feature in layer["features"]:
        ring = feature["geometry"]["coordinates"][0]
        assert len(ring) == 7 and ring[0] == ring[-1]  # six corners, closed
        own = h3.int_to_str(int(feature["properties"]["cell_id"]))
        assert ring[:-1] == [[round(lng, 6), round(lat, 6)] for lat, lng in h3.cell_to_boundary(own)]
        centre = np.mean(ring[:-1], axis=0)
        assert h3.latlng_to_cell(centre[1], centre[0], 8) == own
    # the evaluation counts each recorded incident in its own H3 cell
    ev = client.get(f"/api/forecasts/{run['run_id']}/evaluation", headers=h).json()
    cells = {int(f["properties"]["cell_id"]) for f in layer["features"]}
    window = ev["window"]
    listed = client.get("/api/incidents", params={"dataset": "synth", "limit": 1000, "start": window[0],
                                                  "end": window[1]}, headers=h).json()
    assert ev["n_recorded_in_window"] == listed["total"] == len(listed["items"]) > 0
    inside = sum(h3.str_to_int(h3.latlng_to_cell(i["lat"], i["lon"], 8)) in cells for i in listed["items"])
    assert 0 < inside < listed["total"]  # the study area is the hexagons with a past incident, not all
    assert ev["n_recorded_in_window"] - ev["n_outside_study_area"] == inside


def test_cli_h3_forecast_exports_hexagons(city_template: City, tmp_path: Path) -> None:
    mine = copy_city(city_template, tmp_path / "store")
    out = tmp_path / "h3.geojson"
    res = CliRunner().invoke(cli_app, ["forecast", "run", "--db", str(mine.db), "--dataset", "synth", "--at",
                                       mine.at, "--model", "naive", "--mask", "h3", "--h3-resolution", "8",
                                       "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["area"]["kind"] == "h3"
    features = json.loads(out.read_text())["features"]
    assert features and all(len(f["geometry"]["coordinates"][0]) == 7 for f in features)
    bad = CliRunner().invoke(cli_app, ["forecast", "run", "--db", str(mine.db), "--at", mine.at, "--mask", "h3",
                                       "--h3-resolution", "16"])
    assert bad.exit_code == 2 and "h3-resolution" in bad.output  # refused by the option's range
