"""What a forecast run says about itself, on real data: a shift on month-only records (data.police.uk's
Nottingham burglaries), why a forecast is all zero, which cells it presents as flagged, the cell size it
records, and the files it writes (logged in the ledger, carrying their run)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import pytest
from typer.testing import CliRunner

from crimelens.cli import app
from crimelens.config import load_settings
from crimelens.errors import InvalidParameterError
from crimelens.governance import Actor
from crimelens.services import open_context
from crimelens.services.forecasts import (
    export_stored_run,
    register_backtested,
    run_backtest,
    run_forecast,
)
from crimelens.services.ingest import ingest_file
from crimelens.storage._forecast import forecast_cells, get_forecast_run
from tests.conftest import shared

NOTTS = "uk_police_nottingham/nottingham_burglary.csv.gz"
SF = "sf_robbery/san_francisco_robbery.csv"
runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nottingham's 2022 burglaries (months only, read in Europe/London) and San Francisco's 2019
    robberies (to the minute, America/Los_Angeles), in one store."""
    path = tmp_path_factory.mktemp("runs") / "r.duckdb"
    with open_context(load_settings(db=path)) as ctx:
        ingest_file(ctx, shared(NOTTS), actor=Actor("ada"), dataset="nottingham")
        ingest_file(ctx, shared(SF), actor=Actor("ada"), format="sf_code", dataset="sf")
    return path


def _cli(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["forecast", "run", *args, "--json"])
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def _months() -> pd.Series:
    return pd.to_datetime(pd.read_csv(shared(NOTTS))["month"])


@pytest.mark.parametrize("model", ["gbm", "weighted"])
def test_a_shift_on_month_only_records_forecasts_the_days_rate_and_says_so(db: Path, tmp_path: Path,
                                                                            model: str) -> None:
    """police.uk records are month-long windows read at their middle (00:00, 11:30 or 12:00 London time), so
    no record's time of day falls in 14:00-22:00. The time-of-day adjustment made every risk 0 (and the
    GeoPackage flagged the 26 lowest cell indices); the run now leaves it out and says why."""
    out = tmp_path / "shift.gpkg"
    doc = _cli("--db", str(db), "--dataset", "nottingham", "--offense", "burglary", "--at", "2022-10-03T14:00",
               "--horizon", "8h", "--cell-m", "250", "--model", model, "--out", str(out))
    # the records the models read: January-September (October's are read at 16 October, after the start);
    # before, n_training counted every record that began before the window, October's 172 too
    n_train = int((_months() < "2022-10-01").sum())
    assert doc["n_training"] == n_train == 1320
    assert doc["expected_total"] > 0 and doc["params"]["time_of_day"] is None
    (warning,) = doc["warnings"]
    assert warning.startswith(f"100.0% of the {n_train:,} training records of dataset 'nottingham' have time "
                              "windows of a day or longer"), warning
    assert "Forecast whole days (--horizon 1d or more)" in warning
    _meta, _index, _geoms, fields = pyogrio.raw.read(out, layer="forecast")
    columns = dict(zip(_meta["fields"].tolist(), fields, strict=True))
    n = doc["area"]["n_cells"]
    assert int(columns["flagged"].sum()) == round(0.05 * n) == doc["n_flagged"]
    assert columns["risk"][columns["flagged"] == 1].min() > 0
    layer = pyogrio.read_info(out, layer="forecast")["layer_metadata"]
    assert json.loads(layer["warnings"]) == doc["warnings"]


def test_without_the_hours_a_shift_is_a_third_of_the_days_forecast(db: Path) -> None:
    """The adjustment left out, the time-weighted count of an 8-hour shift is its whole-day forecast
    times 8/24, cell for cell (Nottingham has no premises, so no school-calendar term)."""
    with open_context(load_settings(db=db)) as ctx:
        shift, day = (run_forecast(ctx, offense="burglary", at="2022-10-03T14:00", actor=Actor("ada"),
                                   model="weighted", dataset="nottingham", horizon_days=h) for h in (1 / 3, 1.0))
    np.testing.assert_allclose(shift.surface.intensity, day.surface.intensity / 3, rtol=1e-12)
    assert shift.warnings and not day.warnings


