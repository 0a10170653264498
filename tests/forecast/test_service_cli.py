"""Forecast runs and backtests through the service and the CLI, on a real store with real data."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import pytest
from typer.testing import CliRunner

from crimelens.cli import app, main
from crimelens.config import load_settings
from crimelens.errors import ApprovalRequiredError, InvalidParameterError
from crimelens.governance import Actor
from crimelens.services import RESEARCH_MARK, open_context
from crimelens.services.forecasts import forecast_record, run_forecast
from crimelens.services.ingest import ingest_file
from crimelens.storage._forecast import forecast_cells, get_forecast_run
from tests.conftest import shared

SF = "sf_robbery/san_francisco_robbery.csv"
runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "f.duckdb"
    with open_context(load_settings(db=path)) as ctx:
        ingest_file(ctx, shared(SF), actor=Actor("ada"), format="sf_code", dataset="sf")
    return path


def test_run_is_stored_with_its_ledger_entry_and_exports(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "exports" / "week.gpkg"
    with open_context(load_settings(db=db)) as ctx:
        before = ctx.ledger.size()
        run = run_forecast(ctx, offense="robbery", at="2019-10-01T07:00:00Z", actor=Actor("ada"),
                           model="kde", dataset="sf", coverage=0.05, out=out)
        assert ctx.ledger.size() == before + 3  # the run, then its two files (see test_exports_are_logged...)
        entry = ctx.ledger.entry(run.ledger_seq)
        assert entry.action == "forecast.run" and entry.purpose == "research"
        assert entry.output_hash == run.surface.hash() and entry.data_hash == run.data_hash
        record = get_forecast_run(ctx.store, run.run_id)
        cells = forecast_cells(ctx.store, run.run_id)
        n_before = int(ctx.store.scalar(
            "SELECT count(*) FROM incidents WHERE occurred_from < TIMESTAMPTZ '2019-10-01 07:00:00+00'"))
    assert record.ledger_seq == run.ledger_seq and record.mark == RESEARCH_MARK
    assert record.n_cells == run.surface.n_cells == len(cells)
    rule = json.loads(record.area)["rule"]
    assert rule == "cells with >= 1 incident(s) among incidents (mid-time) before 2019-10-01T07:00:00+00:00", rule
    assert cells["rank"].tolist() == list(range(1, len(cells) + 1))
    assert int(cells["flagged"].sum()) == max(1, round(0.05 * len(cells)))
    # the model saw exactly the incidents before the window
    assert run.n_training == n_before and 0 < n_before < 951
    info = pyogrio.read_info(out, layer="forecast")
    assert info["features"] == len(cells) and "32610" in info["crs"]
    assert Path(run.files["map"]).stat().st_size > 10_000


def test_an_h3_map_draws_its_hexagons_as_tiles_not_dots(db: Path, tmp_path: Path) -> None:
    """The PNG beside an H3 export fills each hexagon, as QGIS draws the export: adjacent cells touch, so
    the coloured pixels form a few regions; the old map drew a 6-point dot per cell centre, one region each."""
    from matplotlib.image import imread
    from scipy import ndimage

    with open_context(load_settings(db=db)) as ctx:
        run = run_forecast(ctx, offense="robbery", at="2019-10-01T07:00:00Z", actor=Actor("ada"), model="naive",
                           dataset="sf", mask="h3", h3_resolution=9, out=tmp_path / "hex.geojson")
    n_cells = run.surface.n_cells
    pixels = imread(run.files["map"])[:, :, :3]
    black = pixels.sum(axis=2) < 0.3  # the axes' frame: the only black lines across most of the figure
    rows = np.flatnonzero(black.sum(axis=1) > 0.3 * pixels.shape[1])
    cols = np.flatnonzero(black.sum(axis=0) > 0.3 * pixels.shape[0])
    inside = pixels[rows.min() + 2:rows.max() - 1, cols.min() + 2:cols.max() - 1].sum(axis=2) < 2.9
    _, regions = ndimage.label(inside)
    # measured: 55 regions for 275 cells, 18 % of the frame coloured; the dots gave 280 regions and 7 %
    assert n_cells > 150 and regions < n_cells / 3 and inside.mean() > 0.12, (n_cells, regions, inside.mean())


def test_run_without_purpose_is_refused_and_logged(db: Path) -> None:
    with open_context(load_settings(db=db)) as ctx:
        before = ctx.ledger.size()
        with pytest.raises(ApprovalRequiredError, match="no stated purpose"):
            run_forecast(ctx, offense="robbery", at="2019-10-01T07:00:00Z", actor=Actor("ada"),
                         dataset="sf", purpose="")
        assert ctx.ledger.size() == before + 1
        assert ctx.ledger.entry(before).outcome == "refused"
        assert int(ctx.store.scalar("SELECT count(*) FROM forecast_runs")) == 0


@pytest.mark.parametrize("suffix", ["geojson", "csv"])
def test_cli_run_writes_exports_that_gis_reads(db: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"f.{suffix}"
    result = CliRunner().invoke(app, ["forecast", "run", "--offense", "robbery", "--at", "2019-10-01",
                                      "--horizon", "7d", "--cell-m", "150", "--dataset", "sf",
                                      "--out", str(out), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["model"] == "GradientBoostedCells" and doc["mark"] == RESEARCH_MARK  # the default
    assert doc["area"]["cell_m"] == 150.0 and doc["window"][0].startswith("2019-10-01")
    if suffix == "geojson":
        info = pyogrio.read_info(out)
        assert info["features"] == doc["area"]["n_cells"] and "4326" in info["crs"]
        meta = json.loads(out.read_text(encoding="utf-8"))["metadata"]  # what made the file travels with it
        assert meta["mark"] == RESEARCH_MARK and "GradientBoostedCells" in meta["model"]
    else:
        lines = out.read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("cell,") and not any(ln.startswith("#") for ln in lines)  # GDAL reads the header
        rows = list(csv.DictReader(lines))
        assert len(rows) == doc["area"]["n_cells"]
        assert {r["mark"] for r in rows} == {RESEARCH_MARK} and {r["run_id"] for r in rows} == {doc["run_id"]}
        assert rows[0]["wkt"].startswith("POLYGON") and rows[0]["rank"] == "1"
        assert 37 < float(rows[0]["lat"]) < 38 and rows[0]["crs"] == "EPSG:32610"


def test_cli_backtest_json_has_per_model_per_period_and_intervals(db: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["forecast", "backtest", "--models", "naive,weighted,prospective",
                                      "--offense", "robbery", "--start", "2019-09-02", "--periods", "6",
                                      "--horizon", "7d", "--cell-m", "150", "--coverage", "0.01,0.05",
                                      "--dataset", "sf", "--plot", str(tmp_path / "c.png"),
                                      "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["n_periods"] == 6 and doc["area"]["kind"] == "square"
    for name in ("naive", "weighted", "prospective"):
        pai = doc["models"][name]["pai"]["0.05"]
        assert pai["low"] <= pai["mean"] <= pai["high"]
        assert set(doc["models"][name]) >= {"hit_rate", "pei", "brier", "loglik_per_period"}
    assert len(doc["per_period"]) == 4 * 6  # three models and the perfect-rate ceiling
    assert any(" / " in k for k in doc["paired"])
    assert (tmp_path / "c.png").stat().st_size > 10_000

    # the stored run reads back: listed, then shown whole, its figures and paired ratios as computed
    listed = CliRunner().invoke(app, ["forecast", "backtests", "--db", str(db), "--json"])
    assert listed.exit_code == 0, listed.output
    row = json.loads(listed.stdout)["items"][0]
    assert row["run_id"] == doc["run_id"] and row["models"] == ["naive", "weighted", "prospective"]
    assert row["n_periods"] == 6 and row["first_origin"].startswith("2019-09-02")
    shown = CliRunner().invoke(app, ["forecast", "backtests", "--run", doc["run_id"], "--db", str(db), "--json"])
    assert shown.exit_code == 0, shown.output
    stored = json.loads(shown.stdout)
    assert stored["output_hash_matches"] is True and stored["summary"]["paired"] == doc["paired"]
    assert stored["summary"]["models"]["weighted"]["pai"] == doc["models"]["weighted"]["pai"] | {
        k: v for k, v in stored["summary"]["models"]["weighted"]["pai"].items() if k not in doc["models"]["weighted"]["pai"]}
    text = CliRunner().invoke(app, ["forecast", "backtests", "--run", doc["run_id"], "--db", str(db)])
    assert text.exit_code == 0 and "matches its ledger entry" in text.output and "PAI ratio @0.01" in text.output
    # the ceiling is one expected value: printed as a bound, never as a zero-width "[x, x]" interval
    ceiling = doc["models"]["ceiling:perfect-rate"]["pai"]["0.01"]
    assert ceiling["low"] == ceiling["high"] and f"{ceiling['mean']:.3f} (expected; no interval)" in text.output
    assert f"[{ceiling['low']:.3f}, {ceiling['high']:.3f}]" not in text.output
    # and as files: the stored summary byte for byte (hashing to the ledger entry), and its table
    import hashlib

    for suffix in ("json", "csv"):
        out = tmp_path / f"bt.{suffix}"
        got = CliRunner().invoke(app, ["forecast", "backtests", "--run", doc["run_id"], "--out", str(out),
                                       "--db", str(db), "--json"])
        assert got.exit_code == 0 and json.loads(got.stdout)["out"] == str(out), got.output
    assert hashlib.sha256((tmp_path / "bt.json").read_bytes()).hexdigest() == stored["output_hash"]
    lines = [x for x in (tmp_path / "bt.csv").read_text().splitlines() if not x.startswith("#")]
    assert lines[0] == "model,coverage,metric,mean,low,high"
    assert f"naive,0.05,pai,{doc['models']['naive']['pai']['0.05']['mean']!r}" in "\n".join(lines)


def test_cli_backtest_of_shifts_reads_in_hours(db: Path) -> None:
    """Six 8-hour forecasts from midnight (San Francisco's): origins 8 hours apart, spans printed and stored
    in hours."""
    base = ["forecast", "backtest", "--models", "naive,weighted", "--offense", "robbery", "--start",
            "2019-09-02", "--periods", "6", "--horizon", "8h", "--dataset", "sf", "--db", str(db)]
    text = CliRunner().invoke(app, base)
    assert text.exit_code == 0, text.output
    assert "6 forecasts of 8 hours" in " ".join(text.output.split())
    doc = json.loads(CliRunner().invoke(app, [*base, "--json"]).stdout)
    assert doc["horizon_days"] == pytest.approx(1 / 3)
    assert doc["origins"][:4] == ["2019-09-02T07:00:00+00:00", "2019-09-02T15:00:00+00:00",
                                  "2019-09-02T23:00:00+00:00", "2019-09-03T07:00:00+00:00"]
    shown = CliRunner().invoke(app, ["forecast", "backtests", "--run", doc["run_id"], "--db", str(db)])
    assert "6 forecasts of 8 hours from 2019-09-02 00:00 America/Los_Angeles" in " ".join(shown.output.split())


def test_cli_backtest_scores_nij_flagged_areas(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["forecast", "backtest", "--models", "naive", "--offense", "robbery", "--start", "2019-09-02",
            "--periods", "3", "--dataset", "sf", "--db", str(db), "--json", "--no-per-period"]
    result = CliRunner().invoke(app, [*base, "--nij", "--area-km2", "1.0"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    areas = doc["flagged_areas"]
    assert [round(a["sq_mi"], 4) for a in areas] == [0.25, 0.75, round(1.0 / 2.589988110336, 4)]
    assert [a["n_flagged"] for a in areas] == [28, 86, 44]  # whole 150 m cells (0.0225 km²) that fit
    for a in areas:
        assert a["coverage"] * doc["area"]["n_cells"] == pytest.approx(a["n_flagged"])
        pai = a["models"]["naive"]["pai"]
        assert pai["low"] <= pai["mean"] <= pai["high"] and pai["mean"] > 1
    with pytest.raises(SystemExit) as exc:
        main([*base, "--area-km2", "3"])
    assert exc.value.code == 2
    assert "3 km² (1.158 sq mi): outside the NIJ limits" in json.loads(capsys.readouterr().out)["error"]
    allowed = CliRunner().invoke(app, [*base, "--area-km2", "3", "--no-nij-limits"])
    assert allowed.exit_code == 0 and json.loads(allowed.stdout)["flagged_areas"][0]["n_flagged"] == 133


def test_cli_errors_map_to_exit_codes(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["forecast", "run", "--at", "2019-10-01", "--model", "oracle", "--db", str(db), "--json"])
    assert exc.value.code == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["type"] == "InvalidParameterError" and "model 'oracle'" in doc["error"]
    with pytest.raises(SystemExit) as exc:
        main(["forecast", "backtest", "--start", "2019-09-02", "--coverage", "5", "--db", str(db), "--json"])
    assert exc.value.code == 2 and "--coverage" in json.loads(capsys.readouterr().out)["error"]
    with pytest.raises(SystemExit) as exc:
        main(["forecast", "backtests", "--run", "nope", "--db", str(db), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert exc.value.code != 0 and doc["type"] == "NotFoundError" and "backtest 'nope'" in doc["error"]
    with pytest.raises(SystemExit) as exc:
        main(["forecast", "backtests", "--out", "x.json", "--db", str(db), "--json"])
    assert exc.value.code == 2 and "expected --run" in json.loads(capsys.readouterr().out)["error"]


def test_cli_backtest_registers_the_model_with_its_measured_figures(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from crimelens.services import governance as gs

    with open_context(load_settings(db=db)) as ctx:
        gs.add_user(ctx, name="ada", role="admin", actor=Actor("ada", "admin"))
        gs.add_user(ctx, name="ana", role="analyst", actor=Actor("ada", "admin"))
    base = ["forecast", "backtest", "--models", "naive,weighted", "--offense", "robbery", "--start", "2019-09-02",
            "--periods", "4", "--dataset", "sf", "--db", str(db), "--json", "--no-per-period"]
    bad = CliRunner().invoke(app, [*base, "--register", "kde"])  # not among --models: refused before any work
    assert bad.exit_code == 2 and "expected one of --models" in bad.output
    # a card must describe what a deployment runs: the defaults, not a tuned variant
    tuned = CliRunner().invoke(app, [*base, "--register", "weighted", "--param", "weighted.half_life_days=30"])
    assert tuned.exit_code == 2 and "must be measured with the" in tuned.output
    monkeypatch.setenv("CRIMELENS_USER", "ana")
    result = CliRunner().invoke(app, [*base, "--register", "weighted"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["registered"]["model"] == "TimeWeightedCounts" and "intended_use" in doc["registered"][
        "card_missing_sections"]
    with open_context(load_settings(db=db)) as ctx:
        card = gs.model_card(ctx, name="TimeWeightedCounts", actor=Actor("ana", "analyst"))
        regs = [e for _, e in ctx.ledger.entries() if e.action == "models.register"]
    metrics, data = card.section("metrics"), card.section("evaluation_data")
    # the card's numbers are the backtest's, with intervals, and name the run they came from
    pai = doc["models"]["weighted"]["pai"]["0.01"]
    assert (metrics["pai_0.01"], metrics["pai_0.01_low"], metrics["pai_0.01_high"]) == pytest.approx(
        (pai["mean"], pai["low"], pai["high"]))
    ratio = doc["paired"].get("weighted / naive") or doc["paired"]["naive / weighted"]
    assert "pai_ratio_to_naive_0.05" in metrics and ratio
    assert (data["backtest_run"], data["backtest_ledger_entry"], data["periods"]) == (
        doc["run_id"], doc["ledger_seq"], 4)
    assert data["study_area"] == doc["area"]
    assert card.section("training_data")["snapshot_sha256"] == regs[0].data_hash
    assert [(e.user, e.model, e.model_version) for e in regs] == [("ana", "TimeWeightedCounts", card.version)]


def test_cli_model_names_match_the_registry() -> None:
    from crimelens.cli.forecast import DEFAULT_MODEL as CLI_DEFAULT
    from crimelens.cli.forecast import MODEL_NAMES
    from crimelens.forecast import DEFAULT_MODEL, MODELS

    assert tuple(MODELS) == MODEL_NAMES and CLI_DEFAULT == DEFAULT_MODEL


def _refused_as_invalid(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI exits 2 with an InvalidParameterError whose message contains ``message``."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    doc = json.loads(capsys.readouterr().out)
    assert exc.value.code == 2 and doc["type"] == "InvalidParameterError", doc
    assert message in doc["error"], doc


def test_cli_run_takes_model_parameters_and_records_them(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["forecast", "run", "--offense", "robbery", "--at", "2019-10-01", "--model", "weighted",
            "--dataset", "sf", "--db", str(db), "--json"]
    default = CliRunner().invoke(app, base)
    custom = CliRunner().invoke(app, [*base, "--param", "half_life_days=30", "--param", "window_days=120"])
    assert default.exit_code == 0 and custom.exit_code == 0, custom.output
    d, c = json.loads(default.stdout), json.loads(custom.stdout)
    assert d["params"]["half_life_days"] == 730.0 and c["params"]["half_life_days"] == 30
    assert c["params"]["window_days"] == 120
    # a 30-day half-life over 120 days is another forecast, not the same one relabelled
    assert c["hash"] != d["hash"] and c["expected_total"] != pytest.approx(d["expected_total"])
    with open_context(load_settings(db=db)) as ctx:
        record = get_forecast_run(ctx.store, c["run_id"])
        entry = ctx.ledger.entry(c["ledger_seq"])
    assert json.loads(record.params)["half_life_days"] == 30
    assert entry.params["half_life_days"] == 30 and entry.params["window_days"] == 120

    for bad, message in ((["--param", "halflife=30"], "unknown parameter(s) ['halflife']"),
                         (["--param", "half_life_days"], "expected NAME=VALUE"),
                         (["--param", "half_life_days=-3"], "half_life_days must be a finite number > 0")):
        _refused_as_invalid([*base, *bad], message, capsys)


def test_parameters_with_a_deployment_are_refused_and_logged(db: Path) -> None:
    with open_context(load_settings(db=db)) as ctx:
        before = ctx.ledger.size()
        with pytest.raises(ApprovalRequiredError, match="custom parameters \\['time_of_day'\\]: research use"):
            run_forecast(ctx, offense="robbery", at="2019-10-01T07:00:00Z", actor=Actor("ada"),
                         dataset="sf", purpose="patrol", deployment="patrol-2019",
                         params={"time_of_day": 0.0})
        assert ctx.ledger.size() == before + 1
        entry = ctx.ledger.entry(before)
        assert entry.outcome == "refused" and entry.deployment == "patrol-2019"
        assert entry.detail["params"] == {"time_of_day": 0.0}
        assert int(ctx.store.scalar("SELECT count(*) FROM forecast_runs")) == 0


def test_cli_run_prints_the_parameters_it_was_given(db: Path) -> None:
    result = CliRunner().invoke(app, ["forecast", "run", "--offense", "robbery", "--at", "2019-10-01",
                                      "--model", "weighted", "--param", "time_of_day=0.25",
                                      "--dataset", "sf", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "parameters set: time_of_day=0.25" in result.stdout


def test_cli_backtest_takes_parameters_by_model(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["forecast", "backtest", "--models", "naive,weighted", "--offense", "robbery", "--start",
            "2019-09-02", "--periods", "4", "--dataset", "sf", "--no-per-period", "--db", str(db), "--json"]
    default = CliRunner().invoke(app, base)
    custom = CliRunner().invoke(app, [*base, "--param", "weighted.half_life_days=14",
                                      "--param", "weighted.window_days=60"])
    assert default.exit_code == 0 and custom.exit_code == 0, custom.output
    d, c = json.loads(default.stdout), json.loads(custom.stdout)
    assert d["models"]["weighted"]["params"]["half_life_days"] == 730.0
    assert c["models"]["weighted"]["params"]["half_life_days"] == 14
    assert c["models"]["naive"]["params"] == d["models"]["naive"]["params"]  # only the named model
    # 14 days of half-life over 60 days ranks other cells than 2 years over 8 years
    assert c["models"]["weighted"]["loglik_per_period"] != d["models"]["weighted"]["loglik_per_period"]
    assert c["models"]["naive"]["loglik_per_period"] == d["models"]["naive"]["loglik_per_period"]
    with open_context(load_settings(db=db)) as ctx:
        entry = ctx.ledger.entry(c["ledger_seq"])
    assert entry.detail["params_set"] == {"weighted": {"half_life_days": 14, "window_days": 60}}

    for bad, message in ((["--param", "half_life_days=14"], "expected MODEL.NAME=VALUE"),
                         (["--param", "kde.bandwidth_m=100"], "parameters for ['kde']: those models are not"),
                         (["--param", "weighted.halflife=3"], "unknown parameter(s) ['halflife']")):
        _refused_as_invalid([*base, *bad], message, capsys)


def test_a_backtest_with_set_parameters_cannot_register_that_model(db: Path) -> None:
    from crimelens.services.forecasts import register_backtested, run_backtest

    with open_context(load_settings(db=db)) as ctx:
        run = run_backtest(ctx, models=["naive", "weighted"], offense="robbery", start="2019-09-02", periods=2,
                           actor=Actor("ada"), dataset="sf", params={"weighted": {"time_of_day": 0.25}})
        with pytest.raises(InvalidParameterError, match=r"set its parameters \['time_of_day'\]"):
            register_backtested(ctx, run, model="weighted", actor=Actor("ada"))
        assert not [e for _, e in ctx.ledger.entries() if e.action == "models.register"]


def test_cli_backtest_compares_two_settings_of_one_model_paired(db: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    base = ["forecast", "backtest", "--offense", "robbery", "--start", "2019-09-02", "--periods", "4",
            "--dataset", "sf", "--no-per-period", "--db", str(db), "--json"]
    alone = CliRunner().invoke(app, [*base, "--models", "weighted", "--param", "weighted.half_life_days=14"])
    both = CliRunner().invoke(app, [*base, "--models", "naive,weighted,w14=weighted",
                                    "--param", "w14.half_life_days=14"])
    assert alone.exit_code == 0 and both.exit_code == 0, both.output
    a, b = json.loads(alone.stdout), json.loads(both.stdout)
    assert list(b["models"]) == ["naive", "weighted", "w14", "ceiling:perfect-rate"]
    assert b["models"]["w14"]["class"] == b["models"]["weighted"]["class"] == "TimeWeightedCounts"
    assert b["models"]["weighted"]["params"]["half_life_days"] == 730.0
    assert b["models"]["w14"]["params"]["half_life_days"] == 14
    # the labelled run is the same forecasts as that setting run under its own name
    assert b["models"]["w14"]["pai"] == a["models"]["weighted"]["pai"]
    assert b["models"]["w14"]["loglik_per_period"] == a["models"]["weighted"]["loglik_per_period"]
    assert b["models"]["w14"]["pai"] != b["models"]["weighted"]["pai"]
    best = max(("naive", "weighted", "w14"), key=lambda m: b["models"][m]["pai"]["0.01"]["mean"])
    assert {f"{best} / {m}" for m in ("naive", "weighted", "w14") if m != best} == set(b["paired"])
    with open_context(load_settings(db=db)) as ctx:
        entry = ctx.ledger.entry(b["ledger_seq"])
        stored = ctx.store.query("SELECT models FROM forecast_backtests WHERE run_id = ?", [b["run_id"]])
    assert entry.model == "naive,weighted,w14=weighted"
    assert entry.detail["params_set"] == {"w14": {"half_life_days": 14}}
    assert json.loads(stored["models"][0]) == ["naive", "weighted", "w14=weighted"]

    # every model against one named model, instead of the best against every other
    versus = CliRunner().invoke(app, [*base, "--models", "naive,weighted,w14=weighted",
                                      "--param", "w14.half_life_days=14", "--versus", "weighted"])
    assert versus.exit_code == 0, versus.output
    v = json.loads(versus.stdout)
    assert v["versus"] == "weighted" and set(v["paired"]) == {"naive / weighted", "w14 / weighted"}
    ratio = v["paired"]["w14 / weighted"]["0.01"]
    # the paired ratio is the ratio of the two means over the same forecasts
    assert ratio["ratio"] == pytest.approx(b["models"]["w14"]["pai"]["0.01"]["mean"]
                                           / b["models"]["weighted"]["pai"]["0.01"]["mean"])
    assert ratio["low"] <= ratio["ratio"] <= ratio["high"]
    with open_context(load_settings(db=db)) as ctx:
        stored = json.loads(ctx.store.scalar("SELECT summary FROM forecast_backtests WHERE run_id = ?",
                                             [v["run_id"]]))
    assert stored["versus"] == "weighted" and stored["paired"] == v["paired"]
    _refused_as_invalid([*base, "--models", "naive,weighted", "--versus", "gbm"],
                        "versus 'gbm': expected one of the backtested models ['naive', 'weighted']", capsys)

    for models, message in (("naive,weighted,weighted", "'weighted' appears twice"),
                            ("naive,kde=weighted", "'kde' names another model"),
                            ("naive,w.14=weighted", "expected a letter then up to 39"),
                            ("naive,w14=weightd", "expected a name from")):
        _refused_as_invalid([*base, "--models", models], message, capsys)
    _refused_as_invalid([*base, "--models", "naive,w14=weighted", "--param", "w30.half_life_days=30"],
                        "parameters for ['w30']: those models are not", capsys)


def test_a_labelled_setting_with_the_defaults_registers_as_its_model(db: Path) -> None:
    from crimelens.services import governance as gs
    from crimelens.services.forecasts import register_backtested, run_backtest

    with open_context(load_settings(db=db)) as ctx:
        gs.add_user(ctx, name="ada", role="admin", actor=Actor("ada", "admin"))
        run = run_backtest(ctx, models=["naive", "plain=weighted", "w14=weighted"], offense="robbery",
                           start="2019-09-02", periods=2, actor=Actor("ada"), dataset="sf",
                           params={"w14": {"half_life_days": 14}})
        with pytest.raises(InvalidParameterError, match=r"register 'w14': the backtest set its parameters"):
            register_backtested(ctx, run, model="w14", actor=Actor("ada", "admin"))
        card = register_backtested(ctx, run, model="plain", actor=Actor("ada", "admin"))
    assert card.name == "TimeWeightedCounts"
    assert card.section("metrics")["pai_0.01"] == run.result.mean("plain", "pai", 0.01)[0]


def test_a_boundary_file_sets_the_study_area_as_its_wkt_does(db: Path, tmp_path: Path) -> None:
    """--polygon takes the boundary as a file in any CRS (projected to the data's), or as WKT in the data CRS."""
    from pyproj import Transformer

    ring = [(-122.425, 37.770), (-122.390, 37.770), (-122.390, 37.800), (-122.425, 37.800), (-122.425, 37.770)]
    box = tmp_path / "downtown.geojson"
    box.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
                                "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32610", always_xy=True)
    wkt = "POLYGON((" + ", ".join("{} {}".format(*to_utm.transform(x, y)) for x, y in ring) + "))"
    cells = {}
    for name, polygon in (("file", str(box)), ("wkt", wkt)):
        out = tmp_path / f"{name}.csv"
        mask = ["--mask", "polygon"] if name == "file" else []  # a boundary alone implies the polygon mask
        result = runner.invoke(app, ["forecast", "run", "--dataset", "sf", "--at", "2019-10-01", "--model", "naive",
                                     *mask, "--polygon", polygon, "--out", str(out), "--db", str(db), "--json"])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        rows = csv.DictReader(line for line in out.read_text().splitlines() if not line.startswith("#"))
        cells[name] = (doc["area"]["n_cells"], sorted(r["cell_id"] for r in rows))
        if name == "file":
            assert "inside the boundary 'downtown.geojson (sha256 " in doc["area"]["rule"]
    assert cells["file"] == cells["wkt"] and 300 < cells["file"][0] < 1000
    bad = runner.invoke(app, ["forecast", "run", "--dataset", "sf", "--at", "2019-10-01", "--mask", "polygon",
                              "--polygon", "POLYGON((0 0, 1 1", "--db", str(db)])
    assert isinstance(bad.exception, InvalidParameterError) and "neither a boundary file nor WKT" in str(bad.exception)
    # a boundary beside another mask was ignored: the forecast covered cells it was not asked for
    ignored = runner.invoke(app, ["forecast", "run", "--dataset", "sf", "--at", "2019-10-01", "--mask", "bbox",
                                  "--polygon", str(box), "--db", str(db)])
    assert isinstance(ignored.exception, InvalidParameterError)
    assert "a boundary (--polygon) with mask='bbox'; expected mask 'polygon'" in str(ignored.exception)


def test_without_a_dataset_a_store_of_several_cities_is_refused_by_name(db: Path) -> None:
    with open_context(load_settings(db=db)) as ctx:
        ingest_file(ctx, shared("cincinnati_burglary/cincinnati_burglary.csv.gz"), actor=Actor("ada"))
        with pytest.raises(InvalidParameterError, match=r"forecast: the store .* holds 2 datasets "
                                                         r"\['cincinnati_burglary', 'sf'\]; name one with --dataset"):
            run_forecast(ctx, offense=None, at="2019-10-01", actor=Actor("ada"), model="naive")
        assert run_forecast(ctx, offense=None, at="2019-10-01", actor=Actor("ada"), model="naive", dataset="sf").run_id
    result = runner.invoke(app, ["forecast", "backtest", "--models", "naive", "--start", "2019-06-01",
                                 "--periods", "2", "--db", str(db)])
    assert isinstance(result.exception, InvalidParameterError) and "backtest: the store" in str(result.exception)


def test_cli_backtest_refuses_periods_after_the_last_record_and_writes_strict_json(
        db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def backtest(*args: str) -> tuple[int, dict[str, Any]]:
        try:
            main(["forecast", "backtest", "--models", "naive", "--offense", "robbery", "--dataset", "sf",
                  *args, "--db", str(db), "--json"])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)

        def refuse(constant: str) -> None:
            raise AssertionError(f"not strict JSON: {constant}")
        return code, json.loads(capsys.readouterr().out, parse_constant=refuse)

    # the records end on 2019-12-31: a sixth weekly period from 2019-12-02 would begin in 2020
    code, doc = backtest("--start", "2019-12-02", "--periods", "6")
    assert code == 2 and doc["type"] == "InvalidParameterError"
    assert "1 of them would begin after the last record; expected --periods 5 or fewer" in doc["error"]
    code, doc = backtest("--start", "2020-02-03", "--periods", "2")
    assert code == 2 and "expected a --start before the last record" in doc["error"]
    code, doc = backtest("--start", "2019-12-02", "--periods", "999999999")
    assert code == 2 and "999,999,994 of them would begin after the last record" in doc["error"]
    # eight-hour shifts, some without a robbery: their hit rates are undefined, null in the JSON
    code, doc = backtest("--start", "2019-12-02", "--periods", "12", "--horizon", "8h")
    assert code == 0 and doc["n_periods"] == 12
    empty = [p for p in doc["per_period"] if p["model"] == "naive" and p["n_events"] == 0]
    assert empty and all(p["hit_rate@0.05"] is None and p["pai@0.05"] is None for p in empty)


def test_a_date_means_midnight_where_the_data_was_recorded(db: Path) -> None:
    """San Francisco's robberies were read in America/Los_Angeles: "2019-10-01" is midnight there
    (07:00 UTC), the day an analyst in San Francisco means, not 17:00 the day before."""
    with open_context(load_settings(db=db)) as ctx:
        run = run_forecast(ctx, offense="robbery", at="2019-10-01", actor=Actor("ada"), model="naive",
                           dataset="sf")
        shift = run_forecast(ctx, offense="robbery", at="2019-10-01T22:00", actor=Actor("ada"), model="naive",
                             dataset="sf", horizon_days=1 / 3)
        utc = run_forecast(ctx, offense="robbery", at="2019-10-01T00:00:00Z", actor=Actor("ada"), model="naive",
                           dataset="sf")
        n_before, n_before_utc = (int(ctx.store.scalar(
            f"SELECT count(*) FROM incidents WHERE occurred_from < TIMESTAMPTZ '2019-10-01 {h}:00:00+00'"))
            for h in ("07", "00"))
    doc = run.to_dict()
    assert doc["window"][0] == "2019-10-01T07:00:00+00:00" and doc["timezone"] == "America/Los_Angeles"
    assert doc["window_local"] == ["2019-10-01T00:00:00-07:00", "2019-10-08T00:00:00-07:00"]
    assert run.n_training == n_before  # the model saw the incidents before local midnight, and only those
    assert shift.to_dict()["window"] == ["2019-10-02T05:00:00+00:00", "2019-10-02T13:00:00+00:00"]
    assert utc.to_dict()["window"][0] == "2019-10-01T00:00:00+00:00"  # an offset given is kept
    assert utc.n_training == n_before_utc


def test_a_shift_is_read_on_the_datasets_clocks(db: Path) -> None:
    """A night shift in San Francisco weighs each cell's past robberies by the hours they fell in on
    San Francisco's clocks: the run, its stored parameters and its ledger entry name the zone, and the
    same model read in UTC would rank the cells otherwise."""
    from crimelens.services import governance as gs
    from crimelens.services.forecasts import register_backtested, run_backtest

    with open_context(load_settings(db=db)) as ctx:
        local = run_forecast(ctx, offense="robbery", at="2019-10-01T22:00", actor=Actor("ada"),
                             model="weighted", dataset="sf", horizon_days=1 / 3)
        utc = run_forecast(ctx, offense="robbery", at="2019-10-01T22:00", actor=Actor("ada"),
                           model="weighted", dataset="sf", horizon_days=1 / 3, params={"timezone": "UTC"})
        stored = json.loads(forecast_record(ctx, local.run_id).params)
        entry = ctx.ledger.entry(local.ledger_seq)
        gs.add_user(ctx, name="ada", role="admin", actor=Actor("ada", "admin"))
        bt = run_backtest(ctx, models=["naive", "weighted"], offense="robbery", start="2019-09-02",
                          periods=3, horizon_days=1 / 3, actor=Actor("ada"), dataset="sf")
        card = register_backtested(ctx, bt, model="weighted", actor=Actor("ada", "admin"))
    assert local.surface.params["timezone"] == stored["timezone"] == "America/Los_Angeles"
    assert entry.params["timezone"] == "America/Los_Angeles"
    assert utc.surface.params["timezone"] == "UTC"  # a zone the analyst sets is kept
    assert not np.allclose(local.surface.intensity, utc.surface.intensity)
    assert bt.result.params["weighted"]["timezone"] == "America/Los_Angeles"
    # set from the data, not by the analyst, so the model registers with its card's figures
    assert card.section("model_details")["parameters"]["timezone"] == "America/Los_Angeles"


def test_cli_prints_windows_and_origins_in_the_datasets_zone(db: Path) -> None:
    result = runner.invoke(app, ["forecast", "run", "--offense", "robbery", "--at", "2019-10-01", "--model", "naive",
                                 "--dataset", "sf", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "forecast 2019-10-01 00:00 .. 2019-10-08 00:00 America/Los_Angeles" in result.output, result.output
    # weekly origins stay at local midnight across the change to daylight saving time (10 March 2019)
    result = runner.invoke(app, ["forecast", "backtest", "--models", "naive", "--offense", "robbery", "--start",
                                 "2019-03-04", "--periods", "2", "--dataset", "sf", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["origins"] == ["2019-03-04T08:00:00+00:00", "2019-03-11T07:00:00+00:00"]
    assert doc["timezone"] == "America/Los_Angeles"
    listed = runner.invoke(app, ["forecast", "backtests", "--db", str(db), "--json"])
    item = json.loads(listed.stdout)["items"][0]
    assert item["first_origin_local"] == "2019-03-04T00:00:00-08:00" and item["timezone"] == "America/Los_Angeles"
    shown = runner.invoke(app, ["forecast", "backtests", "--run", doc["run_id"], "--db", str(db)])
    assert "from 2019-03-04 00:00 America/Los_Angeles" in " ".join(shown.output.split()), shown.output


def test_the_dashboard_reads_and_shows_the_datasets_days(db: Path) -> None:
    """The incident explorer's date filter and the forecast layer use San Francisco's days."""
    from crimelens.services.dashboard import forecast_layer, list_incidents

    with open_context(load_settings(db=db)) as ctx:
        got = list_incidents(ctx, dataset="sf", actor=Actor("ada"), purpose="research", start="2019-10-01",
                             end="2019-10-08", limit=1000)
        want = int(ctx.store.scalar(
            "SELECT count(*) FROM incidents WHERE occurred_from >= TIMESTAMPTZ '2019-10-01 07:00:00+00' "
            "AND occurred_from < TIMESTAMPTZ '2019-10-08 07:00:00+00'"))
        run = run_forecast(ctx, offense="robbery", at="2019-10-01T00:00:00", actor=Actor("ada"), model="naive",
                           dataset="sf")
        layer = forecast_layer(ctx, run_id=run.run_id, actor=Actor("ada"), purpose="research")
    assert got["total"] == want > 0
    assert layer["properties"]["timezone"] == "America/Los_Angeles"
    assert layer["properties"]["window"][0] == "2019-10-01T07:00:00+00:00"


def test_a_cut_inside_a_tie_is_reported(db: Path) -> None:
    """Naive counts tie in most cells (one or two past robberies): at 50 % the cut falls among cells of
    equal risk, which the tie rule (lowest cell index) alone splits. The run, the CLI and the dashboard's
    layer say so; an analyst should not read the flags there as a ranking."""
    from crimelens.services.dashboard import forecast_layer

    with open_context(load_settings(db=db)) as ctx:
        run = run_forecast(ctx, offense="robbery", at="2019-10-01", actor=Actor("ada"), model="naive",
                           dataset="sf", coverage=0.5)
        layer = forecast_layer(ctx, run_id=run.run_id, actor=Actor("ada"), purpose="research")
    risk, flagged = run.surface.intensity, run.surface.flagged(0.5)
    tie = run.to_dict()["tie_at_cut"]
    assert tie is not None and tie["risk"] == risk[flagged].min()
    assert tie["flagged"] == int((risk[flagged] == tie["risk"]).sum()) > 0
    assert tie["unflagged"] == int((risk[~flagged] == tie["risk"]).sum()) > 0
    assert layer["properties"]["tie_at_cut"] == tie
    result = runner.invoke(app, ["forecast", "run", "--offense", "robbery", "--at", "2019-10-01", "--model", "naive",
                                 "--dataset", "sf", "--coverage", "0.5", "--db", str(db)])
    assert "ends inside a tie" in " ".join(result.output.split()), result.output
    # six weeks of history is too little for the boosted model: it gives every cell one risk, and says so
    early = runner.invoke(app, ["forecast", "run", "--offense", "robbery", "--at", "2019-02-15", "--dataset", "sf",
                                "--db", str(db), "--json"])
    doc = json.loads(early.stdout)
    assert doc["tie_at_cut"]["flagged"] + doc["tie_at_cut"]["unflagged"] == doc["area"]["n_cells"]
    early = runner.invoke(app, ["forecast", "run", "--offense", "robbery", "--at", "2019-02-15", "--dataset", "sf",
                                "--db", str(db)])
    assert "every cell has the same risk" in " ".join(early.output.split()), early.output
    # years after the data ends, the model's two years of history hold nothing: every risk is 0, and the
    # run says how old the newest incident is instead of passing arbitrary cells off as hotspots
    late = ["forecast", "run", "--offense", "robbery", "--at", "2030-06-01", "--model", "naive", "--dataset", "sf",
            "--db", str(db)]
    doc = json.loads(runner.invoke(app, [*late, "--json"]).stdout)
    stamps = pd.read_csv(shared(SF), usecols=["date_time"])["date_time"].str.rstrip("Z")  # local times (sf_code)
    newest = pd.to_datetime(stamps).max().tz_localize("America/Los_Angeles")
    assert doc["tie_at_cut"] is None and doc["n_flagged"] == 0  # no cell of risk 0 is flagged: no tie is cut
    assert doc["newest_incident"] == newest.isoformat()
    assert doc["days_since_newest_incident"] > 3000
    text = " ".join(runner.invoke(app, late).output.split())
    assert "every cell's expected count is 0, so no cell is flagged: the newest training incident" in text, text
    assert "older than the 730 days of history NaiveCounts reads (window_days)" in text, text


@pytest.mark.parametrize(("start", "hours"), [("2019-03-04", (167, 168)), ("2019-10-28", (169, 168))])
def test_back_to_back_weeks_across_a_clock_change_neither_overlap_nor_leave_a_gap(
        db: Path, start: str, hours: tuple[int, int]) -> None:
    """Weekly windows run from local midnight to the next week's local midnight: across the change to
    (or from) daylight saving time a week is 167 (169) hours. Before, every week was 168 hours, so the
    first hour of 11 March was scored in two weeks and the last hour of 3 November in none."""
    from datetime import UTC, datetime

    from crimelens.domain import TimeWindow
    from crimelens.forecast import StudyArea
    from crimelens.services.forecasts import run_backtest

    with open_context(load_settings(db=db)) as ctx:
        bt = run_backtest(ctx, models=["naive"], offense="robbery", start=start, periods=3, actor=Actor("ada"),
                          dataset="sf", ceiling=True)
        incidents = ctx.store.incidents(dataset="sf", offense="robbery")
    summary = bt.result.summary()
    origins = [pd.Timestamp(o) for o in summary["origins"]]
    ends = [pd.Timestamp(e) for e in summary["ends"]]
    assert ends[:2] == origins[1:]  # back to back
    assert [round((b - a).total_seconds() / 3600) for a, b in zip(origins, ends, strict=True)][:2] == list(hours)
    assert ends[2] == pd.Timestamp(start, tz="America/Los_Angeles") + pd.DateOffset(days=21)
    # each week's count, independently: one record per incident whose mid-time is in the local week
    frame = incidents.frame
    first = ~frame["incident_id"].astype(str).str.contains("#")
    mid = frame["occurred_from"] + (frame["occurred_to"].fillna(frame["occurred_from"]) - frame["occurred_from"]) / 2
    area = StudyArea.from_activity(incidents.select(mask=first.to_numpy()), 150.0, period=TimeWindow(datetime(1900, 1, 1, tzinfo=UTC), origins[0].to_pydatetime()))
    inside = (area.cell_of(frame[["x_m", "y_m"]].to_numpy()) >= 0) & first
    expected = [int(((mid >= a) & (mid < b) & inside).sum()) for a, b in zip(origins, ends, strict=True)]
    assert bt.result.n_events.tolist() == expected
    total = int(((mid >= origins[0]) & (mid < ends[-1]) & inside).sum())
    assert sum(expected) == total  # every incident of the three weeks scored once


def test_a_week_from_local_midnight_ends_at_local_midnight_across_the_clock_change(db: Path) -> None:
    with open_context(load_settings(db=db)) as ctx:
        run = run_forecast(ctx, offense="robbery", at="2019-03-04", actor=Actor("ada"), model="naive", dataset="sf")
    assert run.to_dict()["window_local"] == ["2019-03-04T00:00:00-08:00", "2019-03-11T00:00:00-07:00"]
    assert run.surface.window.days == pytest.approx(167 / 24)


def test_a_local_time_the_clocks_skipped_is_refused(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """02:30 on 10 March 2019 was never shown in San Francisco; it used to be moved to 03:30 silently."""
    from tests.cli.test_ingest_cli import run

    code, _out, err = run(capsys, "forecast", "run", "--offense", "robbery", "--at", "2019-03-10T02:30", "--horizon",
                          "8h", "--dataset", "sf", "--db", str(db))
    assert code == 2 and "InvalidParameterError: time '2019-03-10T02:30:00' did not exist in America/Los_Angeles" in err
    assert "2019-03-10T02:30:00-08:00" in err  # how to say it, if it was meant


def test_the_ceiling_has_no_pei_and_no_score_in_a_week_without_records(db: Path) -> None:
    """The perfect-rate ceiling's PEI is its rate scored against itself (1 by construction): null. A
    week without records in the area has no hit rate or PAI for the ceiling either, as for every model."""
    from crimelens.services.forecasts import run_backtest

    with open_context(load_settings(db=db)) as ctx:
        bt = run_backtest(ctx, models=["naive"], offense="robbery", start="2019-09-02", periods=2,
                          actor=Actor("ada"), dataset="sf", ceiling=True)
    summary = bt.result.summary()
    ceiling = summary["models"]["ceiling:perfect-rate"]
    assert ceiling["pei"] and all(np.isnan(v["mean"]) for v in ceiling["pei"].values()), ceiling["pei"]
    assert all(np.isfinite(v["mean"]) for v in summary["models"]["naive"]["pei"].values())
    assert all(np.isfinite(v["mean"]) for v in ceiling["pai"].values())


def test_a_weekly_backtest_of_month_only_records_warns_and_keeps_the_scored_month_out_of_the_area(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """data.police.uk gives months, not times: every record is a window of a month. Scored weekly, a
    month's records all fall in the week holding its middle and the other weeks have none; the run
    says so. The study area counts only records whose middle is before the first origin: the
    September records scored in September's weeks are not history for a forecast of 5 September."""
    from crimelens.services.forecasts import run_backtest
    from tests.cli.test_ingest_cli import run

    db = tmp_path / "n.duckdb"
    with open_context(load_settings(db=db)) as ctx:
        ingest_file(ctx, shared("uk_police_nottingham/nottingham_burglary.csv.gz"), actor=Actor("ada"),
                    dataset="nottingham")
        bt = run_backtest(ctx, models=["naive"], offense=None, start="2022-09-05", periods=8, actor=Actor("ada"),
                          dataset="nottingham")
        incidents = ctx.store.incidents(dataset="nottingham")
    d = bt.to_dict()
    assert d["n_periods_scored"] == int((bt.result.n_events > 0).sum()) < 8
    assert any(w.startswith(f"{8 - d['n_periods_scored']} of 8 periods had no records") for w in d["warnings"])
    assert any("windows of" in w and "month-only" in w for w in d["warnings"]), d["warnings"]
    frame = incidents.frame
    mid = frame["occurred_from"] + (frame["occurred_to"] - frame["occurred_from"]) / 2
    origin = pd.Timestamp(d["origins"][0])
    before = frame[(mid < origin) & ~frame["incident_id"].astype(str).str.contains("#")]
    # cells are aligned on multiples of 150 m: count the cells the earlier records occupy, independently
    cells = {(int(np.floor(x / 150.0)), int(np.floor(y / 150.0))) for x, y in before[["x_m", "y_m"]].to_numpy()}
    assert d["area"]["n_cells"] == len(cells)
    started = frame[(frame["occurred_from"] < origin) & ~frame["incident_id"].astype(str).str.contains("#")]
    assert len(started) > len(before)  # September's records start before 5 September: they used to count
    code, out, _err = run(capsys, "forecast", "backtest", "--models", "naive", "--start", "2022-09-05", "--periods",
                          "8", "--dataset", "nottingham", "--db", str(db))
    assert code == 0 and "warning: " in out and "periods had no records" in " ".join(out.split())


@pytest.mark.parametrize("suffix", [".geojson", ".csv", ".gpkg"])
def test_an_h3_export_writes_each_cell_id_as_its_h3_string(db: Path, tmp_path: Path, suffix: str) -> None:
    """An H3 index is above 2**53: as a JSON number a JavaScript reader rounds it to another cell's id."""
    import h3

    with open_context(load_settings(db=db)) as ctx:
        run = run_forecast(ctx, offense="robbery", at="2019-10-01", actor=Actor("ada"), model="naive",
                           dataset="sf", mask="h3", h3_resolution=9, out=tmp_path / f"hex{suffix}")
    path = Path(run.files["cells"]) if "cells" in run.files else tmp_path / f"hex{suffix}"
    if suffix == ".geojson":
        ids = [f["properties"]["cell_id"] for f in json.loads(path.read_text())["features"]]
    elif suffix == ".csv":
        ids = pd.read_csv(path, comment="#", dtype={"cell_id": str})["cell_id"].tolist()
    else:
        _meta, _index, _geoms, fields = pyogrio.raw.read(path)
        ids = [str(v) if not isinstance(v, str) else v for v in fields[list(_meta["fields"]).index("cell_id")]]
    expected = {h3.int_to_str(int(c)) for c in run.surface.area.cell_ids}
    assert all(isinstance(i, str) for i in ids) and set(ids) == expected
    assert all(h3.is_valid_cell(i) and h3.get_resolution(i) == 9 for i in ids)
