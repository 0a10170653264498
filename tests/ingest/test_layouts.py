"""Every shared layout ingests: landed + quarantined = read, with the documented quirks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from crimelens.ingest import read_file
from tests.conftest import shared

# (file, format or None for detection, expected layout, n_read, n_quarantined, reason fragment)
CASES = [
    ("socrata_chicago_sample/example.csv", None, "socrata_chicago", 1000, 0, None),
    ("uk_police_nottingham/nottingham_burglary.csv.gz", None, "police_uk_burglary", 1795, 0, None),
    ("portland_nij_2016/080116_083116_Data.zip", None, "nij_portland", 19376, 1, "missing"),
    ("portland_nij_2016/090116_093016_Data.zip", None, "nij_portland", 18443, 0, None),
    ("vancouver_2020/crimedata_csv_AllNeighbourhoods_2020.csv.gz", None, "vancouver_geodash", 37512, 4100,
     "zero coordinates"),
    ("chicago_agg_assault/chicago_aggravated_assaults.csv.gz", None, "chicago_code", 148636, 0, None),
    ("cincinnati_burglary/cincinnati_burglary.csv.gz", None, "cincinnati", 8723, 426, "missing coordinates"),
    ("sf_robbery/san_francisco_robbery.csv", None, "sf_code", 951, 0, None),
    ("oakland_drug_2010/drug_crimes_with_bins.csv", None, "oakland_lum_isaac", 11545, 28, "no grid bin"),
]


@pytest.mark.parametrize(("rel", "fmt", "layout", "n_read", "n_quar", "reason"), CASES,
                         ids=[c[0].split("/")[0] for c in CASES[:2]] + [c[0].split("/")[1] for c in CASES[2:4]]
                         + [c[0].split("/")[0] for c in CASES[4:]])
def test_shared_layout_ingests_without_loss(rel: str, fmt: str | None, layout: str, n_read: int, n_quar: int,
                                            reason: str | None) -> None:
    result = read_file(shared(rel), format=fmt)
    assert result.layout.name == layout
    assert result.n_read == n_read
    assert result.n_quarantined == n_quar
    assert result.n_landed + result.n_quarantined == result.n_read
    if reason:
        assert reason in result.reasons(1)[0][0]
    table = result.table
    assert len(table) == result.n_landed
    xy = table.xy_m
    assert xy.shape == (result.n_landed, 2) and pd.notna(xy).all()
    frame = table.frame
    assert (frame["occurred_to"] >= frame["occurred_from"]).all()
    assert frame["offense"].notna().all() and frame["lon"].between(-180, 180).all()
    assert result.crs.startswith("EPSG:326")  # every shared file lands in a metric UTM zone


def test_vancouver_privacy_rows_are_quarantined_with_their_reason() -> None:
    result = read_file(shared("vancouver_2020/crimedata_csv_AllNeighbourhoods_2020.csv.gz"))
    q = result.quarantine
    zero = q[q["reason"].str.startswith("zero coordinates")]
    assert len(zero) == 3750  # all 'Offence Against a Person' and 'Homicide' rows
    assert zero["raw"].str.contains("OFFSET TO PROTECT PRIVACY").all()
    unknown = q[q["reason"].str.startswith("unknown location")]
    assert len(unknown) == 347 and (unknown["value"] == "X NK_LOC ST").all()
    # a 00:00 time is read as "time unknown": a whole-day window
    frame = result.table.frame
    span = (frame["occurred_to"] - frame["occurred_from"]).dt.total_seconds()
    # DST days are 23 h / 25 h; a time repeated by the autumn change is a 1-hour window
    assert set(span.unique()) <= {0.0, 3600.0, 86400.0, 82800.0, 90000.0}
    assert (span == 86400.0).sum() > 1000
    ambiguous = frame[span == 3600.0]
    assert len(ambiguous) > 0 and (ambiguous["occurred_from"].dt.month == 11).all()


def test_local_times_are_converted_to_utc_with_daylight_saving() -> None:
    result = read_file(shared("socrata_chicago_sample/example.csv"))
    frame = result.table.frame.set_index("incident_id")
    # 04/27/2016 01:44:00 PM Chicago (CDT, UTC-5) -> 18:44 UTC
    assert frame.loc["HZ242280", "occurred_from"] == pd.Timestamp("2016-04-27T18:44:00Z")


def test_month_resolution_becomes_a_window() -> None:
    result = read_file(shared("uk_police_nottingham/nottingham_burglary.csv.gz"))
    frame = result.table.frame
    jan = frame[frame["occurred_from"] == pd.Timestamp("2022-01-01T00:00:00Z")]
    assert len(jan) > 0
    assert (jan["occurred_to"] == pd.Timestamp("2022-02-01T00:00:00Z")).all()
    # British Summer Time: July starts at 23:00 UTC on 30 June
    assert (frame["occurred_from"] == pd.Timestamp("2022-06-30T23:00:00Z")).any()


def test_cincinnati_repeated_incident_numbers_are_numbered_not_dropped() -> None:
    result = read_file(shared("cincinnati_burglary/cincinnati_burglary.csv.gz"))
    ids = result.table.frame["incident_id"]
    assert ids.is_unique
    assert ids.str.contains("#").sum() > 0


def test_portland_feet_are_projected_to_metres() -> None:
    result = read_file(shared("portland_nij_2016/090116_093016_Data.zip"))
    frame = result.table.frame
    assert result.validated.projection.source == "EPSG:2913"
    # Portland lies in UTM 10N around x ≈ 520-540 km, y ≈ 5.03-5.05 Mm
    assert frame["x_m"].between(500_000, 560_000).all()
    assert frame["y_m"].between(5_020_000, 5_060_000).all()
    assert frame["lat"].between(45.3, 45.7).all()
    assert result.validated.projection.accuracy_m is not None
    # the challenge's four categories stay four: all calls, street crimes, burglary, motor vehicle theft
    by_raw = {raw: set(g) for raw, g in frame.groupby("offense_raw")["offense"]}
    assert by_raw == {"STREET CRIMES": {"street_crime"}, "BURGLARY": {"burglary"},
                      "MOTOR VEHICLE THEFT": {"vehicle_theft"}, "OTHER": {"call_for_service"}}


def test_oakland_bins_become_centroids_of_the_grid_cells() -> None:
    result = read_file(shared("oakland_drug_2010/drug_crimes_with_bins.csv"))
    frame = result.table.frame
    assert frame["area"].nunique() == 356
    assert frame["lon"].between(-122.4, -122.1).all()
    # one point per bin: all crimes of a bin share its centroid
    assert frame.groupby("area")["x_m"].nunique().max() == 1


def test_synthetic_city_file_reads_with_empty_mo_cells(tmp_path: Path) -> None:
    from crimelens.synth import SyntheticCity

    SyntheticCity(seed=3, days=20, n_series=2, n_areas=4).generate().write(tmp_path)
    result = read_file(tmp_path / "incidents.csv")
    assert result.layout.name == "canonical" and result.n_quarantined == 0
    table = result.table
    assert len(table) == result.n_read > 0
    methods = table.mo("entry_method")
    assert any(m is None for m in methods) and any(isinstance(m, str) for m in methods)


def test_a_parquet_export_is_detected_and_reads_like_its_csv(tmp_path: Path) -> None:
    """The layout of a .parquet file is detected from its schema (GDAL's Parquet driver needed a
    library that is not installed, so detection used to fail and only --format worked)."""
    src = shared("cincinnati_burglary/cincinnati_burglary.csv.gz")
    pd.read_csv(src, dtype=str, keep_default_na=False).to_parquet(tmp_path / "cincinnati.parquet")
    from_csv, from_parquet = read_file(src), read_file(tmp_path / "cincinnati.parquet")
    assert from_parquet.layout.name == from_csv.layout.name == "cincinnati"
    assert (from_parquet.n_read, from_parquet.n_landed) == (from_csv.n_read, from_csv.n_landed) == (8723, 8297)
    a, b = from_csv.table.frame, from_parquet.table.frame
    assert a["incident_id"].tolist() == b["incident_id"].tolist()
    assert (a["x_m"] - b["x_m"]).abs().max() < 1e-6 and a["occurred_from"].equals(b["occurred_from"])


def test_police_uk_anti_social_behaviour_rows_without_a_crime_id_land(tmp_path: Path) -> None:
    """police.uk leaves Crime ID empty for anti-social behaviour; those rows get FILE:LINE ids."""
    head = ("Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,"
            "Last outcome category,Context\n")
    rows = ["abc123,2022-05,Notts,Notts,-1.150,52.950,On or near High Street,E01013800,N 001A,Burglary,Open,",
            ",2022-05,Notts,Notts,-1.151,52.951,On or near Park Road,E01013801,N 001B,Anti-social behaviour,,",
            ",2022-05,Notts,Notts,-1.151,52.951,On or near Park Road,E01013801,N 001B,Anti-social behaviour,,",
            "abc123,2022-05,Notts,Notts,-1.150,52.950,On or near High Street,E01013800,N 001A,Burglary,Open,"]
    path = tmp_path / "2022-05-nottinghamshire-street.csv"
    path.write_text(head + "\n".join(rows) + "\n")
    r = read_file(path)
    assert r.layout.name == "police_uk" and (r.n_read, r.n_landed, r.n_quarantined) == (4, 3, 1)
    frame = r.table.frame
    assert list(frame["incident_id"]) == ["abc123", f"{path.name}:3", f"{path.name}:4"]
    assert list(frame["offense"]) == ["burglary", "disorder", "disorder"]
    assert r.quarantine.loc[0, "reason"] == "duplicate id (first on line 2)"  # a repeated Crime ID still is


def test_an_unknown_missing_id_rule_is_a_mapping_error(tmp_path: Path) -> None:
    from crimelens.errors import SchemaError

    mapping = tmp_path / "m.toml"
    mapping.write_text('[source]\nname = "m"\ntimezone = "UTC"\ncrs = "EPSG:4326"\n[columns]\n'
                       'incident_id = { column = "id", missing = "guess" }\noffense = "o"\n'
                       'occurred_from = { column = "t", format = "iso" }\nlon = "x"\nlat = "y"\n')
    data = tmp_path / "d.csv"
    data.write_text("id,o,t,x,y\n1,burglary,2021-01-01T00:00:00Z,-87.6,41.8\n")
    with pytest.raises(SchemaError, match=r"incident_id\.missing: got 'guess'; expected 'quarantine' or 'line'"):
        read_file(data, mapping=mapping)
