"""Property tests: whatever the generic reader is fed, no row is lost and errors are ours."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crimelens.errors import CrimelensError
from crimelens.ingest import read_file

pytestmark = pytest.mark.slow

MAPPING = """
[source]
name = "fuzz"
timezone = "Europe/London"
crs = "EPSG:4326"
[columns]
incident_id = "id"
offense = "offense"
occurred_from = { column = "when", format = "iso" }
occurred_to = { column = "until", format = "iso" }
lon = "lon"
lat = "lat"
source = { column = "source", map = { CALL = "reported", SELF = "discovered" } }
[offenses]
"BURGLARY" = "burglary"
"THEFT" = "theft"
"""

junk = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
dates = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S") + "Z"),
    st.sampled_from(["", "2021-02-29T10:00:00", "2021-03-28T01:30:00", "2021-10-31T01:30:00", "31/02/2023"]),
    junk,
)
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(str),
                    st.floats(min_value=-1.5, max_value=0.5).map(str),
                    st.floats(min_value=51.0, max_value=52.0).map(str), st.just(""), st.just("0"), junk)
rows = st.lists(
    st.tuples(st.one_of(st.text(alphabet="AB12", min_size=0, max_size=3), junk),
              st.sampled_from(["BURGLARY", "THEFT", "theft", "", "ARSON"]) | junk,
              dates, dates, numbers, numbers, st.sampled_from(["CALL", "SELF", "", "radio"])),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=rows, extra=st.lists(st.text(max_size=30), max_size=3))
def test_generic_reader_never_loses_a_row(tmp_path: Path, data: list[tuple[str, ...]], extra: list[str]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "offense", "when", "until", "lon", "lat", "source"])
    for row in data:
        writer.writerow(row)
    text = buf.getvalue() + "".join(line.replace("\n", " ").replace("\r", " ") + "\n" for line in extra)
    path = tmp_path / "fuzz.csv"
    path.write_text(text, encoding="utf-8")
    mapping = tmp_path / "fuzz.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    try:
        result = read_file(path, mapping=mapping)
    except CrimelensError:
        return  # a clear, typed error for the whole file is acceptable; a crash is not
    assert result.n_landed + result.n_quarantined == result.n_read
    frame = result.table.frame
    assert frame["incident_id"].is_unique
    assert (frame["occurred_to"] >= frame["occurred_from"]).all()
    assert frame["source"].isin(["reported", "discovered", "unknown"]).all()
    q = result.quarantine
    assert q["reason"].notna().all() and (q["line"] >= 2).all()
