"""The CLI and the services on a real store: runs stored with their ledger entries, JSON output, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from crimelens.cli import app
from crimelens.errors import InvalidParameterError
from crimelens.governance import Ledger
from crimelens.storage import DuckDBStore
from crimelens.storage._feedback import feedback_runs
from tests.conftest import shared

runner = CliRunner()


def _json(output: str) -> dict:  # type: ignore[type-arg]
    return json.loads(output.strip().splitlines()[-1])


def test_urn_simulation_is_stored_logged_and_reproducible(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    args = ["feedback", "simulate", "--scenario", "ensign-urn", "--runs", "30", "--days", "150", "--seed", "4",
            "--db", str(db), "--json", "--out", str(tmp_path / "figs")]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    doc = _json(first.output)
    assert doc["ok"] and doc["mark"] == "research — not for operational use"
    assert set(doc["summary"]["final_shares"]) == {"uncorrected", "corrected (ipw)", "uncorrected, 20% citizen reports"}
    assert (tmp_path / "figs" / "ensign_urn.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Two-region urn" in (tmp_path / "figs" / "feedback.md").read_text(encoding="utf-8")
    second = _json(runner.invoke(app, args).output)
    assert second["output_hash"] == doc["output_hash"]
    with DuckDBStore.open(db) as store:
        entries = Ledger(store).entries(action="feedback.simulate")
        assert [e.output_hash for _, e in entries] == [doc["output_hash"], doc["output_hash"]]
        assert entries[0][1].purpose == "research"
        assert entries[0][1].detail["run_id"] == doc["run_id"]
        stored = feedback_runs(store)
        assert {r.run_id for r in stored} == {doc["run_id"], second["run_id"]}
        assert stored[0].ledger_seq is not None
    listed = _json(runner.invoke(app, ["feedback", "runs", "--db", str(db), "--json"]).output)
    assert len(listed["runs"]) == 2
    shown = _json(runner.invoke(app, ["feedback", "show", doc["run_id"], "--db", str(db), "--json"]).output)
    assert shown["summary"]["true_share"] == doc["summary"]["true_share"]


def test_planted_city_simulation_with_a_sweep(tmp_path: Path) -> None:
    result = runner.invoke(app, ["feedback", "simulate", "--scenario", "planted-city", "--model", "naive",
                                 "--days", "20", "--correction", "reported-only", "--sweep",
                                 "--db", str(tmp_path / "t.duckdb"), "--json"])
    assert result.exit_code == 0, result.output
    doc = _json(result.output)
    assert set(doc["summary"]["runs"]) == {"no feedback", "feedback", "feedback + reported-only"}
    assert [r["detection_bias"] for r in doc["summary"]["detection_bias_sweep"]["rows"]] == [0.0, 0.01, 0.02, 0.03,
                                                                                             0.04, 0.05]


def test_oakland_from_the_shared_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["feedback", "simulate", "--scenario", "oakland", "--days", "30", "--model", "naive",
                                 "--data", str(shared("oakland_drug_2010/drug_crimes_with_bins.csv")),
                                 "--db", str(tmp_path / "t.duckdb"), "--json"])
    assert result.exit_code == 0, result.output
    doc = _json(result.output)
    assert doc["params"]["allocation"] == "top-20"
    assert doc["summary"]["runs"]["feedback"]["days"] == 30


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "chicago"], "expected one of"),
        (["--scenario", "planted-city", "--correction", "magic"], "expected one of"),
        (["--scenario", "planted-city", "--model", "oracle"], "model 'oracle': unknown"),
        (["--seed", "-5"], "seed -5; expected 0 or more"),
        (["--scenario", "planted-city", "--days", "999999999"], "days 999999999; expected 1 to 3,660"),
        (["--runs", "999999999"], "days x runs = 1,999,999,998; expected at most 25,000,000"),
    ],
)
def test_bad_options_exit_2_with_a_json_error(tmp_path: Path, args: list[str], message: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from crimelens.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["feedback", "simulate", "--days", "2", *args, "--db", str(tmp_path / "t.duckdb"), "--json"])
    assert stop.value.code == 2
    assert message in json.loads(capsys.readouterr().out)["error"]


def test_audit_exposure_on_the_synthetic_city_files(tmp_path: Path) -> None:
    from crimelens.synth import SyntheticCity

    city = SyntheticCity(seed=2, days=120, n_series=0, n_areas=12).generate()
    city.write(tmp_path / "city")
    result = runner.invoke(app, ["audit", "exposure", "--data", str(tmp_path / "city" / "incidents.csv"),
                                 "--areas", str(tmp_path / "city" / "areas.geojson"), "--group-by", "group",
                                 "--periods", "4", "--period-days", "14", "--window-days", "56",
                                 "--db", str(tmp_path / "t.duckdb"), "--json"])
    assert result.exit_code == 0, result.output
    doc = _json(result.output)
    groups = doc["summary"]["groups"]
    assert "intervals across them are too narrow" in doc["summary"]["caution"]  # 56-day windows, 14-day steps
    assert {"group_a", "group_b"} <= set(groups)
    shares = [g["flag_share"]["mean"] for g in groups.values()]  # edge cells partly outside the city count apart
    assert sum(shares) == pytest.approx(1.0, abs=1e-5)
    assert groups["group_a"]["population"] + groups["group_b"]["population"] == sum(a.population or 0
                                                                                    for a in city.areas)
    assert "caution_window" not in doc["summary"]  # 56 + 4 x 14 days fit in the 120 days of records
    with DuckDBStore.open(tmp_path / "t.duckdb") as store:
        (_, entry), = Ledger(store).entries(action="feedback.exposure")
        assert entry.output_hash == doc["output_hash"]

    def exposure(*args: str) -> Any:
        got = runner.invoke(app, ["audit", "exposure", "--data", str(tmp_path / "city" / "incidents.csv"),
                                  "--areas", str(tmp_path / "city" / "areas.geojson"), *args,
                                  "--db", str(tmp_path / "t.duckdb"), "--json"])
        return got.exception if got.exception is not None else _json(got.output)

    # periods that reach before the first record, or a window longer than the records: refused by name
    refused = exposure("--periods", "20", "--period-days", "14")
    assert isinstance(refused, InvalidParameterError)
    assert "20 periods of 14 days need 280 days of records" in str(refused) and "holds 122 (" in str(refused)
    refused = exposure("--window-days", "999999999")
    assert "a training window of 999,999,999 days is longer than the 122 days" in str(refused)
    # a window that starts before the first record: the audit runs and says so
    doc = exposure("--periods", "4", "--period-days", "14", "--window-days", "100")
    assert "starts 34 days before the first record" in doc["summary"]["caution_window"]


def test_audit_exposure_needs_incidents_and_areas(tmp_path: Path) -> None:
    from crimelens.cli import main
    from crimelens.storage import DuckDBStore

    db = tmp_path / "t.duckdb"
    with pytest.raises(SystemExit) as stop:  # no store there yet, and no --data to make one from
        main(["audit", "exposure", "--db", str(db), "--json"])
    assert stop.value.code == 1 and not db.exists()
    DuckDBStore.open(db).close()  # an empty store: the command asks for incidents
    with pytest.raises(SystemExit) as stop:
        main(["audit", "exposure", "--db", str(db), "--json"])
    assert stop.value.code == 2


def test_report_section_lists_stored_runs_with_their_hashes(tmp_path: Path) -> None:
    from crimelens.config import load_settings
    from crimelens.services import open_context
    from crimelens.services.feedback import report_section

    db = tmp_path / "t.duckdb"
    urn = _json(runner.invoke(app, ["feedback", "simulate", "--scenario", "ensign-urn", "--runs", "10", "--days", "50",
                                    "--db", str(db), "--json"]).output)
    grid = _json(runner.invoke(app, ["feedback", "simulate", "--scenario", "planted-city", "--model", "naive",
                                     "--days", "10", "--db", str(db), "--json"]).output)
    with open_context(load_settings(db=db)) as ctx:
        md = report_section(ctx)
        html = report_section(ctx, fmt="html")
    assert md.index(urn["run_id"]) < md.index(grid["run_id"])
    assert urn["output_hash"] in md and grid["output_hash"] in md
    assert f"{urn['summary']['final_shares']['uncorrected']:.3f}" in md
    assert "<table>" in html


def test_oakland_from_the_store_after_an_ingest(tmp_path: Path) -> None:
    db = str(tmp_path / "t.duckdb")
    ingest = runner.invoke(app, ["ingest", str(shared("oakland_drug_2010/drug_crimes_with_bins.csv")),
                                 "--format", "oakland_lum_isaac", "--db", db, "--json"])
    assert ingest.exit_code == 0, ingest.output
    args = ["feedback", "simulate", "--scenario", "oakland", "--days", "20", "--model", "naive", "--db", db, "--json"]
    missing = runner.invoke(app, args)
    assert missing.exit_code != 0  # no bins: the store has no areas for the dataset and no --areas given
    result = runner.invoke(app, [*args, "--areas", str(shared("oakland_drug_2010/oakland_grid.geojson"))])
    assert result.exit_code == 0, result.output
    from_file = runner.invoke(app, ["feedback", "simulate", "--scenario", "oakland", "--days", "20", "--model", "naive",
                                    "--data", str(shared("oakland_drug_2010/drug_crimes_with_bins.csv")),
                                    "--db", db, "--json"])
    # the same records, whether read from the file or from the store, give the same run
    assert _json(result.output)["output_hash"] == _json(from_file.output)["output_hash"]


def test_audit_exposure_counts_each_incident_once(tmp_path: Path) -> None:
    """Cincinnati's export has a row per victim or offence (ids ID#2, ID#3...): the exposure audit's
    backtest counts each incident once, as forecasts do, and says how many records it left out."""
    import gzip

    from crimelens.ingest import read_file

    with gzip.open(shared("cincinnati_burglary/cincinnati_burglary.csv.gz"), "rt") as fh:
        lines = fh.read().splitlines()
    src = tmp_path / "cincinnati_2018.csv"
    src.write_text("\n".join([lines[0], *[x for x in lines[1:] if ",2018-" in x]]) + "\n")
    ids = read_file(src).table.frame["incident_id"].astype(str)
    n_copies = int(ids.str.contains("#").sum())
    west, east = (-84.72, 39.0, -84.51, 39.23), (-84.51, 39.0, -84.25, 39.23)
    areas = tmp_path / "halves.geojson"
    areas.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": name, "group": name}, "geometry": {"type": "Polygon", "coordinates": [[
            [b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]], [b[0], b[1]]]]}}
        for name, b in (("west", west), ("east", east))]}))
    result = runner.invoke(app, ["audit", "exposure", "--data", str(src), "--areas", str(areas), "--group-by", "group",
                                 "--periods", "4", "--period-days", "14", "--window-days", "56",
                                 "--db", str(tmp_path / "t.duckdb"), "--json"])
    assert result.exit_code == 0, result.output
    doc = _json(result.output)
    assert doc["params"]["records"] == "incident" and doc["params"]["n_records_left_out"] == n_copies > 100
