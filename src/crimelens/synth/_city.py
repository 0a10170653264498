"""The synthetic city generator: :class:`SyntheticCity` and its result :class:`CityData`.

One seed fixes everything. Each part draws from its own random stream (spawned from the
seed with :class:`numpy.random.SeedSequence`), so changing one knob leaves the other parts
alone: the same seed with a different ``disparity`` or ``recording`` gives the *same* latent
events and differs only in which of them are recorded and how; a different ``n_series``
leaves background and near repeats unchanged.

Mechanisms (see ``docs/synth.md``):

- latent events: ETAS-style self-exciting process (``_process``) per offense;
- planted series: ``n_series`` offenders, each with an anchor, a spatial spread, a spree
  rhythm, a preferred hour and an M.O. profile repeated with probability 0.7-0.92 per value;
  their narratives share a template and a signature phrase; series events trigger nothing;
- recording: a citizen reports an event with the offense's ``report_prob``; otherwise an
  officer discovers it with probability ``1 - exp(-discovery_rate × patrol(x))``; otherwise
  it is never recorded (``recording="complete"`` records it anyway, as reported). Patrol
  follows the smoothed background rate and is multiplied by ``1 + disparity`` in
  neighbourhoods whose majority is ``group_b``. The *true* rate does not depend on group.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from numpy.typing import NDArray
from pyproj import Transformer
from scipy.ndimage import gaussian_filter

from crimelens import __version__
from crimelens.domain import Area, Grid, IncidentTable
from crimelens.errors import InvalidParameterError
from crimelens.synth._geometry import CityGeometry, build_geometry, gaussian_bumps
from crimelens.synth._process import (
    BINS_PER_DAY,
    daily_triggered,
    local_clock,
    sample_background,
    sample_places,
    simulate_cascade,
    temporal_profile,
    triggered_fine,
)
from crimelens.synth._truth import TriggerParams, Truth
from crimelens.synth._vocab import (
    MO_ATTRIBUTES,
    OFFENSES,
    SERIES_OFFENSES,
    SIGNATURES,
    TIME_OF_DAY,
)

__all__ = ["CRS", "CSV_COLUMNS", "CityData", "SyntheticCity"]

CRS = "EPSG:32616"
GENERATOR_VERSION = "1"
MAX_SCALE_YEARS = 400  # scale x years: at scale 1 a year holds about 30,000 incidents
MAX_SERIES = 100_000
#: Columns of ``incidents.csv``, in order.
CSV_COLUMNS: tuple[str, ...] = (
    "incident_id", "offense", "offense_raw", "occurred_from", "occurred_to", "reported_at",
    "x_m", "y_m", "lon", "lat", "crs", "premise", "area", "source", "narrative",
    *MO_ATTRIBUTES, "series_id",
)
_STREAMS = ("geometry", "surfaces", "background", "cascade", "series", "recording", "marks", "narrative")
_NAMES = tuple(p.name for p in OFFENSES)
_CELL_M = 150.0
_FINE_M = 30.0

Progress = Callable[[str, float], None]


@dataclass(frozen=True, eq=False)
class CityData:
    """A generated city: recorded incidents, neighbourhoods, series and ground truth.

    Attributes
    ----------
    incidents : the recorded incidents as an :class:`~crimelens.domain.IncidentTable`
        (dataset ``"synth"``; M.O. attributes and the solved ``series_id`` in ``attrs``).
    frame : the same incidents in the ``incidents.csv`` layout (:data:`CSV_COLUMNS`).
    areas : the neighbourhoods (WKT in EPSG:32616; demographics in ``audit`` only).
    series : every planted series: ``series_id -> incident ids`` in time order.
    solved : the series whose ``series_id`` is filled in ``incidents.csv``.
    truth : :class:`Truth`.
    """

    incidents: IncidentTable
    frame: pd.DataFrame
    areas: tuple[Area, ...]
    series: Mapping[str, tuple[str, ...]]
    solved: frozenset[str]
    truth: Truth
    geometry: CityGeometry

    def __repr__(self) -> str:
        return (f"CityData(n_incidents={len(self.incidents)}, n_areas={len(self.areas)}, "
                f"n_series={len(self.series)}, seed={self.truth.params['seed']})")

    def write(self, out_dir: str | Path) -> dict[str, int]:
        """Write the files (see :func:`crimelens.synth.write`); returns ``{path: bytes}``."""
        from crimelens.synth._write import write

        return write(self, out_dir)


def _choice(rng: np.random.Generator, pairs: tuple[tuple[str, float], ...], n: int) -> NDArray[np.object_]:
    values = np.array([v for v, _ in pairs], dtype=object)
    p = np.array([w for _, w in pairs], dtype=np.float64)
    return np.asarray(values[rng.choice(len(values), size=n, p=p / p.sum())], dtype=object)


class SyntheticCity:
    """A seeded, deterministic synthetic city with known ground truth.

    Parameters
    ----------
    seed : int
        Fixes every random draw. Same seed and parameters → byte-identical files.
    days : int
        Length of the simulated period (default one year).
    start : str
        First local date (``YYYY-MM-DD``); the period starts at local midnight.
    scale : float
        Multiplies every background rate (``scale=40`` gives about a million incidents a year).
    n_series : int
        Number of planted crime series (3-15 incidents each).
    n_areas : int
        Number of neighbourhoods.
    disparity : float
        Patrol in ``group_b``-majority neighbourhoods is ``1 + disparity`` times what the crime
        rate alone would give (0: balanced).
    branching_ratio, omega_per_day, sigma_m : float
        True ETAS parameters θ (mean offspring per event), ω (decay per day), σ (metres).
    discovery_rate : float
        κ in P(discovered | not reported) = 1 - exp(-κ · patrol); patrol has mean ≈ 1.
    recording : {"thinned", "complete"}
        ``"thinned"``: events neither reported nor discovered are never recorded.
        ``"complete"``: every latent event is recorded (the unreported, undiscovered ones
        as reported) — the recorded process is then exactly the ETAS process.
    solved_fraction : float
        Share of series whose ``series_id`` appears in ``incidents.csv``.
    extent_km : float
        Side of the city's bounding square.
    population : int
        Total residents (distributed over the residential surface).
    trend, seasonal_amplitude : float
        Relative change of the background over the period; amplitude of the annual cycle.
    timezone : str
        Local time zone of the daily and weekly cycles (times are written in UTC).

    Examples
    --------
    >>> city = SyntheticCity(seed=1, days=14, n_series=2, n_areas=6).generate()
    >>> len(city.areas), city.incidents.crs
    (6, 'EPSG:32616')
    >>> round(city.truth.trigger.theta, 2)
    0.3
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        days: int = 365,
        start: str = "2024-01-01",
        scale: float = 1.0,
        n_series: int = 40,
        n_areas: int = 40,
        disparity: float = 0.0,
        branching_ratio: float = 0.3,
        omega_per_day: float = 0.2,
        sigma_m: float = 100.0,
        discovery_rate: float = 0.6,
        recording: Literal["thinned", "complete"] = "thinned",
        solved_fraction: float = 0.5,
        extent_km: float = 12.0,
        population: int = 450_000,
        trend: float = 0.1,
        seasonal_amplitude: float = 0.15,
        timezone: str = "America/Chicago",
    ) -> None:
        self.seed = seed
        self.days = days
        self.start = start
        self.scale = scale
        self.n_series = n_series
        self.n_areas = n_areas
        self.disparity = disparity
        self.branching_ratio = branching_ratio
        self.omega_per_day = omega_per_day
        self.sigma_m = sigma_m
        self.discovery_rate = discovery_rate
        self.recording = recording
        self.solved_fraction = solved_fraction
        self.extent_km = extent_km
        self.population = population
        self.trend = trend
        self.seasonal_amplitude = seasonal_amplitude
        self.timezone = timezone

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "seed", "days", "start", "scale", "n_series", "n_areas", "disparity",
            "branching_ratio", "omega_per_day", "sigma_m", "discovery_rate", "recording",
            "solved_fraction", "extent_km", "population", "trend", "seasonal_amplitude",
            "timezone",
        )}

    def __repr__(self) -> str:
        return f"SyntheticCity(seed={self.seed}, days={self.days}, scale={self.scale})"

    # validation -----------------------------------------------------------------
    def _check(self) -> None:
        def bad(name: str, expected: str) -> InvalidParameterError:
            return InvalidParameterError(
                f"SyntheticCity({name}={getattr(self, name)!r}): expected {expected}"
            )

        if not isinstance(self.seed, int | np.integer) or self.seed < 0:
            raise bad("seed", "an integer >= 0")
        if not isinstance(self.days, int | np.integer) or not 1 <= self.days <= 3660:
            raise bad("days", "an integer number of days in 1..3660")
        if not (self.scale > 0 and math.isfinite(self.scale)):
            raise bad("scale", "a finite number > 0")
        if self.scale * self.days / 365 > MAX_SCALE_YEARS:
            raise bad("scale", f"scale x years <= {MAX_SCALE_YEARS} (about 12 million incidents; here "
                               f"{self.scale * self.days / 365:,.0f} for {self.days} days)")
        if not isinstance(self.n_series, int | np.integer) or not 0 <= self.n_series <= MAX_SERIES:
            raise bad("n_series", f"an integer in 0..{MAX_SERIES:,}")
        if not isinstance(self.n_areas, int | np.integer) or not 2 <= self.n_areas <= 400:
            raise bad("n_areas", "an integer in 2..400")
        if not self.disparity >= 0:
            raise bad("disparity", "a number >= 0 (0 = balanced patrol)")
        if not 0 <= self.branching_ratio < 1:
            raise bad("branching_ratio", "0 <= θ < 1 (a sub-critical process)")
        if not self.omega_per_day > 0:
            raise bad("omega_per_day", "a decay rate > 0 per day")
        if not 0 < self.sigma_m <= 2000:
            raise bad("sigma_m", "a spatial spread in (0, 2000] metres")
        if not self.discovery_rate >= 0:
            raise bad("discovery_rate", "a number >= 0")
        if self.recording not in ("thinned", "complete"):
            raise bad("recording", "'thinned' or 'complete'")
        if not 0 <= self.solved_fraction <= 1:
            raise bad("solved_fraction", "a share in [0, 1]")
        if not 2 <= self.extent_km <= 60:
            raise bad("extent_km", "a side in [2, 60] km")
        if not isinstance(self.population, int | np.integer) or self.population < 0:
            raise bad("population", "an integer >= 0")
        if not -1 < self.trend < 1:
            raise bad("trend", "a relative change in (-1, 1)")
        if not 0 <= self.seasonal_amplitude < 1:
            raise bad("seasonal_amplitude", "an amplitude in [0, 1)")
        try:
            self._start_utc()
        except (ValueError, KeyError) as exc:
            raise InvalidParameterError(
                f"SyntheticCity(start={self.start!r}, timezone={self.timezone!r}): {exc}; "
                "expected a date YYYY-MM-DD and an IANA time zone"
            ) from exc

    def _start_utc(self) -> pd.Timestamp:
        return pd.Timestamp(self.start).tz_localize(self.timezone).tz_convert("UTC")

    # generation -------------------------------------------------------------------
    def generate(self, progress: Progress | None = None) -> CityData:
        """Simulate the city. ``progress(step, fraction_done)`` is called between steps."""
        self._check()
        say: Progress = progress if progress is not None else (lambda _s, _f: None)
        streams = dict(zip(_STREAMS, np.random.SeedSequence(int(self.seed)).spawn(len(_STREAMS)), strict=True))
        rngs = {k: np.random.default_rng(v) for k, v in streams.items()}
        days = int(self.days)
        size_m = float(self.extent_km) * 1000.0
        x0 = round(440_000.0 - size_m / 2.0)
        y0 = round(4_630_000.0 - size_m / 2.0)

        say("geometry", 0.0)
        geo = build_geometry(rngs["geometry"], x0=x0, y0=y0, size_m=size_m, n_areas=int(self.n_areas), fine_m=_FINE_M)
        surf = _surfaces(rngs["surfaces"], geo, int(self.n_areas), float(self.population), float(self.disparity),
                         float(self.discovery_rate))

        say("background", 0.15)
        start_utc = self._start_utc()
        n_bins = days * BINS_PER_DAY
        hour, dow, doy = local_clock(start_utc, n_bins, self.timezone)
        t_bins = (np.arange(n_bins) + 0.5) / BINS_PER_DAY
        g = np.stack([
            temporal_profile(p, local_hour=hour, local_dow=dow, t_days=t_bins, day_of_year=doy, days=float(days),
                             trend=float(self.trend), seasonal_amplitude=float(self.seasonal_amplitude))
            for p in OFFENSES
        ])
        expected_bg = np.array([p.background_per_day * float(self.scale) * days for p in OFFENSES])
        rb = rngs["background"]
        bt, bxy, bo = [], [], []
        for k in range(len(OFFENSES)):
            n = int(rb.poisson(expected_bg[k]))
            t, xy = sample_background(rb, geo, surf.density[k], g[k], n)
            bt.append(t)
            bxy.append(xy)
            bo.append(np.full(n, k, np.int64))
        say("near repeats", 0.3)
        cas = simulate_cascade(
            rngs["cascade"], geo, t0=np.concatenate(bt), xy0=np.concatenate(bxy), offense0=np.concatenate(bo),
            theta=float(self.branching_ratio), omega=float(self.omega_per_day), sigma_m=float(self.sigma_m),
            days=float(days),
        )
        say("series", 0.4)
        ser = _plant_series(rngs["series"], geo, surf, int(self.n_series), days, hour)

        # all latent events, in time order
        # rounded as written (1e-8 day, 0.1 m), so truth files and arrays agree exactly
        t_all = np.round(np.concatenate([cas.t, ser.t]), 8)
        xy_all = np.round(np.concatenate([cas.xy, ser.xy]), 1)
        off_all = np.concatenate([cas.offense, ser.offense])
        comp_all = np.concatenate([np.where(cas.parent < 0, 0, 1), np.full(len(ser.t), 2)]).astype(np.int64)
        par_all = np.concatenate([cas.parent, np.full(len(ser.t), -1)])
        gen_all = np.concatenate([cas.generation, np.zeros(len(ser.t), np.int64)])
        sidx_all = np.concatenate([np.full(len(cas.t), -1), ser.series])
        order = np.lexsort((np.arange(len(t_all)), t_all))
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        t_all, xy_all, off_all, comp_all, gen_all, sidx_all = (
            a[order] for a in (t_all, xy_all, off_all, comp_all, gen_all, sidx_all)
        )
        par_all = par_all[order]
        par_all = np.where(par_all >= 0, rank[np.maximum(par_all, 0)], -1)
        n_lat = len(t_all)
        ser_member = np.full(len(ser.t), -1, np.int64)
        ser_member[:] = rank[len(cas.t):]  # latent index of each series event

        area_all = geo.area_of(xy_all)
        say("recording", 0.5)
        rr = rngs["recording"]
        u_rep, u_disc = rr.random(n_lat), rr.random(n_lat)
        fcol = np.clip(((xy_all[:, 0] - geo.x0) / geo.fine_m).astype(np.int64), 0, geo.nfx - 1)
        frow = np.clip(((xy_all[:, 1] - geo.y0) / geo.fine_m).astype(np.int64), 0, geo.nfy - 1)
        p_rep = np.array([p.report_prob for p in OFFENSES])[off_all]
        p_disc = surf.discovery[frow, fcol]
        reported = u_rep < p_rep
        discovered = ~reported & (u_disc < p_disc)
        if self.recording == "complete":
            recorded = np.ones(n_lat, dtype=bool)
        else:
            recorded = reported | discovered | (comp_all == 2)
        source = np.where(discovered, "discovered", "reported")
        p_record = p_rep + (1.0 - p_rep) * p_disc if self.recording == "thinned" else np.ones(n_lat)
        p_record = np.where(comp_all == 2, 1.0, p_record)  # planted series are always recorded

        say("marks and narratives", 0.6)
        rec = np.flatnonzero(recorded)
        incident_ids = _ids(f"SC{int(self.seed)}-", len(rec))
        lat_incident = np.full(n_lat, "", dtype=object)
        lat_incident[rec] = incident_ids
        n_solved = round(float(self.solved_fraction) * ser.n_series)
        solved_idx = np.sort(rngs["series"].permutation(ser.n_series)[:n_solved]) if ser.n_series else np.array([], np.int64)
        series_names = [f"SER-{k + 1:03d}" for k in range(ser.n_series)]
        frame = _marks(
            rngs["marks"], rngs["narrative"], geo=geo, start_utc=start_utc, hour=hour,
            t=t_all[rec], xy=xy_all[rec], off=off_all[rec], sidx=sidx_all[rec], discovered=discovered[rec], area_idx=area_all[rec],
            ser=ser, incident_ids=incident_ids, series_names=series_names,
            solved=set(int(i) for i in solved_idx),
        )
        areas = _areas(geo, surf)

        say("truth", 0.8)
        truth = _truth(
            self, geo=geo, surf=surf, start_utc=start_utc, g=g, expected_bg=expected_bg,
            t=t_all, xy=xy_all, off=off_all, comp=comp_all, par=par_all, gen=gen_all, sidx=sidx_all,
            recorded=recorded, area_idx=area_all, source=source, p_record=p_record, lat_incident=lat_incident,
            series_names=series_names,
        )
        series_map: dict[str, tuple[str, ...]] = {}
        for k, name in enumerate(series_names):
            members = np.sort(ser_member[ser.series == k])
            series_map[name] = tuple(str(s) for s in lat_incident[members])
        say("incident table", 0.9)
        table = IncidentTable(_table_frame(frame))
        say("done", 1.0)
        return CityData(
            incidents=table,
            frame=frame,
            areas=areas,
            series=series_map,
            solved=frozenset(series_names[i] for i in solved_idx),
            truth=truth,
            geometry=geo,
        )


# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Surfaces:
    density: NDArray[np.float64]  # (n_off, nfy, nfx), sums to 1 per offense
    pop: NDArray[np.float64]  # residential surface (sums to 1)
    com: NDArray[np.float64]
    share_b: NDArray[np.float64]  # per area
    population: NDArray[np.int64]  # per area
    group: NDArray[np.object_]  # per area
    patrol: NDArray[np.float64]  # (nfy, nfx)
    discovery: NDArray[np.float64]  # (nfy, nfx)


def _normalise(a: NDArray[np.float64], inside: NDArray[np.float64]) -> NDArray[np.float64]:
    w = a * inside
    return np.asarray(w / w.sum(), dtype=np.float64)


def _inside_points(rng: np.random.Generator, geo: CityGeometry, density: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    return sample_places(rng, geo, density, n)


def _surfaces(rng: np.random.Generator, geo: CityGeometry, n_areas: int, population: float, disparity: float,
              discovery_rate: float) -> _Surfaces:
    gx, gy = geo.fine_centres
    uniform = _normalise(np.ones_like(gx), geo.inside)
    size = geo.nfx * geo.fine_m
    # residential: broad bumps over a floor; commercial: a downtown and sub-centres
    pc = _inside_points(rng, geo, uniform, 5)
    pop = _normalise(0.3 / (size * size) + gaussian_bumps(gx, gy, pc, rng.uniform(0.12, 0.25, 5) * size,
                                                        rng.uniform(0.5, 1.0, 5)), geo.inside)
    cx, cy = geo.outline.centroid.x, geo.outline.centroid.y
    down = np.array([[cx, cy]]) + rng.normal(0.0, size * 0.05, (1, 2))
    subs = _inside_points(rng, geo, uniform, 3)
    com = _normalise(0.05 / (size * size) + gaussian_bumps(gx, gy, np.vstack([down, subs]),
                                                          np.array([0.05 * size, 0.03 * size, 0.03 * size, 0.025 * size]),
                                                          np.array([1.0, 0.4, 0.35, 0.3])), geo.inside)
    dens = []
    for p in OFFENSES:
        base = 0.5 * pop + 0.5 * com
        centres = _inside_points(rng, geo, base, p.n_hotspots)
        hot = _normalise(gaussian_bumps(gx, gy, centres, rng.uniform(120.0, 400.0, p.n_hotspots),
                                        rng.uniform(0.4, 1.0, p.n_hotspots)), geo.inside)
        w_pop, w_com, w_hot = p.surface
        dens.append(_normalise(w_pop * pop + w_com * com + w_hot * hot + 0.05 * uniform, geo.inside))
    density = np.stack(dens)

    # demographics: a smooth field with three group-b centres, thresholded at its area median.
    # Of 24 candidate fields the one whose groups have the most equal expected background
    # events per resident is kept, so the *true* rate does not differ by group (balanced).
    fa = geo.fine_area.ravel()
    pop_area = np.bincount(fa, weights=pop.ravel(), minlength=n_areas)
    rate = np.tensordot(np.array([p.background_per_day for p in OFFENSES]), density, axes=1)
    rate_area = np.bincount(fa, weights=rate.ravel(), minlength=n_areas)
    best: tuple[float, NDArray[np.float64]] | None = None
    for _ in range(24):
        bc = _inside_points(rng, geo, uniform, 3)
        field = gaussian_bumps(gx, gy, bc, rng.uniform(0.12, 0.2, 3) * size, np.ones(3))
        f_area = np.bincount(fa, weights=(pop * field).ravel(), minlength=n_areas) / np.maximum(pop_area, 1e-300)
        thr = float(np.median(f_area))
        spread = float(np.std(f_area)) or 1.0
        share_field = 0.04 + 0.92 / (1.0 + np.exp(-2.2 * (field - thr) / spread))
        cand = np.bincount(fa, weights=(pop * share_field).ravel(), minlength=n_areas) / np.maximum(pop_area, 1e-300)
        is_b = np.round(cand, 4) >= 0.5
        if not 0.25 <= is_b.mean() <= 0.75:
            continue
        ratio = (rate_area[is_b].sum() / pop_area[is_b].sum()) / (rate_area[~is_b].sum() / pop_area[~is_b].sum())
        score = abs(math.log(ratio))
        if best is None or score < best[0]:
            best = (score, cand)
    # (tiny cities where no candidate splits the areas fall back to alternating labels)
    share_b = np.where(np.arange(n_areas) % 2 == 1, 0.7, 0.3) if best is None else best[1]
    share_b = np.round(share_b, 4)
    group = np.where(share_b >= 0.5, "group_b", "group_a").astype(object)
    people = np.round(pop_area * population).astype(np.int64)

    # patrol follows the smoothed expected background rate, plus the planted disparity
    smooth = gaussian_filter(rate, sigma=400.0 / geo.fine_m, mode="constant")
    inside = geo.inside > 0
    smooth = smooth / smooth[inside].mean()
    patrol = (0.4 + 0.6 * smooth) * np.where(group[geo.fine_area] == "group_b", 1.0 + disparity, 1.0)
    patrol = np.where(inside, patrol, 0.0)
    discovery = 1.0 - np.exp(-discovery_rate * patrol)
    return _Surfaces(density=density, pop=pop, com=com, share_b=share_b, population=people, group=group,
                     patrol=patrol, discovery=discovery)


# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Series:
    n_series: int
    t: NDArray[np.float64]
    xy: NDArray[np.float64]
    offense: NDArray[np.int64]
    series: NDArray[np.int64]  # series index per event
    prefs: list[dict[str, str]]  # per series: preferred M.O. values (and premise)
    consistency: NDArray[np.float64]  # per series
    template: NDArray[np.int64]  # per series
    signatures: list[tuple[str, ...]]  # per series


def _plant_series(rng: np.random.Generator, geo: CityGeometry, surf: _Surfaces, n_series: int, days: int,
                  local_hour: NDArray[np.float64]) -> _Series:
    names = [n for n, _ in SERIES_OFFENSES]
    weights = np.array([w for _, w in SERIES_OFFENSES])
    ts, xys, offs, sids = [], [], [], []
    prefs: list[dict[str, str]] = []
    templates, sigs = [], []
    consistency = rng.uniform(0.7, 0.92, n_series)
    # local clock hour at the start of each simulation day (0 unless a DST change happened)
    clock0 = local_hour[::BINS_PER_DAY] - 5.0 / 60.0
    for s in range(n_series):
        name = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        k = _NAMES.index(name)
        prof = OFFENSES[k]
        size = int(rng.integers(3, 16))
        anchor = sample_places(rng, geo, surf.pop if name in ("burglary", "vehicle_theft") else surf.com * 0.5 + surf.pop * 0.5, 1)[0]
        spread = float(rng.uniform(250.0, 900.0))
        xy = anchor + rng.normal(0.0, spread, (size, 2))
        for _ in range(50):
            out = ~geo.contains(xy[:, 0], xy[:, 1])
            if not out.any():
                break
            xy[out] = anchor + rng.normal(0.0, spread, (int(out.sum()), 2))
        out = ~geo.contains(xy[:, 0], xy[:, 1])
        xy[out] = anchor
        gaps = rng.exponential(float(rng.uniform(2.0, 15.0)), size - 1)
        span = float(gaps.sum())
        if span > days * 0.9:
            gaps *= days * 0.9 / span
            span = float(gaps.sum())
        first = float(rng.uniform(0.0, max(days - span - 1.0, 0.0)))
        day = np.floor(first + np.concatenate([[0.0], np.cumsum(gaps)])).astype(np.int64)
        day = np.clip(day, 0, days - 1)
        pref_hour = float(rng.uniform(0.0, 24.0))
        h_local = (pref_hour + rng.normal(0.0, 1.2, size)) % 24.0
        t = day + ((h_local - clock0[day]) % 24.0) / 24.0
        t = np.clip(t, 0.0, days - 1e-6)
        t.sort()
        ts.append(t)
        xys.append(xy)
        offs.append(np.full(size, k, np.int64))
        sids.append(np.full(size, s, np.int64))
        pref = {a: str(_choice(rng, vals, 1)[0]) for a, vals in prof.mo.items() if a not in ("suspect_count",)}
        pref["suspect_count"] = str(_choice(rng, prof.mo["suspect_count"], 1)[0])
        pref["premise"] = str(_choice(rng, prof.premises, 1)[0])
        prefs.append(pref)
        templates.append(int(rng.integers(0, len(prof.templates))))
        n_sig = 1 + int(rng.random() < 0.5)
        sigs.append(tuple(SIGNATURES[i] for i in rng.choice(len(SIGNATURES), n_sig, replace=False)))
    if n_series == 0:
        empty = np.zeros(0)
        return _Series(0, empty, np.zeros((0, 2)), empty.astype(np.int64), empty.astype(np.int64), [], consistency,
                       np.zeros(0, np.int64), [])
    return _Series(
        n_series=n_series,
        t=np.concatenate(ts),
        xy=np.concatenate(xys),
        offense=np.concatenate(offs),
        series=np.concatenate(sids),
        prefs=prefs,
        consistency=consistency,
        template=np.array(templates, np.int64),
        signatures=sigs,
    )


# --------------------------------------------------------------------------------------
def _cat(codes: NDArray[np.int64], categories: Sequence[str]) -> Any:
    """A categorical column from integer codes (-1 = missing) and its category list."""
    return pd.Categorical.from_codes(np.asarray(codes, dtype=np.int64), dtype=pd.CategoricalDtype(pd.Index(list(categories), dtype=object)))


def _ids(prefix: str, n: int) -> NDArray[np.object_]:
    """``prefix`` + a 7-digit running number, for ``n`` rows."""
    nums = np.strings.zfill(np.arange(1, n + 1).astype(np.dtypes.StringDType()), 7)
    return np.asarray(np.strings.add(prefix, nums).astype(object), dtype=object)


def _to_us(start_utc: pd.Timestamp, t_days: NDArray[np.float64]) -> NDArray[np.int64]:
    base = start_utc.value // 1000  # microseconds since epoch
    return np.asarray(base + np.round(t_days * 86_400e6).astype(np.int64), dtype=np.int64)


def _utc(us: NDArray[np.int64]) -> pd.Series:
    return pd.Series(us.astype("datetime64[us]")).dt.tz_localize("UTC")


_MIN = 60_000_000
_5MIN = 5 * _MIN


class _Vocab:
    """Category lists (in order of first appearance) and codes for the string columns."""

    def __init__(self) -> None:
        self.mo: dict[str, list[str]] = {a: [] for a in MO_ATTRIBUTES}
        for p in OFFENSES:
            for a, pairs in p.mo.items():
                for v, _ in pairs:
                    if v and v not in self.mo[a]:
                        self.mo[a].append(v)
        self.mo["time_of_day"] = list(TIME_OF_DAY)
        self.premise = list(dict.fromkeys(v for p in OFFENSES for v, _ in p.premises))
        self.raw = list(dict.fromkeys(v for p in OFFENSES for v in p.raw_labels))

    def code(self, attr: str, value: str | None) -> int:
        if not value:
            return -1
        cats = self.premise if attr == "premise" else self.mo[attr]
        return cats.index(value)

    def draw(self, rng: np.random.Generator, attr: str, pairs: tuple[tuple[str, float], ...], n: int) -> NDArray[np.int64]:
        local = np.array([self.code(attr, v) for v, _ in pairs], dtype=np.int64)
        p = np.array([w for _, w in pairs], dtype=np.float64)
        return np.asarray(local[rng.choice(len(local), size=n, p=p / p.sum())], dtype=np.int64)


_VOCAB = _Vocab()
_COUNT_WORDS = {"1": "one offender", "2": "two offenders", "3": "three offenders", "4": "four offenders"}


def _suspect_phrases(count: str, age: str) -> dict[str, str]:
    """Narrative phrases about the suspects ("Two offenders (aged 18-24) involved.", ...)."""
    if count in _COUNT_WORDS:
        base = _COUNT_WORDS[count] + (f" (aged {age})" if age else "")
        return {"suspects_phrase": base[0].upper() + base[1:] + " involved.", "suspects_phrase_lc": base,
                "suspects_phrase_lc_unseen": base + " seen"}
    return {"suspects_phrase": "No suspect was seen.", "suspects_phrase_lc": "an unseen offender",
            "suspects_phrase_lc_unseen": "no suspect seen"}


def _combine(columns: list[NDArray[np.int64]]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Unique rows of small non-negative-or--1 integer columns: (unique row index, inverse)."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for c in columns:
        c1 = c + 1
        key = key * (int(c1.max(initial=0)) + 1) + c1
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def _text_categorical(texts: list[str], inverse: NDArray[np.int64]) -> Any:
    """A categorical column from per-unique-key texts (duplicate texts merged)."""
    ids: dict[str, int] = {}
    code_of = np.array([ids.setdefault(t, len(ids)) for t in texts], dtype=np.int64)
    return _cat(code_of[inverse], list(ids))


def _marks(
    rm: np.random.Generator,
    rn: np.random.Generator,
    *,
    geo: CityGeometry,
    start_utc: pd.Timestamp,
    hour: NDArray[np.float64],
    t: NDArray[np.float64],
    xy: NDArray[np.float64],
    off: NDArray[np.int64],
    sidx: NDArray[np.int64],
    discovered: NDArray[np.bool_],
    area_idx: NDArray[np.int64],
    ser: _Series,
    incident_ids: NDArray[np.object_],
    series_names: list[str],
    solved: set[int],
) -> pd.DataFrame:
    """The recorded incidents in the ``incidents.csv`` layout (typed: times, categoricals)."""
    n = len(t)
    voc = _VOCAB
    mo = {a: np.full(n, -1, np.int64) for a in MO_ATTRIBUTES}
    premise = np.full(n, -1, np.int64)
    raw = np.full(n, -1, np.int64)
    windowed = np.zeros(n, dtype=bool)
    win_h = np.zeros(n)
    delay_min = np.zeros(n)
    for k, p in enumerate(OFFENSES):
        sel = np.flatnonzero(off == k)
        m = len(sel)
        raw[sel] = np.array([voc.raw.index(v) for v in p.raw_labels])[rm.integers(0, len(p.raw_labels), m)]
        premise[sel] = voc.draw(rm, "premise", p.premises, m)
        for a, vals in p.mo.items():
            mo[a][sel] = voc.draw(rm, a, vals, m)
        windowed[sel] = rm.random(m) < p.window_prob
        win_h[sel] = np.clip(rm.lognormal(math.log(p.window_median_h), 0.8, m), 0.25, 96.0)
        delay_min[sel] = rm.lognormal(math.log(p.report_delay_median_min), 1.0, m)
    # series members repeat their offender's profile, with noise
    in_series = np.flatnonzero(sidx >= 0)
    if len(in_series):
        u = rm.random((len(in_series), len(MO_ATTRIBUTES) + 1))
        for j, i in enumerate(in_series):
            s = int(sidx[i])
            c = float(ser.consistency[s])
            for q, a in enumerate((*MO_ATTRIBUTES, "premise")):
                pv = ser.prefs[s].get(a)
                if pv is None or u[j, q] >= c:
                    continue
                if a == "premise":
                    premise[i] = voc.code(a, pv)
                else:
                    mo[a][i] = voc.code(a, pv)
    # times: the true time t lies inside [from, to]; heaping on point times
    us = _to_us(start_utc, t)
    v = rm.random(n)
    heap = rm.random(n)
    lo = us - np.round(v * win_h * 3600e6).astype(np.int64)
    hi = lo + np.round(win_h * 3600e6).astype(np.int64)
    w_from = (lo // _5MIN) * _5MIN
    w_to = -((-hi) // _5MIN) * _5MIN
    point = np.where(heap < 0.08, (us // (60 * _MIN)) * 60 * _MIN,
                     np.where(heap < 0.18, (us // _5MIN) * _5MIN, (us // _MIN) * _MIN))
    occ_from = np.where(windowed, w_from, point)
    occ_to = np.where(windowed, w_to, point)
    delay_us = np.where(discovered, rm.uniform(0.0, 15.0, n), delay_min) * _MIN
    rep = occ_to + np.round(delay_us).astype(np.int64)
    rep = -((-rep) // _MIN) * _MIN
    # time of day from the true local hour
    b = np.clip((t * BINS_PER_DAY).astype(np.int64), 0, len(hour) - 1)
    lh = (hour[b] - 5.0 / 60.0 + (t * BINS_PER_DAY - b) / 6.0) % 24.0
    mo["time_of_day"] = (lh // 6).astype(np.int64) % 4

    # narratives: one text per distinct combination of the fields they use
    tpl_pick = rn.random(n)
    tpl_any = rn.integers(0, 1000, n)
    sig_pick = rn.random(n)
    sig_any = rn.integers(0, len(SIGNATURES), n)
    n_tpl = np.array([len(p.templates) for p in OFFENSES])[off]
    ser_tpl = ser.template[np.maximum(sidx, 0)] if ser.n_series else np.zeros(n, np.int64)
    choice = np.where((sidx >= 0) & (tpl_pick < 0.85), ser_tpl, tpl_any) % n_tpl
    # suffix: 0 none, 1 + s series signature(s), 1 + n_series + j one background signature
    suffix = np.where(sidx >= 0, 1 + sidx, np.where(sig_pick < 0.1, 1 + ser.n_series + sig_any, 0))
    used = ("target", "entry_method", "property_taken", "weapon", "suspect_count", "suspect_age_band")
    first, inverse = _combine([off, choice, premise, suffix, *(mo[a] for a in used)])
    suffixes = ["", *(" " + " ".join(sg) for sg in ser.signatures), *(" " + sg for sg in SIGNATURES)]
    texts = []
    names = {a: [*voc.mo[a], ""] for a in used}  # code -1 picks the trailing ""
    cols = {a: mo[a][first].tolist() for a in used}
    f_off, f_choice, f_prem, f_suf = (c[first].tolist() for c in (off, choice, premise, suffix))
    for r in range(len(first)):
        val = {a: names[a][cols[a][r]] for a in used}
        text = OFFENSES[f_off[r]].templates[f_choice[r]].format(
            **val, premise=voc.premise[f_prem[r]], taken_verb="missing",
            **_suspect_phrases(val["suspect_count"], val["suspect_age_band"]),
        )
        texts.append(text[0].upper() + text[1:] + suffixes[f_suf[r]])
    narrative = _text_categorical(texts, inverse)

    to_wgs = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    xr, yr = np.round(xy[:, 0], 1), np.round(xy[:, 1], 1)
    lon, lat = to_wgs.transform(xr, yr)
    solved_code = np.array([k if k in solved else -1 for k in range(len(series_names))] + [-1], dtype=np.int64)
    series_code = solved_code[np.where(sidx >= 0, sidx, len(series_names))]
    area_ids = [f"A{i + 1:02d}" for i in range(len(geo.seeds))]
    data: dict[str, Any] = {
        "incident_id": _strings(incident_ids),
        "offense": _cat(off, list(_NAMES)),
        "offense_raw": _cat(raw, voc.raw),
        "occurred_from": _utc(occ_from),
        "occurred_to": _utc(occ_to),
        "reported_at": _utc(rep),
        "x_m": xr,
        "y_m": yr,
        "lon": np.round(np.asarray(lon), 6),
        "lat": np.round(np.asarray(lat), 6),
        "crs": _cat(np.zeros(n, np.int64), [CRS]),
        "premise": _cat(premise, voc.premise),
        "area": _cat(area_idx, area_ids),
        "source": _cat(discovered.astype(np.int64), ["reported", "discovered"]),
        "narrative": narrative,
        **{a: _cat(mo[a], voc.mo[a]) for a in MO_ATTRIBUTES},
        "series_id": _cat(series_code, series_names),
    }
    return pd.DataFrame(data, columns=list(CSV_COLUMNS))


def _table_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The CSV frame in the IncidentTable layout: M.O. columns folded into a JSON ``attrs``."""
    keys = sorted((*MO_ATTRIBUTES, "series_id"))
    codes = [np.asarray(frame[k].cat.codes, dtype=np.int64) for k in keys]
    first, inverse = _combine(codes)
    cats = {k: list(frame[k].cat.categories) for k in keys}
    texts = []
    for i in first.tolist():
        d: dict[str, Any] = {}
        for k, c in zip(keys, codes, strict=True):
            if c[i] >= 0:
                v = cats[k][c[i]]
                d[k] = str(v)
        texts.append(json.dumps(d, sort_keys=True))
    out = frame[[c for c in frame.columns if c not in keys]].copy()
    out["attrs"] = _text_categorical(texts, inverse)
    out["dataset"] = "synth"
    for name in out.columns:
        if isinstance(out[name].dtype, pd.CategoricalDtype):
            out[name] = _arrow_strings(out[name])
    return out


def _strings(values: NDArray[np.object_]) -> pd.Series:
    """Python strings as an Arrow-backed ``string`` column."""
    return pd.Series(pd.arrays.ArrowStringArray(pa.array(values, type=pa.string())))


def _arrow_strings(col: pd.Series) -> pd.Series:
    """A categorical column as Arrow-backed ``string`` (decoded in Arrow, not row by row in Python)."""
    codes = col.cat.codes.to_numpy(np.int32)
    cats = pa.array([str(c) for c in col.cat.categories], type=pa.string())
    decoded = pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), cats).cast(pa.string())
    return pd.Series(pd.arrays.ArrowStringArray(decoded), index=col.index)


def _areas(geo: CityGeometry, surf: _Surfaces) -> tuple[Area, ...]:
    out = []
    for k, poly in enumerate(geo.polygons):
        sb = float(surf.share_b[k])
        out.append(Area(
            area_id=f"A{k + 1:02d}",
            name=geo.names[k],
            wkt=shapely.to_wkt(poly, rounding_precision=2),
            population=int(surf.population[k]),
            crs=CRS,
            audit={
                "group": str(surf.group[k]),
                "share_group_a": round(1.0 - sb, 4),
                "share_group_b": round(sb, 4),
                "area_km2": round(poly.area / 1e6, 4),
            },
        ))
    return tuple(out)


def _truth(
    city: SyntheticCity,
    *,
    geo: CityGeometry,
    surf: _Surfaces,
    start_utc: pd.Timestamp,
    g: NDArray[np.float64],
    expected_bg: NDArray[np.float64],
    t: NDArray[np.float64],
    xy: NDArray[np.float64],
    off: NDArray[np.int64],
    comp: NDArray[np.int64],
    par: NDArray[np.int64],
    gen: NDArray[np.int64],
    sidx: NDArray[np.int64],
    recorded: NDArray[np.bool_],
    area_idx: NDArray[np.int64],
    source: NDArray[np.str_],
    p_record: NDArray[np.float64],
    lat_incident: NDArray[np.object_],
    series_names: list[str],
) -> Truth:
    days = int(city.days)
    theta, omega, sigma = float(city.branching_ratio), float(city.omega_per_day), float(city.sigma_m)
    n_off = len(OFFENSES)
    p_rep = np.array([p.report_prob for p in OFFENSES])
    if city.recording == "thinned":
        p_rec_fine = p_rep[:, None, None] + (1.0 - p_rep[:, None, None]) * surf.discovery[None]
    else:
        p_rec_fine = np.ones((n_off, geo.nfy, geo.nfx))
    nc = geo.nfx // 5
    ncy = geo.nfy // 5

    def pool(a: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(a[: ncy * 5, : nc * 5].reshape(ncy, 5, nc, 5).sum(axis=(1, 3)), dtype=np.float64)

    base_mask = comp != 2
    inside_mass = gaussian_filter(geo.inside, sigma=sigma / geo.fine_m, mode="constant", truncate=5.0)
    fcol = np.clip(((xy[:, 0] - geo.x0) / geo.fine_m).astype(np.int64), 0, geo.nfx - 1)
    frow = np.clip(((xy[:, 1] - geo.y0) / geo.fine_m).astype(np.int64), 0, geo.nfy - 1)
    bg_cells, exp_cells, rec_cells, daily, daily_rec = [], [], [], [], []
    exp_fine_all = np.zeros((geo.nfy, geo.nfx))
    rec_fine_all = np.zeros((geo.nfy, geo.nfx))
    day_edges = np.arange(days + 1) * BINS_PER_DAY
    for k in range(n_off):
        sel = base_mask & (off == k)
        w = theta * (1.0 - np.exp(-omega * (days - t[sel])))
        trig = triggered_fine(geo, xy[sel], w, sigma)
        bg = expected_bg[k] * surf.density[k]
        bg_cells.append(pool(bg))
        exp_cells.append(pool(bg + trig))
        rec_cells.append(pool((bg + trig) * p_rec_fine[k]))
        exp_fine_all += bg + trig
        rec_fine_all += (bg + trig) * p_rec_fine[k]
        gsum = np.add.reduceat(g[k], day_edges[:-1]) / g[k].sum()
        rec_mass = gaussian_filter(geo.inside * p_rec_fine[k], sigma=sigma / geo.fine_m, mode="constant", truncate=5.0)
        wt_all = theta * inside_mass[frow[sel], fcol[sel]]
        wt_rec = theta * rec_mass[frow[sel], fcol[sel]]
        daily.append(expected_bg[k] * gsum + daily_triggered(t[sel], wt_all, days, omega))
        daily_rec.append(expected_bg[k] * gsum * float((surf.density[k] * p_rec_fine[k]).sum())
                         + daily_triggered(t[sel], wt_rec, days, omega))
    series_counts = np.zeros((ncy, nc))
    if (comp == 2).any():
        s = comp == 2
        cell = np.clip(frow[s] // 5, 0, ncy - 1) * nc + np.clip(fcol[s] // 5, 0, nc - 1)
        series_counts = np.bincount(cell, minlength=ncy * nc).reshape(ncy, nc).astype(np.float64)
    inside_c = pool(geo.inside)
    patrol_c = np.where(inside_c > 0, pool(surf.patrol * geo.inside) / np.maximum(inside_c, 1e-12), 0.0)
    disc_c = np.where(inside_c > 0, pool(surf.discovery * geo.inside) / np.maximum(inside_c, 1e-12), 0.0)

    n_areas = len(geo.seeds)
    comp_names = np.array(["background", "triggered", "series"], dtype=object)
    area_ids = np.array([f"A{i + 1:02d}" for i in range(n_areas)], dtype=object)
    us = _to_us(start_utc, t)
    events = pd.DataFrame({
        "event_id": np.arange(len(t), dtype=np.int64),
        "incident_id": _strings(lat_incident),
        "parent_event_id": par.astype(np.int64),
        "generation": gen.astype(np.int64),
        "component": _cat(comp, list(comp_names)),
        "offense": _cat(off, list(_NAMES)),
        "t_days": np.round(t, 8),
        "occurred_at": _utc(us),
        "x_m": np.round(xy[:, 0], 1),
        "y_m": np.round(xy[:, 1], 1),
        "area": _cat(area_idx, list(area_ids)),
        "series_id": _cat(sidx, series_names),
        "recorded": recorded,
        "source": _cat(np.where(recorded, (source == "discovered").astype(np.int64), -1),
                                            categories=["reported", "discovered"]),
        "p_recorded": np.round(p_record, 6),
    })
    # per-area figures
    fa = geo.fine_area.ravel()
    inside_w = geo.inside.ravel()
    patrol_area = np.bincount(fa, weights=(surf.patrol.ravel() * inside_w), minlength=n_areas) / np.maximum(
        np.bincount(fa, weights=inside_w, minlength=n_areas), 1e-12)
    disc_area = np.bincount(fa, weights=(surf.discovery.ravel() * inside_w), minlength=n_areas) / np.maximum(
        np.bincount(fa, weights=inside_w, minlength=n_areas), 1e-12)
    areas = pd.DataFrame({
        "area_id": pd.array(area_ids, dtype="string"),
        "group": pd.array(surf.group, dtype="string"),
        "population": surf.population,
        "share_group_b": surf.share_b,
        "patrol_mean": np.round(patrol_area, 6),
        "discovery_prob_mean": np.round(disc_area, 6),
        "expected_latent": np.round(np.bincount(fa, weights=exp_fine_all.ravel(), minlength=n_areas), 4),
        "expected_recorded": np.round(np.bincount(fa, weights=rec_fine_all.ravel(), minlength=n_areas), 4),
        "n_latent": np.bincount(area_idx, minlength=n_areas),
        "n_recorded": np.bincount(area_idx[recorded], minlength=n_areas),
        "n_reported": np.bincount(area_idx[recorded & (source == "reported")], minlength=n_areas),
        "n_discovered": np.bincount(area_idx[recorded & (source == "discovered")], minlength=n_areas),
        "n_series_events": np.bincount(area_idx[comp == 2], minlength=n_areas),
    })
    groups = {}
    for name, part in areas.groupby("group", sort=True):
        people = int(part["population"].sum())
        groups[str(name)] = {
            "n_areas": len(part),
            "population": people,
            "expected_latent": round(float(part["expected_latent"].sum()), 4),
            "expected_recorded": round(float(part["expected_recorded"].sum()), 4),
            "expected_latent_per_1000_residents": round(1000.0 * float(part["expected_latent"].sum()) / max(people, 1), 4),
            "expected_recorded_per_1000_residents": round(1000.0 * float(part["expected_recorded"].sum()) / max(people, 1), 4),
            "patrol_mean": round(float(part["patrol_mean"].mean()), 6),
            "n_recorded": int(part["n_recorded"].sum()),
            "n_discovered": int(part["n_discovered"].sum()),
        }
    params: dict[str, Any] = {
        "generator": "crimelens.synth",
        "groups": groups,
        "generator_version": GENERATOR_VERSION,
        "crimelens_version": __version__,
        **city.get_params(),
        "crs": CRS,
        "start_utc": start_utc.isoformat(),
        "bbox_m": [geo.x0, geo.y0, geo.x0 + geo.nfx * geo.fine_m, geo.y0 + geo.nfy * geo.fine_m],
        "city_area_km2": round(geo.outline.area / 1e6, 4),
        "grid": {"x0": geo.x0, "y0": geo.y0, "cell_m": _CELL_M, "nx": nc, "ny": ncy, "fine_m": geo.fine_m},
        "trigger": {"theta": theta, "omega_per_day": omega, "sigma_m": sigma,
                    "mean_delay_days": 1.0 / omega, "same_offense_only": True,
                    "series_events_trigger": False},
        "offenses": {
            p.name: {
                "background_per_day": p.background_per_day * float(city.scale),
                "expected_background_events": round(float(expected_bg[k]), 4),
                "report_prob": p.report_prob,
                "window_prob": p.window_prob,
                "window_median_h": p.window_median_h,
                "daily_peaks_local_hour_width_weight": [list(x) for x in p.daily_peaks],
                "weekly_mon_to_sun": list(p.weekly),
                "surface_weights_pop_com_hot": list(p.surface),
                "n_hotspots": p.n_hotspots,
            }
            for k, p in enumerate(OFFENSES)
        },
        "recording": {
            "mode": city.recording,
            "p_reported": "report_prob[offense]",
            "p_discovered_if_not_reported": "1 - exp(-discovery_rate * patrol(x))",
            "patrol": "(0.4 + 0.6 * smoothed expected background rate / its city mean) * (1 + disparity if group_b else 1)",
            "discovery_rate": float(city.discovery_rate),
            "disparity": float(city.disparity),
            "patrol_mean_group_a": round(float(patrol_area[surf.group == "group_a"].mean()) if (surf.group == "group_a").any() else 0.0, 6),
            "patrol_mean_group_b": round(float(patrol_area[surf.group == "group_b"].mean()) if (surf.group == "group_b").any() else 0.0, 6),
        },
        "realised": {
            "n_latent": len(t),
            "n_background": int((comp == 0).sum()),
            "n_triggered": int((comp == 1).sum()),
            "n_series_events": int((comp == 2).sum()),
            "n_recorded": int(recorded.sum()),
            "n_reported": int((recorded & (source == "reported")).sum()),
            "n_discovered": int((recorded & (source == "discovered")).sum()),
            "offspring_share": round(float((comp == 1).sum() / max(int((comp != 2).sum()), 1)), 6),
        },
    }
    return Truth(
        params=params,
        trigger=TriggerParams(theta, omega, sigma),
        start=start_utc.to_pydatetime(),
        days=days,
        offenses=_NAMES,
        grid=Grid(geo.x0, geo.y0, _CELL_M, nc, ncy, CRS),
        events=events,
        areas=areas,
        intensity=np.stack(exp_cells),
        intensity_recorded=np.stack(rec_cells),
        background=np.stack(bg_cells),
        series_counts=series_counts,
        daily=np.stack(daily),
        daily_recorded=np.stack(daily_rec),
        patrol=patrol_c,
        discovery_prob=disc_c,
        _geo=geo,
        _density=surf.density,
        _p_record=p_rec_fine,
        _g=g,
        _expected_background=expected_bg,
    )
