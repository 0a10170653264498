"""Slash dates in an x,y,date file: day/month or month/day is known from the file or stated, never guessed.

Before, a file of Cincinnati's 2016 burglaries with UK dates (dd/mm/yyyy) lost every row whose day
was above 12 ("not used") and read the others with day and month swapped; a file whose days were
all 12 or less was misread without a word."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crimelens.domain import TimeWindow
from crimelens.errors import SchemaError
from crimelens.nearrepeat import read_xyt_csv
from crimelens.storage import DuckDBStore
from tests.nearrepeat.conftest import cli

NRC = ("--convention", "nrc", "--space-bands", "100,200", "--time-bands", "7,14", "--permutations", "19",
       "--seed", "1")


@pytest.fixture
def files(real_db: str, tmp_path: Path) -> dict[str, Path]:
    """Cincinnati's 2016 burglaries as x,y,date files: ISO and UK dates, all days and days <= 12 only."""
    with DuckDBStore.open(real_db) as s:
        table = s.incidents(dataset="cincinnati", offense="burglary",
                            period=TimeWindow(datetime(2016, 1, 1, 5, tzinfo=UTC), datetime(2017, 1, 1, 5, tzinfo=UTC)))
    local = pd.to_datetime(table.t_days(), unit="D", utc=True).tz_convert("America/New_York")
    frame = pd.DataFrame({"x": table.xy_m[:, 0].round(2), "y": table.xy_m[:, 1].round(2), "when": local})
    out: dict[str, Path] = {}
    for name, rows in (("all", frame), ("low", frame[frame["when"].dt.day <= 12])):
        for style, fmt in (("iso", "%Y-%m-%d"), ("uk", "%d/%m/%Y")):
            path = tmp_path / f"{name}_{style}.csv"
            rows.assign(date=rows["when"].dt.strftime(fmt))[["x", "y", "date"]].to_csv(path, index=False)
            out[f"{name}_{style}"] = path
    return out


def test_uk_dates_that_show_their_order_are_read_as_day_month(files: dict[str, Path], tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "f.duckdb")
    code, iso = cli(capsys, "nearrepeat", str(files["all_iso"]), "--db", db, *NRC, "--json")
    assert code == 0, iso
    code, uk = cli(capsys, "nearrepeat", str(files["all_uk"]), "--db", db, *NRC, "--json")
    assert code == 0, uk
    assert uk["n_rows_not_used"] == 0 and uk["n_events"] == iso["n_events"] > 3000
    assert uk["observed"] == iso["observed"]
    assert uk["date_order"]["order"] == "dmy" and "can only be dd/mm/yyyy" in uk["date_order"]["from"]
    code, text = cli(capsys, "nearrepeat", str(files["all_uk"]), "--db", db, *NRC)
    assert code == 0 and "slash dates read as dd/mm/yyyy (line " in text
    # stated the other way, the file is refused at the first value that cannot be month/day
    code, doc = cli(capsys, "nearrepeat", str(files["all_uk"]), "--db", db, *NRC, "--date-order", "mdy", "--json")
    assert code == 2 and doc["type"] == "SchemaError"
    lines = files["all_uk"].read_text().splitlines()  # line 1 is the header
    first = next(n for n, line in enumerate(lines[1:], start=2) if int(line.rsplit(",", 1)[1][:2]) > 12)
    value = lines[first - 1].rsplit(",", 1)[1]
    assert doc["error"] == (f"all_uk.csv line {first} (data row {first - 1}), column 3 'date': got {value!r}, which "
                            "can only be dd/mm/yyyy; expected mm/dd/yyyy as --date-order mdy says (if the file is "
                            "dd/mm/yyyy, give --date-order dmy)")


def test_dates_that_read_either_way_need_the_order(files: dict[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "f.duckdb")
    code, doc = cli(capsys, "nearrepeat", str(files["low_uk"]), "--db", db, *NRC, "--json")
    assert code == 2 and doc["type"] == "SchemaError", doc
    assert doc["error"].startswith("low_uk.csv line ")
    assert "column 3 'date': got '" in doc["error"]
    assert "day/month and month/day cannot be told apart; expected --date-order dmy (dd/mm/yyyy) or " in doc["error"]
    with DuckDBStore.open(db) as s:
        assert s.scalar("SELECT count(*) FROM nearrepeat_runs") == 0
    code, iso = cli(capsys, "nearrepeat", str(files["low_iso"]), "--db", db, *NRC, "--json")
    code2, uk = cli(capsys, "nearrepeat", str(files["low_uk"]), "--db", db, *NRC, "--date-order", "dmy", "--json")
    assert code == code2 == 0
    assert uk["observed"] == iso["observed"] and uk["n_events"] == iso["n_events"] > 1000
    assert uk["date_order"] == {"order": "dmy", "from": "given"}
    with DuckDBStore.open(db) as s:
        params = s.scalar("SELECT payload FROM ledger WHERE action = 'nearrepeat.knox' ORDER BY seq DESC LIMIT 1")
    assert json.loads(params)["params"]["date_order"] == "dmy"


def test_mixed_orders_bad_dates_and_misplaced_option(tmp_path: Path, real_db: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("x,y,date\n1000,2000,13/01/2016\n1100,2000,01/13/2016\n")
    with pytest.raises(SchemaError, match=r"mixed.csv line 2 \(data row 1\), column 3 'date': got '13/01/2016' "
                                          r"\(can only be dd/mm/yyyy\), but line 3 has '01/13/2016'"):
        read_xyt_csv(mixed)
    us = tmp_path / "us.csv"
    us.write_text("1000,2000,1/31/2016\n1100,2000,2/30/2016\n1200,2000,2/1/2016\n")
    f = read_xyt_csv(us)
    assert f.date_order == "mdy" and np.diff(f.day).tolist() == [1]
    assert f.rejected == ((2, "column 3 'date': got '2/30/2016'; expected a valid date YYYY-MM-DD or mm/dd/yyyy"),)
    code, doc = cli(capsys, "nearrepeat", "--db", real_db, "--dataset", "cincinnati", "--date-order", "dmy", "--json")
    assert code == 2 and "--date-order dmy: applies to an x,y,date file" in doc["error"]
    code, doc = cli(capsys, "nearrepeat", str(us), "--db", real_db, "--date-order", "ymd", "--json")
    assert code == 2 and "--date-order: got 'ymd'; expected one of ['dmy', 'mdy']" in doc["error"]
