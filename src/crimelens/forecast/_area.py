"""Study areas: the cells a forecast ranks, and the written definition of that set.

PAI depends on the denominator: the same forecast scored against a bounding box
or against the cells that ever saw an incident differs about four-fold. Every
:class:`StudyArea` therefore carries ``definition``, a small JSON-able mapping
(tessellation, cell size, CRS, masking rule, number of cells, area in km²) that
every :class:`~crimelens.forecast.RiskSurface` and backtest result repeats.

Two tessellations:

* ``square``: cells of ``cell_m`` metres aligned on multiples of ``cell_m`` in
  the data's metric CRS (a :class:`~crimelens.domain.Grid`); the cells of the
  study area are a mask over that grid.
* ``h3``: Uber's hexagons at a resolution (``h3`` package); the cell centres are
  projected into the data CRS so the models can use metric distances.

Cells are numbered ``0 .. n_cells-1`` in the study area (for square grids, in
the grid's row-major order from the south-west corner). That order is the
documented tie-breaker when two cells carry the same risk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from crimelens.domain import Grid, IncidentTable, TimeWindow
from crimelens.errors import InvalidParameterError
from crimelens.forecast._params import jit

__all__ = ["StudyArea", "h3_cells"]


@dataclass(frozen=True, slots=True, eq=False)
class StudyArea:
    """A set of cells, their centres in metres and the written rule that chose them.

    Build one with :meth:`from_activity`, :meth:`from_polygon`, :meth:`bounding_box`
    or :meth:`h3`.

    Examples
    --------
    >>> import numpy as np
    >>> a = StudyArea.square(Grid(0.0, 0.0, 100.0, 3, 2), mask=np.array([1, 1, 0, 0, 1, 1], bool))
    >>> a.n_cells, a.cell_of(np.array([[50.0, 50.0], [250.0, 50.0], [250.0, 150.0]])).tolist()
    (4, [0, -1, 3])
    """

    kind: str
    cell_ids: NDArray[np.int64]
    centres_m: NDArray[np.float64]
    cell_area_m2: NDArray[np.float64]
    definition: Mapping[str, Any]
    grid: Grid | None = None
    crs: str | None = None
    h3_resolution: int | None = None
    _lookup: NDArray[np.int64] = field(init=False, repr=False)
    _h3_index: Mapping[int, int] = field(init=False, repr=False)
    _neighbour_cache: dict[tuple[float, bool], sp.csr_matrix] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_neighbour_cache", {})
        for name in ("cell_ids", "centres_m", "cell_area_m2"):
            arr = np.array(getattr(self, name))
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if len(self.cell_ids) == 0:
            raise InvalidParameterError(
                f"StudyArea({dict(self.definition)}): got 0 cells; expected at least one cell"
            )
        if self.kind == "square":
            assert self.grid is not None
            lookup = np.full(self.grid.n_cells, -1, dtype=np.int64)
            lookup[self.cell_ids] = np.arange(len(self.cell_ids))
            object.__setattr__(self, "_lookup", lookup)
            object.__setattr__(self, "_h3_index", {})
        else:
            object.__setattr__(self, "_lookup", np.empty(0, dtype=np.int64))
            object.__setattr__(
                self, "_h3_index", {int(c): i for i, c in enumerate(self.cell_ids.tolist())}
            )

    # construction -------------------------------------------------------------------
    @classmethod
    def square(cls, grid: Grid, *, mask: NDArray[np.bool_] | None = None,
               rule: str = "every cell of the grid", extra: Mapping[str, Any] | None = None
               ) -> StudyArea:
        """Cells of ``grid`` where ``mask`` (shape ``(grid.n_cells,)``) is true."""
        keep = np.ones(grid.n_cells, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        if keep.shape != (grid.n_cells,):
            raise InvalidParameterError(
                f"StudyArea.square: mask has shape {keep.shape}; expected ({grid.n_cells},)"
            )
        ids = np.flatnonzero(keep).astype(np.int64)
        centres = grid.centres()[ids]
        n = len(ids)
        definition = {
            "kind": "square",
            "cell_m": grid.cell_m,
            "crs": grid.crs,
            "origin_m": [grid.x0, grid.y0],
            "grid_shape": [grid.ny, grid.nx],
            "rule": rule,
            "n_cells": n,
            "area_km2": round(n * grid.cell_area_km2, 6),
            **dict(extra or {}),
        }
        return cls("square", ids, centres, np.full(n, grid.cell_m**2), definition, grid, grid.crs)

    @classmethod
    def bounding_box(cls, incidents: IncidentTable, cell_m: float = 150.0) -> StudyArea:
        """Every cell of the grid covering the incidents' bounding box."""
        grid = Grid.covering(incidents.bounds, cell_m, crs=incidents.crs)
        return cls.square(grid, rule="every cell of the grid covering the incidents' bounding box")

    @classmethod
    def from_activity(cls, incidents: IncidentTable, cell_m: float = 150.0, *, min_events: int = 1,
                      period: TimeWindow | None = None) -> StudyArea:
        """Cells holding at least ``min_events`` incidents (those in ``period``, if given).

        This is the usual mask for city-wide data: it drops lakes, parks and
        rail yards that a bounding box would count as area. An incident is in
        ``period`` when the middle of its time window is, as a model's training
        reads it: a record of "sometime in September" (a month-only export) is
        not history for a forecast made on 5 September.
        """
        chosen = _in_period(incidents, period)
        if len(chosen) == 0:
            raise InvalidParameterError(
                f"StudyArea.from_activity: no incidents in period {period}; expected at least one"
            )
        grid = Grid.covering(chosen.bounds, cell_m, crs=chosen.crs)
        counts = grid.counts(chosen.xy_m)
        when = _when(period)
        return cls.square(
            grid, mask=counts >= min_events,
            rule=f"cells with >= {min_events} incident(s) among {when}",
            extra={"min_events": min_events,
                   "period": None if period is None else [period.start.isoformat(),
                                                          period.end.isoformat()]},
        )

    @classmethod
    def from_polygon(cls, polygon: Any, cell_m: float = 150.0, *, crs: str | None = None,
                     name: str = "polygon") -> StudyArea:
        """Cells whose centre lies inside ``polygon`` (shapely geometry or WKT, in metres)."""
        import shapely

        geom = shapely.from_wkt(polygon) if isinstance(polygon, str) else polygon
        if geom is None or geom.is_empty:
            raise InvalidParameterError("StudyArea.from_polygon: got an empty polygon")
        grid = Grid.covering(tuple(float(v) for v in geom.bounds), cell_m, crs=crs)  # type: ignore[arg-type]
        c = grid.centres()
        inside = shapely.contains_xy(geom, c[:, 0], c[:, 1])
        return cls.square(grid, mask=np.asarray(inside, dtype=bool),
                          rule=f"cells whose centre lies inside the boundary {name!r}")

    @classmethod
    def h3(cls, incidents: IncidentTable, resolution: int = 9, *, min_events: int = 1,
           period: TimeWindow | None = None) -> StudyArea:
        """H3 hexagons holding at least ``min_events`` incidents; centres projected to the data CRS."""
        import h3

        if not 0 <= resolution <= 15:
            raise InvalidParameterError(f"StudyArea.h3(resolution={resolution}): expected 0..15")
        chosen = _in_period(incidents, period)
        crs = chosen.crs
        if crs is None:
            raise InvalidParameterError("StudyArea.h3: the incidents have no CRS; expected one")
        ids = h3_cells(chosen.xy_m, crs, resolution)
        uniq, counts = np.unique(ids, return_counts=True)
        keep = uniq[counts >= min_events]
        lat_lon = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in keep])
        from pyproj import Transformer

        tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        x, y = tr.transform(lat_lon[:, 1], lat_lon[:, 0])
        areas = np.array([h3.cell_area(h3.int_to_str(int(c)), unit="m^2") for c in keep])
        when = _when(period)
        definition = {
            "kind": "h3", "resolution": resolution, "crs": crs,
            "rule": f"H3 cells with >= {min_events} incident(s) among {when}",
            "n_cells": len(keep), "area_km2": round(float(areas.sum()) / 1e6, 6),
        }
        return cls("h3", keep.astype(np.int64), np.column_stack([x, y]), areas, definition,
                   None, crs, resolution)

    # queries ------------------------------------------------------------------------
    @property
    def n_cells(self) -> int:
        return len(self.cell_ids)

    @property
    def area_km2(self) -> float:
        return float(self.cell_area_m2.sum()) / 1e6

    def cell_of(self, xy: NDArray[np.float64]) -> NDArray[np.int64]:
        """Study-area cell index per point; -1 outside the study area."""
        pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if self.kind == "square":
            g = self.grid
            assert g is not None
            return _square_cells(np.ascontiguousarray(pts), float(g.x0), float(g.y0), float(g.cell_m),
                                 int(g.nx), int(g.ny), self._lookup)
        assert self.crs is not None and self.h3_resolution is not None
        ids = h3_cells(pts, self.crs, self.h3_resolution)
        return np.array([self._h3_index.get(int(c), -1) for c in ids], dtype=np.int64)

    def counts(self, xy: NDArray[np.float64], weights: NDArray[np.float64] | None = None
               ) -> NDArray[np.float64]:
        """Incidents (or weights) per study-area cell; points outside are ignored."""
        cells = self.cell_of(xy)
        ok = cells >= 0
        w = None if weights is None else np.asarray(weights, dtype=np.float64)[ok]
        return np.bincount(cells[ok], weights=w, minlength=self.n_cells).astype(np.float64)

    def neighbours(self, radius_m: float, *, include_self: bool = False) -> sp.csr_matrix:
        """Sparse 0/1 matrix: cells whose centres lie within ``radius_m`` of each other.

        Built once per radius and study area (a backtest refits every model at
        every origin on the same area); each call returns its own copy.
        """
        key = (float(radius_m), bool(include_self))
        cached = self._neighbour_cache.get(key)
        if cached is None:
            cached = self._neighbour_cache[key] = self._build_neighbours(*key)
        out: sp.csr_matrix = cached.copy()
        return out

    def _build_neighbours(self, radius_m: float, include_self: bool) -> sp.csr_matrix:
        tree = cKDTree(self.centres_m)
        pairs = tree.query_pairs(r=radius_m, output_type="ndarray")
        i = np.concatenate([pairs[:, 0], pairs[:, 1]])
        j = np.concatenate([pairs[:, 1], pairs[:, 0]])
        if include_self:
            diag = np.arange(self.n_cells)
            i, j = np.concatenate([i, diag]), np.concatenate([j, diag])
        data = np.ones(len(i), dtype=np.float64)
        return sp.csr_matrix((data, (i, j)), shape=(self.n_cells, self.n_cells))

    def polygons(self) -> list[Any]:
        """Cell outlines as shapely polygons in the data CRS (for exports)."""
        return cell_polygons(self.definition, self.cell_ids, self.crs)

    def describe(self) -> dict[str, Any]:
        """The study-area definition as a plain dict (JSON-able)."""
        return {k: (v.isoformat() if isinstance(v, datetime) else v)
                for k, v in dict(self.definition).items()}


