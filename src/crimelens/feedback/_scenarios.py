"""Built-in scenarios for the feedback simulator.

* :func:`oakland_scenario` — the Lum & Isaac (2016) setting: Oakland's recorded drug
  crimes on the authors' 661 grid bins (bins matched to polygons by list position, as
  in their R code), 2010-07-01 to 2011-12-31 with a 180-day training window. The real
  record is *replayed* as the reported incidents; patrols add discovered incidents in
  the bins they are sent to. The paper's survey-based "true drug use" surface is not in
  the data, so the scenario's true rate is the bins' recorded rate over the whole run
  (plus half an incident, so no bin has rate 0), divided by ``report_prob``: an
  assumption that understates how widely use is spread, which makes any concentration
  we measure conservative.
* :func:`planted_city` — a seeded grid city with areas (population, demographic audit
  attributes, a group label) whose true rates we plant: a group rate ratio of 1 gives
  a balanced city, above 1 a planted disparity. Fast, so it serves the tests and the
  benchmark.
* :func:`synthetic_scenario` — the general scenario on ``crimelens.synth``'s city (a true
  intensity, areas with demographics and a patrol-driven discovery mechanism).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from numpy.typing import NDArray

from crimelens.domain import Area, Grid, IncidentTable
from crimelens.errors import InputError, InvalidParameterError
from crimelens.feedback._simulate import ObservationModel, Proportional, Scenario, TopK

__all__ = ["daily_counts", "oakland_scenario", "planted_city", "synthetic_scenario"]


def daily_counts(
    incidents: IncidentTable,
    cells: NDArray[np.int64],
    n_cells: int,
    *,
    start: str,
    n_days: int,
    timezone: str = "UTC",
) -> NDArray[np.float64]:
    """Incidents per local day and cell, shape ``(n_days, n_cells)``.

    ``cells`` gives each incident's cell (``-1`` = none); days are counted from the local
    midnight of ``start`` in ``timezone`` by the start of each incident's window.
    """
    if len(cells) != len(incidents):
        raise InputError(f"daily_counts: got {len(cells)} cell indices for {len(incidents)} incidents")
    tz = ZoneInfo(timezone)
    origin = datetime.combine(date.fromisoformat(start), datetime.min.time(), tzinfo=tz)
    local = incidents.frame["occurred_from"].dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()
    origin_naive = np.datetime64(origin.replace(tzinfo=None), "us")
    day = ((local.to_numpy("datetime64[us]") - origin_naive) // np.timedelta64(1, "D")).astype(np.int64)
    ok = (cells >= 0) & (cells < n_cells) & (day >= 0) & (day < n_days)
    out = np.zeros((n_days, n_cells), dtype=np.float64)
    np.add.at(out, (day[ok], cells[ok]), 1.0)
    return out


def _centroids(areas: Sequence[Area]) -> NDArray[np.float64]:
    geoms = shapely.from_wkt([a.wkt for a in areas])
    xy: NDArray[np.float64] = shapely.get_coordinates(shapely.centroid(geoms))
    return xy


def oakland_scenario(
    incidents: IncidentTable,
    bins: Sequence[Area],
    *,
    start: str = "2010-07-01",
    end: str = "2012-01-01",
    window_days: int = 180,
    k: int = 20,
    observation: ObservationModel | None = None,
) -> Scenario:
    """The Lum & Isaac (2016) Oakland setting as a :class:`Scenario`.

    ``incidents`` come from ``read_file(..., format="oakland_lum_isaac")`` (their
    ``area`` is the bin id); ``bins`` from ``read_areas(oakland_grid.geojson,
    id_field="bin")``. Defaults follow the authors' run: start 2010-07-01, end
    2011-12-31 (exclusive end 2012-01-01), a 180-day window, the top 20 bins flagged.
    """
    if not bins:
        raise InputError("oakland_scenario: got no bins; expected the 661 polygons of oakland_grid.geojson")
    index = {b.area_id: i for i, b in enumerate(bins)}
    labels = incidents.frame["area"].astype("string").fillna("")
    cells = np.asarray([index.get(str(x), -1) for x in labels], dtype=np.int64)
    if (cells >= 0).sum() == 0:
        raise InputError(
            "oakland_scenario: no incident's 'area' matches a bin id; expected incidents read with "
            "format='oakland_lum_isaac' and bins read with id_field='bin'"
        )
    first = (date.fromisoformat(start) - timedelta(days=window_days)).isoformat()
    n_sim = (date.fromisoformat(end) - date.fromisoformat(start)).days
    if n_sim < 1:
        raise InvalidParameterError(f"oakland_scenario(start={start}, end={end}): end must be after start")
    counts = daily_counts(incidents, cells, len(bins), start=first, n_days=window_days + n_sim,
                          timezone="America/Los_Angeles")
    obs = observation or ObservationModel(report_prob=0.5, discovery_base=0.02, discovery_lift=0.2)
    recorded_rate = (counts.sum(axis=0) + 0.5) / len(counts)
    return Scenario(
        name="oakland",
        true_rate=recorded_rate / max(obs.report_prob, 1e-9),
        history=counts[:window_days],
        centres_m=_centroids(bins),
        replay_reported=counts[window_days:],
        cell_ids=tuple(b.area_id for b in bins),
        observation=obs,
        allocation=TopK(k),
        start=start,
        description=(
            f"Lum & Isaac (2016) Oakland drug crimes, {len(bins)} bins, {start} to {end} (exclusive), "
            f"{window_days}-day window, top-{k} bins flagged; real record replayed as reported incidents"
        ),
        areas=tuple(bins),
    )


def planted_city(
    *,
    nx: int = 20,
    ny: int = 20,
    cell_m: float = 150.0,
    area_cells: int = 5,
    rate_per_cell: float = 0.05,
    group_rate_ratio: float = 1.0,
    history_days: int = 180,
    k: int | None = None,
    allocation: str = "top-k",
    observation: ObservationModel | None = None,
    random_state: int = 0,
) -> Scenario:
    """A seeded grid city with planted true rates per area group.

    Areas are ``area_cells`` x ``area_cells`` blocks of cells laid out as a checkerboard of
    groups ``"A"`` and ``"B"``; each area has a population (seeded, 800–1,200) and the
    audit attributes ``group`` and ``share_group_b`` (its demographic composition).
    Cell rates are ``rate_per_cell`` times a seeded gamma(2) heterogeneity; when both
    groups have as many cells, group B's cells take group A's rates one for one (the
    same values, so a ratio of 1 is balanced even among the highest cells), times
    ``group_rate_ratio``. ``k`` defaults to 2 % of the cells.

    Examples
    --------
    >>> s = planted_city(nx=10, ny=10, area_cells=5, group_rate_ratio=2.0)
    >>> s.n_cells, sorted(set(s.groups)), len(s.areas)
    (100, ['A', 'B'], 4)
    """
    if nx < 1 or ny < 1 or area_cells < 1:
        raise InvalidParameterError(f"planted_city(nx={nx}, ny={ny}, area_cells={area_cells}): all must be >= 1")
    if not (rate_per_cell > 0 and group_rate_ratio > 0):
        raise InvalidParameterError("planted_city: rate_per_cell and group_rate_ratio must be > 0")
    rng = np.random.default_rng(random_state)
    grid = Grid(0.0, 0.0, float(cell_m), int(nx), int(ny), "EPSG:32610")
    centres = grid.centres()
    col = np.floor(centres[:, 0] / cell_m).astype(int) // area_cells
    row = np.floor(centres[:, 1] / cell_m).astype(int) // area_cells
    n_ax = -(-nx // area_cells)
    area_of_cell = row * n_ax + col
    n_areas = int(area_of_cell.max()) + 1
    areas: list[Area] = []
    area_group: list[str] = []
    for a in range(n_areas):
        r, c = divmod(a, n_ax)
        g = "B" if (r + c) % 2 else "A"
        area_group.append(g)
        x0, y0 = c * area_cells * cell_m, r * area_cells * cell_m
        x1, y1 = min((c + 1) * area_cells, nx) * cell_m, min((r + 1) * area_cells, ny) * cell_m
        share_b = float(np.clip(rng.normal(0.75 if g == "B" else 0.2, 0.05), 0.0, 1.0))
        areas.append(
            Area(
                area_id=f"area-{a:03d}",
                name=f"Area {a}",
                wkt=shapely.to_wkt(shapely.box(x0, y0, x1, y1)),
                population=int(rng.integers(800, 1201)),
                crs=grid.crs,
                audit={"group": g, "share_group_b": round(share_b, 3)},
            )
        )
    groups = np.asarray([area_group[a] for a in area_of_cell], dtype=object)
    rate = rate_per_cell * rng.gamma(2.0, 0.5, size=grid.n_cells)
    in_a, in_b = np.flatnonzero(groups == "A"), np.flatnonzero(groups == "B")
    if len(in_a) == len(in_b):  # group B mirrors group A's rates: the same values, cell for cell
        rate[in_b] = rate[in_a]
    rate = np.where(groups == "B", rate * group_rate_ratio, rate)
    obs = observation or ObservationModel()
    expected_recorded = rate * (obs.report_prob + (1 - obs.report_prob) * obs.discovery_base)
    history = rng.poisson(np.broadcast_to(expected_recorded, (history_days, grid.n_cells))).astype(np.float64)
    kk = k if k is not None else max(1, round(0.02 * grid.n_cells))
    alloc: TopK | Proportional = TopK(kk) if allocation == "top-k" else Proportional(kk)
    return Scenario(
        name="planted-city",
        true_rate=rate,
        history=history,
        centres_m=centres,
        groups=groups,
        cell_ids=tuple(str(i) for i in range(grid.n_cells)),
        observation=obs,
        allocation=alloc,
        description=(
            f"planted grid city {nx}x{ny} cells of {cell_m:g} m, {n_areas} areas in groups A/B, "
            f"group B true-rate ratio {group_rate_ratio:g}, seed {random_state}"
        ),
        grid=grid,
        areas=tuple(areas),
    )


def synthetic_scenario(
    *,
    random_state: int = 0,
    history_days: int = 180,
    disparity: float = 0.0,
    k: int | None = None,
    observation: ObservationModel | None = None,
) -> Scenario:
    """The general scenario: ``crimelens.synth``'s city (seeded) as the simulated world.

    The city is generated for ``history_days`` days (no planted series); its recorded
    incidents on the 150 m truth grid are the starting record, and the true daily rate
    per cell is the generator's expected latent count (background plus triggering) over
    that period. Cells are the grid cells inside the city; each cell's group is the
    ``group`` audit attribute of the neighbourhood holding most of it. ``disparity`` is
    the generator's planted patrol disparity (group B patrolled ``1 + disparity`` times
    more), which shapes the starting record. The observation model defaults to the
    city's own reporting share and mean discovery probability.
    """
    from crimelens.feedback._areas import cell_area_overlap, cell_geometries
    from crimelens.synth import SyntheticCity

    city = SyntheticCity(seed=random_state, days=history_days, n_series=0, disparity=disparity).generate()
    truth = city.truth
    grid = truth.grid
    latent = truth.intensity.sum(axis=0).ravel()
    inside = latent > 0
    lookup = np.full(grid.n_cells, -1, dtype=np.int64)
    lookup[inside] = np.arange(int(inside.sum()))
    full = grid.cell_of(city.incidents.xy_m)
    cells = np.where(full >= 0, lookup[np.maximum(full, 0)], -1)
    tz = str(truth.params.get("timezone", "UTC"))
    start = str(truth.params.get("start", "2024-01-01"))
    history = daily_counts(city.incidents, cells, int(inside.sum()), start=start, n_days=history_days, timezone=tz)
    overlap = cell_area_overlap([shapely.to_wkt(g) for g in cell_geometries(grid)[inside]], city.areas)
    labels = np.asarray([str(a.audit.get("group", a.area_id)) for a in city.areas], dtype=object)
    groups = np.where(overlap.sum(axis=1) > 0, labels[overlap.argmax(axis=1)], "(outside areas)").astype(object)
    if observation is None:
        table = truth.areas
        latent_n = float(table["n_latent"].sum())
        report = float(table["n_reported"].sum()) / latent_n if latent_n > 0 else 0.5
        base = float(np.clip(table["discovery_prob_mean"].mean(), 0.0, 0.5))
        observation = ObservationModel(report_prob=round(report, 4), discovery_base=round(base, 4),
                                       discovery_lift=round(min(0.5, 1.0 - base), 4))
    n = int(inside.sum())
    return Scenario(
        name="synthetic",
        true_rate=latent[inside] / float(history_days),
        history=history,
        centres_m=grid.centres()[inside],
        groups=groups,
        cell_ids=tuple(str(i) for i in np.flatnonzero(inside)),
        observation=observation,
        allocation=TopK(k if k is not None else max(1, round(0.02 * n))),
        start=start,
        description=(
            f"crimelens.synth city (seed {random_state}, {history_days} days, disparity {disparity:g}), "
            f"{n} cells of {grid.cell_m:g} m, {len(city.areas)} neighbourhoods"
        ),
        grid=grid,
        areas=tuple(city.areas),
    )
