"""``crimelens synth`` through the real CLI entry point, and the city through the real ingest path."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from crimelens.storage import DuckDBStore
from tests.cli.test_ingest_cli import run


def test_synth_writes_the_files_and_loads_them_into_a_store(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out, db = tmp_path / "city", tmp_path / "c.duckdb"
    code, text, _ = run(capsys, "synth", "--out", str(out), "--seed", "4", "--days", "30", "--n-series", "4",
                        "--disparity", "0.5", "--db", str(db), "--json")
    assert code == 0
    doc = json.loads(text)
    assert doc["ok"] is True and doc["params"]["seed"] == 4 and doc["params"]["disparity"] == 0.5
    assert doc["n_series"] == 4 and doc["n_series_solved"] == 2
    assert set(doc["files"]) == {"incidents.csv", "areas.geojson", "truth/series.csv", "truth/params.json",
                                 "truth/events.csv", "truth/areas.csv", "truth/intensity.npz", "truth/patrol.npz"}
    assert all((out / name).stat().st_size == size for name, size in doc["files"].items())
    ingest = doc["store"]["ingest"]
    assert ingest["reader"] == "canonical" and ingest["n_read"] == doc["n_incidents"]
    assert ingest["n_landed"] == doc["n_incidents"] and ingest["n_quarantined"] == 0
    assert doc["store"]["n_areas"] == 40
    with DuckDBStore.open(db) as store:
        table = store.incidents(dataset="synth")
    assert len(table) == doc["n_incidents"] and table.crs == "EPSG:32616"
    # the store holds what the file says, M.O. attributes included
    with (out / "incidents.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == doc["n_incidents"]
    ids = table.incident_id
    first = next(r for r in rows if "," in r["narrative"])
    row = int(np.flatnonzero(ids == first["incident_id"])[0])
    assert table.xy_m[row].tolist() == [float(first["x_m"]), float(first["y_m"])]
    assert (table.mo("target")[row] or "") == first["target"]


def test_synth_prints_a_summary_and_refuses_bad_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text, _ = run(capsys, "synth", "--out", str(tmp_path / "c"), "--seed", "2", "--days", "10",
                        "--n-series", "1")
    assert code == 0 and "recorded incidents" in text and "θ = 0.3" in text
    code, text, _ = run(capsys, "synth", "--out", str(tmp_path / "d"), "--days", "0", "--json")
    assert code == 2
    doc = json.loads(text)
    assert doc["ok"] is False and doc["type"] == "InvalidParameterError" and "days=0" in doc["error"]
    code, _, err = run(capsys, "synth", "--out", str(tmp_path / "e"), "--recording", "partial")
    assert code == 2 and "'thinned' or 'complete'" in err


def test_synth_loads_into_the_store_crimelens_db_names(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """--db says it falls back to CRIMELENS_DB, as every other command's does; synth wrote only files
    when only the variable was set, and the next command found no dataset."""
    db = tmp_path / "env.duckdb"
    monkeypatch.setenv("CRIMELENS_DB", str(db))
    code, text, _ = run(capsys, "synth", "--out", str(tmp_path / "city"), "--seed", "4", "--days", "20",
                        "--dataset", "dense", "--json")
    assert code == 0
    doc = json.loads(text)
    assert doc["store"]["db"] == str(db)
    with DuckDBStore.open(db) as store:
        assert len(store.incidents(dataset="dense")) == doc["n_incidents"] > 0
