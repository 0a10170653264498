"""Awkward files an independent data engineer built from real rows (tester E), each pinned on real rows.

Every case takes rows of ../shared/data, breaks them the way an export breaks, writes them into
tmp_path and checks what ingest makes of them: a time built from parts with an impossible or empty
hour, a day-first export, a corrected row in an updated export, a file cut short, a header-only
file, a stray NUL byte, swapped coordinates in a layout with an area box, a GeoJSON whose geometry
and properties disagree, and the small print of the CLI.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from crimelens.cli import app
from crimelens.config import Settings
from crimelens.errors import SchemaError
from crimelens.governance import Actor
from crimelens.ingest import read_file
from crimelens.services import open_context
from crimelens.services._context import Context
from crimelens.services.ingest import ingest_file, quarantine_rows
from tests.conftest import shared

SOCRATA = "socrata_chicago_sample/example.csv"
CODE = "chicago_agg_assault/chicago_aggravated_assaults.csv.gz"
VANCOUVER = "vancouver_2020/crimedata_csv_AllNeighbourhoods_2020.csv.gz"
OAKLAND = "oakland_drug_2010/drug_crimes_with_bins.csv"
ANALYST = Actor("analyst")


def lines(rel: str, n: int, start: int = 0) -> list[str]:
    """The header and rows ``start`` .. ``start + n`` of a shared file, as text lines."""
    path = shared(rel)
    text = gzip.decompress(path.read_bytes()).decode("utf-8") if rel.endswith(".gz") else path.read_text("utf-8")
    every = text.splitlines()
    return [every[0], *every[1 + start: 1 + start + n]]


def write(path: Path, rows: list[str], *, newline: bool = True) -> Path:
    path.write_text("\n".join(rows) + ("\n" if newline else ""), encoding="utf-8")
    return path


def with_fields(row: str, **changes: str) -> str:
    """A Vancouver row with some of its fields replaced (TYPE,YEAR,MONTH,DAY,HOUR,MINUTE,...)."""
    names = ["TYPE", "YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "HUNDRED_BLOCK", "NEIGHBOURHOOD", "X", "Y"]
    fields = row.split(",")
    assert len(fields) == len(names), row
    for name, value in changes.items():
        fields[names.index(name)] = value
    return ",".join(fields)


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Context]:
    with open_context(Settings(db=tmp_path / "s.duckdb")) as c:
        yield c


# 1, 2: times built from parts -------------------------------------------------------------------------
def test_impossible_hours_and_minutes_built_from_parts_are_quarantined_naming_the_part(tmp_path: Path) -> None:
    """Before: HOUR=25 landed as 01:00 the next day, MINUTE=60 as 11:00, HOUR=-1 the day before, 10.5 as
    10:30, 24:00 as a whole-day window for the next day, all without a word."""
    rows = lines(VANCOUVER, 9)
    broken = {"25": {"HOUR": "25", "MINUTE": "0"}, "60": {"HOUR": "10", "MINUTE": "60"},
              "99": {"HOUR": "99", "MINUTE": "99"}, "-1": {"HOUR": "-1", "MINUTE": "30"},
              "10.5": {"HOUR": "10.5", "MINUTE": "0"}, "24": {"HOUR": "24", "MINUTE": "0"},
              "24/25": {"HOUR": "24", "MINUTE": "25"}}
    for i, change in enumerate(broken.values(), start=1):
        rows[i] = with_fields(rows[i], **change)
    rows[8] = with_fields(rows[8], MONTH="4", DAY="1", HOUR="0", MINUTE="0")  # Vancouver's midnight: time unknown
    result = read_file(write(tmp_path / "vancouver.csv", rows))
    q = result.quarantine.set_index("line")
    hour = "impossible date: no such hour in column 'HOUR': expected an integer 0–23"
    minute = "impossible date: no such minute in column 'MINUTE': expected an integer 0–59"
    assert q.loc[2, ["column", "value", "reason"]].tolist() == ["HOUR", "25", hour]
    assert q.loc[3, ["column", "value", "reason"]].tolist() == ["MINUTE", "60", minute]
    assert q.loc[4, ["column", "value", "reason"]].tolist() == ["HOUR", "99", hour]
    assert q.loc[5, ["column", "value", "reason"]].tolist() == ["HOUR", "-1", hour]
    assert q.loc[6, ["column", "value", "reason"]].tolist() == ["HOUR", "10.5", hour]
    assert q.loc[7, ["column", "value", "reason"]].tolist() == ["HOUR", "24", hour]  # as '05/03/2022 24:00' is
    assert q.loc[8, ["column", "value", "reason"]].tolist() == ["HOUR", "24", hour]
    assert (result.n_read, result.n_landed) == (9, 2)
    landed = result.validated.frame.set_index("line")
    # the documented meaning of 00:00 is kept: the whole local day 2020-04-01 (PDT, UTC-7)
    assert landed.loc[9, "occurred_from"] == pd.Timestamp("2020-04-01 07:00", tz="UTC")
    assert landed.loc[9, "occurred_to"] == pd.Timestamp("2020-04-02 07:00", tz="UTC")


def test_an_empty_or_non_numeric_part_refuses_its_row_only(tmp_path: Path) -> None:
    """Before: one empty HOUR (or a DAY, or 'ab') stopped the whole file with ``ValueError: cannot convert
    NA to integer``, nothing stored. An empty time of day is now a window, as a date without a time."""
    rows = lines(VANCOUVER, 6)
    rows[1] = with_fields(rows[1], HOUR="", MINUTE="")  # 2020-06-19, time of day unknown
    rows[2] = with_fields(rows[2], MINUTE="")  # 2020-01-03 06:??
    rows[3] = with_fields(rows[3], DAY="")
    rows[4] = with_fields(rows[4], YEAR="")
    rows[5] = with_fields(rows[5], HOUR="ab")
    rows[6] = with_fields(rows[6], HOUR="")  # a minute without its hour
    result = read_file(write(tmp_path / "vancouver.csv", rows))
    q = result.quarantine.set_index("line")
    assert q.loc[4, ["column", "reason"]].tolist() == ["DAY", "missing date"]
    assert q.loc[5, ["column", "reason"]].tolist() == ["YEAR", "missing date"]
    assert q.loc[6, ["column", "value", "reason"]].tolist() == ["HOUR", "ab", "unparseable date: expected an integer"]
    assert q.loc[7, "column"] == "HOUR" and q.loc[7, "reason"].startswith("missing date: no hour")
    landed = result.validated.frame.set_index("line")
    assert (result.n_landed, result.n_quarantined) == (2, 4)
    # no hour, no minute: the whole local day (PDT); no minute: the hour
    assert landed.loc[2, ["occurred_from", "occurred_to"]].tolist() == [
        pd.Timestamp("2020-06-19 07:00", tz="UTC"), pd.Timestamp("2020-06-20 07:00", tz="UTC")]
    assert landed.loc[3, ["occurred_from", "occurred_to"]].tolist() == [
        pd.Timestamp("2020-01-03 14:00", tz="UTC"), pd.Timestamp("2020-01-03 15:00", tz="UTC")]


def test_a_mapping_with_parts_reads_an_empty_time_of_day_as_the_day(tmp_path: Path) -> None:
    """Any mapping with ``parts = {…}``, not only the built-in layout (no midnight_is_unknown here)."""
    mapping = tmp_path / "parts.toml"
    mapping.write_text(
        '[source]\nname = "parts"\ntimezone = "America/Vancouver"\ncrs = "EPSG:32610"\n\n[columns]\n'
        'offense = "TYPE"\noccurred_from = { parts = { year = "YEAR", month = "MONTH", day = "DAY", hour = "HOUR", '
        'minute = "MINUTE" } }\nx = "X"\ny = "Y"\n\n[offenses]\ndefault = "other"\n', encoding="utf-8")
    rows = lines(VANCOUVER, 3)
    rows[1] = with_fields(rows[1], HOUR="", MINUTE="")
    rows[2] = with_fields(rows[2], HOUR="26", MINUTE="15")
    result = read_file(write(tmp_path / "parts.csv", rows), mapping=mapping)
    assert result.quarantine[["line", "column", "value"]].values.tolist() == [[3, "HOUR", "26"]]
    day = result.validated.frame.set_index("line").loc[2]
    assert day["occurred_to"] - day["occurred_from"] == pd.Timedelta(days=1)


# 3: a day-first export ------------------------------------------------------------------------------
def day_first(row: str) -> str:
    case, date, rest = row.split(",", 2)
    month, day, tail = date.split("/", 2)
    return ",".join([case, f"{day}/{month}/{tail}", rest])


def test_a_day_first_export_is_named_with_the_format_that_reads_it(tmp_path: Path) -> None:
    """Before: 40 of 50 rows landed (38 with day and month swapped) and 10 were 'impossible date', no hint."""
    rows = lines(SOCRATA, 50)
    path = write(tmp_path / "ddmm.csv", [rows[0], *map(day_first, rows[1:])])
    result = read_file(path)
    assert (result.n_landed, result.n_quarantined) == (40, 10)
    (warning,) = [w for w in result.warnings if "day-first" in w]
    assert "10 of 50 values of column 'Date'" in warning
    assert "line 2: '27/04/2016 01:44:00 PM'" in warning
    assert "format = '%d/%m/%Y %I:%M:%S %p'" in warning and "no day-first option" in warning
    assert all("the file looks day-first (dd/mm)" in r for r in result.quarantine["reason"])
    # the documented way works: the built-in layout's TOML with the day-first format lands every row
    text = (resources.files("crimelens.ingest") / "layouts" / "socrata_chicago.toml").read_text(encoding="utf-8")
    mapping = tmp_path / "ddmm.toml"
    mapping.write_text(text.replace("%m/%d/%Y %I:%M:%S %p", "%d/%m/%Y %I:%M:%S %p"), encoding="utf-8")
    again = read_file(path, mapping=mapping)
    assert (again.n_landed, again.warnings) == (50, [])
    assert again.validated.frame["occurred_from"].equals(read_file(shared(SOCRATA)).validated.frame["occurred_from"][:50])


def test_a_month_first_file_with_one_typo_gets_no_day_first_hint(tmp_path: Path) -> None:
    rows = lines(SOCRATA, 50)
    rows[1] = day_first(rows[1])  # one row of fifty: a typo, not a day-first file
    result = read_file(write(tmp_path / "typo.csv", rows))
    assert result.n_quarantined == 1 and not any("day-first" in w for w in result.warnings)


# 4: corrections in an updated export ------------------------------------------------------------------
def test_a_corrected_row_under_a_stored_id_is_told_apart_from_a_repeat(ctx: Context, tmp_path: Path) -> None:
    """Before: all 50 read 'duplicate id: already in dataset', the 3 corrections among them indistinguishable."""
    rows = lines(SOCRATA, 60)
    ingest_file(ctx, write(tmp_path / "week1.csv", rows[:51]), actor=ANALYST)
    update = list(rows)
    update[1] = update[1].replace(",BATTERY,", ",ROBBERY,")  # HZ242280
    update[2] = update[2].replace("05/04/2016 02:12:00 PM", "05/04/2016 03:12:00 PM")  # HZ251168
    update[3] = update[3].replace("41.8363442", "41.8400000")  # HZ251809
    s = ingest_file(ctx, write(tmp_path / "week2.csv", update), actor=ANALYST)
    assert (s.n_landed, s.n_quarantined) == (10, 50)
    kinds = dict(s.top_reasons)
    assert kinds["duplicate id: already in dataset 'chicago' in the store"] == 47
    assert kinds["duplicate id with changed content: already in dataset 'chicago' in the store"] == 3
    (warning,) = [w for w in s.warnings if "differ from the stored row" in w]
    assert "50 rows' ids are already in dataset 'chicago'" in warning and "3 of them differ" in warning
    assert "line 2 (Primary Type), line 3 (Date), line 4 (Longitude/Latitude)" in warning
    q = quarantine_rows(ctx, dataset="chicago", reason="changed content")
    by_line = {r["line"]: r for r in q["rows"]}
    assert by_line[2]["value"] == "HZ242280" and "Primary Type 'BATTERY'; this row has 'ROBBERY'" in by_line[2]["reason"]
    assert "Date '2016-05-04 14:12:00 America/Chicago'; this row has '05/04/2016 03:12:00 PM'" in by_line[3]["reason"]
    assert "corrections are not applied" in by_line[4]["reason"]
    assert q["by_reason"] == [{"reason": "duplicate id with changed content: already in dataset 'chicago' in the store",
                               "rows": 3}]
    stored = ctx.store.query("SELECT offense_raw FROM incidents WHERE incident_id = 'HZ242280'")
    assert stored["offense_raw"].tolist() == ["BATTERY"]  # nothing stored is changed


def test_corrections_without_ids_are_warned_about_with_their_lines(ctx: Context, tmp_path: Path) -> None:
    """Chicago's CODE layout has no ids: a corrected premise or district landed beside the original with no word."""
    rows = lines(CODE, 300)
    ingest_file(ctx, write(tmp_path / "week1.csv", rows), actor=ANALYST, dataset="chicago")
    update = [*rows, *lines(CODE, 50, start=300)[1:]]
    date, premise, lon, lat, district = update[10].split(",")
    update[10] = ",".join([date, "school" if premise != "school" else "street", lon, lat, district])
    date, premise, lon, lat, district = update[20].split(",")
    update[20] = ",".join([date, premise, lon, lat, "99"])
    s = ingest_file(ctx, write(tmp_path / "week2.csv", update), actor=ANALYST, dataset="chicago")
    assert (s.n_landed, s.n_quarantined) == (52, 298)
    (warning,) = [w for w in s.warnings if "time and place of a row already" in w]
    assert "2 new rows" in warning
    assert "line 11 and 'week1.csv:11' (loc_cat)" in warning and "line 21 and 'week1.csv:21' (district)" in warning


