"""Areas for exposure audits: reading polygon files and overlaying them on cells.

:func:`read_areas` reads any polygon file GDAL reads (GeoJSON, GeoPackage, Shapefile,
also inside a ``.zip``) with pyogrio, projects it to a metric CRS with pyproj and
returns :class:`~crimelens.domain.Area` values: every attribute that is not the id,
the name or the population becomes an *audit* attribute (never a model feature).

:func:`cell_area_overlap` gives, for each cell and each area, the fraction of the
cell's surface inside the area (shapely intersections), so a cell split between two
areas counts in both in proportion. :func:`area_groups` turns an audit attribute into
a group label per area (categories as they are; numbers cut into quantile groups).

Failure modes: polygons in a geographic CRS are projected to the UTM zone of their
centre unless ``crs`` is given (a city spanning two zones is still fine for areas);
cells outside every area get no group and are reported under ``(outside areas)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio.raw
import shapely
from numpy.typing import NDArray
from pyproj import CRS, Transformer

from crimelens.domain import Area, Grid
from crimelens.errors import InputError, InvalidParameterError, NotFoundError

__all__ = ["OUTSIDE", "area_groups", "cell_area_overlap", "cell_geometries", "read_areas"]

#: Group label for the part of the cells that lies in no area.
OUTSIDE = "(outside areas)"

_POP_NAMES = ("population", "pop", "pop_total", "total_pop", "residents")


def _utm_for(lon: float, lat: float) -> str:
    zone = math.floor((lon + 180.0) / 6.0) % 60 + 1
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def _in_metres(crs: CRS) -> bool:
    return bool(crs.axis_info) and all(a.unit_name in ("metre", "meter") for a in crs.axis_info)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def read_areas(
    path: str | Path,
    *,
    layer: str | int | None = None,
    id_field: str | None = None,
    name_field: str | None = None,
    population_field: str | None = None,
    crs: str | None = None,
) -> list[Area]:
    """Read polygons with their attributes as :class:`Area` values in a metric CRS.

    Parameters
    ----------
    path : path to a GeoJSON, GeoPackage or Shapefile (a ``.zip`` is read through GDAL's
        ``/vsizip/``).
    layer : layer name or index for multi-layer files.
    id_field, name_field : attribute holding the area id / name; default the feature's
        position (1-based) and the id.
    population_field : attribute holding residents; default the first of
        ``population``, ``pop``, ``pop_total``, ``total_pop``, ``residents`` present.
    crs : target metric CRS; default the UTM zone of the data's centre (or the file's own
        CRS when it is already projected in metres).

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.geojson"
    >>> _ = p.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature",
    ...     "properties": {"code": "N1", "population": 1200, "share_minority": 0.4},
    ...     "geometry": {"type": "Polygon", "coordinates": [[[-122.3, 37.8], [-122.29, 37.8],
    ...                  [-122.29, 37.81], [-122.3, 37.8]]]}}]}))
    >>> a = read_areas(p, id_field="code")[0]
    >>> a.area_id, a.population, a.crs, dict(a.audit)
    ('N1', 1200, 'EPSG:32610', {'share_minority': 0.4})
    """
    where = Path(path)
    if not where.exists():
        raise NotFoundError(f"areas file {str(where)!r}: not found")
    source = f"/vsizip/{where}" if where.suffix.lower() == ".zip" else str(where)
    try:
        meta, _fids, geometry, field_data = pyogrio.raw.read(source, layer=layer)
    except Exception as exc:  # pyogrio raises its own DataSourceError / DataLayerError
        raise InputError(
            f"areas file {str(where)!r}: cannot be read as polygons ({exc}); expected GeoJSON, GeoPackage or Shapefile"
        ) from exc
    names = [str(n) for n in meta["fields"]]
    columns = {n: field_data[i] for i, n in enumerate(names)}
    if geometry is None or len(geometry) == 0:
        raise InputError(f"areas file {str(where)!r}: got no features; expected at least one polygon")
    geoms = shapely.from_wkb(geometry)
    kinds = set(shapely.get_type_id(geoms).tolist())
    if not kinds <= {3, 6}:
        raise InputError(f"areas file {str(where)!r}: got geometry types {sorted(kinds)}; expected Polygon or MultiPolygon")
    for label, name in (("id_field", id_field), ("name_field", name_field), ("population_field", population_field)):
        if name is not None and name not in columns:
            raise InputError(f"areas file {str(where)!r}: {label}={name!r} is not an attribute; got {names}")
    pop_name = population_field or next((n for n in names if n.lower() in _POP_NAMES), None)
    src_crs = CRS.from_user_input(meta["crs"]) if meta.get("crs") else CRS.from_epsg(4326)
    if crs is None:
        if src_crs.is_projected and _in_metres(src_crs):
            target = src_crs
        else:
            to_lonlat = Transformer.from_crs(src_crs, CRS.from_epsg(4326), always_xy=True)
            cx, cy = shapely.centroid(shapely.union_all(geoms)).coords[0]
            lon, lat = to_lonlat.transform(cx, cy)
            target = CRS.from_user_input(_utm_for(lon, lat))
    else:
        target = CRS.from_user_input(crs)
    if not (target.is_projected and _in_metres(target)):
        raise InvalidParameterError(f"read_areas(crs={crs!r}): expected a projected CRS in metres")
    if target != src_crs:
        tf = Transformer.from_crs(src_crs, target, always_xy=True)
        geoms = shapely.transform(geoms, lambda xy: np.column_stack(tf.transform(xy[:, 0], xy[:, 1])))
    epsg = target.to_epsg()
    crs_text = f"EPSG:{epsg}" if epsg else target.to_string()
    out: list[Area] = []
    skip = {id_field, name_field, pop_name}
    for i, geom in enumerate(geoms):
        area_id = str(_plain(columns[id_field][i])) if id_field else str(i + 1)
        name = str(_plain(columns[name_field][i])) if name_field else area_id
        pop_value = _plain(columns[pop_name][i]) if pop_name else None
        audit = {n: _plain(columns[n][i]) for n in names if n not in skip}
        out.append(
            Area(
                area_id=area_id,
                name=name,
                wkt=shapely.to_wkt(shapely.make_valid(geom)),
                population=None if pop_value is None else round(float(pop_value)),
                crs=crs_text,
                audit=audit,
            )
        )
    return out


def cell_geometries(cells: Grid | Sequence[Area] | Sequence[str]) -> NDArray[np.object_]:
    """Shapely polygons for a grid's cells (row-major) or for area-like cells."""
    if isinstance(cells, Grid):
        centres = cells.centres()
        half = cells.cell_m / 2.0
        result: NDArray[np.object_] = shapely.box(centres[:, 0] - half, centres[:, 1] - half,
                                                  centres[:, 0] + half, centres[:, 1] + half)
        return result
    wkts = [c.wkt if isinstance(c, Area) else str(c) for c in cells]
    polys: NDArray[np.object_] = shapely.from_wkt(wkts)
    return polys


