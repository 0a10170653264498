"""Kernel hotspot models: retrospective (quartic), prospective (Bowers et al. 2004), space-time KDE.

* :class:`RetrospectiveHotspot` sums a quartic kernel of bandwidth ``bandwidth_m``
  over the incidents of the last ``window_days`` (the classic "hotspot map").
* :class:`ProspectiveHotspot` follows Bowers, Johnson & Pease (2004),
  *Prospective hot-spotting: the future of crime mapping?*, Brit. J. Criminol.
  44(5): an incident ``d`` metres and ``a`` days away adds
  ``1 / ((1 + floor(d / space_band_m)) * (1 + floor(a / time_band_days)))`` to a
  cell when ``d <= bandwidth_m`` and ``a < time_window_days``.
* :class:`SpaceTimeKDE` is a Gaussian kernel in space (fixed bandwidth, or the
  distance to each incident's ``k_neighbours``-th nearest neighbour) times an
  exponential decay ``exp(-a / time_scale_days)`` in time, truncated at
  ``cutoff_sd`` bandwidths.

Kernels are evaluated at cell centres with a compiled loop over incidents and
the cells inside each kernel's support, so the cost is ``n_events x cells per
kernel``, not ``n_events x n_cells``. Surfaces are rescaled so they sum to the
recent daily count (last 365 days) times the horizon.

Failure modes: wide kernels smear risk into empty ground (parks, water) that a
masked study area then never flags, and prospective hotspotting's short memory
(56 days) loses the stable hotspots that dominate weekly accuracy.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from crimelens.forecast._area import StudyArea
from crimelens.forecast._base import HotspotModel
from crimelens.forecast._params import check_choice, check_int, check_positive, jit

__all__ = [
    "GAUSSIAN",
    "KERNEL_BANDS",
    "QUARTIC",
    "ProspectiveHotspot",
    "RetrospectiveHotspot",
    "SpaceTimeKDE",
    "kernel_sum",
]

GAUSSIAN, QUARTIC, KERNEL_BANDS = 0, 1, 2


@jit
def _kernel_value(d2: float, h: float, kind: int) -> float:
    if kind == 0:
        return math.exp(-d2 / (2.0 * h * h)) / (2.0 * math.pi * h * h)
    if kind == 1:
        u = 1.0 - d2 / (h * h)
        return 3.0 / (math.pi * h * h) * u * u if u > 0.0 else 0.0
    return 1.0 / (1.0 + math.floor(math.sqrt(d2) / h))


@jit
def _grid_sum(ex: NDArray[np.float64], ey: NDArray[np.float64], w: NDArray[np.float64],
              bw: NDArray[np.float64], rad: NDArray[np.float64], kind: int, x0: float, y0: float,
              cell: float, nx: int, ny: int) -> NDArray[np.float64]:
    out = np.zeros(nx * ny)
    for i in range(ex.shape[0]):
        r = rad[i]
        r2 = r * r
        c_lo = max(0, math.floor((ex[i] - r - x0) / cell - 0.5))
        c_hi = min(nx - 1, math.ceil((ex[i] + r - x0) / cell - 0.5))
        r_lo = max(0, math.floor((ey[i] - r - y0) / cell - 0.5))
        r_hi = min(ny - 1, math.ceil((ey[i] + r - y0) / cell - 0.5))
        for row in range(r_lo, r_hi + 1):
            dy = y0 + (row + 0.5) * cell - ey[i]
            for col in range(c_lo, c_hi + 1):
                dx = x0 + (col + 0.5) * cell - ex[i]
                d2 = dx * dx + dy * dy
                if d2 <= r2:
                    out[row * nx + col] += w[i] * _kernel_value(d2, bw[i], kind)
    return out


@jit
def _pairs_sum(src: NDArray[np.int64], dst: NDArray[np.int64], d2: NDArray[np.float64],
               w: NDArray[np.float64], bw: NDArray[np.float64], kind: int, n: int) -> NDArray[np.float64]:
    out = np.zeros(n)
    for k in range(src.shape[0]):
        i = src[k]
        out[dst[k]] += w[i] * _kernel_value(d2[k], bw[i], kind)
    return out


def kernel_sum(area: StudyArea, xy: NDArray[np.float64], weights: NDArray[np.float64],
               bandwidth_m: NDArray[np.float64], radius_m: NDArray[np.float64], kind: int
               ) -> NDArray[np.float64]:
    """``sum_i weights[i] * K(|centre_c - xy_i|; bandwidth_m[i])`` for each cell ``c``, within ``radius_m[i]``.

    ``kind``: ``GAUSSIAN`` (density per m²), ``QUARTIC`` (density per m²) or
    ``KERNEL_BANDS`` (Bowers' ``1 / (1 + floor(d / band))``, band = ``bandwidth_m``).
    """
    xy = np.ascontiguousarray(xy, dtype=np.float64).reshape(-1, 2)
    w = np.ascontiguousarray(weights, dtype=np.float64)
    bw = np.ascontiguousarray(np.broadcast_to(bandwidth_m, w.shape), dtype=np.float64)
    rad = np.ascontiguousarray(np.broadcast_to(radius_m, w.shape), dtype=np.float64)
    if len(w) == 0:
        return np.zeros(area.n_cells)
    if area.kind == "square" and area.grid is not None:
        g = area.grid
        full = _grid_sum(xy[:, 0].copy(), xy[:, 1].copy(), w, bw, rad, kind, g.x0, g.y0, g.cell_m,
                         g.nx, g.ny)
        return np.asarray(full[area.cell_ids], dtype=np.float64)
    tree = cKDTree(area.centres_m)
    hits = tree.query_ball_point(xy, r=rad)
    src = np.repeat(np.arange(len(w)), [len(h) for h in hits]).astype(np.int64)
    dst = np.concatenate([np.asarray(h, dtype=np.int64) for h in hits]) if len(src) else np.zeros(0, np.int64)
    d2 = np.sum((area.centres_m[dst] - xy[src]) ** 2, axis=1)
    return np.asarray(_pairs_sum(src, dst, d2, w, bw, kind, area.n_cells), dtype=np.float64)


class RetrospectiveHotspot(HotspotModel):
    """Quartic-kernel density of the last ``window_days`` of incidents.

    Parameters
    ----------
    bandwidth_m : float
        Quartic kernel radius in metres (default 300).
    window_days : float
        Incidents of the last ``window_days`` days are used (default 365).
    """

    def __init__(self, *, bandwidth_m: float = 300.0, window_days: float = 365.0,
                 area: StudyArea | None = None, cell_m: float = 150.0) -> None:
        self.bandwidth_m = bandwidth_m
        self.window_days = window_days
        self.area = area
        self.cell_m = cell_m

    def _validate(self) -> None:
        check_positive(self, "bandwidth_m", unit="metres")
        check_positive(self, "window_days", unit="days")

    def _predict(self, t0: float, horizon_days: float) -> NDArray[np.float64]:
        s = self._before(t0, self.window_days)
        h = float(self.bandwidth_m)
        score = kernel_sum(self.area_, self.xy_[s], np.ones(s.stop - s.start), np.array(h),
                           np.array(h), QUARTIC)
        return self._scaled(score, t0, horizon_days)


class ProspectiveHotspot(HotspotModel):
    """Bowers, Johnson & Pease (2004) prospective hotspotting.

    Parameters
    ----------
    bandwidth_m : float
        Largest distance in metres at which an incident adds risk (default 400).
    space_band_m : float
        Width of the distance bands in metres (default 150, one cell).
    time_band_days : float
        Width of the time bands in days (default 7, one week).
    time_window_days : float
        Incidents older than this add nothing (default 56, eight weeks).
    """

    def __init__(self, *, bandwidth_m: float = 400.0, space_band_m: float = 150.0,
                 time_band_days: float = 7.0, time_window_days: float = 56.0,
                 area: StudyArea | None = None, cell_m: float = 150.0) -> None:
        self.bandwidth_m = bandwidth_m
        self.space_band_m = space_band_m
        self.time_band_days = time_band_days
        self.time_window_days = time_window_days
        self.area = area
        self.cell_m = cell_m

    def _validate(self) -> None:
        check_positive(self, "bandwidth_m", "space_band_m", unit="metres")
        check_positive(self, "time_band_days", "time_window_days", unit="days")

    def _predict(self, t0: float, horizon_days: float) -> NDArray[np.float64]:
        s = self._before(t0, self.time_window_days)
        age = t0 - self.t_[s]
        w = 1.0 / (1.0 + np.floor(age / self.time_band_days))
        score = kernel_sum(self.area_, self.xy_[s], w, np.array(float(self.space_band_m)),
                           np.array(float(self.bandwidth_m)), KERNEL_BANDS)
        return self._scaled(score, t0, horizon_days)


class SpaceTimeKDE(HotspotModel):
    """Gaussian space kernel times exponential time decay, fixed or nearest-neighbour bandwidth.

    Parameters
    ----------
    bandwidth : {"fixed", "nn"}
        ``fixed``: every incident uses ``bandwidth_m``; ``nn``: each uses the
        distance to its ``k_neighbours``-th nearest neighbour (at least
        ``min_bandwidth_m``).
    bandwidth_m : float
        Fixed Gaussian standard deviation in metres (default 150).
    k_neighbours : int
        Neighbour rank for the ``nn`` bandwidth (default 15).
    min_bandwidth_m : float
        Floor of the ``nn`` bandwidth in metres (default 50).
    time_scale_days : float
        e-folding time of the exponential decay in days (default 180).
    window_days : float
        Incidents older than this are ignored (default 730).
    cutoff_sd : float
        Kernels are truncated at this many bandwidths (default 3).
    """

    def __init__(self, *, bandwidth: Literal["fixed", "nn"] = "fixed", bandwidth_m: float = 150.0,
                 k_neighbours: int = 15, min_bandwidth_m: float = 50.0,
                 time_scale_days: float = 180.0, window_days: float = 730.0, cutoff_sd: float = 3.0,
                 area: StudyArea | None = None, cell_m: float = 150.0) -> None:
        self.bandwidth = bandwidth
        self.bandwidth_m = bandwidth_m
        self.k_neighbours = k_neighbours
        self.min_bandwidth_m = min_bandwidth_m
        self.time_scale_days = time_scale_days
        self.window_days = window_days
        self.cutoff_sd = cutoff_sd
        self.area = area
        self.cell_m = cell_m

    def _validate(self) -> None:
        check_choice(self, "bandwidth", ["fixed", "nn"])
        check_positive(self, "bandwidth_m", "min_bandwidth_m", unit="metres")
        check_positive(self, "time_scale_days", "window_days", unit="days")
        check_positive(self, "cutoff_sd")
        check_int(self, "k_neighbours", low=1)

    def bandwidths(self, xy: NDArray[np.float64]) -> NDArray[np.float64]:
        """Per-incident Gaussian standard deviations in metres."""
        if self.bandwidth == "fixed" or len(xy) <= 1:
            return np.full(len(xy), float(self.bandwidth_m))
        k = min(int(self.k_neighbours), len(xy) - 1)
        dist, _ = cKDTree(xy).query(xy, k=k + 1)
        d = dist[:, -1] if dist.ndim == 2 else dist
        return np.maximum(np.asarray(d, dtype=np.float64), float(self.min_bandwidth_m))

    def _predict(self, t0: float, horizon_days: float) -> NDArray[np.float64]:
        s = self._before(t0, self.window_days)
        xy = self.xy_[s]
        w = np.exp(-(t0 - self.t_[s]) / self.time_scale_days)
        bw = self.bandwidths(xy)
        score = kernel_sum(self.area_, xy, w, bw, bw * self.cutoff_sd, GAUSSIAN)
        return self._scaled(score, t0, horizon_days)