@jit
def _square_cells(xy: NDArray[np.float64], x0: float, y0: float, cell_m: float, nx: int, ny: int,
                  lookup: NDArray[np.int64]) -> NDArray[np.int64]:
    """``lookup[grid cell]`` per point in one pass (-1 off the grid); the same cells as ``Grid.cell_of``."""
    out = np.empty(xy.shape[0], dtype=np.int64)
    for i in range(xy.shape[0]):
        fx = (xy[i, 0] - x0) / cell_m
        fy = (xy[i, 1] - y0) / cell_m
        # comparisons first: NaN fails them; on [0, n) truncation is floor
        if fx >= 0.0 and fx < nx and fy >= 0.0 and fy < ny:
            out[i] = lookup[int(fy) * nx + int(fx)]
        else:
            out[i] = -1
    return out


def h3_cells(xy: NDArray[np.float64], crs: str, resolution: int) -> NDArray[np.int64]:
    """The H3 cell (as its 64-bit integer) of each point given in metres of ``crs``."""
    import h3
    from pyproj import Transformer

    tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(xy[:, 0], xy[:, 1])
    return np.array([h3.str_to_int(h3.latlng_to_cell(float(b), float(a), resolution))
                     for a, b in zip(lon, lat, strict=True)], dtype=np.int64)


