"""Points the chosen metric CRS cannot hold are quarantined; ambiguous autumn end times are not guessed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crimelens.ingest import read_file
from crimelens.ingest._project import Projection

CANON = "incident_id,offense,occurred_from,occurred_to,lon,lat\n"
WHEN = "2024-03-01T10:00:00-06:00,2024-03-01T11:00:00-06:00"


def test_swapped_latitude_and_longitude_is_quarantined_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "canon.csv"
    path.write_text(CANON + f"C1,burglary,{WHEN},-87.60,41.76\n" + f"C2,burglary,{WHEN},-87.61,41.77\n"
                    + f"C3,burglary,{WHEN},41.76,-87.60\n", encoding="utf-8")
    r = read_file(path)
    assert (r.crs, r.n_landed, r.n_quarantined) == ("EPSG:32616", 2, 1)
    row = r.quarantine.iloc[0]
    # the value as the file has it ('-87.60', not the float's '-87.6')
    assert (row["file"], row["line"], row["column"], row["value"]) == ("canon.csv", 4, "lon/lat", "41.76, -87.60")
    assert row["reason"] == ("out-of-area coordinates: outside the area of use of EPSG:32616 (WGS 84 / UTM zone 16N: "
                             "lon -90..-84, lat 0..84, ± 3°); latitude and longitude swapped?")
    # what landed stays in Chicago's UTM zone: no point 10,000 km away to stretch a grid over
    assert r.validated.frame["y_m"].min() > 4_000_000


def test_a_point_far_from_the_dataset_crs_is_quarantined_without_a_swap_hint(tmp_path: Path) -> None:
    path = tmp_path / "canon.csv"
    path.write_text(CANON + f"C1,burglary,{WHEN},-87.60,41.76\n" + f"C2,burglary,{WHEN},-1.15,52.95\n",
                    encoding="utf-8")
    r = read_file(path, crs="EPSG:32616")  # the dataset's CRS, chosen by an earlier file
    assert r.n_landed == 1
    assert r.quarantine["reason"].tolist() == [
        "out-of-area coordinates: outside the area of use of EPSG:32616 (WGS 84 / UTM zone 16N: "
        "lon -90..-84, lat 0..84, ± 3°)"]


def test_projected_input_keeps_the_file_text_and_hints_at_a_swap(tmp_path: Path) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text('[source]\nname = "bng"\ntimezone = "Europe/London"\ncrs = "EPSG:27700"\n\n[columns]\n'
                       'incident_id = "Ref"\noffense = { value = "theft" }\n'
                       'occurred_from = { column = "When", format = "iso" }\nx = "E"\ny = "N"\n', encoding="utf-8")
    data = tmp_path / "bng.csv"
    data.write_text("Ref,When,E,N\nA1,2022-10-01T10:00:00Z,457100,340100\nA2,2022-10-01T10:00:00Z,1150000,450000\n"
                    "A3,2022-10-01T10:00:00Z,3457100,340100\n", encoding="utf-8")
    r = read_file(data, mapping=mapping)
    assert (r.crs, r.n_landed) == ("EPSG:27700", 1)
    area = ("out-of-area coordinates: outside the area of use of EPSG:27700 (OSGB36 / British National Grid: "
            "lon -9.01..2.01, lat 49.75..61.01, ± 3°)")
    # the value is the pair as the file has it (before: '1150000.0, 450000.0 (lon 9.302411, lat 53.409366)')
    assert r.quarantine[["line", "column", "value", "reason"]].to_dict("records") == [
        {"line": 3, "column": "E/N", "value": "1150000, 450000", "reason": area + "; x and y swapped?"},
        {"line": 4, "column": "E/N", "value": "3457100, 340100", "reason": area},
    ]


@pytest.mark.parametrize(("target", "lon", "lat", "outside"), [
    ("EPSG:32616", -87.6, 41.8, False), ("EPSG:32616", -82.5, 41.8, False), ("EPSG:32616", -80.0, 41.8, True),
    ("EPSG:32616", 41.8, -87.6, True), ("EPSG:32616", -87.6, -2.0, False), ("EPSG:32616", -87.6, -4.0, True),
    ("EPSG:32760", 179.5, -40.0, False), ("EPSG:32760", -178.0, -40.0, False), ("EPSG:32760", -170.0, -40.0, True),
    ("EPSG:3857", 120.0, 60.0, False),
])
def test_the_area_of_use_is_widened_by_the_margin_and_wraps_at_180(target: str, lon: float, lat: float,
                                                                   outside: bool) -> None:
    got = Projection("EPSG:4326", target).outside_area(np.array([lon, lon]), np.array([lat, lat]))
    assert got.tolist() == [outside, outside]


RMS = ('[source]\nname = "notts_rms"\ntimezone = "Europe/London"\ncrs = "EPSG:27700"\ndelimiter = ";"\n\n'
       '[columns]\nincident_id = "Ref"\noffense = { value = "theft" }\n'
       'occurred_from = { column = "From", format = "%d/%m/%Y %H:%M" }\n'
       'occurred_to = { column = "To", format = "%d/%m/%Y %H:%M" }\nx = "Easting"\ny = "Northing"\n')


def test_an_ambiguous_autumn_end_time_takes_its_later_reading(tmp_path: Path) -> None:
    mapping = tmp_path / "rms.toml"
    mapping.write_text(RMS, encoding="utf-8")
    data = tmp_path / "rms.csv"
    data.write_text("Ref;From;To;Easting;Northing\n"
                    "A1;30/10/2022 01:30;30/10/2022 01:45;457100;340100\n"   # both ambiguous
                    "A2;30/10/2022 00:50;30/10/2022 01:10;457100;340100\n"   # from BST to an ambiguous time
                    "A3;30/10/2022 01:50;30/10/2022 01:10;457100;340100\n"   # across the change
                    "A4;30/10/2022 01:30;;457100;340100\n"                   # from only
                    "A5;29/10/2022 09:00;29/10/2022 08:00;457100;340100\n",  # really backwards
                    encoding="utf-8")
    r = read_file(data, mapping=mapping)
    got = {i: (f.strftime("%d %H:%M"), t.strftime("%d %H:%M"))
           for i, f, t in r.validated.frame[["incident_id", "occurred_from", "occurred_to"]].itertuples(index=False)}
    assert got == {"A1": ("30 00:30", "30 01:45"), "A2": ("29 23:50", "30 01:10"), "A3": ("30 00:50", "30 01:10"),
                   "A4": ("30 00:30", "30 01:30")}
    assert r.quarantine[["line", "reason"]].to_dict("records") == [
        {"line": 6, "reason": "window ends before it starts (occurred_to < occurred_from)"}]
    assert all(pd.Timestamp(t).tzinfo is not None for t in r.validated.frame["occurred_to"])