def test_a_backtest_of_shifts_on_month_only_records_forecasts_a_third_of_the_day(tmp_path: Path) -> None:
    """`forecast backtest --horizon 8h` kept the time of day on Nottingham's month-only records: from
    14:00, every 14:00-22:00 shift of `weighted` and `gbm` forecast 0 incidents in every cell (153 of
    458 shifts, July-November 2022) and the other two shifts followed the months' middles (00:00 and
    12:00). The backtest now leaves the hours out in every model that uses them, as `forecast run`
    does: each shift's forecast is a third of the day's from the same origin, and the run says so."""
    from crimelens.services import governance as gs

    with open_context(load_settings(db=tmp_path / "bt.duckdb")) as ctx:  # its own store: it registers a model
        ingest_file(ctx, shared(NOTTS), actor=Actor("ada"), dataset="nottingham")
        gs.add_user(ctx, name="ada", role="admin", actor=Actor("ada", "admin"))
        shifts = run_backtest(ctx, models=["naive", "weighted", "gbm"], offense="burglary",
                              start="2022-09-15T14:00", periods=6, horizon_days=1 / 3, cell_m=250.0,
                              actor=Actor("ada"), dataset="nottingham")
        days = run_backtest(ctx, models=["weighted", "gbm"], offense="burglary", start="2022-09-15T14:00",
                            periods=2, horizon_days=1.0, cell_m=250.0, actor=Actor("ada"), dataset="nottingham")
        entry = ctx.ledger.entry(shifts.ledger_seq)
        # time_of_day off by the data, not by --param: the model can still be registered with these figures
        card = register_backtested(ctx, shifts, model="weighted", actor=Actor("ada", "admin"))
    doc = shifts.to_dict()
    shift_total = {(r["model"], r["origin"]): r["expected"] for r in doc["per_period"]}
    day_total = {(r["model"], r["origin"]): r["expected"] for r in days.to_dict()["per_period"]}
    for model in ("weighted", "gbm"):
        assert doc["models"][model]["params"]["time_of_day"] is None
        totals = [shift_total[(model, o)] for o in doc["origins"]]
        assert min(totals) > 0, totals  # before: 0.0 in the 14:00-22:00 shifts (periods 0 and 3)
        for p in (0, 3):  # the shifts that start with a day of the daily backtest
            assert totals[p] == pytest.approx(day_total[(model, doc["origins"][p])] / 3, rel=1e-9)
    assert doc["models"]["naive"]["params"].get("time_of_day") is None  # it never read the hours
    n_before = int((_months() <= "2022-09-01").sum())  # records starting before 15 September: January-September
    warning = doc["warnings"][0]
    assert warning.startswith(f"100.0% of the {n_before:,} records of dataset 'nottingham' before the first origin "
                              "have time windows of a day or longer"), warning
    assert "(time_of_day=None for weighted, gbm)" in warning and "Backtest whole days" in warning
    assert any("windows of 31 days or more" in w for w in doc["warnings"])  # the scoring caveat stays
    assert entry.detail["time_of_day_off"] == ["weighted", "gbm"] and entry.detail["warnings"] == doc["warnings"]
    assert shifts.hours_off == ("weighted", "gbm") and card.details["parameters"]["time_of_day"] is None
    assert not days.hours_off and not any("time_of_day=None" in w for w in days.warnings)


def test_an_all_zero_forecast_names_its_cause(db: Path, tmp_path: Path) -> None:
    # stale history: naive counts read two years; the newest record is December 2022, read at its middle
    stale = _cli("--db", str(db), "--dataset", "nottingham", "--at", "2025-01-15", "--model", "naive",
                 "--out", str(tmp_path / "stale.csv"))
    last = _months().max().tz_localize("Europe/London")
    middle = last + (last + pd.DateOffset(months=1) - last) / 2  # 2022-12-16 12:00 GMT
    age = (pd.Timestamp("2025-01-15", tz="Europe/London") - middle).total_seconds() / 86400
    (warning,) = stale["warnings"]
    assert warning == (f"every cell's expected count is 0, so no cell is flagged: the newest training incident, at "
                       f"{middle.isoformat()} (the middle of its time window), is {age:,.0f} days before the window, "
                       "older than the 730 days of history NaiveCounts reads (window_days); forecast a window "
                       "nearer the data")
    rows = pd.read_csv(tmp_path / "stale.csv")
    assert len(rows) == stale["area"]["n_cells"] and not rows["flagged"].any() and stale["n_flagged"] == 0
    # no incident in the window's hours: San Francisco recorded no robbery between 09:31 and 09:50 before October
    stamps = pd.to_datetime(pd.read_csv(shared(SF))["date_time"].str.rstrip("Z"))  # local times (sf_code)
    before = stamps[stamps < "2019-10-01 09:35"]
    minute = before.dt.hour * 60 + before.dt.minute
    assert not ((minute >= 9 * 60 + 35) & (minute < 9 * 60 + 50)).any()
    quiet = _cli("--db", str(db), "--dataset", "sf", "--at", "2019-10-01T09:35", "--horizon", "0.25h",
                 "--model", "weighted")
    assert quiet["expected_total"] == 0 and quiet["n_flagged"] == 0
    (warning,) = quiet["warnings"]
    assert warning.startswith(f"every cell's expected count is 0, so no cell is flagged: none of the {len(before):,} "
                              "training incidents in the study area (over the 8 years before the window) has a "
                              "time of day between 09:35 and 09:50 America/Los_Angeles"), warning
    text = " ".join(runner.invoke(app, ["forecast", "run", "--db", str(db), "--dataset", "sf", "--at",
                                        "2019-10-01T09:35", "--horizon", "0.25h", "--model", "weighted"]).output.split())
    assert "warning: every cell's expected count is 0" in text and "older than the history" not in text


