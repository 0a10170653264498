"""A quarantined row's value is the text the file has in that column, never a converted one.

Each case takes real rows of ../shared/data, changes one value so that it is refused, and checks
that the quarantine's value is that value as written, so that an analyst can find it in the file.
Before, times were shown converted to UTC (``2099-03-01 06:00:00+00:00`` for ``03/01/2099 12:00:00
AM``) and coordinates as floats, projected input with its lon/lat appended.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd

from crimelens.ingest import read_file
from tests.conftest import shared

SOCRATA = "socrata_chicago_sample/example.csv"
CODE = "chicago_agg_assault/chicago_aggravated_assaults.csv.gz"
VANCOUVER = "vancouver_2020/crimedata_csv_AllNeighbourhoods_2020.csv.gz"
CINCINNATI = "cincinnati_burglary/cincinnati_burglary.csv.gz"


def lines(rel: str, n: int) -> list[str]:
    """The header and the first ``n`` rows of a shared file, as text lines."""
    path = shared(rel)
    text = gzip.decompress(path.read_bytes()).decode("utf-8") if rel.endswith(".gz") else path.read_text("utf-8")
    return text.splitlines()[: n + 1]


def only(frame: pd.DataFrame) -> dict[str, object]:
    assert len(frame) == 1, frame
    row: dict[str, object] = frame[["line", "column", "value", "reason"]].iloc[0].to_dict()
    return row


def test_a_time_in_the_future_or_before_1900_keeps_its_text(tmp_path: Path) -> None:
    rows = lines(SOCRATA, 4)  # Case Number,Date,Block,Primary Type,Latitude,Longitude
    rows[2] = rows[2].replace("05/04/2016 02:12:00 PM", "03/01/2099 12:00:00 AM")
    rows[3] = rows[3].replace("05/05/2016 12:30:00 AM", "03/01/1899 12:00:00 AM")
    path = tmp_path / "socrata.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    q = read_file(path).quarantine.set_index("line")
    assert q.loc[3, "reason"] == "impossible date: in the future" and q.loc[3, "column"] == "Date"
    assert q.loc[3, "value"] == "03/01/2099 12:00:00 AM"  # before: '2099-03-01 06:00:00+00:00'
    assert q.loc[4, "reason"] == "impossible date: before 1900"
    assert q.loc[4, "value"] == "03/01/1899 12:00:00 AM"  # before: the time in UTC


def test_a_window_that_ends_before_it_starts_shows_the_to_time_as_written(tmp_path: Path) -> None:
    """The brief's example: a to-time before the from-time, read in Chicago time."""
    mapping = tmp_path / "windows.toml"
    mapping.write_text(
        '[source]\nname = "chicago_windows"\ntimezone = "America/Chicago"\ncrs = "EPSG:4326"\n\n[columns]\n'
        'incident_id = "Case Number"\noffense = { value = "theft" }\n'
        'occurred_from = { column = "Date", format = "%m/%d/%Y %I:%M:%S %p" }\n'
        'occurred_to = { column = "To Date", format = "%m/%d/%Y %I:%M:%S %p" }\n'
        'reported_at = { column = "Reported", format = "%m/%d/%Y %I:%M:%S %p" }\n'
        'lon = "Longitude"\nlat = "Latitude"\n', encoding="utf-8")
    rows = lines(SOCRATA, 3)
    out = [rows[0] + ",To Date,Reported"]
    out.append(rows[1] + ",04/27/2016 02:00:00 PM,04/27/2016 03:00:00 PM")
    out.append(rows[2] + ",03/01/2016 12:00:00 AM,05/04/2016 03:00:00 PM")  # ends two months before it starts
    out.append(rows[3] + ",05/05/2016 01:00:00 AM,05/05/2099 01:00:00 AM")  # reported in the future
    path = tmp_path / "windows.csv"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    q = read_file(path, mapping=mapping).quarantine.set_index("line")
    assert q.loc[3, ["column", "value"]].tolist() == ["To Date", "03/01/2016 12:00:00 AM"]  # before: '2016-03-01 06:00:00+00:00'
    assert q.loc[3, "reason"] == "window ends before it starts (occurred_to < occurred_from)"
    assert q.loc[4, ["column", "value", "reason"]].tolist() == ["Reported", "05/05/2099 01:00:00 AM",
                                                                "impossible date: in the future"]


def test_a_time_built_from_parts_shows_the_parts_as_written(tmp_path: Path) -> None:
    rows = lines(VANCOUVER, 2)  # TYPE,YEAR,MONTH,DAY,HOUR,MINUTE,...
    rows[2] = rows[2].replace(",2020,1,3,6,43,", ",2099,1,3,6,43,")
    path = tmp_path / "vancouver.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert only(read_file(path).quarantine) == {
        "line": 3, "column": "YEAR+MONTH+DAY+HOUR+MINUTE", "value": "2099-1-3-6-43",  # before: '2099-01-03 14:43:00+00:00'
        "reason": "impossible date: in the future"}


def test_coordinates_keep_their_text(tmp_path: Path) -> None:
    """Lon/lat outside the layout's box, and the same for projected input: the columns' text, not floats or a
    projected position."""
    rows = lines(CODE, 3)  # date,loc_cat,longitude,latitude,district
    rows[2] = rows[2].replace("-87.6683,41.7513", "-88.5000,41.7513")
    path = tmp_path / "code.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert only(read_file(path).quarantine) == {
        "line": 3, "column": "longitude/latitude", "value": "-88.5000, 41.7513",  # before: column 'x/y', '-88.5, 41.7513'
        "reason": "out-of-area coordinates: outside the layout's area (lon -88.0..-87.5, lat 41.6..42.1)"}

    rows = lines(VANCOUVER, 2)
    rows[2] = rows[2].replace("491068.6829,5459126.1374", "471068.6829,5459126.1374")  # 20 km west: off Vancouver
    path = tmp_path / "vancouver.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    row = only(read_file(path).quarantine)
    assert row["column"] == "X/Y" and row["value"] == "471068.6829, 5459126.1374"  # before: its lon/lat, '-123.39…, 49.28…'
    assert str(row["reason"]).startswith("out-of-area coordinates: outside the layout's area")


def test_an_id_numbered_here_is_named_in_the_reason_and_the_value_is_the_files(tmp_path: Path) -> None:
    """Cincinnati numbers a repeated incident_no (219027252, 219027252#2): the file holds only 219027252."""
    rows = lines(CINCINNATI, 3)
    path = tmp_path / "cincinnati_update.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    stored = {"219027252", "219027252#2", "209003013"}
    q = read_file(path, existing_ids=stored).quarantine
    assert q["value"].tolist() == ["219027252", "219027252", "209003013"]  # before: '219027252#2' on line 3
    known = "duplicate id: already in dataset 'cincinnati_burglary' in the store"
    assert q["reason"].tolist() == [known, known + " (as '219027252#2')", known]
    assert set(q["kind"]) == {known}
