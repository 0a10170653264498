"""The compiled kernel models against slow loop-over-cells versions (relative 1e-9)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crimelens.domain import Grid, TimeWindow
from crimelens.forecast import ProspectiveHotspot, RetrospectiveHotspot, SpaceTimeKDE, StudyArea
from crimelens.forecast._base import days_since_epoch
from tests.forecast.conftest import table_from

ORIGIN = "2020-01-01T00:00:00Z"


def _events(seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(200, 2800, size=(6, 2))
    xy = centres[rng.integers(0, 6, n)] + rng.normal(0, 150, size=(n, 2))
    t = np.sort(rng.uniform(0, 200, n))
    return t, xy


def _area() -> StudyArea:
    grid = Grid(0.0, 0.0, 100.0, 30, 30, crs="EPSG:32616")
    mask = np.ones(grid.n_cells, dtype=bool)
    mask[::7] = False  # a mask with holes, so the area's cell numbering differs from the grid's
    return StudyArea.square(grid, mask=mask)


def _slow(area: StudyArea, xy: np.ndarray, w: np.ndarray, bw: np.ndarray, rad: np.ndarray,
          kernel: str) -> np.ndarray:
    out = np.zeros(area.n_cells)
    for c, (cx, cy) in enumerate(area.centres_m.tolist()):
        total = 0.0
        for i in range(len(xy)):
            d2 = (cx - xy[i, 0]) ** 2 + (cy - xy[i, 1]) ** 2
            if d2 > rad[i] ** 2:
                continue
            h = bw[i]
            if kernel == "gaussian":
                total += w[i] * math.exp(-d2 / (2 * h * h)) / (2 * math.pi * h * h)
            elif kernel == "quartic":
                u = 1 - d2 / (h * h)
                total += w[i] * 3 / (math.pi * h * h) * u * u if u > 0 else 0.0
            else:
                total += w[i] / (1 + math.floor(math.sqrt(d2) / h))
        out[c] = total
    return out


def _rescale(score: np.ndarray, model: object, t0: float, h: float) -> np.ndarray:
    return model._scaled(score, t0, h)  # type: ignore[attr-defined]


@pytest.mark.parametrize("bandwidth", ["fixed", "nn"])
def test_space_time_kde_matches_slow_loop(bandwidth: str) -> None:
    t, xy = _events(1)
    area = _area()
    model = SpaceTimeKDE(bandwidth=bandwidth, bandwidth_m=120.0, k_neighbours=10, min_bandwidth_m=40.0,
                         time_scale_days=30.0, window_days=150.0, area=area)
    model.fit(table_from(t, xy, origin=ORIGIN))
    window = TimeWindow.starting("2020-07-19T00:00:00Z", days=7)
    t0 = days_since_epoch(window.start)
    fast = model.predict(window).intensity
    # slow: same selection, weights and bandwidths, evaluated cell by cell
    t_abs = t + days_since_epoch(TimeWindow.starting(ORIGIN, days=1).start)
    keep = (t_abs < t0) & (t_abs >= t0 - 150.0)
    sel_xy = xy[keep]
    w = np.exp(-(t0 - t_abs[keep]) / 30.0)
    if bandwidth == "fixed":
        bw = np.full(len(sel_xy), 120.0)
    else:
        d = np.sqrt(((sel_xy[:, None, :] - sel_xy[None, :, :]) ** 2).sum(-1))
        bw = np.maximum(np.sort(d, axis=1)[:, 10], 40.0)
    slow = _rescale(_slow(area, sel_xy, w, bw, 3.0 * bw, "gaussian"), model, t0, 7.0)
    assert fast.sum() > 0
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-15)


def test_retrospective_quartic_matches_slow_loop() -> None:
    t, xy = _events(2)
    area = _area()
    model = RetrospectiveHotspot(bandwidth_m=250.0, window_days=100.0, area=area)
    model.fit(table_from(t, xy, origin=ORIGIN))
    window = TimeWindow.starting("2020-07-19T00:00:00Z", days=7)
    t0 = days_since_epoch(window.start)
    t_abs = t + days_since_epoch(TimeWindow.starting(ORIGIN, days=1).start)
    keep = (t_abs < t0) & (t_abs >= t0 - 100.0)
    n = int(keep.sum())
    slow = _rescale(_slow(area, xy[keep], np.ones(n), np.full(n, 250.0), np.full(n, 250.0), "quartic"),
                    model, t0, 7.0)
    np.testing.assert_allclose(model.predict(window).intensity, slow, rtol=1e-9, atol=1e-15)


def test_prospective_bowers_weights_match_slow_loop() -> None:
    t, xy = _events(3)
    area = _area()
    model = ProspectiveHotspot(bandwidth_m=400.0, space_band_m=100.0, time_band_days=7.0,
                               time_window_days=56.0, area=area)
    model.fit(table_from(t, xy, origin=ORIGIN))
    window = TimeWindow.starting("2020-07-19T00:00:00Z", days=7)
    t0 = days_since_epoch(window.start)
    t_abs = t + days_since_epoch(TimeWindow.starting(ORIGIN, days=1).start)
    keep = (t_abs < t0) & (t_abs >= t0 - 56.0)
    w = 1.0 / (1.0 + np.floor((t0 - t_abs[keep]) / 7.0))
    n = int(keep.sum())
    slow = _rescale(_slow(area, xy[keep], w, np.full(n, 100.0), np.full(n, 400.0), "bands"), model, t0, 7.0)
    np.testing.assert_allclose(model.predict(window).intensity, slow, rtol=1e-9, atol=1e-15)


def test_kde_on_h3_cells_matches_slow_loop() -> None:
    """The KD-tree path used for H3 hexagons gives the same sums as the loop."""
    t, xy = _events(4, n=150)
    xy = xy + np.array([440_000.0, 4_630_000.0])  # somewhere in UTM 16N (Chicago)
    table = table_from(t, xy, origin=ORIGIN)
    area = StudyArea.h3(table, resolution=10)
    model = SpaceTimeKDE(bandwidth_m=120.0, time_scale_days=30.0, window_days=150.0, area=area)
    model.fit(table)
    window = TimeWindow.starting("2020-07-19T00:00:00Z", days=7)
    t0 = days_since_epoch(window.start)
    t_abs = t + days_since_epoch(TimeWindow.starting(ORIGIN, days=1).start)
    keep = (t_abs < t0) & (t_abs >= t0 - 150.0)
    n = int(keep.sum())
    w = np.exp(-(t0 - t_abs[keep]) / 30.0)
    slow = _rescale(_slow(area, xy[keep], w, np.full(n, 120.0), np.full(n, 360.0), "gaussian"), model, t0, 7.0)
    np.testing.assert_allclose(model.predict(window).intensity, slow, rtol=1e-9, atol=1e-15)
