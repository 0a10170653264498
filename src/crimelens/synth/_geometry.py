"""The synthetic city's geometry: outline, a fine raster, neighbourhoods and surfaces.

Every surface lives on a *fine* raster of ``fine_m`` (30 m) cells covering the city's
bounding box; 150 m output cells are 5 × 5 fine cells. ``inside`` holds, per fine cell, the
fraction of its area inside the city outline (estimated from 3 × 3 sub-points near the
boundary), so truth integrals and sampling agree up to the fine resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from shapely.geometry import MultiPoint, Polygon, box
from shapely.geometry.base import BaseGeometry

__all__ = ["CityGeometry", "build_geometry", "gaussian_bumps"]

_PREFIXES = (
    "Oak", "Mill", "River", "Cedar", "Harbor", "Lake", "Stone", "Elm", "Maple", "Bridge",
    "Ash", "Willow", "Fair", "Brook", "Fox", "Iron", "Pine", "Rose", "Clay", "Heron",
    "Marsh", "Birch", "Kings", "Quarry", "Orchard", "Canal", "Linden", "Cross", "Beacon", "Peña",
    "Bell", "Hazel", "Copper", "Salt", "Garden", "Union", "Summit", "Market", "Lindenhöhe", "Prairie",
)
_SUFFIXES = ("Park", "Heights", "Village", "Side", "Town", "Gardens", "Point", "Grove", "Fields",
             "Square", "End", "Hill")


@dataclass(frozen=True)
class CityGeometry:
    """Outline, fine raster and neighbourhoods of one synthetic city (metres, EPSG:32616)."""

    outline: Polygon
    x0: float
    y0: float
    fine_m: float
    nfx: int
    nfy: int
    inside: NDArray[np.float64]  # (nfy, nfx) fraction of each fine cell inside the outline
    inside_point: NDArray[np.float64]  # (nfy, nfx, 2) a point inside each cell with inside > 0
    seeds: NDArray[np.float64]  # (n_areas, 2) neighbourhood generators (Voronoi sites)
    polygons: tuple[BaseGeometry, ...]  # neighbourhood polygons, clipped to the outline
    names: tuple[str, ...]
    fine_area: NDArray[np.int64]  # (nfy, nfx) neighbourhood index of each fine cell

    @property
    def fine_centres(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        xs = self.x0 + (np.arange(self.nfx) + 0.5) * self.fine_m
        ys = self.y0 + (np.arange(self.nfy) + 0.5) * self.fine_m
        gx, gy = np.meshgrid(xs, ys)
        return gx, gy

    def area_of(self, xy: NDArray[np.float64]) -> NDArray[np.int64]:
        """Neighbourhood index of each point (nearest Voronoi site = the polygon holding it)."""
        _, idx = cKDTree(self.seeds).query(xy)
        return np.asarray(idx, dtype=np.int64)

    def contains(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.bool_]:
        return np.asarray(shapely.contains_xy(self.outline, x, y), dtype=bool)


def gaussian_bumps(
    gx: NDArray[np.float64],
    gy: NDArray[np.float64],
    centres: NDArray[np.float64],
    sigmas: NDArray[np.float64],
    weights: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Sum of isotropic Gaussian bumps, each of unit integral times its weight, on a raster."""
    out = np.zeros_like(gx)
    for (cx, cy), s, w in zip(centres, sigmas, weights, strict=True):
        out += w / (2.0 * math.pi * s * s) * np.exp(-((gx - cx) ** 2 + (gy - cy) ** 2) / (2.0 * s * s))
    return out


def _outline(rng: np.random.Generator, x0: float, y0: float, size_m: float) -> Polygon:
    cx, cy = x0 + size_m / 2.0, y0 + size_m / 2.0
    phases = rng.uniform(0.0, 2.0 * math.pi, 3)
    phi = np.linspace(0.0, 2.0 * math.pi, 240, endpoint=False)
    r = 0.5 * size_m * (
        0.95 + 0.05 * np.sin(2 * phi + phases[0]) + 0.035 * np.sin(3 * phi + phases[1])
        + 0.02 * np.sin(5 * phi + phases[2])
    )
    ring = np.column_stack([cx + r * np.cos(phi), cy + r * np.sin(phi)])
    ring = np.round(ring, 1)
    poly = Polygon(ring).intersection(box(x0 + 1.0, y0 + 1.0, x0 + size_m - 1.0, y0 + size_m - 1.0))
    assert isinstance(poly, Polygon)
    return shapely.normalize(poly)


