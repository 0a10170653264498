"""``crimelens nearrepeat`` through the real CLI entry point, on real stores in tmp_path."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from crimelens.cli import app
from crimelens.config import load_settings
from crimelens.governance import Actor
from crimelens.nearrepeat import read_nrc_report
from crimelens.services import open_context
from crimelens.services.ingest import ingest_file
from crimelens.services.nearrepeat import nearrepeat_alert, run_knox
from crimelens.storage import DuckDBStore
from tests.cli.test_ingest_cli import run
from tests.conftest import shared

BURGLARY = "knox_reference/chicago_be_month1.csv"
BURGLARY_VERBOSE = "knox_reference/chicago_be_month1_NRverbose_2019-09-23_143005.csv"




def test_nrc_file_as_json_with_heat_map_and_ledger(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, png = tmp_path / "c.duckdb", tmp_path / "knox.png"
    code, out, err = run(capsys, "nearrepeat", str(shared(BURGLARY)), "--db", str(db),
                         "--space-bands", "100,200,300", "--time-bands", "7,14,21",
                         "--distance", "manhattan", "--permutations", "99", "--seed", "1",
                         "--convention", "nrc", "--json", "--png", str(png), "--pairs", str(tmp_path / "p.csv"))
    assert code == 0, err
    doc = json.loads(out)
    report = read_nrc_report(shared(BURGLARY_VERBOSE))
    pairs = pd.read_csv(tmp_path / "p.csv")
    assert list(pairs.columns[:2]) == ["originator", "follower"]
    assert len(pairs) == doc["n_pairs_written"] == int(report.observed[:4, :3].sum())
    assert doc["observed"] == report.observed.tolist()
    assert doc["rows"] == report.rows and doc["columns"] == report.columns
    assert doc["convention"] == "nrc" and "[a-1, b)" in doc["convention_note"]
    assert doc["mark"] == "research — not for operational use" and doc["seed"] == 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with DuckDBStore.open(db) as s:
        entry = json.loads(s.scalar("SELECT payload FROM ledger WHERE action = 'nearrepeat.knox'"))
        stored = s.scalar("SELECT output_hash FROM nearrepeat_runs WHERE run_id = ?", [doc["run_id"]])
    assert entry["purpose"] == "research" and entry["detail"]["run_id"] == doc["run_id"]
    assert entry["output_hash"] == stored == doc["output_hash"]
    assert entry["params"]["convention"] == "nrc"


def test_same_seed_same_output_hash_and_explicit_run_subcommand(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "c.duckdb")
    args = ["--db", db, "--permutations", "19", "--seed", "7", "--json", "--convention", "standard"]
    _, out1, _ = run(capsys, "nearrepeat", str(shared(BURGLARY)), *args)
    _, out2, _ = run(capsys, "nearrepeat", "run", str(shared(BURGLARY)), *args)
    a, b = json.loads(out1), json.loads(out2)
    assert a["output_hash"] == b["output_hash"] and a["run_id"] != b["run_id"]
    assert a["rows"][0] == "[0, 100) m" and a["convention"] == "standard"


def test_human_output_names_the_convention(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["nearrepeat", str(shared(BURGLARY)), "--db", str(tmp_path / "c.duckdb"),
                                      "--permutations", "19", "--seed", "1", "--convention", "nrc"])
    assert result.exit_code == 0, result.output
    assert "convention: nrc" in result.output and "Same location" in result.output
    assert "research — not for operational use" in result.output


def test_errors_map_to_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "c.duckdb")
    code, out, _ = run(capsys, "nearrepeat", str(shared(BURGLARY)), "--db", db, "--convention", "ratcliffe",
                       "--json")
    doc = json.loads(out)
    assert code == 2 and doc["type"] == "InvalidParameterError" and "ratcliffe" in doc["error"]
    code, _, err = run(capsys, "nearrepeat", str(tmp_path / "none.csv"), "--db", db)
    assert code == 1 and "no such file" in err
    code, out, _ = run(capsys, "nearrepeat", "alert", "nope", "--db", db, "--json")
    assert code == 1 and json.loads(out)["type"] == "NotFoundError"
    code, out, _ = run(capsys, "nearrepeat", "--db", db, "--space-bands", "100,x", "--json")
    assert code == 2 and "comma-separated numbers" in json.loads(out)["error"]


def test_store_run_alert_and_runs_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "c.duckdb")
    code, _, _ = run(capsys, "ingest", str(shared("sf_robbery/san_francisco_robbery.csv")), "--db", db, "--json")
    assert code == 0
    code, out, err = run(capsys, "nearrepeat", "--db", db, "--dataset", "sf_robbery", "--offense", "robbery",
                         "--space-bands", "100,200,400", "--time-bands", "1,3,7", "--permutations", "99",
                         "--seed", "2", "--json")
    assert code == 0, err
    knox = json.loads(out)
    assert knox["n_events"] == 951 and knox["dataset"] == "sf_robbery" and knox["source"] == "store"
    with DuckDBStore.open(db) as s:
        first = s.incidents(dataset="sf_robbery").incident_id[0]
    code, out, err = run(capsys, "nearrepeat", "alert", str(first), "--db", db, "--json")
    assert code == 0, err
    alert = json.loads(out)
    assert alert["run_id"] == knox["run_id"] and not alert["surface_computed"]
    sig = {(knox["rows"][i], knox["columns"][j])
           for i in range(len(knox["rows"]) - 1) for j in range(len(knox["columns"]) - 1)
           if (knox["knox_ratio"][i][j] or 0) > 1 and knox["p_value"][i][j] < 0.05}
    assert {(e["space_label"], e["time_label"]) for e in alert["elevated"]} == sig
    # people read the bands' times in the city's own zone (UTC stays in the JSON)
    assert alert["timezone"] == "America/Los_Angeles" and alert["elevated"], alert
    code, out, _ = run(capsys, "nearrepeat", "runs", "--db", db, "--json")
    assert [r["run_id"] for r in json.loads(out)] == [knox["run_id"]]
    with DuckDBStore.open(db) as s:
        newest = s.incidents(dataset="sf_robbery").sorted_by_time().incident_id[-1]
    code, out, err = run(capsys, "nearrepeat", "alert", "--latest", "--offense", "robbery", "--db", db, "--json")
    assert code == 0, err
    assert json.loads(out)["incident_id"] == str(newest)
    code, out, _ = run(capsys, "nearrepeat", "alert", "--db", db, "--json")
    assert code == 2 and "neither INCIDENT_ID nor --latest" in json.loads(out)["error"]
    with DuckDBStore.open(db) as s:
        actions = [r[0] for r in s.iter_rows("SELECT action FROM ledger ORDER BY seq")]
        n_alerts = s.scalar("SELECT count(*) FROM nearrepeat_alerts WHERE incident_id = ?", [str(first)])
    assert actions == ["ingest.file", "nearrepeat.knox", "nearrepeat.alert", "nearrepeat.alert"]
    assert n_alerts == 1
    code, out, _ = run(capsys, "nearrepeat", "alert", str(first), "--db", db)
    text = " ".join(out.split())
    starts = datetime.fromisoformat(alert["elevated"][0]["starts"])
    local = starts.astimezone(ZoneInfo("America/Los_Angeles"))
    assert code == 0 and f"{local:%Y-%m-%d %H:%M}" in text and "Times in America/Los_Angeles" in text
    assert starts.hour != local.hour


def test_alert_computes_a_surface_from_the_past_when_none_is_stored(tmp_path: Path) -> None:
    settings = load_settings(db=tmp_path / "s.duckdb", progress=False)
    actor = Actor("ada")
    with open_context(settings) as ctx:
        ingest_file(ctx, shared("sf_robbery/san_francisco_robbery.csv"), actor=actor)
        table = ctx.store.incidents(dataset="sf_robbery")
        last = str(table.incident_id[-1])
        res = nearrepeat_alert(ctx, last, actor=actor, permutations=49, seed=3,
                               space_bands=[200, 400], time_bands=[3, 7])
        assert res.surface_computed and res.dataset == "sf_robbery" and res.offense == "robbery"
        stored = ctx.store.query("SELECT n_events, period_to FROM nearrepeat_runs WHERE run_id = ?", [res.run_id])
        # the surface was measured on the incidents up to the new one (it starts before its own end)
        assert int(stored["n_events"].iloc[0]) <= len(table)
        entries = ctx.store.query("SELECT action, user_name FROM ledger ORDER BY seq")
        assert entries["action"].tolist() == ["ingest.file", "nearrepeat.knox", "nearrepeat.alert"]
        assert set(entries["user_name"]) == {"ada"}


def test_a_refused_use_leaves_no_run_behind(tmp_path: Path) -> None:
    settings = load_settings(db=tmp_path / "r.duckdb", progress=False)
    with open_context(settings) as ctx:
        from crimelens.errors import ApprovalRequiredError

        with pytest.raises(ApprovalRequiredError):
            run_knox(ctx, actor=Actor("ada"), purpose="  ", path=shared(BURGLARY), permutations=9, seed=1)
        assert ctx.store.scalar("SELECT count(*) FROM nearrepeat_runs") == 0
        refused = ctx.store.query("SELECT action, outcome FROM ledger")
        assert refused.to_dict("records") == [{"action": "nearrepeat.knox", "outcome": "refused"}]


def test_file_read_by_ingest_reader(tmp_path: Path) -> None:
    """A file that is not x,y,date goes through crimelens.ingest.read_file (projected to metres)."""
    settings = load_settings(db=tmp_path / "f.duckdb", progress=False)
    with open_context(settings) as ctx:
        res = run_knox(ctx, actor=Actor("ada"), path=shared("sf_robbery/san_francisco_robbery.csv"),
                       permutations=19, seed=1, space_bands=[250], time_bands=[7])
        assert res.result.n_events == 951 and res.n_rows_not_used == 0
        assert res.source.endswith("san_francisco_robbery.csv")
        ref = ctx.store.incidents()  # nothing was ingested into the store by a file run
        assert len(ref) == 0
        assert np.isfinite(res.result.expected).all()


def test_period_filter_on_an_xyt_file_and_empty_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "c.duckdb")
    code, out, err = run(capsys, "nearrepeat", str(shared(BURGLARY)), "--db", db, "--since", "2016-01-01",
                         "--until", "2016-01-16", "--permutations", "0", "--json")
    assert code == 0, err
    from crimelens.nearrepeat import read_xyt_csv

    f = read_xyt_csv(shared(BURGLARY))
    start = (np.datetime64("2016-01-01") - np.datetime64("1970-01-01")).astype(int)
    n = int(((f.day >= start) & (f.day < start + 15)).sum())
    assert json.loads(out)["n_events"] == n < len(f)
    code, out, _ = run(capsys, "nearrepeat", str(shared(BURGLARY)), "--db", db, "--offense", "burglary", "--json")
    assert code == 2 and "no offense column" in json.loads(out)["error"]
    empty = tmp_path / "empty.duckdb"
    code, out, _ = run(capsys, "nearrepeat", "--db", str(empty), "--json")
    assert code == 1 and "no store at" in json.loads(out)["error"] and not empty.exists()
    DuckDBStore.open(empty).close()
    code, out, _ = run(capsys, "nearrepeat", "--db", str(empty), "--json")
    assert code == 1 and "holds no incidents" in json.loads(out)["error"]


def test_degrees_in_an_xyt_file_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lonlat = tmp_path / "lonlat.csv"
    lonlat.write_text("-87.62,41.88,2016-01-01\n-87.63,41.87,2016-01-02\n-87.61,41.89,2016-01-05\n")
    code, out, _ = run(capsys, "nearrepeat", str(lonlat), "--db", str(tmp_path / "c.duckdb"), "--json")
    doc = json.loads(out)
    assert code == 2 and doc["type"] == "SchemaError" and "longitude/latitude" in doc["error"]


def test_dollar_signs_in_a_file_name_are_text_in_the_heat_map(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Matplotlib reads text between two '$' as TeX; the note names the file, so this stopped the run."""
    src = tmp_path / "be_$x^{$.csv"
    src.write_bytes(shared(BURGLARY).read_bytes())
    png = tmp_path / "knox.png"
    code, out, err = run(capsys, "nearrepeat", str(src), "--db", str(tmp_path / "c.duckdb"), "--permutations", "9",
                         "--seed", "1", "--png", str(png), "--json")
    assert code == 0, err
    assert json.loads(out)["png"] == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_period_dates_of_a_stored_dataset_are_its_own_days(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """San Francisco's robberies were read in America/Los_Angeles: --since 2019-10-01 --until 2019-10-15
    keeps the incidents of those local days, from 07:00 UTC on 1 October to 07:00 UTC on 15 October."""
    db = tmp_path / "sf.duckdb"
    with open_context(load_settings(db=db)) as ctx:
        ingest_file(ctx, shared("sf_robbery/san_francisco_robbery.csv"), actor=Actor("ada"), format="sf_code",
                    dataset="sf")
        frame = ctx.store.query("SELECT occurred_from, occurred_to FROM incidents")
    mid = pd.to_datetime(frame["occurred_from"], utc=True) + (
        pd.to_datetime(frame["occurred_to"], utc=True) - pd.to_datetime(frame["occurred_from"], utc=True)) / 2
    lo, hi = pd.Timestamp("2019-10-01T07:00Z"), pd.Timestamp("2019-10-15T07:00Z")
    want = int(((mid >= lo) & (mid < hi)).sum())
    utc_days = int(((mid >= pd.Timestamp("2019-10-01T00:00Z")) & (mid < pd.Timestamp("2019-10-15T00:00Z"))).sum())
    code, out, err = run(capsys, "nearrepeat", "--db", str(db), "--dataset", "sf", "--since", "2019-10-01",
                         "--until", "2019-10-15", "--permutations", "0", "--json")
    assert code == 0, err
    assert json.loads(out)["n_events"] == want != utc_days, (want, utc_days)


def test_nrc_numbers_the_datasets_own_calendar_days(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The Near Repeat Calculator counts gaps between the dates in its file, which an analyst in San
    Francisco exports in local time. From the store, `nrc` numbers San Francisco's calendar days: a
    robbery at 18:00 and one at 09:00 the next morning are a day apart there, the same UTC day."""
    from crimelens.nearrepeat import knox_test

    db = tmp_path / "sf.duckdb"
    with open_context(load_settings(db=db)) as ctx:
        ingest_file(ctx, shared("sf_robbery/san_francisco_robbery.csv"), actor=Actor("ada"), format="sf_code",
                    dataset="sf")
        table = ctx.store.incidents(dataset="sf")
    args = ["nearrepeat", "--db", str(db), "--dataset", "sf", "--convention", "nrc", "--space-bands", "100,200",
            "--time-bands", "1,2,3", "--permutations", "0"]
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    doc = json.loads(out)
    mid = pd.to_datetime(table.frame["occurred_from"], utc=True) + (
        pd.to_datetime(table.frame["occurred_to"], utc=True) - pd.to_datetime(table.frame["occurred_from"], utc=True)) / 2
    epoch = pd.Timestamp("1970-01-01")
    local_days = ((mid.dt.tz_convert("America/Los_Angeles").dt.tz_localize(None) - epoch) / pd.Timedelta(days=1)).to_numpy()
    utc_days = ((mid.dt.tz_localize(None) - epoch) / pd.Timedelta(days=1)).to_numpy()
    kw = {"space_bands": [100, 200], "time_bands": [1, 2, 3], "convention": "nrc", "n_permutations": 0}
    local = knox_test(table.xy_m, local_days, **kw).observed  # type: ignore[arg-type]
    utc = knox_test(table.xy_m, utc_days, **kw).observed  # type: ignore[arg-type]
    assert doc["days_in"] == "America/Los_Angeles"
    assert np.array_equal(np.array(doc["observed"]), local) and not np.array_equal(local, utc)
    code, out, err = run(capsys, *args)
    assert code == 0 and "whole days (calendar days of America/Los_Angeles)" in " ".join(out.split()), err
