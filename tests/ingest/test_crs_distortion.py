"""The metric CRS's scale over the data is measured, warned about past 1 %, and kept in the provenance."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from crimelens.config import Settings
from crimelens.errors import InvalidParameterError, SchemaError
from crimelens.governance import Actor
from crimelens.ingest import read_file
from crimelens.ingest._project import Projection
from crimelens.services import open_context
from crimelens.services.ingest import ingest_file
from tests.conftest import shared

CODE = "chicago_agg_assault/chicago_aggravated_assaults.csv.gz"
ANALYST = Actor("analyst")


@pytest.fixture
def chicago(tmp_path: Path) -> Path:
    """Chicago's first 3,000 aggravated assaults (2010), as CODE ships them."""
    text = gzip.decompress(shared(CODE).read_bytes()).decode("utf-8").splitlines()[:3001]
    path = tmp_path / "chicago_2010.csv"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


def test_web_mercator_over_chicago_is_warned_about_with_its_scale(chicago: Path) -> None:
    r = read_file(chicago, crs="EPSG:3857")
    assert r.n_landed == 3000  # a warning, not a refusal
    low, high = r.validated.scale or (0.0, 0.0)
    assert 1.33 < low < high < 1.36  # sec(41.6°..42.0°): distances in its metres are ~34 % long
    assert len(r.warnings) == 1
    warning = r.warnings[0]
    assert warning.startswith("CRS EPSG:3857 (WGS 84 / Pseudo-Mercator) distorts distances over this file's extent")
    assert f"{100 * (high - 1):.1f} % off" in warning
    assert "EPSG:32616 (WGS 84 / UTM zone 16N), scale error 0.04 % here" in warning


def test_the_local_utm_zone_is_not_warned_about(chicago: Path) -> None:
    for crs in ("EPSG:32616", None):  # chosen, or chosen for the user
        r = read_file(chicago, crs=crs)
        assert r.crs == "EPSG:32616" and r.warnings == []
        low, high = r.validated.scale or (0.0, 0.0)
        assert 0.9995 < low <= high < 1.0


def test_a_neighbouring_zone_within_one_percent_passes_and_one_far_off_warns() -> None:
    """UTM 15N is 0.2 % off over Chicago (no warning); 14N 1.0-1.1 % (the warning's threshold)."""
    lon, lat = np.array([-87.94, -87.52, -87.7]), np.array([41.64, 42.02, 41.85])
    near = Projection("EPSG:4326", "EPSG:32615").scale_range(lon, lat) or (0.0, 0.0)
    far = Projection("EPSG:4326", "EPSG:32614").scale_range(lon, lat) or (0.0, 0.0)
    assert 1.001 < near[1] < 1.003 and 1.01 < far[1] < 1.011


def test_a_crs_not_in_metres_is_refused(chicago: Path) -> None:
    with pytest.raises(SchemaError, match=r"target CRS 'EPSG:3435' \(NAD83 / Illinois East \(ftUS\)\) has axes in "
                                          r"US survey foot; expected a projected CRS in metres"):
        read_file(chicago, crs="EPSG:3435")  # accepted before: every distance would have been read in feet
    with pytest.raises(SchemaError, match="is geographic"):
        read_file(chicago, crs="EPSG:4326")


def test_the_scale_is_kept_in_the_provenance_and_the_summary(chicago: Path, tmp_path: Path) -> None:
    with open_context(Settings(db=tmp_path / "s.duckdb")) as ctx:
        s = ingest_file(ctx, chicago, actor=ANALYST, dataset="mercator", crs="EPSG:3857")
        assert s.warnings and s.warnings[0].startswith("CRS EPSG:3857")
        assert s.to_dict()["crs_scale"]["max"] == pytest.approx(s.crs_scale[1] if s.crs_scale else 0.0)
        row = ctx.store.query("SELECT crs_to, crs_scale_min, crs_scale_max, notes FROM ingests").iloc[0]
        assert row["crs_to"] == "EPSG:3857" and 1.33 < row["crs_scale_min"] < row["crs_scale_max"] < 1.36
        assert "distorts distances" in row["notes"]
        again = ingest_file(ctx, chicago, actor=ANALYST, dataset="mercator")  # the stored file: its figures
        assert again.already_ingested and again.crs_scale == (row["crs_scale_min"], row["crs_scale_max"])
        # a dataset keeps one CRS: another for a later file is refused, naming the one it has
        other = chicago.with_name("chicago_more.csv")
        other.write_text(chicago.read_text(encoding="utf-8").replace("2010-01-01 00:05", "2010-01-01 00:06"),
                         encoding="utf-8")
        with pytest.raises(InvalidParameterError, match="dataset 'mercator' holds incidents in EPSG:3857"):
            ingest_file(ctx, other, actor=ANALYST, dataset="mercator", crs="EPSG:32616")
        assert ctx.store.count_incidents(dataset="mercator") == 3000
