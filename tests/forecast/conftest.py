"""Fixtures for the forecast tests: the synthetic city (known truth) and small seeded Hawkes fields."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from crimelens.domain import IncidentTable
from crimelens.synth import CityData, SyntheticCity


@pytest.fixture(scope="session")
def city() -> CityData:
    """One simulated year where every latent event is recorded (the recorded process is ETAS)."""
    with warnings.catch_warnings():
        # synth/_process.py uses DatetimeIndex.dayofweek/.dayofyear, deprecated in pandas 3.1 (reported to
        # the synth engineer); remove this filter once it reads .day_of_week / .day_of_year
        warnings.filterwarnings("ignore", message=r".*DatetimeIndex\.\w+ is deprecated.*")
        return SyntheticCity(seed=5, days=365, n_series=0, recording="complete").generate()


def table_from(t_days: np.ndarray, xy: np.ndarray, *, offense: str = "burglary",
               origin: str = "2020-01-01T00:00:00Z", crs: str = "EPSG:32616") -> IncidentTable:
    """An IncidentTable of point events at ``origin + t_days``."""
    when = pd.Timestamp(origin) + pd.to_timedelta(np.asarray(t_days) * 86400.0, unit="s")
    n = len(t_days)
    return IncidentTable(pd.DataFrame({
        "incident_id": [f"e{i}" for i in range(n)], "offense": offense,
        "occurred_from": when, "occurred_to": when,
        "x_m": np.asarray(xy)[:, 0], "y_m": np.asarray(xy)[:, 1], "crs": crs,
    }))


@dataclass(frozen=True)
class GridHawkes:
    t_days: np.ndarray
    xy: np.ndarray
    cell: np.ndarray
    mu_per_day: np.ndarray
    theta: float
    omega_per_day: float
    days: float


def simulate_grid_hawkes(*, seed: int, n_side: int = 20, cell_m: float = 150.0, days: float = 1000.0,
                         theta: float = 0.4, omega_per_day: float = 0.15) -> GridHawkes:
    """Mohler (2015) grid ETAS by branching: background Poisson per cell, offspring in the same cell."""
    rng = np.random.default_rng(seed)
    n_cells = n_side * n_side
    mu = rng.gamma(0.7, 0.01, size=n_cells)  # about 0.007 events/day/cell
    times, cells = [], []
    for c in range(n_cells):
        k = rng.poisson(mu[c] * days)
        times.append(rng.uniform(0, days, k))
        cells.append(np.full(k, c))
    gen_t, gen_c = np.concatenate(times), np.concatenate(cells)
    all_t, all_c = [gen_t], [gen_c]
    while len(gen_t):
        n_kids = rng.poisson(theta, len(gen_t))
        kid_t = np.repeat(gen_t, n_kids) + rng.exponential(1 / omega_per_day, n_kids.sum())
        kid_c = np.repeat(gen_c, n_kids)
        keep = kid_t < days
        gen_t, gen_c = kid_t[keep], kid_c[keep]
        all_t.append(gen_t)
        all_c.append(gen_c)
    t = np.concatenate(all_t)
    c = np.concatenate(all_c)
    row, col = np.divmod(c, n_side)
    xy = np.column_stack([(col + rng.uniform(0.05, 0.95, len(c))) * cell_m,
                          (row + rng.uniform(0.05, 0.95, len(c))) * cell_m])
    order = np.argsort(t)
    return GridHawkes(t[order], xy[order], c[order], mu, theta, omega_per_day, days)
