"""Broken files get a clear error or quarantine rows; landed + quarantined = read, always."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crimelens.errors import SchemaError
from crimelens.ingest import read_file
from tests.conftest import shared

MAPPING = """
[source]
name = "my_rms"
timezone = "America/Chicago"
crs = "EPSG:4326"

[columns]
incident_id = "case_no"
offense = "offense"
occurred_from = { column = "date", format = "%Y-%m-%d %H:%M" }
lon = "lon"
lat = "lat"
narrative = "notes"

[offenses]
"BURGLARY" = "burglary"
"THEFT" = "theft"
"""

HEADER = "case_no,offense,date,lon,lat,notes\n"
GOOD = "A1,BURGLARY,2021-03-01 10:00,-87.63,41.88,ok\n"


def write(tmp_path: Path, body: str | bytes, name: str = "in.csv") -> tuple[Path, Path]:
    data = tmp_path / name
    if isinstance(body, bytes):
        data.write_bytes(body)
    else:
        data.write_text(body, encoding="utf-8")
    mapping = tmp_path / "map.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    return data, mapping


def reasons_by_line(result: object) -> dict[int, str]:
    q = result.quarantine  # type: ignore[attr-defined]
    return dict(zip(q["line"].astype(int), q["reason"], strict=True))


def test_bad_dates_are_quarantined_with_line_column_and_value(tmp_path: Path) -> None:
    body = (HEADER + GOOD + "A2,THEFT,2021-02-30 10:00,-87.63,41.88,x\n" + "A3,THEFT,yesterday,-87.63,41.88,x\n"
            + "A4,THEFT,2021-03-14 02:30,-87.63,41.88,x\n" + "A5,THEFT,2099-01-01 10:00,-87.63,41.88,x\n")
    data, mapping = write(tmp_path, body)
    r = read_file(data, mapping=mapping)
    assert (r.n_read, r.n_landed, r.n_quarantined) == (5, 1, 4)
    by_line = reasons_by_line(r)
    assert by_line[3].startswith("impossible date: no such calendar date")
    assert by_line[4].startswith("unparseable date")
    assert "daylight-saving" in by_line[5]  # 02:30 on 14 March 2021 does not exist in Chicago
    assert by_line[6] == "impossible date: in the future"
    row = r.quarantine.set_index("line").loc[3]
    assert row["column"] == "date" and row["value"] == "2021-02-30 10:00" and row["file"] == "in.csv"


def test_text_in_numeric_columns_and_missing_or_zero_coordinates(tmp_path: Path) -> None:
    body = (HEADER + GOOD + "A2,THEFT,2021-03-01 10:00,west,41.88,x\n" + "A3,THEFT,2021-03-01 10:00,,,x\n"
            + "A4,THEFT,2021-03-01 10:00,0,0,x\n" + "A5,THEFT,2021-03-01 10:00,151.2,-33.9,x\n")
    data, mapping = write(tmp_path, body)
    r = read_file(data, mapping=mapping)
    assert r.n_landed + r.n_quarantined == r.n_read == 5
    by_line = reasons_by_line(r)
    assert by_line[3] == "not a number: expected a coordinate"
    assert by_line[4] == "missing coordinates"
    assert by_line[5].startswith("zero coordinates")
    # Sydney is a valid position but 15,000 km from the rest: the chosen UTM zone (Chicago's, the first
    # point's: the median of the two would lie in the Indian Ocean) cannot hold it, so it is quarantined
    # as outside the zone's area of use; a bounding box in the mapping names a tighter area (next test).
    assert r.crs == "EPSG:32616" and r.n_landed == 1
    assert by_line[6].startswith("out-of-area coordinates: outside the area of use of EPSG:32616")


def test_bbox_quarantines_out_of_area_rows(tmp_path: Path) -> None:
    data, mapping = write(tmp_path, HEADER + GOOD + "A5,THEFT,2021-03-01 10:00,151.2,-33.9,x\n")
    mapping.write_text(MAPPING + "\n[validate]\nbbox = [-88.0, 41.6, -87.5, 42.1]\n", encoding="utf-8")
    # [validate] must come before [offenses] keys: rewrite the mapping with the table in place
    text = MAPPING.replace("[offenses]", "[validate]\nbbox = [-88.0, 41.6, -87.5, 42.1]\n\n[offenses]")
    mapping.write_text(text, encoding="utf-8")
    r = read_file(data, mapping=mapping)
    assert r.n_quarantined == 1 and r.quarantine.loc[0, "reason"].startswith("out-of-area coordinates")


def test_unmapped_offense_and_duplicate_ids(tmp_path: Path) -> None:
    body = HEADER + GOOD + "A2,ARSON,2021-03-01 10:00,-87.63,41.88,x\n" + GOOD.replace("ok", "again") + "A3,,2021-03-01 10:00,-87.63,41.88,x\n"
    data, mapping = write(tmp_path, body)
    r = read_file(data, mapping=mapping)
    by_line = reasons_by_line(r)
    assert by_line[3].startswith("unmapped offense") and r.quarantine.set_index("line").loc[3, "value"] == "ARSON"
    assert by_line[4] == "duplicate id (first on line 2)"
    assert by_line[5] == "missing offense"
    assert r.n_landed == 1
    assert "expected one of" not in by_line[3]  # a mapped layout: its [offenses] table is the list


def test_canonical_layout_names_the_offense_categories_it_takes(tmp_path: Path) -> None:
    data = tmp_path / "canonical.csv"
    data.write_text("incident_id,offense,occurred_from,occurred_to,lon,lat\n"
                    "c1,burglary,2021-03-01T10:00:00-06:00,2021-03-01T10:00:00-06:00,-87.63,41.88\n"
                    "c2,theft over $5000,2021-03-01T10:00:00-06:00,2021-03-01T10:00:00-06:00,-87.63,41.88\n")
    r = read_file(data)
    assert r.n_landed == 1
    reason = reasons_by_line(r)[3]
    assert reason.startswith("unmapped offense") and "expected one of aggravated_assault, arson, assault, " in reason


def test_missing_column_is_a_clear_file_error(tmp_path: Path) -> None:
    data, mapping = write(tmp_path, "case_no,offense,lon,lat\nA1,BURGLARY,-87.6,41.8\n")
    with pytest.raises(SchemaError, match=r"in.csv: missing column 'date'; expected it from the layout"):
        read_file(data, mapping=mapping)


def test_latin1_bytes_in_a_utf8_file_are_quarantined(tmp_path: Path) -> None:
    body = (HEADER + GOOD).encode() + "A2,THEFT,2021-03-01 10:00,-87.63,41.88,caf\u00e9\n".encode("latin-1")
    data, mapping = write(tmp_path, body)
    r = read_file(data, mapping=mapping)
    assert (r.n_read, r.n_landed, r.n_quarantined) == (2, 1, 1)
    row = r.quarantine.iloc[0]
    assert row["line"] == 3 and row["column"] == "notes" and row["reason"].startswith("encoding error")


def test_latin1_file_reads_when_the_mapping_says_so(tmp_path: Path) -> None:
    body = (HEADER + "A2,THEFT,2021-03-01 10:00,-87.63,41.88,caf\u00e9\n").encode("latin-1")
    data, mapping = write(tmp_path, body)
    mapping.write_text(MAPPING.replace('crs = "EPSG:4326"', 'crs = "EPSG:4326"\nencoding = "latin-1"'), encoding="utf-8")
    r = read_file(data, mapping=mapping)
    assert r.n_landed == 1 and r.table.frame.loc[0, "narrative"] == "caf\u00e9"


def test_empty_file_is_a_clear_error(tmp_path: Path) -> None:
    data, mapping = write(tmp_path, "")
    with pytest.raises(SchemaError, match=r"in\.csv: the file is empty"):
        read_file(data, mapping=mapping)


def test_header_only_file_reads_zero_rows(tmp_path: Path) -> None:
    data, mapping = write(tmp_path, HEADER)
    r = read_file(data, mapping=mapping)
    assert (r.n_read, r.n_landed, r.n_quarantined) == (0, 0, 0)


def test_ragged_rows_are_quarantined_and_later_lines_keep_their_numbers(tmp_path: Path) -> None:
    body = HEADER + "A1,BURGLARY,2021-03-01 10:00,-87.63\n" + GOOD.replace("A1", "A2") + "A3,THEFT,2021-03-01 10:00,-87.63,41.88,x,extra\n" + "A4,THEFT,2021-02-31 10:00,-87.63,41.88,x\n"
    data, mapping = write(tmp_path, body)
    r = read_file(data, mapping=mapping)
    assert (r.n_read, r.n_landed, r.n_quarantined) == (4, 1, 3)
    by_line = reasons_by_line(r)
    assert by_line[2] == "wrong number of fields: expected 6, got 4"
    assert by_line[4] == "wrong number of fields: expected 6, got 7"
    assert by_line[5].startswith("impossible date")
    assert r.table.frame.loc[0, "incident_id"] == "A2"


def test_a_pathologically_long_line_is_quarantined_not_loaded(tmp_path: Path) -> None:
    huge = "x" * (20 * (1 << 20))  # 20 MiB in one field, longer than a read block
    body = HEADER + GOOD + f"A2,THEFT,2021-03-01 10:00,-87.63,41.88,{huge}\n" + GOOD.replace("A1", "A3")
    data, mapping = write(tmp_path, body)
    r = read_file(data, mapping=mapping)
    assert (r.n_read, r.n_landed, r.n_quarantined) == (3, 2, 1)
    row = r.quarantine.iloc[0]
    assert row["line"] == 3 and row["reason"].startswith("value longer than") and row["column"] == "notes"
    assert len(row["raw"]) < 10_000


def test_unknown_layout_names_the_choices(tmp_path: Path) -> None:
    data, _ = write(tmp_path, "a,b\n1,2\n")
    with pytest.raises(SchemaError, match="cannot tell the layout from its header"):
        read_file(data)
    with pytest.raises(SchemaError, match="--format: got 'nope'; expected one of"):
        read_file(data, format="nope")
    with pytest.raises(SchemaError) as err:
        read_file(data)
    assert "separated" not in str(err.value)  # a comma header gets no delimiter hint


def test_a_semicolon_separated_export_is_told_how_to_read_it(tmp_path: Path) -> None:
    data, mapping = write(tmp_path, (HEADER + GOOD).replace(",", ";"))
    with pytest.raises(SchemaError, match=re.escape(
            "(the header looks semicolon-separated: a mapping sets delimiter = ';' under [source])")):
        read_file(data)
    mapping.write_text(MAPPING.replace('crs = "EPSG:4326"', 'crs = "EPSG:4326"\ndelimiter = ";"'), encoding="utf-8")
    r = read_file(data, mapping=mapping)  # and the way it names reads the file
    assert (r.n_read, r.n_landed) == (1, 1)


def test_bad_mapping_is_reported_with_its_key(tmp_path: Path) -> None:
    data, mapping = write(tmp_path, HEADER + GOOD)
    mapping.write_text(MAPPING.replace('"THEFT" = "theft"', '"THEFT" = "larceny"'), encoding="utf-8")
    with pytest.raises(SchemaError, match=r"\[offenses\] 'THEFT': got category 'larceny'"):
        read_file(data, mapping=mapping)


def test_quoted_values_spanning_lines_keep_true_line_numbers(tmp_path: Path) -> None:
    body = HEADER + 'A1,BURGLARY,2021-03-01 10:00,-87.63,41.88,"two\nlines"\n' + "A2,THEFT,2021-02-30 10:00,-87.63,41.88,x\n"
    data, mapping = write(tmp_path, body)
    r = read_file(data, mapping=mapping)
    assert (r.n_read, r.n_landed, r.n_quarantined) == (2, 1, 1)
    assert r.quarantine.loc[0, "line"] == 4  # the second record starts on line 4
    assert r.table.frame.loc[0, "narrative"] == "two\nlines"


@pytest.mark.parametrize(("head", "what"), [
    (b"\x89PNG\r\n\x1a\n" + bytes(200), "a PNG image"),
    (b"PK\x03\x04\x14\x00" + b"[Content_Types].xml" + bytes(100), "a ZIP archive (an .xlsx or .ods spreadsheet is one)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "an old Excel (.xls) workbook"),
    ("incident_id,offense\n".encode("utf-16"),
     'binary, not text (or UTF-16 text, which a mapping with encoding = "utf-16" reads)'),
], ids=["png", "xlsx", "xls", "utf16"])
def test_a_spreadsheet_or_image_given_as_csv_says_what_it_is(tmp_path: Path, head: bytes, what: str) -> None:
    data = tmp_path / "export.csv"
    data.write_bytes(head)
    for kw in ({}, {"format": "canonical"}):
        with pytest.raises(SchemaError, match=re.escape("export.csv: the file is ")) as err:
            read_file(data, **kw)  # type: ignore[arg-type]
        assert f"the file is {what}; expected delimited text" in str(err.value)


def test_gzip_files_that_are_not_gzip_or_cut_short_are_refused(tmp_path: Path) -> None:
    import gzip

    src = shared("sf_robbery/san_francisco_robbery.csv").read_bytes()
    plain = tmp_path / "plain.csv.gz"
    plain.write_bytes(src)
    with pytest.raises(SchemaError, match=re.escape("plain.csv.gz: the name ends in .gz but the file is not gzip")):
        read_file(plain)
    whole = gzip.compress(src)
    big = shared("chicago_agg_assault/chicago_aggravated_assaults.csv.gz").read_bytes()
    for name, data in (("cut.csv.gz", whole[: len(whole) * 2 // 3]), ("cut_late.csv.gz", big[: len(big) * 2 // 3])):
        cut = tmp_path / name  # a download that stopped: no row of it may land unnoticed
        cut.write_bytes(data)  # the second is cut far past its header: it stopped the CSV reader with an OSError
        with pytest.raises(SchemaError, match=re.escape(f"{name}: the gzip stream ends early")):
            read_file(cut)
    lines = src.splitlines(keepends=True)
    two = tmp_path / "two.csv.gz"  # gzip allows members one after another (`cat a.gz b.gz`)
    two.write_bytes(gzip.compress(b"".join(lines[:500])) + gzip.compress(b"".join(lines[500:])))
    r = read_file(two)
    assert (r.n_read, r.n_landed) == (951, 951)


def test_a_column_named_twice_is_a_file_error_that_names_it(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data, mapping = write(tmp_path, "case_no,offense,date,lon,lat,notes,notes\n" + GOOD.replace("ok", "ok,again"))
    with pytest.raises(SchemaError, match=re.escape("in.csv: the header names a column more than once "
                                                    "('notes' in columns 6, 7)")):
        read_file(data, mapping=mapping)
    table = pa.table([pa.array(["A1"]), pa.array(["x"]), pa.array(["y"])], names=["case_no", "notes", "notes"])
    pq.write_table(table, tmp_path / "in.parquet")
    with pytest.raises(SchemaError, match=re.escape("in.parquet: the header names a column more than once")):
        read_file(tmp_path / "in.parquet", mapping=mapping)


def test_a_utf16_export_reads_when_the_mapping_says_so(tmp_path: Path) -> None:
    data, mapping = write(tmp_path, (HEADER + GOOD).encode("utf-16"))
    mapping.write_text(MAPPING.replace('crs = "EPSG:4326"', 'crs = "EPSG:4326"\nencoding = "utf-16"'),
                       encoding="utf-8")
    r = read_file(data, mapping=mapping)
    assert (r.n_read, r.n_landed) == (1, 1) and r.table.frame["incident_id"].tolist() == ["A1"]
