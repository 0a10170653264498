"""Numbers outside an option's range are refused by name (exit 2), never a traceback.

Each case was found by giving every numeric option of every command -5, 0 and a huge value:
before, these ended in a DuckDB binder error, a numpy allocation of many TiB, or a seed error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_ingest_cli import run
from tests.conftest import shared

KNOX = "knox_reference/chicago_be_month1.csv"
COMPAS = "compas/compas-scores-two-years.deid.csv.gz"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding one data set (Cincinnati's burglaries), so that commands reach their checks."""
    from crimelens.config import load_settings
    from crimelens.governance import Actor
    from crimelens.services import open_context
    from crimelens.services.ingest import ingest_file

    db = tmp_path_factory.mktemp("ranges") / "r.duckdb"
    with open_context(load_settings(db=db)) as ctx:
        ingest_file(ctx, shared("cincinnati_burglary/cincinnati_burglary.csv.gz"), actor=Actor("ada"), dataset="cin")
    return db


CASES = [
    (["quarantine", "list", "--limit", "-5"], "--limit"),
    (["feedback", "runs", "--limit", "-5"], "--limit"),
    (["ledger", "list", "--limit", "-5"], "--limit"),
    (["link", "train", "--dataset", "cin", "--seed", "-5"], "--seed"),
    (["link", "similar", "X", "--dataset", "cin", "-k", "0"], "--top"),
    (["nearrepeat", "alert", "X", "--limit", "0"], "--limit"),
    (["nearrepeat", "alert", "X", "--seed", "-5"], "--seed"),
    (["nearrepeat", "run", "--dataset", "cin", "--alpha", "1.5"], "--alpha 1.5: expected a probability in (0, 1)"),
    (["nearrepeat", "run", "--dataset", "cin", "--alpha", "0"], "--alpha 0.0: expected a probability in (0, 1)"),
    (["nearrepeat", "run", "--dataset", "cin", "--permutations", "999999999", "--space-bands", "100",
      "--time-bands", "7"], "--permutations: got 999999999; expected a whole number from 0 to 99,999"),
    (["risk", "fit", str(shared(COMPAS)), "--label", "two_year_recid", "--cv-repeats", "0"],
     "--cv-repeats 0: expected 1 to 10"),
    (["risk", "fit", str(shared(COMPAS)), "--label", "two_year_recid", "--cv-repeats", "999999999"],
     "--cv-repeats 999999999: expected 1 to 10"),
    (["risk", "fit", str(shared(COMPAS)), "--label", "two_year_recid", "--max-points", "999999999"],
     "max_points (--max-points): got 999999999; expected 1 to 20"),
    (["risk", "fit", str(shared(COMPAS)), "--label", "two_year_recid", "--max-items", "0"],
     "max_items (--max-items): got 0; expected 1 to 20"),
]


@pytest.mark.parametrize(("args", "message"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_an_out_of_range_number_is_refused_by_name(args: list[str], message: str, store: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *args, "--db", str(store))
    assert code == 2, (out, err)
    assert "Traceback" not in err
    assert message in " ".join((out + err).split())


def test_nothing_is_logged_for_a_refused_permutation_count(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ledger", "verify", "--db", str(store), "--json")
    before = json.loads(out)["n_entries"]
    code, out, _ = run(capsys, "nearrepeat", "run", str(shared(KNOX)), "--permutations", "100000",
                       "--space-bands", "100", "--time-bands", "7", "--db", str(store), "--json")
    assert code == 2 and "from 0 to 99,999" in json.loads(out)["error"]
    code, out, _ = run(capsys, "ledger", "verify", "--db", str(store), "--json")
    assert json.loads(out)["n_entries"] == before + 1  # only the verify before it


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("CRIMELENS_PROGRESS", "maybe", "expected a valid boolean"),
    ("CRIMELENS_CUSTODY_CLOCK_ALLOWANCE_S", "-3", "expected greater than or equal to 0"),
    ("CRIMELENS_MAX_UPLOAD_MB", "lots", "expected a valid integer"),
])
def test_a_bad_setting_in_the_environment_is_named_not_a_traceback(
        store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        variable: str, value: str, expected: str) -> None:
    monkeypatch.setenv(variable, value)
    code, _out, err = run(capsys, "incidents", "summary", "--db", str(store))
    assert code == 2 and "Traceback" not in err and "ValidationError" not in err
    assert f"InvalidParameterError: setting {variable}: got {value!r}; {expected}" in err
    code, out, _err = run(capsys, "incidents", "summary", "--db", str(store), "--json")
    assert code == 2 and json.loads(out)["type"] == "InvalidParameterError" and variable in json.loads(out)["error"]
