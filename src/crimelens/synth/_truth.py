"""Ground truth of a synthetic city: the parameters, the latent events and the true intensity."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crimelens.domain import Grid, TimeWindow
from crimelens.errors import InvalidParameterError
from crimelens.synth._geometry import CityGeometry
from crimelens.synth._process import kernel_mass, triggered_fine

__all__ = ["TriggerParams", "Truth"]


@dataclass(frozen=True, slots=True)
class TriggerParams:
    """True self-excitation: branching ratio θ, decay ω (per day), spatial σ (metres).

    Triggering density: θ ω e^{-ω Δt} / (2π σ²) e^{-|Δx|² / (2σ²)}, same offense only.
    """

    theta: float
    omega_per_day: float
    sigma_m: float


@dataclass(frozen=True, eq=False)
class Truth:
    """What the generator knows and an analysis of the recorded incidents has to find.

    Attributes
    ----------
    params : every generator parameter (what ``truth/params.json`` holds).
    trigger : the true ETAS parameters (the same for every offense).
    start : the first instant of the simulation (local midnight of the start date, in UTC).
    days : length of the simulation in days.
    offenses : offense names, in the order of the first axis of intensity arrays.
    grid : the 150 m output grid (EPSG:32616) that ``intensity`` is given on.
    events : every latent event (background, triggered, series), one row each, including
        the ones that were never recorded; ``incident_id`` is empty for those.
    areas : per neighbourhood: audit attributes, patrol, expected and realised counts.
    intensity : ``(n_offense, ny, nx)`` expected latent count (background + triggered
        compensator) per 150 m cell over the whole period; planted series excluded.
    intensity_recorded : the same, times the probability of being recorded.
    background : the background part of ``intensity`` alone.
    series_counts : ``(ny, nx)`` realised planted-series incidents per cell.
    daily : ``(n_offense, days)`` expected latent count per day over the whole city.
    daily_recorded : the same for recorded incidents.
    patrol : ``(ny, nx)`` patrol intensity (mean over the inside of each cell).
    discovery_prob : ``(ny, nx)`` probability an unreported event is discovered.
    """

    params: Mapping[str, Any]
    trigger: TriggerParams
    start: datetime
    days: int
    offenses: tuple[str, ...]
    grid: Grid
    events: pd.DataFrame
    areas: pd.DataFrame
    intensity: NDArray[np.float64]
    intensity_recorded: NDArray[np.float64]
    background: NDArray[np.float64]
    series_counts: NDArray[np.float64]
    daily: NDArray[np.float64]
    daily_recorded: NDArray[np.float64]
    patrol: NDArray[np.float64]
    discovery_prob: NDArray[np.float64]
    # fine-raster state used by true_rate (30 m cells)
    _geo: CityGeometry
    _density: NDArray[np.float64]  # (n_off, nfy, nfx) background spatial density, sums to 1
    _p_record: NDArray[np.float64]  # (n_off, nfy, nfx) probability of being recorded
    _g: NDArray[np.float64]  # (n_off, n_bins) temporal profile, mean 1
    _expected_background: NDArray[np.float64]  # (n_off,) expected background events

    def __repr__(self) -> str:
        return (f"Truth(days={self.days}, offenses={len(self.offenses)}, n_events={len(self.events)}, "
                f"trigger={self.trigger})")

    @property
    def offspring_share(self) -> float:
        """Realised share of latent (non-series) events that were triggered by another."""
        ev = self.events
        base = ev[ev["component"] != "series"]
        return float((base["component"] == "triggered").mean())

    def true_rate(
        self,
        grid: Grid | None = None,
        *,
        offense: str | list[str] | None = None,
        window: TimeWindow | None = None,
        recorded: bool = False,
    ) -> NDArray[np.float64]:
        """Expected number of events per cell of ``grid`` (the 150 m grid if ``None``).

        The compensator of the true conditional intensity, given the realised history:
        background expectation plus, for each realised event, the part of its triggering
        kernel that falls in the cell and ``window`` (the whole period if ``None``). With
        ``recorded=True`` each place is weighted by its probability of being recorded.
        Planted series are not part of it. Resolution: 30 m (fine raster cells are mapped
        to ``grid`` by their centres). Returns a flat array in ``grid``'s cell order.
        """
        grid = self.grid if grid is None else grid
        names = self.offenses if offense is None else ([offense] if isinstance(offense, str) else offense)
        unknown = sorted(set(names) - set(self.offenses))
        if unknown:
            raise InvalidParameterError(
                f"Truth.true_rate(offense={unknown}): unknown offense; expected some of {list(self.offenses)}"
            )
        if window is None:
            a, b = 0.0, float(self.days)
        else:
            a = (window.start - self.start).total_seconds() / 86400.0
            b = (window.end - self.start).total_seconds() / 86400.0
        bins = np.arange(self._g.shape[1])
        lo, hi = a * 144.0, b * 144.0
        frac = np.clip(np.minimum(bins + 1, hi) - np.maximum(bins, lo), 0.0, 1.0)
        ev = self.events
        base = ev[ev["component"] != "series"]
        fine = np.zeros((self._geo.nfy, self._geo.nfx))
        trig = self.trigger
        for name in names:
            k = self.offenses.index(name)
            share = float((self._g[k] * frac).sum() / self._g[k].sum())
            part = self._expected_background[k] * share * self._density[k]
            sel = base[base["offense"] == name]
            t = sel["t_days"].to_numpy(np.float64)
            w = trig.theta * kernel_mass(t, a, b, trig.omega_per_day)
            part = part + triggered_fine(
                self._geo, sel[["x_m", "y_m"]].to_numpy(np.float64), w, trig.sigma_m
            )
            if recorded:
                part = part * self._p_record[k]
            fine += part
        gx, gy = self._geo.fine_centres
        cells = grid.cell_of(np.column_stack([gx.ravel(), gy.ravel()]))
        ok = cells >= 0
        return np.bincount(cells[ok], weights=fine.ravel()[ok], minlength=grid.n_cells).astype(np.float64)

    def day_start(self, day: int) -> datetime:
        """The UTC instant at which simulation day ``day`` starts."""
        return self.start + timedelta(days=day)
