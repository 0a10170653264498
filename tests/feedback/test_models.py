"""Grid-native count models against slow references, and the bridge to the forecasting engine."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pytest

from crimelens.domain import Grid, IncidentTable, TimeWindow
from crimelens.errors import InputError, InvalidParameterError, NotFittedError
from crimelens.feedback import (
    DecayKDE,
    GridSEPP,
    NaiveCounts,
    SurfaceModelAdapter,
    make_count_model,
)
from crimelens.feedback._models import model_names, study_area_for


def _dense_em_step(counts: np.ndarray, mu: np.ndarray, theta: float, omega: float) -> tuple[np.ndarray, float, float]:
    """One EM step written the slow way: every pair of days in every cell."""
    n_days, n_cells = counts.shape
    bg = np.zeros(n_cells)
    trig_total = lag_total = total = 0.0
    for c in range(n_cells):
        for t in range(n_days):
            n = counts[t, c]
            if n == 0:
                continue
            past = [(counts[s, c], t - s) for s in range(t) if counts[s, c] > 0]
            g = sum(m * theta * omega * math.exp(-omega * lag) for m, lag in past)
            lag_w = sum(m * theta * omega * lag * math.exp(-omega * lag) for m, lag in past)
            lam = mu[c] + g
            bg[c] += n * mu[c] / lam
            trig_total += n * g / lam
            lag_total += n * lag_w / lam
            total += n
    return bg / n_days, trig_total / total, trig_total / lag_total


def test_sepp_em_step_matches_the_pairwise_reference() -> None:
    rng = np.random.default_rng(0)
    counts = rng.poisson(0.2, size=(60, 7)).astype(float)
    counts[20:25, 2] += 2
    mu0 = counts.sum(axis=0) / 60 * 0.5 + 1e-9
    model = GridSEPP(n_iter=1, tol=0.0, theta_init=0.5, omega_init=0.1, warm_start=False, window_days=60)
    model.fit_counts(counts, None)
    mu_ref, theta_ref, omega_ref = _dense_em_step(counts, mu0, 0.5, 0.1)
    np.testing.assert_allclose(model.mu_, mu_ref, rtol=1e-9, atol=1e-12)
    assert model.theta_ == pytest.approx(theta_ref, rel=1e-9)
    assert model.omega_ == pytest.approx(omega_ref, rel=1e-9)
    # the score is mu + theta * omega * sum_j n_j exp(-omega (T - t_j))
    t = np.arange(60)[:, None]
    excite = (counts * np.exp(-model.omega_ * (60 - t))).sum(axis=0)
    np.testing.assert_allclose(model.score(), model.mu_ + model.theta_ * model.omega_ * excite, rtol=1e-9)


def test_sepp_recovers_a_planted_branching_ratio() -> None:
    # daily Hawkes counts per cell: background mu, each event triggers Poisson(theta) offspring
    # spread over later days with an exponential(omega) delay
    rng = np.random.default_rng(1)
    n_days, n_cells, theta, omega = 400, 300, 0.5, 0.3
    mu = rng.gamma(2.0, 0.02, size=n_cells)
    counts = np.zeros((n_days, n_cells))
    for t in range(n_days):
        counts[t] += rng.poisson(mu)
        for c in np.flatnonzero(counts[t]):
            kids = rng.poisson(theta * counts[t, c])
            lags = np.ceil(rng.exponential(1.0 / omega, size=kids)).astype(int)
            for lag in lags[t + lags < n_days]:
                counts[t + lag, c] += 1
    model = GridSEPP(window_days=n_days, n_iter=200, tol=1e-7, warm_start=False).fit_counts(counts, None)
    assert model.theta_ == pytest.approx(theta, abs=0.08)
    assert model.omega_ == pytest.approx(omega, rel=0.35)


def test_naive_counts_and_window() -> None:
    counts = np.array([[5.0, 0.0], [1.0, 2.0], [0.0, 1.0]])
    assert NaiveCounts(window_days=2).fit_counts(counts, None).score().tolist() == [1.0, 3.0]
    assert NaiveCounts(window_days=10).fit_counts(counts, None).score().tolist() == [6.0, 3.0]
    with pytest.raises(InvalidParameterError, match="window_days=0"):
        NaiveCounts(window_days=0).fit_counts(counts, None)
    with pytest.raises(NotFittedError):
        NaiveCounts().score()
    with pytest.raises(InputError, match=r"expected \(days, cells\)"):
        NaiveCounts().fit_counts(np.zeros(3), None)


def test_decay_kde_matches_a_loop_over_cells() -> None:
    rng = np.random.default_rng(2)
    centres = rng.uniform(0, 2000, size=(40, 2))
    counts = rng.poisson(0.3, size=(30, 40)).astype(float)
    model = DecayKDE(bandwidth_m=250.0, decay_days=10.0, window_days=20).fit_counts(counts, centres)
    ref = np.zeros(40)
    window = counts[-20:]
    for i in range(40):
        for j in range(40):
            d = float(np.hypot(*(centres[i] - centres[j])))
            if d > 750.0:
                continue
            k = math.exp(-0.5 * (d / 250.0) ** 2)
            for age, row in zip(range(20, 0, -1), window, strict=True):
                ref[i] += k * math.exp(-age / 10.0) * row[j]
    np.testing.assert_allclose(model.score(), ref, rtol=1e-9)


@dataclass(frozen=True)
class _Surface:
    grid: Grid
    values: np.ndarray


class _CellCounts:
    """A tiny engine-style model of our own: incidents per cell of a fixed grid."""

    def __init__(self, grid: Grid) -> None:
        self.grid = grid

    def get_params(self) -> dict[str, Any]:
        return {"grid": self.grid}

    def fit(self, incidents: IncidentTable) -> Self:
        self.counts_ = self.grid.counts(incidents.xy_m) if len(incidents) else np.zeros(self.grid.n_cells)
        return self

    def predict(self, window: TimeWindow) -> _Surface:
        return _Surface(self.grid, self.counts_)


def test_adapter_runs_an_engine_style_model_on_daily_counts() -> None:
    grid = Grid(0.0, 0.0, 100.0, 3, 2)
    counts = np.array([[1, 0, 0, 0, 0, 2], [0, 0, 3, 0, 0, 0], [1, 0, 0, 0, 0, 0]], dtype=float)
    adapter = SurfaceModelAdapter(_CellCounts(grid), origin="2020-01-01", window_days=2)
    scores = adapter.fit_counts(counts, grid.centres()).score()
    assert scores.tolist() == [1.0, 0.0, 3.0, 0.0, 0.0, 0.0]  # the last two days only


def test_engine_models_run_through_the_adapter() -> None:
    grid = Grid(0.0, 0.0, 150.0, 6, 5, "EPSG:32616")
    rng = np.random.default_rng(4)
    counts = rng.poisson(0.05, size=(60, grid.n_cells)).astype(float)
    counts[:, 7] += rng.poisson(1.0, size=60)
    model = make_count_model("forecast:naive", grid=grid, crs=grid.crs, origin="2020-01-01", window_days=60)
    scores = model.fit_counts(counts, grid.centres()).score()
    assert int(np.argmax(scores)) == 7
    assert scores[7] > 0
    assert "forecast:etas" in model_names() and "sepp" in model_names()
    with pytest.raises(InvalidParameterError, match="expected one of"):
        make_count_model("forecast:nonsense")
    with pytest.raises(InvalidParameterError, match="expected one of"):
        make_count_model("oracle")


def test_study_area_gives_each_irregular_cell_its_own_square() -> None:
    centres = np.array([[0.0, 0.0], [424.0, 0.0], [0.0, 562.0], [424.0, 562.0]])
    area = study_area_for(centres)
    cells = area.cell_of(centres)
    assert area.n_cells == 4 and sorted(cells.tolist()) == [0, 1, 2, 3]