def test_cells_of_risk_zero_are_not_presented_as_flagged(db: Path, tmp_path: Path) -> None:
    """Naive counts over the last 30 days give most of San Francisco's active cells 0: at 20 % the top
    cells run out of risk, and the rest of the cut would be the lowest cell indices. They are not flagged
    in the store, the export or the JSON; the scores and ``RiskSurface.flagged`` still take the top k."""
    out = tmp_path / "month.csv"
    with open_context(load_settings(db=db)) as ctx:
        run = run_forecast(ctx, offense="robbery", at="2019-10-01", actor=Actor("ada"), model="naive",
                           dataset="sf", coverage=0.2, params={"window_days": 30}, out=out)
        stored = forecast_cells(ctx.store, run.run_id)
    risk = run.surface.intensity
    k = round(0.2 * len(risk))
    positive = int((risk > 0).sum())
    assert 0 < positive < k and int(run.surface.flagged(0.2).sum()) == k
    rows = pd.read_csv(out)
    assert int(rows["flagged"].sum()) == positive == int(stored["flagged"].sum()) == run.to_dict()["n_flagged"]
    assert (rows.loc[rows["flagged"], "risk"] > 0).all()
    # the tie the JSON reports is one the shown flags cut through; before, the 0-risk tie of the scores
    tie = run.to_dict()["tie_at_cut"]
    assert tie is None or tie["risk"] > 0
    (warning,) = run.warnings
    assert warning.startswith(f"only {positive:,} of the {k:,} cells in the top 20.0% have an expected count above 0")


