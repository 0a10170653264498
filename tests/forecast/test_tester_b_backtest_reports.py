"""What a backtest and a forecast say about their inputs, on real data (an independent tester's findings):
the test incidents outside the study area (not scored, now counted and said), day-long records scored on
the same days (no warning), an offense the dataset lacks (named, with those it holds), times in messages
on the dataset's clocks, ``--mask-days`` on the CLI, several offenses pooled, and how a model card's
backtest counted its incidents."""

from __future__ import annotations

import gzip
import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from crimelens.cli import app, main
from crimelens.config import load_settings
from crimelens.errors import InvalidParameterError, NotFoundError
from crimelens.governance import Actor, Role
from crimelens.services import governance as gs
from crimelens.services import open_context
from crimelens.services.forecasts import (
    register_backtested,
    run_backtest,
    run_forecast,
    show_backtest,
)
from crimelens.services.ingest import ingest_file
from crimelens.storage._forecast import get_forecast_run
from tests.conftest import shared

PORTLAND = ("portland_nij_2016/080116_083116_Data.zip", "portland_nij_2016/090116_093016_Data.zip")
VANCOUVER = "vancouver_2020/crimedata_csv_AllNeighbourhoods_2020.csv.gz"
CINCINNATI = "cincinnati_burglary/cincinnati_burglary.csv.gz"
LA = ZoneInfo("America/Los_Angeles")
THEFTS = ["theft", "theft_from_vehicle", "vehicle_theft"]
runner = CliRunner()
ana = Actor("ana", Role.ANALYST)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Portland's calls (August and September 2016, whole local days), Vancouver's 2020 incidents and
    Cincinnati's 2017 burglaries with January 2018 (repeated ids: one row per victim), in one store."""
    folder = tmp_path_factory.mktemp("tester_b")
    with gzip.open(shared(CINCINNATI), "rt") as fh:
        lines = fh.read().splitlines()
    cincinnati = folder / "cincinnati.csv"
    cincinnati.write_text("\n".join([lines[0], *[x for x in lines[1:] if ",2017-" in x or ",2018-01-" in x]]) + "\n")
    path = folder / "t.duckdb"
    with open_context(load_settings(db=path)) as ctx:
        for part in PORTLAND:
            ingest_file(ctx, shared(part), actor=Actor("ada"), format="nij_portland", dataset="portland_nij_2016")
        ingest_file(ctx, shared(VANCOUVER), actor=Actor("ada"), dataset="vancouver")
        ingest_file(ctx, cincinnati, actor=Actor("ada"), dataset="cincinnati_burglary")
        gs.add_user(ctx, name="ada", role="admin", actor=Actor("ada", Role.ADMIN))
        gs.add_user(ctx, name="ana", role="analyst", actor=Actor("ada", Role.ADMIN))
    return path


def _rows(db: Path, dataset: str, offenses: list[str]) -> pd.DataFrame:
    """The dataset's stored records of ``offenses``: id, area, the middle of each time window, cell column and row
    of 150 m squares (the study area's cells are aligned on multiples of the cell size)."""
    with open_context(load_settings(db=db)) as ctx:
        frame = ctx.store.query(
            "SELECT incident_id, area, occurred_from, occurred_to, x_m, y_m FROM incidents WHERE dataset = ? AND "
            f"offense IN ({', '.join('?' for _ in offenses)})", [dataset, *offenses])
    began = pd.to_datetime(frame["occurred_from"], utc=True)
    frame["mid"] = began + (pd.to_datetime(frame["occurred_to"], utc=True).fillna(began) - began) / 2
    frame["cell"] = list(zip(np.floor(frame["x_m"] / 150.0).astype(int), np.floor(frame["y_m"] / 150.0).astype(int),
                             strict=True))
    return frame


def _text(result: Any) -> str:
    return " ".join(result.output.split())