# 5, 6, 7: a file cut short, a header only -------------------------------------------------------------
def test_a_file_without_its_final_newline_is_warned_about(ctx: Context, tmp_path: Path) -> None:
    """Before: a last line cut mid-number landed lon -87.616 for -87.616777947 without a word."""
    rows = lines(SOCRATA, 6)
    rows[-1] = rows[-1][: rows[-1].rindex("-87.616") + len("-87.616")]
    s = ingest_file(ctx, write(tmp_path / "cut.csv", rows, newline=False), actor=ANALYST)
    assert s.n_landed == 6
    (warning,) = s.warnings
    assert warning.startswith("cut.csv does not end with a newline: its last row, line 7, may be incomplete if the "
                              "file was cut short")
    assert ingest_file(ctx, write(tmp_path / "whole.csv", lines(SOCRATA, 6, start=10)), actor=ANALYST).warnings == []


def test_a_header_only_file_is_an_empty_export_with_no_made_up_crs(ctx: Context, tmp_path: Path) -> None:
    """Before: without its newline it was 'a row is longer than 1024 MiB'; with it, EPSG:3857 was recorded."""
    header = lines(SOCRATA, 0)
    for name, newline in (("empty_nonl.csv", False), ("empty.csv", True)):
        s = ingest_file(ctx, write(tmp_path / name, header, newline=newline), actor=ANALYST)
        assert (s.n_read, s.n_landed, s.crs) == (0, 0, None)
        assert any("holds no rows, only a header" in w and "no CRS is recorded" in w for w in s.warnings)
    assert ctx.store.query("SELECT crs_to FROM ingests")["crs_to"].isna().all()
    later = ingest_file(ctx, write(tmp_path / "real.csv", lines(SOCRATA, 5)), actor=ANALYST)
    assert (later.n_landed, later.crs) == (5, "EPSG:32616")  # the data's UTM zone, as a first file chooses