def test_the_run_records_the_cell_size_it_used(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--cell-m 400 made 400 m cells, but the run, its stored row and its ledger entry said cell_m 150 (the
    model's own default, unused once a study area is given)."""
    doc = _cli("--db", str(db), "--dataset", "nottingham", "--at", "2022-10-03", "--cell-m", "400",
               "--model", "weighted")
    assert doc["params"]["cell_m"] == doc["area"]["cell_m"] == 400.0
    with open_context(load_settings(db=db)) as ctx:
        assert json.loads(get_forecast_run(ctx.store, doc["run_id"]).params)["cell_m"] == 400.0
        assert ctx.ledger.entry(doc["ledger_seq"]).params["cell_m"] == 400.0
        hexes = run_forecast(ctx, offense=None, at="2022-10-03", actor=Actor("ada"), model="naive",
                             dataset="nottingham", mask="h3", h3_resolution=8)
        assert "cell_m" not in ctx.ledger.entry(hexes.ledger_seq).params  # hexagons have no size in metres
        assert "cell_m" not in hexes.to_dict()["params"]
        bt = run_backtest(ctx, models=["naive"], offense=None, start="2022-06-01", periods=2, horizon_days=30,
                          cell_m=400.0, actor=Actor("ada"), dataset="nottingham")
        assert bt.result.params["naive"]["cell_m"] == 400.0
        with pytest.raises(InvalidParameterError, match="model parameter cell_m=100: the study area sets"):
            run_forecast(ctx, offense=None, at="2022-10-03", actor=Actor("ada"), model="naive",
                         dataset="nottingham", params={"cell_m": 100})


@pytest.mark.parametrize("suffix", ["gpkg", "geojson", "csv"])
def test_the_files_a_run_writes_are_logged_and_carry_their_run(db: Path, tmp_path: Path, suffix: str) -> None:
    """`forecast run --out` wrote an export and a PNG that no ledger entry named, with the window in UTC only
    (2022-09-30T23:00Z for a forecast of 1 October in Nottingham). Each file is now a `forecast.export`
    entry with its path, format and SHA-256, and the export names its run, dataset, offense and the
    window on London's clocks."""
    out = tmp_path / f"week.{suffix}"
    doc = _cli("--db", str(db), "--dataset", "nottingham", "--offense", "burglary", "--at", "2022-10-01",
               "--model", "naive", "--out", str(out))
    with open_context(load_settings(db=db)) as ctx:
        logged = [ctx.ledger.entry(e["ledger_seq"]) for e in doc["exports"]]
    png = out.with_suffix(".png")
    assert [(e.action, e.detail["format"], e.detail["path"]) for e in logged] == [
        ("forecast.export", suffix, str(out.resolve())), ("forecast.export", "png", str(png.resolve()))]
    for entry, path in zip(logged, (out, png), strict=True):
        assert entry.detail["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry.detail["run_id"] == doc["run_id"] and entry.output_hash == doc["hash"]
    if suffix == "gpkg":
        meta = pyogrio.read_info(out, layer="forecast")["layer_metadata"]
    elif suffix == "geojson":
        meta = json.loads(out.read_text(encoding="utf-8"))["metadata"]
    else:
        body = pd.read_csv(out, dtype=str, keep_default_na=False)  # the metadata: columns, alike on every row
        assert len(body) == doc["area"]["n_cells"]
        meta = body.iloc[0, body.columns.get_loc("crs") + 1:].to_dict()
        assert (body[list(meta)] == body[list(meta)].iloc[0]).all().all()
    assert meta["window"].startswith("2022-09-30T23:00:00+00:00/")
    assert (meta["run_id"], meta["dataset"], meta["offense"], meta["timezone"]) == (
        doc["run_id"], "nottingham", "burglary", "Europe/London")
    assert meta["window_local"] == "2022-10-01T00:00:00+01:00/2022-10-08T00:00:00+01:00"
    # the same run rebuilt from the store (the API's export) carries the same metadata, and logs its hash too
    with open_context(load_settings(db=db)) as ctx:
        again = export_stored_run(ctx, doc["run_id"], suffix, tmp_path / "again", actor=Actor("ada"))
        last = ctx.ledger.entry(ctx.ledger.size() - 1)
    assert last.action == "forecast.export" and last.detail["sha256"] == hashlib.sha256(again.read_bytes()).hexdigest()
    if suffix == "csv":
        again_body = pd.read_csv(again, dtype=str, keep_default_na=False)
        stored = again_body.iloc[0, again_body.columns.get_loc("crs") + 1:].to_dict()
        assert json.loads(stored.pop("study_area")) == json.loads(meta.pop("study_area"))  # keys sorted there
        assert stored == meta


def test_a_refused_export_leaves_no_run_behind(db: Path, tmp_path: Path) -> None:
    with open_context(load_settings(db=db)) as ctx:
        n = int(ctx.store.scalar("SELECT count(*) FROM forecast_runs"))
        with pytest.raises(InvalidParameterError, match=r"'week\.shp': got format 'shp'"):
            run_forecast(ctx, offense=None, at=datetime(2022, 10, 1, tzinfo=UTC), actor=Actor("ada"),
                         model="naive", dataset="nottingham", out=tmp_path / "week.shp")
        assert int(ctx.store.scalar("SELECT count(*) FROM forecast_runs")) == n


def test_a_map_written_over_by_a_later_export_is_said_and_logged(db: Path, tmp_path: Path) -> None:
    """`week.gpkg` and then `week.geojson` both draw `week.png`: the second run replaced the first's map
    without a word, and the first run's entry named a file that no longer matched it. The replacing entry
    keeps the replaced file's SHA-256, and the run says so."""
    args = ["--db", str(db), "--dataset", "nottingham", "--offense", "burglary", "--model", "naive"]
    first = _cli(*args, "--at", "2022-10-01", "--out", str(tmp_path / "week.gpkg"))
    png_before = hashlib.sha256((tmp_path / "week.png").read_bytes()).hexdigest()
    assert first["exports"][1]["sha256"] == png_before and "replaced_sha256" not in first["exports"][1]
    second = _cli(*args, "--at", "2022-10-08", "--out", str(tmp_path / "week.geojson"))
    (export, png) = second["exports"]
    assert "replaced_sha256" not in export and png["replaced_sha256"] == png_before
    assert png["sha256"] == hashlib.sha256((tmp_path / "week.png").read_bytes()).hexdigest() != png_before
    assert any(w.startswith(f"{tmp_path / 'week.png'} existed and was replaced (its SHA-256 was {png_before})")
               for w in second["warnings"]), second["warnings"]