def cell_area_overlap(cells: Grid | Sequence[Area] | Sequence[str], areas: Sequence[Area]) -> NDArray[np.float64]:
    """Fraction of each cell's surface inside each area, shape ``(cells, areas)``."""
    if not areas:
        raise InputError("cell_area_overlap: got no areas; expected at least one polygon")
    cell_geoms = cell_geometries(cells)
    area_geoms = shapely.make_valid(shapely.from_wkt([a.wkt for a in areas]))
    tree = shapely.STRtree(area_geoms)
    cell_idx, area_idx = tree.query(cell_geoms, predicate="intersects")
    inter = shapely.area(shapely.intersection(cell_geoms[cell_idx], area_geoms[area_idx]))
    cell_area = shapely.area(cell_geoms)
    out = np.zeros((len(cell_geoms), len(areas)), dtype=np.float64)
    np.add.at(out, (cell_idx, area_idx), np.divide(inter, cell_area[cell_idx], out=np.zeros(len(inter)),
                                                   where=cell_area[cell_idx] > 0))
    # overlapping areas must not count a cell more than once
    total = out.sum(axis=1, keepdims=True)
    return np.where(total > 1.0, out / np.maximum(total, 1e-300), out)


def area_groups(areas: Sequence[Area], group_by: str | None, *, n_quantiles: int = 2) -> list[str]:
    """A group label per area from an audit attribute.

    ``None`` groups each area on its own; a text attribute is used as it is; a numeric
    attribute is cut into ``n_quantiles`` groups at its quantiles over the areas.
    """
    if group_by is None:
        return [a.area_id for a in areas]
    missing = [a.area_id for a in areas if group_by not in a.audit]
    if missing:
        raise InputError(
            f"area_groups(group_by={group_by!r}): areas {missing[:5]} lack that audit attribute; "
            f"available: {sorted(areas[0].audit)}"
        )
    values = [a.audit[group_by] for a in areas]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        if n_quantiles < 1:
            raise InvalidParameterError(f"area_groups(n_quantiles={n_quantiles}): must be >= 1")
        x = np.asarray(values, dtype=np.float64)
        edges = np.quantile(x, np.linspace(0, 1, n_quantiles + 1))
        idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, n_quantiles - 1)
        return [f"{group_by} Q{i + 1} [{edges[i]:.3g}, {edges[i + 1]:.3g}]" for i in idx]
    return [str(v) for v in values]
