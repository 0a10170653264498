"""What an experienced Near Repeat Calculator analyst found (tester s32), each on real data.

1. A run without ``--seed`` drew a 63-bit seed (7301010655906923019) that the dashboard showed as
   7301010655906924000 and the API refused back (``seed`` capped at 2**31 - 1).
2. Month-only data (police.uk) with ``--time-bands 31,62,93`` passed the coarse-time guard, and an
   alert printed exact hours from the invented midpoint of the month.
3. 399 lon/lat rows and one row in metres ran as metres without a word.
4. docs/nearrepeat.md gave Cincinnati's ratios mixed with the analytic ones.
5. "2020-01-01 23:30" was read (time dropped silently) but "2020-01-05T12:00:00" refused; rows at
   (0, 0) were used; the dashboard's stored runs showed no bands.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from crimelens.api import create_app
from crimelens.config import Settings
from crimelens.nearrepeat import (
    DRAWN_SEED_BOUND,
    BandSet,
    coarse_times,
    is_xyt_csv,
    near_repeat_alert,
    read_xyt_csv,
)
from crimelens.nearrepeat._coarse import is_coarse_window
from tests.api.conftest import store_with_users
from tests.nearrepeat.conftest import cli

DOCS = Path(__file__).resolve().parents[2] / "docs" / "nearrepeat.md"
CIN = ("--dataset", "cincinnati", "--offense", "burglary", "--space-bands", "100,200,300", "--time-bands",
       "7,14,21", "--distance", "manhattan", "--convention", "standard")
OLD_SEED = 7301010655906923019  # what a run without --seed drew before: above 2**53


def _api(db: str) -> tuple[TestClient, dict[str, str]]:
    tokens = store_with_users(Path(db), (("ana", "analyst"),))
    client = TestClient(create_app(Settings(db=Path(db))), base_url="http://127.0.0.1")
    return client, {"Authorization": f"Bearer {tokens['ana']}", "X-Purpose": "research"}


# ---- 1. seeds ---------------------------------------------------------------------------------
def test_a_drawn_seed_round_trips_cli_store_api_rerun(real_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, run = cli(capsys, "nearrepeat", "--db", real_db, *CIN, "--permutations", "19", "--json")
    assert code == 0, run
    seed = run["seed"]
    assert 0 <= seed < DRAWN_SEED_BOUND == 2**31 and run["seed_text"] == str(seed)
    code, old = cli(capsys, "nearrepeat", "--db", real_db, *CIN, "--permutations", "19", "--seed", str(OLD_SEED),
                    "--json")
    assert code == 0 and old["seed_text"] == str(OLD_SEED)
    client, head = _api(real_db)
    with client:
        listed = client.get("/api/nearrepeat/runs", params={"dataset": "cincinnati"}, headers=head).json()["items"]
        by_id = {x["run_id"]: x for x in listed}
        assert by_id[run["run_id"]]["seed_text"] == str(seed)
        assert by_id[old["run_id"]]["seed_text"] == str(OLD_SEED)  # exact, where a JS number is not
        assert by_id[old["run_id"]]["space_bands"] == [100, 200, 300]
        assert by_id[old["run_id"]]["time_bands"] == [7, 14, 21]
        for stored, given in ((run, str(seed)), (old, str(OLD_SEED)), (old, OLD_SEED)):
            shown = client.get(f"/api/nearrepeat/runs/{stored['run_id']}", headers=head).json()
            assert shown["seed_text"] == stored["seed_text"] and shown["seed"] == stored["seed"]
            body: dict[str, Any] = {"dataset": "cincinnati", "offense": "burglary", "space_bands": [100, 200, 300],
                                    "time_bands": [7, 14, 21], "permutations": 19, "seed": given}
            again = client.post("/api/nearrepeat/runs", json=body, headers=head)
            assert again.status_code == 200, again.text  # before: 422 for the 63-bit seed
            rerun = again.json()
            assert rerun["seed_text"] == stored["seed_text"]
            assert rerun["observed"] == stored["observed"] and rerun["p_value"] == stored["p_value"]
            assert rerun["sim_min"] == stored["sim_min"] and rerun["sim_max"] == stored["sim_max"]
        too_big = client.post("/api/nearrepeat/runs", json={"dataset": "cincinnati", "seed": 2**63}, headers=head)
        assert too_big.status_code == 422


# ---- 2. month-only times ----------------------------------------------------------------------
NOTTS = ("--dataset", "nottingham", "--offense", "burglary", "--permutations", "49", "--seed", "1",
         "--time-bands", "31,62,93")


def test_month_only_data_with_month_wide_bands_needs_the_override(real_db: str,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = cli(capsys, "nearrepeat", "--db", real_db, *NOTTS, "--json")
    assert code == 2 and doc["type"] == "InvalidParameterError", doc  # before: ran without a word
    assert doc["error"].startswith("Knox test: 1,795 of 1,795 records (100%) in dataset 'nottingham' (offense "
                                   "'burglary') have a time window (occurred_from to occurred_to) as long as or "
                                   "comparable to the narrowest time band, 31 days")
    assert "At month resolution the time bands are arbitrary" in doc["error"]
    assert "--allow-coarse-times" in doc["error"]
    code, run = cli(capsys, "nearrepeat", "--db", real_db, *NOTTS, "--allow-coarse-times", "--json")
    assert code == 0 and run["coarse_times"]["resolution"] == "month" and run["coarse_times"]["is_coarse"]
    assert "At month resolution the time bands are arbitrary" in run["warnings"][0]

    alert = ["nearrepeat", "alert", "--latest", "--offense", "burglary", "--dataset", "nottingham", "--db", real_db,
             "--allow-coarse-times", "--alpha", "0.5"]
    code, doc = cli(capsys, *alert, "--json")
    assert code == 0, doc
    assert doc["resolution"] == "month" and doc["elevated"], doc
    month = re.compile(r"\d{4}-\d{2}")
    for e in doc["elevated"]:  # months the band can reach from anywhere in the incident's month: no hours
        assert month.fullmatch(e["starts"]) and month.fullmatch(e["ends"]), e
    first = [e for e in doc["elevated"] if e["days_from"] == 0]
    assert first and {(e["starts"], e["ends"]) for e in first} == {("2022-12", "2023-01")}
    assert all(month.fullmatch(c["starts"]) for c in doc["cells"])
    assert "whole window (2022-12)" in doc["warnings"][-1]
    code, text = cli(capsys, *alert)
    assert code == 0 and "December 2022" in text and "12:00" not in text  # before: "2022-12-16 12:00"


def test_the_coarse_rule_in_numbers() -> None:
    # a whole day (25 h across a change of clocks) stays fine for day bands; exact data are unaffected
    assert not is_coarse_window(np.array([0.0, 1 / 24, 1.0, 25 / 24]), 1.0).any()
    assert not is_coarse_window(np.array([0.0, 1.0, 3.0]), 7.0).any()
    assert is_coarse_window(np.array([4.0, 8.0]), 7.0).all()  # half a band or more blurs the band
    months = np.array([31.0, 28.0, 30.0, 30 + 23 / 24, 31 + 1 / 24])
    for bands in ([31, 62, 93], [32, 64], [365]):
        c = coarse_times(months, BandSet.time(bands, "standard"), where="x")
        assert c is not None and c.is_coarse and c.is_month, bands
    # an incident of one month on a surface of exact times: months, not the midpoint's hours
    from crimelens.nearrepeat import knox_test

    rng = np.random.default_rng(0)
    base = rng.uniform(0, 5000, (200, 2))
    t0 = rng.uniform(0, 365, 200)
    s = knox_test(np.vstack([base, base + rng.normal(0, 30, (200, 2))]),
                  np.concatenate([t0, t0 + rng.uniform(0, 5, 200)]), space_bands=[100, 200], time_bands=[7, 14],
                  n_permutations=99, seed=0)
    a = near_repeat_alert(s, incident_id="dec", x_m=0.0, y_m=0.0, occurred="2022-12-16T12:00:00Z",
                          window=("2022-12-01T00:00:00Z", "2023-01-01T00:00:00Z"), allow_coarse_times=True)
    assert a.resolution == "month" and (a.elevated[0].starts, a.elevated[0].ends) == ("2022-12", "2023-01")


# ---- 3. lon/lat mixed with metres -------------------------------------------------------------
def test_a_file_mostly_in_degrees_is_refused_naming_the_other_rows(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(32)
    lon, lat = rng.uniform(-84.6, -84.4, 399), rng.uniform(39.1, 39.2, 399)
    rows = [f"{x:.7f},{y:.7f},2017-0{1 + k % 9}-1{k % 9}" for k, (x, y) in enumerate(zip(lon, lat, strict=True))]
    rows.insert(387, "350353.39,578924.25,2017-01-01")  # data row 388 = line 389
    path = tmp_path / "mixed.csv"
    path.write_text("x,y,date\n" + "\n".join(rows) + "\n")
    code, doc = cli(capsys, "nearrepeat", str(path), "--db", str(tmp_path / "k.duckdb"), "--permutations", "9",
                    "--json")
    assert code == 2 and doc["type"] == "SchemaError", doc  # before: ran as metres, every pair in [0, 100) m
    assert doc["error"].startswith("mixed.csv: 399 of 400 rows (99.8%) have x, y within +-180, +-90 (longitude/"
                                   "latitude degrees), but 1 row(s) do not (line 389: x=350353.39, y=578924.25)")


# ---- 4. the documented Cincinnati figures -----------------------------------------------------
def test_the_documented_cincinnati_ratios_are_what_the_command_gives(real_db: str,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    ratio = {}
    for records in ("all", "incident"):
        code, run = cli(capsys, "nearrepeat", "--db", real_db, *CIN, "--permutations", "99", "--seed", "1",
                        "--records", records, "--json")
        assert code == 0, run
        ratio[records] = (run["knox_ratio"][0][0], run["knox_ratio"][1][0])
    text = " ".join(DOCS.read_text(encoding="utf-8").split())
    assert (f"is **{ratio['all'][0]:.2f} counting every record and {ratio['incident'][0]:.2f} counting each "
            f"incident once** (100–200 m: {ratio['all'][1]:.2f} and {ratio['incident'][1]:.2f};") in text


# ---- 5. times of day, null island ---------------------------------------------------------------
def test_times_of_day_are_read_alike_and_null_island_is_not_used(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "times.csv"
    path.write_text("x,y,date\n500000,500000,2020-01-01 23:30\n500050,500000,2020-01-02 00:30\n"
                    "500000,500100,2020-01-05T12:00:00\n0,0,2020-01-03\n600000,600000,2020-02-01 0:00\n"
                    "600010,600000,2020-02-02\n")
    assert is_xyt_csv(path)
    f = read_xyt_csv(path)
    assert f.line.tolist() == [2, 3, 4, 6, 7]  # before: line 4 (the 'T' time) refused, line 5 (0, 0) used
    assert f.day.tolist()[:3] == [18262, 18263, 18266] and f.n_times_dropped == 3  # midnight is no time
    assert [ln for ln, _ in f.rejected] == [5] and "null island" in f.rejected[0][1]
    code, run = cli(capsys, "nearrepeat", str(path), "--db", str(tmp_path / "k.duckdb"), "--permutations", "19",
                    "--seed", "1", "--json")
    assert code == 0, run
    assert run["warnings"][0].startswith("3 of 5 rows of times.csv give a time of day (e.g. line 2: "
                                         "'2020-01-01 23:30'); an x,y,date file is read by date")
    assert run["n_rows_not_used"] == 1 and run["rows_not_used"][0]["line"] == 5
    assert "'null island'" in run["rows_not_used"][0]["reason"]


@pytest.mark.browser
def test_the_dashboard_lists_bands_and_exact_seeds(real_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Before, the stored-runs list's "bands" column held only convention and metric, and a seed above
    2**53 read 7301010655906924000."""
    from playwright.sync_api import sync_playwright

    from tests.web.conftest import ARGS, CHROMIUM, _need_chromium, running

    _need_chromium()
    code, old = cli(capsys, "nearrepeat", "--db", real_db, *CIN, "--permutations", "19", "--seed", str(OLD_SEED),
                    "--json")
    assert code == 0, old
    tokens = store_with_users(Path(real_db), (("ana", "analyst"),))
    with running(Path(real_db)) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            # bypass_csp only lets the test evaluate its probes; the page keeps its policy
            pg = browser.new_context(bypass_csp=True).new_page()
            pg.set_default_timeout(90_000)
            pg.goto(f"{base}/login")
            pg.fill("#token", tokens["ana"])
            pg.fill("#purpose", "research")
            pg.click("#signin")
            pg.wait_for_url(f"{base}/forecast")
            pg.goto(f"{base}/nearrepeat")
            pg.wait_for_function("document.body.dataset.ready === '1'")
            row = pg.inner_text(f"#kx-runs tr:has(a[data-run='{old['run_id']}'])")
            assert "100, 200, 300 m × 7, 14, 21 d; standard, manhattan" in row and str(OLD_SEED) in row, row
            pg.click(f"#kx-runs a[data-run='{old['run_id']}']")
            pg.wait_for_function(f"document.body.dataset.knox === '{old['run_id']}'")
            assert f"seed {OLD_SEED};" in pg.inner_text("#kx-note")
        finally:
            browser.close()
