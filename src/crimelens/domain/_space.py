"""Space: square grids in a metric CRS and areas (polygons with audit attributes)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from crimelens.errors import InvalidParameterError

__all__ = ["Area", "Grid"]


#: The most cells a grid may have (a city of 60 km x 60 km in 12 m cells); more is an extent
#: stretched by a misplaced point, not a study area, and would not fit in memory.
MAX_GRID_CELLS = 25_000_000


@dataclass(frozen=True, slots=True)
class Grid:
    """A regular grid of square cells in a projected CRS (metres).

    Cells are numbered row-major from the south-west corner:
    ``cell = row * nx + col``.

    Examples
    --------
    >>> g = Grid.covering((0.0, 0.0, 299.0, 149.0), cell_m=150.0)
    >>> g.nx, g.ny, g.n_cells
    (2, 1, 2)
    >>> g.cell_of(np.array([[10.0, 10.0], [160.0, 5.0]])).tolist()
    [0, 1]
    """

    x0: float
    y0: float
    cell_m: float
    nx: int
    ny: int
    crs: str | None = None

    def __post_init__(self) -> None:
        if not self.cell_m > 0:
            raise InvalidParameterError(f"Grid(cell_m={self.cell_m}): cell_m must be > 0 metres")
        if self.nx < 1 or self.ny < 1:
            raise InvalidParameterError(f"Grid(nx={self.nx}, ny={self.ny}): both must be >= 1")

    @classmethod
    def covering(
        cls, bounds: tuple[float, float, float, float], cell_m: float, *, crs: str | None = None
    ) -> Grid:
        """The smallest grid aligned on multiples of ``cell_m`` that covers ``bounds``."""
        if not cell_m > 0:
            raise InvalidParameterError(f"Grid(cell_m={cell_m}): cell_m must be > 0 metres")
        xmin, ymin, xmax, ymax = bounds
        x0 = math.floor(xmin / cell_m) * cell_m
        y0 = math.floor(ymin / cell_m) * cell_m
        nx = max(1, math.floor((xmax - x0) / cell_m) + 1)
        ny = max(1, math.floor((ymax - y0) / cell_m) + 1)
        if nx * ny > MAX_GRID_CELLS:
            raise InvalidParameterError(
                f"a grid of {cell_m:g} m cells covering {(xmax - xmin) / 1000:,.0f} km x {(ymax - ymin) / 1000:,.0f} km "
                f"would have {nx * ny:,} cells; expected at most {MAX_GRID_CELLS:,}. An incident far from the "
                "others (longitude and latitude swapped?) stretches the extent: look at the data's extreme "
                "x_m / y_m, or give a study area (--mask polygon) or larger cells"
            )
        return cls(float(x0), float(y0), float(cell_m), int(nx), int(ny), crs)

    @property
    def n_cells(self) -> int:
        return self.nx * self.ny

    @property
    def cell_area_km2(self) -> float:
        return (self.cell_m / 1000.0) ** 2

    def col_row(self, xy: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        col = np.floor((xy[:, 0] - self.x0) / self.cell_m).astype(np.int64)
        row = np.floor((xy[:, 1] - self.y0) / self.cell_m).astype(np.int64)
        return col, row

    def cell_of(self, xy: NDArray[np.float64]) -> NDArray[np.int64]:
        """Cell index per point; -1 for points outside the grid."""
        col, row = self.col_row(np.asarray(xy, dtype=np.float64).reshape(-1, 2))
        inside = (col >= 0) & (col < self.nx) & (row >= 0) & (row < self.ny)
        return np.where(inside, row * self.nx + col, -1)

    def centres(self) -> NDArray[np.float64]:
        """Cell centres, shape ``(n_cells, 2)``, in cell order."""
        cols = np.tile(np.arange(self.nx), self.ny)
        rows = np.repeat(np.arange(self.ny), self.nx)
        return np.column_stack(
            [self.x0 + (cols + 0.5) * self.cell_m, self.y0 + (rows + 0.5) * self.cell_m]
        )

    def cell_bounds(self, cell: int) -> tuple[float, float, float, float]:
        row, col = divmod(int(cell), self.nx)
        x = self.x0 + col * self.cell_m
        y = self.y0 + row * self.cell_m
        return (x, y, x + self.cell_m, y + self.cell_m)

    def counts(self, xy: NDArray[np.float64], weights: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
        """Events (or weights) per cell; points outside the grid are ignored."""
        cells = self.cell_of(xy)
        ok = cells >= 0
        w = None if weights is None else np.asarray(weights, dtype=np.float64)[ok]
        return np.bincount(cells[ok], weights=w, minlength=self.n_cells).astype(np.float64)


@dataclass(frozen=True, slots=True)
class Area:
    """A named polygon (WKT in the store's metric CRS) with population and audit attributes.

    ``audit`` holds demographic composition and similar attributes. They are for
    audits only and are never offered as model features.
    """

    area_id: str
    name: str
    wkt: str
    population: int | None = None
    crs: str | None = None
    audit: Mapping[str, Any] = field(default_factory=dict)
