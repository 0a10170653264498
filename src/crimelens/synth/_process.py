"""Point processes of the synthetic city: background, ETAS-style triggering, true intensity.

Latent events follow a space-time Hawkes process (Mohler et al. 2011, JASA 106:100)

    λ_o(x, t) = μ_o(x, t) + Σ_{i: t_i < t, o_i = o} θ ω e^{-ω (t - t_i)} N(x - x_i; 0, σ² I)

with a separable background μ_o(x, t) = b_o s_o(x) g_o(t): a spatial density ``s_o`` on the
fine raster (hot spots over residential and commercial surfaces) and a temporal profile
``g_o`` on 10-minute bins (slow trend × season × day of week × local hour). Each event
triggers Poisson(θ) offspring of the same offense after Exp(ω) days at a N(0, σ²) offset;
offspring outside the city or after the period are lost (so the realised offspring share is
a little under θ). Simulation is by branching (cluster) generations, fully vectorised.

The "true intensity" reported is the compensator ∫∫ λ over each cell and period given the
realised history, resolved on the fine raster (30 m): the background part is exact in
expectation, the triggered part sums each realised event's remaining kernel mass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter

from crimelens.synth._geometry import CityGeometry
from crimelens.synth._vocab import OffenseProfile

__all__ = [
    "BINS_PER_DAY",
    "Cascade",
    "daily_triggered",
    "sample_background",
    "simulate_cascade",
    "temporal_profile",
    "triggered_fine",
]

BINS_PER_DAY = 144  # 10-minute bins


def _circular_peaks(hour: NDArray[np.float64], peaks: tuple[tuple[float, float, float], ...]) -> NDArray[np.float64]:
    out = np.full_like(hour, 0.15)
    for centre, width, weight in peaks:
        d = np.abs(((hour - centre) + 12.0) % 24.0 - 12.0)
        out += weight * np.exp(-0.5 * (d / width) ** 2)
    return out


def temporal_profile(
    profile: OffenseProfile,
    *,
    local_hour: NDArray[np.float64],
    local_dow: NDArray[np.int64],
    t_days: NDArray[np.float64],
    day_of_year: NDArray[np.float64],
    days: float,
    trend: float,
    seasonal_amplitude: float,
) -> NDArray[np.float64]:
    """``g_o`` on 10-minute bins, normalised to mean 1 over the period."""
    g = (
        (1.0 + trend * (t_days / days - 0.5))
        * (1.0 + seasonal_amplitude * np.cos(2.0 * math.pi * (day_of_year - 200.0) / 365.25))
        * np.asarray(profile.weekly)[local_dow]
        * _circular_peaks(local_hour, profile.daily_peaks)
    )
    return np.asarray(g / g.mean(), dtype=np.float64)


def local_clock(start_utc: pd.Timestamp, n_bins: int, tz: str) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    """Local hour, day of week (Mon=0) and day of year at the middle of each 10-minute bin."""
    mids = pd.date_range(start_utc + pd.Timedelta(minutes=5), periods=n_bins, freq="10min").tz_convert(tz)
    hour = (mids.hour + mids.minute / 60.0).to_numpy(np.float64)
    dow = mids.day_of_week.to_numpy(np.int64)
    doy = mids.day_of_year.to_numpy(np.float64)
    return hour, dow, doy


def sample_times(rng: np.random.Generator, g: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """``n`` times (days) from the piecewise-constant density ``g`` on 10-minute bins."""
    cdf = np.cumsum(g)
    cdf /= cdf[-1]
    b = np.searchsorted(cdf, rng.random(n), side="right")
    b = np.minimum(b, len(g) - 1)
    return np.asarray((b + rng.random(n)) / BINS_PER_DAY, dtype=np.float64)


def sample_places(rng: np.random.Generator, geo: CityGeometry, density: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """``n`` points from a fine-raster density (already weighted by the inside fraction)."""
    flat = density.ravel()
    cdf = np.cumsum(flat)
    cdf /= cdf[-1]
    cell = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), flat.size - 1)
    row, col = np.divmod(cell, geo.nfx)
    xy = np.column_stack(
        [geo.x0 + (col + rng.random(n)) * geo.fine_m, geo.y0 + (row + rng.random(n)) * geo.fine_m]
    )
    bad = ~geo.contains(xy[:, 0], xy[:, 1])
    for _ in range(12):  # redraw inside the same cell (only boundary cells ever need it)
        if not bad.any():
            break
        k = int(bad.sum())
        xy[bad, 0] = geo.x0 + (col[bad] + rng.random(k)) * geo.fine_m
        xy[bad, 1] = geo.y0 + (row[bad] + rng.random(k)) * geo.fine_m
        bad[bad] = ~geo.contains(xy[bad, 0], xy[bad, 1])
    if bad.any():
        xy[bad] = geo.inside_point[row[bad], col[bad]]
    return xy


def sample_background(
    rng: np.random.Generator, geo: CityGeometry, density: NDArray[np.float64], g: NDArray[np.float64], n: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Times (days) and places of ``n`` background events of one offense."""
    t = sample_times(rng, g, n)
    xy = sample_places(rng, geo, density, n)
    return t, xy