def test_a_backtest_counts_the_test_incidents_outside_its_study_area(db: Path) -> None:
    # Portland's street crimes, four daily forecasts from local midnight 1 September 2016
    rows = _rows(db, "portland_nij_2016", ["street_crime"])
    start = datetime(2016, 9, 1, tzinfo=LA)
    starts = [start + timedelta(days=k) for k in range(4)]  # local midnights (no clock change here)
    known = set(rows.loc[rows["mid"] < start, "cell"])  # the study area: cells with an incident before the start
    recorded = [rows[(rows["mid"] >= a) & (rows["mid"] < a + timedelta(days=1))] for a in starts]
    outside = [int((~r["cell"].isin(known)).sum()) for r in recorded]
    assert sum(outside) > 0.1 * sum(map(len, recorded))  # about a third: the tester's finding
    with open_context(load_settings(db=db)) as ctx:
        run = run_backtest(ctx, models=["naive"], offense="street_crime", start="2016-09-01", periods=4,
                           horizon_days=1, actor=ana, dataset="portland_nij_2016", group_by="area",
                           coverages=(0.05,), ceiling=False)
        doc = run.to_dict()
        stored = show_backtest(ctx, run.run_id, actor=ana)["summary"]
        entry = ctx.ledger.entry(run.ledger_seq)
    test = doc["test_incidents"]
    n_recorded, n_outside = sum(map(len, recorded)), sum(outside)
    assert test == {"n_recorded": n_recorded, "n_in_study_area": n_recorded - n_outside, "n_outside": n_outside,
                    "share_outside": pytest.approx(n_outside / n_recorded),
                    "per_period": {"n_recorded": [len(r) for r in recorded], "n_outside": outside}}
    # the scores are unchanged: on the study area's incidents only
    assert [p["n_events"] for p in doc["per_period"]] == [len(r) - o for r, o in zip(recorded, outside, strict=True)]
    assert [(p["n_recorded"], p["n_outside"]) for p in doc["per_period"]] == [
        (len(r), o) for r, o in zip(recorded, outside, strict=True)]
    assert stored["test_incidents"] == test
    assert entry.detail["test_incidents"] == {k: v for k, v in test.items() if k != "per_period"}
    share = round(100 * n_outside / n_recorded)
    note = f"{n_outside:,} of {n_recorded:,} test incidents ({share} %) fell outside the study area and are not scored"
    assert any(w.startswith(note) for w in doc["warnings"]), doc["warnings"]  # over 10 %: a warning
    # each area's figures: its test incidents recorded, those in the study area (n) and those outside
    groups = doc["groups"]["models"]["naive"]["0.05"]
    every = pd.concat(recorded)
    for area, v in groups.items():
        mine = every[every["area"].astype(str) == area]
        assert (v["n_recorded"], v["n_outside"]) == (len(mine), int((~mine["cell"].isin(known)).sum())), area
        assert v["n"] + v["n_outside"] == v["n_recorded"]
    assert any(v["n_outside"] > 0 and v["n"] > 0 for v in groups.values())
    # the CLI says it under the study area, and in the stored run's view
    res = runner.invoke(app, ["forecast", "backtest", "--db", str(db), "--dataset", "portland_nij_2016", "--offense",
                              "street_crime", "--models", "naive", "--start", "2016-09-01", "--periods", "4",
                              "--horizon", "1d", "--group-by", "area", "--coverage", "0.05"])
    assert res.exit_code == 0, res.output
    assert note in _text(res)
    assert re.search(r"n=\d+ of \d+", _text(res))
    shown = runner.invoke(app, ["forecast", "backtests", "--db", str(db), "--run", run.run_id])
    assert shown.exit_code == 0, shown.output
    assert note in _text(shown)


def test_day_long_records_scored_on_the_same_days_are_not_warned_of(db: Path) -> None:
    """Portland's calls are whole local days: on local-midnight periods of a day each falls in one period
    exactly. On periods starting at midnight UTC (17:00 in Portland) each crosses a period's edge, and on
    12-hour periods each is longer than the horizon: both are warned of, saying which."""
    with open_context(load_settings(db=db)) as ctx:
        local = run_backtest(ctx, models=["naive"], offense="street_crime", start="2016-09-01", periods=3,
                             horizon_days=1, actor=ana, dataset="portland_nij_2016", ceiling=False)
        utc = run_backtest(ctx, models=["naive"], offense="street_crime", start="2016-09-01T00:00:00Z", periods=3,
                           horizon_days=1, actor=ana, dataset="portland_nij_2016", ceiling=False)
        half = run_backtest(ctx, models=["naive"], offense="street_crime", start="2016-09-01", periods=4,
                            horizon_days=0.5, actor=ana, dataset="portland_nij_2016", ceiling=False)
    assert not [w for w in local.warnings if "windows of" in w], local.warnings
    (crossing,) = [w for w in utc.warnings if "windows of" in w]
    assert "as long as the 1 day horizon but not lined up with the periods" in crossing
    assert ("scored in the period from 2016-08-31 17:00 America/Los_Angeles to 2016-09-01 17:00 "
            "America/Los_Angeles") in crossing
    (longer,) = [w for w in half.warnings if "half the records' times are windows of" in w]
    assert "longer than the 12 hours horizon" in longer