def cell_polygons(definition: Mapping[str, Any], cell_ids: NDArray[np.int64], crs: str | None) -> list[Any]:
    """Outlines of ``cell_ids`` as shapely polygons in ``crs``, from a study area's written definition
    alone (a stored forecast's ``area``): squares from ``origin_m``, ``cell_m`` and ``grid_shape``,
    hexagons from the H3 indexes."""
    import shapely

    if definition.get("kind") == "square":
        x0, y0 = (float(v) for v in definition["origin_m"])
        cell_m, nx = float(definition["cell_m"]), int(definition["grid_shape"][1])
        row, col = np.divmod(np.asarray(cell_ids, dtype=np.int64), nx)
        x = x0 + col * cell_m
        y = y0 + row * cell_m
        return list(shapely.box(x, y, x + cell_m, y + cell_m))
    if definition.get("kind") != "h3":
        raise InvalidParameterError(f"cell_polygons: study area kind {definition.get('kind')!r}; "
                                    "expected 'square' or 'h3'")
    import h3
    from pyproj import Transformer

    if crs is None:
        raise InvalidParameterError("cell_polygons: an H3 study area needs the data CRS; got none")
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    out = []
    for c in np.asarray(cell_ids).tolist():
        ring = np.array(h3.cell_to_boundary(h3.int_to_str(int(c))))
        x, y = tr.transform(ring[:, 1], ring[:, 0])
        out.append(shapely.Polygon(np.column_stack([x, y])))
    return out


def _in_period(incidents: IncidentTable, period: TimeWindow | None) -> IncidentTable:
    """The incidents whose window's middle lies in ``period`` (all of them when it is None)."""
    if period is None:
        return incidents
    mid = incidents.t_days(period.start, how="mid")
    return incidents.select(mask=(mid >= 0.0) & (mid < period.days))


def _when(period: TimeWindow | None) -> str:
    """The incidents an activity mask counted, in words: a window opening in 1900 or earlier is the
    services' "all the history before", and reads as that."""
    if period is None:
        return "all the given incidents"
    if period.start.year <= 1900:
        return f"incidents (mid-time) before {period.end.isoformat()}"
    return f"incidents (mid-time) in {period}"