def _uniform_inside(rng: np.random.Generator, outline: Polygon, n: int) -> NDArray[np.float64]:
    xmin, ymin, xmax, ymax = outline.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        pts = rng.uniform((xmin, ymin), (xmax, ymax), size=(4 * n, 2))
        ok = shapely.contains_xy(outline, pts[:, 0], pts[:, 1])
        out = np.vstack([out, pts[ok]])
    return out[:n]


def build_geometry(
    rng: np.random.Generator, *, x0: float, y0: float, size_m: float, n_areas: int, fine_m: float
) -> CityGeometry:
    """Outline, fine raster with inside-fractions, and ``n_areas`` Lloyd-relaxed neighbourhoods."""
    outline = _outline(rng, x0, y0, size_m)
    nf = math.ceil(size_m / fine_m)
    xs = x0 + (np.arange(nf) + 0.5) * fine_m
    gx, gy = np.meshgrid(xs, y0 + (np.arange(nf) + 0.5) * fine_m)
    centre_in = shapely.contains_xy(outline, gx, gy)
    inside = centre_in.astype(np.float64)
    inside_point = np.stack([gx, gy], axis=-1)
    # Boundary cells (corners disagree about being inside): inside fraction from 3 x 3 sub-points.
    corners = shapely.contains_xy(
        outline, *np.meshgrid(x0 + np.arange(nf + 1) * fine_m, y0 + np.arange(nf + 1) * fine_m)
    ).astype(np.int8)
    n_in = corners[:-1, :-1] + corners[1:, :-1] + corners[:-1, 1:] + corners[1:, 1:]
    edge = (n_in > 0) & (n_in < 4)
    ey, ex = np.nonzero(edge)
    offs = (np.arange(3) - 1.0) * fine_m / 3.0
    sub_x = gx[ey, ex][:, None, None] + offs[None, None, :] + 0.0 * offs[None, :, None]
    sub_y = gy[ey, ex][:, None, None] + offs[None, :, None] + 0.0 * offs[None, None, :]
    sub_in = shapely.contains_xy(outline, sub_x, sub_y).reshape(len(ey), 9)
    inside[ey, ex] = sub_in.mean(axis=1)
    first = np.argmax(sub_in, axis=1)
    inside_point[ey, ex, 0] = sub_x.reshape(len(ey), 9)[np.arange(len(ey)), first]
    inside_point[ey, ex, 1] = sub_y.reshape(len(ey), 9)[np.arange(len(ey)), first]

    # Neighbourhoods: Voronoi cells of Lloyd-relaxed sites, clipped to the outline.
    seeds = _uniform_inside(rng, outline, n_areas)
    cells_xy = np.column_stack([gx[centre_in], gy[centre_in]])
    for _ in range(6):
        _, idx = cKDTree(seeds).query(cells_xy)
        counts = np.bincount(idx, minlength=n_areas)
        sx = np.bincount(idx, weights=cells_xy[:, 0], minlength=n_areas)
        sy = np.bincount(idx, weights=cells_xy[:, 1], minlength=n_areas)
        moved = np.column_stack([sx, sy]) / np.maximum(counts, 1)[:, None]
        seeds = np.where(counts[:, None] > 0, moved, seeds)
    # Order neighbourhoods north-west to south-east so ids read like a map.
    order = np.lexsort((seeds[:, 0], -np.round(seeds[:, 1] / (size_m / 8.0))))
    seeds = np.round(seeds[order], 1)
    vor = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=box(x0, y0, x0 + size_m, y0 + size_m))
    by_seed: dict[int, BaseGeometry] = {}
    tree = cKDTree(seeds)
    for cell in vor.geoms:
        rep = cell.representative_point()
        _, k = tree.query([rep.x, rep.y])
        by_seed[int(k)] = cell
    polygons = tuple(
        shapely.normalize(shapely.set_precision(by_seed[k].intersection(outline), 0.01))
        for k in range(n_areas)
    )
    _, fine_idx = tree.query(np.column_stack([gx.ravel(), gy.ravel()]))
    perm = rng.permutation(len(_PREFIXES) * len(_SUFFIXES))[:n_areas]
    names = tuple(f"{_PREFIXES[p // len(_SUFFIXES)]} {_SUFFIXES[p % len(_SUFFIXES)]}" for p in perm)
    return CityGeometry(
        outline=outline,
        x0=float(x0),
        y0=float(y0),
        fine_m=float(fine_m),
        nfx=nf,
        nfy=nf,
        inside=inside,
        inside_point=inside_point,
        seeds=seeds,
        polygons=polygons,
        names=names,
        fine_area=np.asarray(fine_idx, dtype=np.int64).reshape(gx.shape),
    )
