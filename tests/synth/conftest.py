"""Fixtures for the synthetic-city tests: one default year and one short city, generated once."""

from __future__ import annotations

from pathlib import Path

import pytest

from crimelens.synth import CityData, SyntheticCity


@pytest.fixture(scope="session")
def year_city() -> CityData:
    """The default city (one year, scale 1) with a planted patrol disparity."""
    return SyntheticCity(seed=11, disparity=1.0).generate()


@pytest.fixture(scope="session")
def year_dir(year_city: CityData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth_year")
    year_city.write(out)
    return out


@pytest.fixture(scope="session")
def short_city() -> CityData:
    return SyntheticCity(seed=3, days=45, n_series=6, n_areas=12).generate()
