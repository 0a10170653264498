"""`crimelens forecast export RUN --out FILE`: a stored run as files, checked against its ledger entry (before,
only the API and `forecast run --out` exported, and no command said whether stored cells were edited)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyogrio
import pytest

from tests.api.city import City, copy_city
from tests.conftest import run_cli


def test_a_stored_run_exports_from_the_cli_and_an_edited_one_exits_4(city_template: City, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    city = copy_city(city_template, tmp_path / "store")
    run, db = city.forecast_run, str(city.db)
    out = tmp_path / "maps" / "week.csv"
    code, text, err = run_cli(capsys, "forecast", "export", run, "--out", str(out), "--db", db, "--json")
    assert code == 0, err
    doc = json.loads(text)
    assert doc["out"] == str(out) and doc["matches_ledger"] is True and doc["problems"] == []
    assert doc["recomputed_hash"] == doc["output_hash"]
    assert out.with_suffix(".csvt").exists() and out.with_suffix(".prj").exists()
    info = pyogrio.read_info(out)
    with duckdb.connect(db, read_only=True) as con:
        n = con.execute("SELECT count(*) FROM forecast_cells WHERE run_id = ?", [run]).fetchone()
    assert n is not None and info["features"] == n[0]
    with duckdb.connect(db) as con:
        con.execute('UPDATE forecast_cells SET flagged = NOT flagged WHERE run_id = ? AND "rank" = 1', [run])
    code, text, err = run_cli(capsys, "forecast", "export", run, "--out", str(tmp_path / "edited.geojson"), "--db", db)
    assert code == 4 and (tmp_path / "edited.geojson").exists()
    assert "do NOT match the run's ledger entry" in " ".join(text.split())
    code, _, err = run_cli(capsys, "forecast", "export", run, "--out", str(tmp_path / "x.shp"), "--db", db)
    assert code == 2 and "expected .gpkg, .geojson, .csv or .png" in err
