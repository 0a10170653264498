"""Month-only times cannot show near repeats in days.

police.uk gives each burglary only its month: every record of Nottingham's is the window of a whole
month (28 to 31 days), and its time the month's middle. Before, a Knox table with 7-day bands found
"[0, 7) days" over-represented (Knox ratio 1.75: pairs of one month) with [7, 14) and [14, 21) empty
by construction, and an alert invented a week of elevated risk from 16 December 2022 12:00 for a
burglary known only as "December 2022"."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crimelens.config import load_settings
from crimelens.errors import InvalidParameterError
from crimelens.governance import Actor
from crimelens.nearrepeat import BandSet, KnoxResult, coarse_times, knox_test, near_repeat_alert
from crimelens.services import open_context
from crimelens.services.nearrepeat import show_run
from crimelens.storage import DuckDBStore
from tests.nearrepeat.conftest import YEAR_2016, cli

NOTTS = ("--dataset", "nottingham", "--offense", "burglary", "--permutations", "49", "--seed", "1")


def test_month_only_records_are_refused_with_what_and_how_much(real_db: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = cli(capsys, "nearrepeat", "--db", real_db, *NOTTS, "--json")
    assert code == 2 and doc["type"] == "InvalidParameterError", doc
    error = doc["error"]
    assert error.startswith("Knox test: 1,795 of 1,795 records (100%) in dataset 'nottingham' (offense 'burglary') "
                            "have a time window (occurred_from to occurred_to) longer than the narrowest time band "
                            "(7 days), typically 31 days (28 to 31)")
    assert "--allow-coarse-times" in error and "At month resolution the time bands are arbitrary" in error
    with DuckDBStore.open(real_db) as s:
        assert s.scalar("SELECT count(*) FROM nearrepeat_runs") == 0
    # bands as wide as a month do not help: at month resolution every band edge in days is arbitrary
    # (before, 32- and 64-day bands ran without a word; see test_tester_s32)
    code, wide = cli(capsys, "nearrepeat", "--db", real_db, *NOTTS, "--time-bands", "32,64", "--json")
    assert code == 2 and "At month resolution" in wide["error"]


def test_allowed_coarse_run_warns_everywhere_and_its_alert_refuses_unless_allowed(
        real_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, run = cli(capsys, "nearrepeat", "--db", real_db, *NOTTS, "--allow-coarse-times", "--json")
    assert code == 0, run
    assert run["warnings"][0].startswith("COARSE TIMES: 1,795 of 1,795 records (100%) in dataset 'nottingham'")
    assert run["coarse_times"]["is_coarse"] and run["coarse_times"]["allowed"]
    assert run["coarse_times"]["median_days"] == pytest.approx(31.0, abs=0.05)
    assert run["findings"][0].startswith("Caution: 1,795 of 1,795 records are known only to windows of typically 31 days")
    assert np.array(run["observed"])[:3, 1:3].sum() == 0  # the empty bands the warning explains
    with DuckDBStore.open(real_db) as s:
        stored = json.loads(s.scalar("SELECT result_json FROM nearrepeat_runs WHERE run_id = ?", [run["run_id"]]))
        entry = json.loads(s.scalar("SELECT payload FROM ledger WHERE action = 'nearrepeat.knox'"))
    assert stored["warnings"] == run["warnings"] and stored["coarse_times"]["is_coarse"]
    assert entry["params"]["allow_coarse_times"] is True and entry["detail"]["warnings"] == run["warnings"]
    code, text = cli(capsys, "nearrepeat", "--db", real_db, *NOTTS, "--allow-coarse-times")
    assert code == 0 and "warning: COARSE TIMES: 1,795 of 1,795 records" in text

    alert = ["nearrepeat", "alert", "--latest", "--offense", "burglary", "--dataset", "nottingham", "--db", real_db]
    code, doc = cli(capsys, *alert, "--json")
    assert code == 2 and doc["type"] == "InvalidParameterError"
    assert "its surface was computed with --allow-coarse-times" in doc["error"]
    code, doc = cli(capsys, *alert, "--allow-coarse-times", "--json")
    assert code == 0, doc
    assert doc["warnings"][0].startswith("COARSE TIMES: 1,795 of 1,795 records")
    assert "is known only to a time window of 31 days" in doc["warnings"][1]


def test_an_incident_known_to_a_month_gets_no_invented_dates(real_db: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """An exact surface (Cincinnati's) cannot give dates to an incident known only to its month."""
    code, run = cli(capsys, "nearrepeat", "--db", real_db, "--dataset", "cincinnati", *YEAR_2016,
                    "--permutations", "49", "--seed", "1", "--json")
    assert code == 0 and run["warnings"] == [] and run["coarse_times"] is None  # exact times: unaffected
    with open_context(load_settings(db=real_db, progress=False)) as ctx:
        surface = KnoxResult.from_dict(show_run(ctx, run["run_id"], actor=Actor("ada")))
    kw = {"incident_id": "december", "x_m": 0.0, "y_m": 0.0, "occurred": "2022-12-16T12:00:00Z"}
    with pytest.raises(InvalidParameterError, match="known only to a time window of 31 days"):
        near_repeat_alert(surface, window_days=31.0, **kw)  # type: ignore[arg-type]
    assert near_repeat_alert(surface, window_days=1.0, **kw).warnings == ()  # type: ignore[arg-type]


def test_the_rule_in_numbers() -> None:
    bands = BandSet.time([7, 14, 21], "standard")
    # a whole day across a change of clocks (25 h) is not longer than a 1-day band
    assert coarse_times(np.array([0.0, 1.0, 25 / 24]), BandSet.time([1, 2], "standard"), where="x") is None
    few = coarse_times(np.r_[np.zeros(95), np.full(5, 30.0)], bands, where="dataset 'x'")
    assert few is not None and not few.is_coarse and "their gaps are uncertain" in few.warning()
    many = coarse_times(np.r_[np.zeros(90), np.full(10, 30.0)], bands, where="dataset 'x'")
    assert many is not None and many.is_coarse
    r = knox_test(np.array([[0.0, 0.0], [10.0, 0.0], [5000.0, 0.0]]), np.array([0.0, 1.0, 40.0]),
                  time_bands=[7], space_bands=[100], n_permutations=99, seed=1)
    assert r.coarse_times is None and r.warnings == ()