def test_a_folder_with_a_header_only_file_loads_the_rest(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    write(folder / "a_empty.csv", lines(SOCRATA, 0), newline=False)
    write(folder / "b_rows.csv", lines(SOCRATA, 5))
    out = CliRunner().invoke(app, ["ingest", str(folder), "--dataset", "chicago", "--db", str(tmp_path / "f.duckdb"),
                                   "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert (data["n_files"], data["n_read"], data["n_landed"]) == (2, 5, 5)


# 8: NUL bytes ---------------------------------------------------------------------------------------
def test_a_stray_nul_quarantines_its_row_early_or_deep(tmp_path: Path) -> None:
    """Before: a NUL on line 6 refused the whole file as binary; deep in the file it quarantined one row."""
    rows = lines(SOCRATA, 50)
    rows[5] = rows[5].replace("05/06/2016 08:07", "05/06/2016 \x0008:07")
    assert ",THEFT," in rows[3]
    rows[3] = rows[3].replace(",THEFT,", ",TH\x00EFT,")  # an offense that would have landed with its NUL
    result = read_file(write(tmp_path / "nul.csv", rows))
    assert (result.n_landed, result.n_quarantined) == (48, 2)
    q = result.quarantine.set_index("line")
    assert q.loc[6, "column"] == "Date" and q.loc[6, "value"] == "05/06/2016 \\x0008:07:00 PM"
    assert q.loc[6, "reason"].startswith("NUL byte in the value")
    assert q.loc[4, "column"] == "Primary Type"


def test_a_binary_file_is_refused_naming_its_first_nul(tmp_path: Path) -> None:
    text = "\n".join(lines(SOCRATA, 3)) + "\n"
    path = tmp_path / "utf16.csv"
    path.write_bytes(text.encode("utf-16-le"))
    with pytest.raises(SchemaError, match=r"binary, not text \(or UTF-16 .* Its first NUL byte is at byte 1 \(counted "
                                          r"from 0\), line 1\.$"):
        read_file(path)


# 9: swapped coordinates in layouts with an area box ---------------------------------------------------
def test_swapped_coordinates_are_named_by_layouts_with_an_area_box(tmp_path: Path) -> None:
    rows = lines(SOCRATA, 3)
    head, tail = rows[1].rsplit(",", 2)[0], rows[1].rsplit(",", 2)[1:]
    rows[1] = ",".join([head, tail[1], tail[0]])  # Latitude and Longitude exchanged
    q = read_file(write(tmp_path / "soc.csv", rows)).quarantine
    assert q["reason"].tolist() == ["out-of-area coordinates: outside the layout's area (lon -88.0..-87.5, lat "
                                    "41.6..42.1); latitude and longitude swapped?"]
    van = lines(VANCOUVER, 3)
    fields = van[1].split(",")
    van[1] = ",".join([*fields[:8], fields[9], fields[8]])  # X and Y exchanged
    q = read_file(write(tmp_path / "van.csv", van)).quarantine
    assert q["reason"].tolist() == ["out-of-area coordinates: outside the layout's area (lon -123.3..-122.9, lat "
                                    "49.1..49.4); x and y swapped?"]


# 10: GeoJSON geometry and properties ------------------------------------------------------------------
def socrata_geojson(path: Path, rows: list[str], *, shift_first: bool = False, properties: bool = True) -> Path:
    names = rows[0].split(",")
    features = []
    for i, row in enumerate(rows[1:]):
        props = dict(zip(names, row.split(","), strict=True))
        lon, lat = float(props["Longitude"]), float(props["Latitude"])
        if shift_first and i == 0:
            lon, lat = lon - 0.1, lat + 0.05  # about 10 km away
        if not properties:
            props = {k: v for k, v in props.items() if k not in ("Latitude", "Longitude")}
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                         "properties": props})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def test_a_geojson_whose_geometry_is_far_from_its_properties_is_warned_about(tmp_path: Path) -> None:
    rows = lines(SOCRATA, 5)
    result = read_file(socrata_geojson(tmp_path / "apart.geojson", rows, shift_first=True))
    assert result.n_landed == 5
    (warning,) = result.warnings
    assert "the point geometry of 1 of 5 features lies more than 100 m from the position in their " \
           "Longitude/Latitude properties" in warning and "feature 1" in warning and "geometry = true" in warning
    assert read_file(socrata_geojson(tmp_path / "same.geojson", rows)).warnings == []


def test_a_geometry_only_geojson_is_pointed_to_geometry_true(tmp_path: Path) -> None:
    path = socrata_geojson(tmp_path / "geom.geojson", lines(SOCRATA, 5), properties=False)
    with pytest.raises(SchemaError, match="a mapping with geometry = true under"):
        read_file(path)
    with pytest.raises(SchemaError, match=r"missing column 'Longitude'.*point geometry: a mapping with geometry = true"):
        read_file(path, format="socrata_chicago")
    mapping = tmp_path / "geom.toml"
    mapping.write_text('[source]\nname = "geom"\ntimezone = "America/Chicago"\n\n[columns]\nincident_id = "Case Number"\n'
                       'offense = "Primary Type"\noccurred_from = { column = "Date", format = "%m/%d/%Y %I:%M:%S %p" }\n'
                       'geometry = true\n\n[offenses]\ndefault = "other"\n', encoding="utf-8")
    assert read_file(path, mapping=mapping).n_landed == 5


# 11: the small print ----------------------------------------------------------------------------------
def test_a_re_ingest_labels_the_earlier_summary_as_such(tmp_path: Path) -> None:
    path = write(tmp_path / "soc.csv", lines(SOCRATA, 5))
    db = str(tmp_path / "r.duckdb")
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(path), "--db", db]).exit_code == 0
    again = runner.invoke(app, ["ingest", str(path), "--db", db], env={"COLUMNS": "300"})
    assert again.exit_code == 0, again.output
    assert "nothing changed. The earlier ingest's summary:" in again.output
    assert "earlier ingest: read 5" in again.output


def test_a_missing_value_in_the_quarantine_is_empty_not_na(ctx: Context, tmp_path: Path) -> None:
    rows = [r for r in shared(OAKLAND).read_text("utf-8").splitlines()[:4000]]
    assert any(",NA," in r for r in rows)
    path = write(tmp_path / "drug_crimes_with_bins.csv", rows)
    (path.parent / "oakland_grid.geojson").write_bytes(shared("oakland_drug_2010/oakland_grid.geojson").read_bytes())
    ingest_file(ctx, path, actor=ANALYST)
    q = quarantine_rows(ctx, reason="no grid bin", limit=5)
    assert q["rows"] and all(r["value"] is None for r in q["rows"])  # before: '<NA>'


def test_an_unknown_layout_lists_the_header_in_file_order(tmp_path: Path) -> None:
    path = write(tmp_path / "odd.csv", ["zeta,alpha,mid", "1,2,3"])
    with pytest.raises(SchemaError, match=r"from its header \['zeta', 'alpha', 'mid'\]"):
        read_file(path)
