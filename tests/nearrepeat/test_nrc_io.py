"""Reading the Calculator's input layout and its outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from crimelens.errors import SchemaError
from crimelens.nearrepeat import is_xyt_csv, read_nrc_report, read_xyt_csv
from tests.conftest import shared


def test_xyt_csv_with_header_us_dates_and_bad_rows(tmp_path: Path) -> None:
    p = tmp_path / "events.csv"
    p.write_text("X,Y,Date\r\n100.5,200,1/31/2016\r\n101,201,2016-02-01\r\n,5,2016-02-01\r\n"
                 "1,2,31/02/2016\r\n\r\n3,4\r\n")
    assert is_xyt_csv(p)
    f = read_xyt_csv(p)
    assert f.has_header and len(f) == 2
    assert f.line.tolist() == [2, 3]
    assert (f.day[1] - f.day[0]) == 1
    assert [line for line, _ in f.rejected] == [4, 5, 7]
    assert f.rejected[1][1] == "column 3 'date': got '31/02/2016'; expected a valid date YYYY-MM-DD or mm/dd/yyyy"
    assert (f.date_order, f.date_order_from) == ("mdy", "line 2: '1/31/2016' can only be mm/dd/yyyy")
    table = f.to_table(dataset="mine")
    assert len(table) == 2 and table.incident_id.tolist() == ["line-2", "line-3"]
    assert str(table.frame["occurred_from"].iloc[0]) == "2016-01-31 00:00:00+00:00"


def test_not_xyt_and_empty_files(tmp_path: Path) -> None:
    assert not is_xyt_csv(shared("knox_reference/burkitt.csv"))
    assert is_xyt_csv(shared("knox_reference/chicago_be_month1.csv"))
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y,date\nfoo,bar,baz\n")
    with pytest.raises(SchemaError, match="no usable x, y, date rows"):
        read_xyt_csv(bad)


def test_verbose_report_parses_wrapped_draws_and_empty_zeros() -> None:
    stamp = "2019-09-23_145637"
    r = read_nrc_report(shared(f"knox_reference/chicago_arson_NRverbose_{stamp}.csv"),
                        shared(f"knox_reference/chicago_arson_NRsummary_{stamp}.htm"))
    assert r.n_simulations == 99 and r.simulated is not None and r.simulated.shape == (99, 5, 4)
    # 'Same location' row is written ',,2,,8,' in the file: empty fields are zeros
    assert r.observed[0].tolist() == [0, 2, 0, 8]
    assert r.space_edges == [200.0, 400.0, 600.0] and r.time_edges == [1.0, 2.0, 3.0]
    # each cell's "Mean" line is the mean of its listed draws (checked on one cell)
    assert r.simulated[:, 1, 0].mean() == pytest.approx(0.121212121212121)


def test_truncated_report_is_refused(tmp_path: Path) -> None:
    src = shared("knox_reference/chicago_be_month1_NRverbose_2019-09-23_143005.csv")
    cut = tmp_path / "cut.csv"
    cut.write_bytes(src.read_bytes()[:600])
    with pytest.raises(SchemaError, match="expected the Calculator's three tables"):
        read_nrc_report(cut)