def test_an_offense_the_dataset_lacks_is_named_with_those_it_holds(db: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with open_context(load_settings(db=db)) as ctx:
        counts = ctx.store.query("SELECT offense, count(*) AS n FROM incidents WHERE dataset = 'vancouver' "
                                 "GROUP BY offense ORDER BY n DESC, offense")
        with pytest.raises(NotFoundError) as caught:
            run_forecast(ctx, offense="thefts", at="2020-09-07", actor=ana, model="naive", dataset="vancouver")
        with pytest.raises(NotFoundError, match=r"backtest: offense 'thefts' is not in dataset 'vancouver'"):
            run_backtest(ctx, models=["naive"], offense="thefts", start="2020-09-07", periods=1, actor=ana,
                         dataset="vancouver")
        with pytest.raises(NotFoundError, match=r"offense 'thefts' is not in dataset 'vancouver'"):  # pooled too
            run_forecast(ctx, offense="theft,thefts", at="2020-09-07", actor=ana, model="naive", dataset="vancouver")
    message = str(caught.value)
    listed = ", ".join(f"{o} ({n:,})" for o, n in zip(counts["offense"], counts["n"], strict=True))
    assert message.startswith(f"forecast: offense 'thefts' is not in dataset 'vancouver'; it holds "
                              f"{int(counts['n'].sum()):,} records of {len(counts)} offense(s), the most common "
                              f"first: {listed};"), message
    with pytest.raises(SystemExit) as exited:  # the CLI's answer: exit 1 and the message
        main(["forecast", "run", "--db", str(db), "--dataset", "vancouver", "--offense", "thefts", "--at",
              "2020-09-07", "--model", "naive", "--json"])
    answer = json.loads(capsys.readouterr().out)
    assert exited.value.code == 1 and (answer["type"], answer["error"]) == ("NotFoundError", message)


def test_times_in_messages_are_on_the_datasets_clocks(db: Path) -> None:
    rows = _rows(db, "portland_nij_2016", ["street_crime"])
    last = pd.to_datetime(rows["occurred_from"], utc=True).max().tz_convert(LA)
    with open_context(load_settings(db=db)) as ctx:
        with pytest.raises(NotFoundError, match=r"no incidents before 2016-07-01 00:00 America/Los_Angeles "):
            run_forecast(ctx, offense="street_crime", at="2016-07-01", actor=ana, model="naive",
                         dataset="portland_nij_2016")
        with pytest.raises(InvalidParameterError) as caught:
            run_backtest(ctx, models=["naive"], offense="street_crime", start="2016-09-20", periods=30,
                         horizon_days=1, actor=ana, dataset="portland_nij_2016")
        with pytest.raises(NotFoundError, match=r"no incidents before 2016-07-01 00:00 America/Los_Angeles"):
            run_backtest(ctx, models=["naive"], offense="street_crime", start="2016-07-01", periods=1,
                         horizon_days=1, actor=ana, dataset="portland_nij_2016")
    assert (f"from 2016-09-20 00:00 America/Los_Angeles, but the records end at {last:%Y-%m-%d %H:%M} "
            "America/Los_Angeles,") in str(caught.value)


def test_mask_days_on_the_cli_as_in_the_api(db: Path) -> None:
    args = ["forecast", "backtest", "--db", str(db), "--dataset", "portland_nij_2016", "--offense", "street_crime",
            "--models", "naive", "--start", "2016-09-20", "--periods", "2", "--horizon", "1d", "--json",
            "--no-per-period"]
    week = runner.invoke(app, [*args, "--mask-days", "7"])
    assert week.exit_code == 0, week.output
    doc = json.loads(week.stdout)
    with open_context(load_settings(db=db)) as ctx:
        same = run_backtest(ctx, models=["naive"], offense="street_crime", start="2016-09-20", periods=2,
                            horizon_days=1, actor=ana, dataset="portland_nij_2016", mask_days=7).to_dict()
        whole = run_backtest(ctx, models=["naive"], offense="street_crime", start="2016-09-20", periods=2,
                             horizon_days=1, actor=ana, dataset="portland_nij_2016").to_dict()
        stored = show_backtest(ctx, doc["run_id"], actor=ana)["summary"]
    assert doc["area"] == same["area"] and doc["area"]["n_cells"] < whole["area"]["n_cells"]
    start = datetime(2016, 9, 20, tzinfo=LA)
    assert [datetime.fromisoformat(t) for t in doc["area"]["period"]] == [start - timedelta(days=7), start]
    assert stored["mask_days"] == 7 and doc["test_incidents"]["n_outside"] > whole["test_incidents"]["n_outside"]
    for bad in ("0", "-3", "40000"):
        res = runner.invoke(app, [*args, "--mask-days", bad])
        assert res.exit_code == 2 and "--mask-days" in _text(res) and "expected days in (0, 36600]" in _text(res)


def test_several_offenses_are_pooled(db: Path) -> None:
    """The Vancouver row of docs/forecast.md pools the thefts, as benchmarks/forecast_data.py selects them."""
    rows = _rows(db, "vancouver", THEFTS)
    start = datetime(2020, 7, 6, tzinfo=ZoneInfo("America/Vancouver"))
    with open_context(load_settings(db=db)) as ctx:
        run = run_forecast(ctx, offense=",".join(THEFTS), at="2020-07-06", actor=ana, model="naive",
                           dataset="vancouver")
        stored = get_forecast_run(ctx.store, run.run_id)
        entry = ctx.ledger.entry(run.ledger_seq)
        bt = run_backtest(ctx, models=["naive"], offense=THEFTS, start="2020-07-06", periods=2, actor=ana,
                          dataset="vancouver", ceiling=False)
        bt_entry = ctx.ledger.entry(bt.ledger_seq)
    assert run.n_training == int((rows["mid"] < start).sum())
    assert run.to_dict()["area"]["n_cells"] == 2683  # docs/forecast.md: "Vancouver 2,683 cells"
    assert run.offense == stored.offense == "theft,theft_from_vehicle,vehicle_theft"
    assert entry.inputs["offense"] == "theft,theft_from_vehicle,vehicle_theft" and entry.detail["offenses"] == THEFTS
    weeks = [(rows["mid"] >= start + timedelta(days=7 * k)) & (rows["mid"] < start + timedelta(days=7 * (k + 1)))
             for k in range(2)]
    assert bt.to_dict()["test_incidents"]["per_period"]["n_recorded"] == [int(w.sum()) for w in weeks]
    assert bt.offense == "theft,theft_from_vehicle,vehicle_theft" and bt_entry.detail["offenses"] == THEFTS
    res = runner.invoke(app, ["forecast", "run", "--db", str(db), "--dataset", "vancouver", "--offense",
                              "theft, theft_from_vehicle,vehicle_theft", "--at", "2020-07-06", "--model", "naive",
                              "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["offense"] == "theft,theft_from_vehicle,vehicle_theft"


def test_the_model_card_says_how_the_backtest_counted_incidents(db: Path) -> None:
    rows = _rows(db, "cincinnati_burglary", ["burglary"])
    start = datetime(2018, 1, 1, tzinfo=ZoneInfo("America/New_York"))
    further = rows["incident_id"].astype(str).str.contains("#")
    with open_context(load_settings(db=db)) as ctx:
        run = run_backtest(ctx, models=["naive"], offense="burglary", start="2018-01-01", periods=2, actor=ana,
                           dataset="cincinnati_burglary", coverages=(0.05,), group_by="area")
        card = register_backtested(ctx, run, model="naive", actor=ana)
        shown = gs.model_card(ctx, name=card.name, version=card.version, actor=ana)
    assert run.n_records_left_out == int(further.sum()) > 100  # every further record in the store (2017-Jan 2018)
    data = shown.section("evaluation_data")
    test = run.to_dict()["test_incidents"]
    in_test = (rows["mid"] >= start) & (rows["mid"] < start + timedelta(days=14)) & ~further
    assert test["n_recorded"] == int(in_test.sum())
    assert (data["records"], data["n_records_left_out"]) == ("incident", run.n_records_left_out)
    assert (data["test_incidents_recorded"], data["test_incidents_outside_study_area"]) == (
        test["n_recorded"], test["n_outside"])
    assert data["share_outside_study_area"] == pytest.approx(test["share_outside"])
    text = shown.to_markdown()
    assert "- **records**: incident" in text and f"- **n_records_left_out**: {run.n_records_left_out}" in text
    groups = shown.section("quantitative_analyses")["area"]
    assert all(v["n"] + v["n_outside"] == v["n_recorded"] for v in groups.values())
    res = runner.invoke(app, ["models", "card", card.name, "--version", card.version, "--db", str(db)],
                        env={"CRIMELENS_USER": "ana"})
    assert res.exit_code == 0, res.output
    assert "**records**: incident" in res.output and "**test_incidents_outside_study_area**" in res.output