@dataclass(frozen=True)
class Cascade:
    """Latent events of the branching simulation (unsorted; background first)."""

    t: NDArray[np.float64]
    xy: NDArray[np.float64]
    offense: NDArray[np.int64]
    parent: NDArray[np.int64]  # -1 for background
    generation: NDArray[np.int64]


def simulate_cascade(
    rng: np.random.Generator,
    geo: CityGeometry,
    *,
    t0: NDArray[np.float64],
    xy0: NDArray[np.float64],
    offense0: NDArray[np.int64],
    theta: float,
    omega: float,
    sigma_m: float,
    days: float,
) -> Cascade:
    """Add offspring generations to background events until none is left."""
    ts, xys, offs, parents, gens = [t0], [xy0], [offense0], [np.full(len(t0), -1, np.int64)], [np.zeros(len(t0), np.int64)]
    start = 0
    cur_t, cur_xy, cur_o = t0, xy0, offense0
    gen = 0
    while len(cur_t):
        gen += 1
        k = rng.poisson(theta, len(cur_t))
        par_local = np.repeat(np.arange(len(cur_t)), k)
        m = len(par_local)
        if m == 0:
            break
        ct = cur_t[par_local] + rng.exponential(1.0 / omega, m)
        cxy = cur_xy[par_local] + rng.normal(0.0, sigma_m, (m, 2))
        keep = (ct < days) & geo.contains(cxy[:, 0], cxy[:, 1])
        ct, cxy, co = ct[keep], cxy[keep], cur_o[par_local][keep]
        cpar = start + par_local[keep]
        start += len(cur_t)
        ts.append(ct)
        xys.append(cxy)
        offs.append(co)
        parents.append(cpar)
        gens.append(np.full(len(ct), gen, np.int64))
        cur_t, cur_xy, cur_o = ct, cxy, co
    return Cascade(
        t=np.concatenate(ts),
        xy=np.concatenate(xys),
        offense=np.concatenate(offs),
        parent=np.concatenate(parents),
        generation=np.concatenate(gens),
    )


def kernel_mass(t: NDArray[np.float64], a: float, b: float, omega: float) -> NDArray[np.float64]:
    """Mass of ω e^{-ω (s - t)} (s > t) that falls in ``[a, b)``."""
    lo = np.maximum(a, t)
    hi = np.maximum(b, t)
    return np.asarray(np.exp(-omega * (lo - t)) - np.exp(-omega * (hi - t)), dtype=np.float64)


def triggered_fine(
    geo: CityGeometry,
    xy: NDArray[np.float64],
    weights: NDArray[np.float64],
    sigma_m: float,
) -> NDArray[np.float64]:
    """Σ_i w_i N(x - x_i; σ) integrated over fine cells, restricted to the city (inside fraction)."""
    col = np.clip(((xy[:, 0] - geo.x0) / geo.fine_m).astype(np.int64), 0, geo.nfx - 1)
    row = np.clip(((xy[:, 1] - geo.y0) / geo.fine_m).astype(np.int64), 0, geo.nfy - 1)
    hist = np.bincount(row * geo.nfx + col, weights=weights, minlength=geo.nfx * geo.nfy)
    smooth = gaussian_filter(hist.reshape(geo.nfy, geo.nfx), sigma=sigma_m / geo.fine_m, mode="constant", truncate=5.0)
    return np.asarray(smooth * geo.inside, dtype=np.float64)


def daily_triggered(
    t: NDArray[np.float64], weights: NDArray[np.float64], n_days: int, omega: float
) -> NDArray[np.float64]:
    """Σ_i w_i × (kernel mass of event i in each day ``[d, d + 1)``), for ``d < n_days``."""
    day = np.floor(t).astype(np.int64)
    ok = (day >= 0) & (day < n_days)
    day, tt, w = day[ok], t[ok], weights[ok]
    within = np.bincount(day, weights=w * (1.0 - np.exp(-omega * (day + 1 - tt))), minlength=n_days)
    carry_in = np.bincount(day, weights=w * np.exp(-omega * (day + 1 - tt)), minlength=n_days)
    out = np.empty(n_days)
    decay = math.exp(-omega)
    carry = 0.0
    for d in range(n_days):
        out[d] = within[d] + carry * (1.0 - decay)
        carry = carry * decay + carry_in[d]
    return out
