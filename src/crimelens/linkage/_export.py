"""Candidate series as files that QGIS opens (GeoPackage, GeoJSON, CSV).

* GeoPackage, in the data's CRS, three layers:
  ``series`` (one polygon per series: its members' convex hull widened by ``pad_m``, so that a
  series of two members still has an area; fields ``series_id``, ``n_members``, ``first_from``,
  ``last_to``, ``span_days``, ``cohesion``, ``hull_area_m2``, ``max_extent_m``, ``offense``,
  ``common_mo``), ``series_members`` (one point per member: ``series_id``, ``position``,
  ``incident_id``, ``offense``, ``occurred_from``, ``occurred_to``, ``area``,
  ``mean_probability``, ``strongest_link``, ``strongest_probability``, ``drivers``) and
  ``series_links`` (a line from each member to the member it is most strongly linked to inside
  the linker's block, with that link's probability; a member with no series-mate inside the block
  has none).
* GeoJSON: the members' points with their series' fields, in WGS84 lon/lat (RFC 7946): one file
  holds one layer.
* CSV: the same rows with ``x_m``, ``y_m``, ``lon``, ``lat``, ``wkt`` (the point in the data CRS) and
  ``crs``; the header on the first line; beside it ``.csvt`` (GDAL's column types) and ``.prj`` (the
  CRS), so QGIS and ogr2ogr open it as points in place.

Every file carries the run, the linker, the dataset, the threshold, the method, the research mark and
the run's output hash: as layer metadata in GeoPackage, as a top-level ``metadata`` member of the
GeoJSON (a foreign member, RFC 7946 section 6.1; each feature's properties carry the ``mark`` too),
as columns of the CSV after ``crs`` (the same value on every row; ``#`` lines before the header
made GDAL read ``#`` as the first column's name). Times are ISO 8601 text in UTC
(what every GIS reads alike). A member without coordinates keeps its row, with an empty geometry.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crimelens._gis import write_gis_csv
from crimelens.errors import InvalidParameterError

__all__ = ["MEMBER_FIELDS", "SERIES_FIELDS", "SERIES_FORMATS", "write_series"]

SERIES_FORMATS = ("gpkg", "geojson", "csv")

#: the fields of a series (one row per series)
SERIES_FIELDS = ("series_id", "n_members", "first_from", "last_to", "span_days", "cohesion", "hull_area_m2",
                 "max_extent_m", "offense", "common_mo")
#: the fields of a member (one row per incident in a series)
MEMBER_FIELDS = ("series_id", "position", "incident_id", "offense", "occurred_from", "occurred_to", "area",
                 "mean_probability", "strongest_link", "strongest_probability", "drivers")


#: GDAL's type (``.csvt``) of each column of the series CSV; the metadata columns after ``crs`` are text
_CSV_TYPES = {"position": "Integer", "mean_probability": "Real", "strongest_probability": "Real", "x_m": "Real",
              "y_m": "Real", "lon": "Real", "lat": "Real", "n_members": "Integer", "span_days": "Real",
              "cohesion": "Real", "hull_area_m2": "Real", "max_extent_m": "Real", "wkt": "WKT"}


def _check(members: pd.DataFrame, series: pd.DataFrame) -> None:
    missing = [c for c in (*MEMBER_FIELDS, "x_m", "y_m", "lon", "lat") if c not in members.columns]
    missing += [c for c in SERIES_FIELDS if c not in series.columns]
    if missing:
        raise InvalidParameterError(f"write_series: columns {missing} are missing; expected "
                                    f"{list(MEMBER_FIELDS)} + x_m, y_m, lon, lat and {list(SERIES_FIELDS)}")


def _points(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[Any]:
    import shapely

    pts = shapely.points(np.column_stack([x, y]))
    pts[~(np.isfinite(x) & np.isfinite(y))] = None
    return np.asarray(pts, dtype=object)


def _hulls(members: pd.DataFrame, series_ids: list[str], pad_m: float) -> NDArray[Any]:
    import shapely

    out = np.full(len(series_ids), None, dtype=object)
    xy = members[["x_m", "y_m"]].to_numpy(np.float64)
    ok = np.isfinite(xy).all(axis=1)
    where = {sid: k for k, sid in enumerate(series_ids)}
    codes = members["series_id"].astype(str).map(where).to_numpy()
    has = ok & pd.notna(codes)
    if has.any():  # all hulls at once: the members' points grouped by series (indices dense and sorted)
        k = codes[has].astype(np.int64)
        order = np.argsort(k, kind="stable")
        found, dense = np.unique(k[order], return_inverse=True)
        hulls = shapely.convex_hull(shapely.multipoints(xy[has][order], indices=dense))
        out[found] = shapely.buffer(hulls, pad_m, quad_segs=4)
    return out


def _links(members: pd.DataFrame) -> tuple[pd.DataFrame, NDArray[Any]]:
    """One line per member to its strongest link in the same series (both ends with coordinates)."""
    import shapely

    ends = members.set_index(["series_id", "incident_id"])[["x_m", "y_m"]]
    keep = members["strongest_link"].notna() & members["strongest_link"].astype(str).ne("")
    src = members[keep]
    to = ends.reindex(pd.MultiIndex.from_arrays([src["series_id"], src["strongest_link"].astype(str)]))
    a = src[["x_m", "y_m"]].to_numpy(np.float64)
    b = to.to_numpy(np.float64)
    ok = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
    frame = pd.DataFrame({"series_id": src["series_id"].to_numpy()[ok],
                          "incident_id": src["incident_id"].to_numpy()[ok],
                          "linked_to": src["strongest_link"].astype(str).to_numpy()[ok],
                          "probability": src["strongest_probability"].to_numpy(np.float64)[ok]})
    lines = shapely.linestrings(np.stack([a[ok], b[ok]], axis=1)) if ok.any() else np.empty(0, dtype=object)
    return frame, np.asarray(lines, dtype=object)


def _to_wgs84(geoms: NDArray[Any], crs: str | None) -> NDArray[Any]:
    import shapely
    from pyproj import Transformer

    if crs is None or crs.upper() in ("EPSG:4326", "OGC:CRS84"):
        return geoms
    tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    return np.asarray(shapely.transform(geoms, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1]))),
                      dtype=object)


def _write_layer(out: Path, driver: str, layer: str | None, frame: pd.DataFrame, geoms: NDArray[Any],
                 geometry_type: str, crs: str | None, meta: dict[str, str] | None, append: bool) -> None:
    import shapely
    from pyogrio.raw import write

    data = []
    for col in frame.columns:
        v = frame[col]
        if pd.api.types.is_bool_dtype(v):
            data.append(v.to_numpy().astype(np.int32))
        elif pd.api.types.is_integer_dtype(v):
            data.append(v.to_numpy(np.int64))
        elif pd.api.types.is_float_dtype(v):
            data.append(v.to_numpy(np.float64))
        else:  # text; missing values stay NULL
            data.append(np.array([None if pd.isna(x) else str(x) for x in v.tolist()], dtype=object))
    write(out, shapely.to_wkb(geoms), data, list(frame.columns), driver=driver, geometry_type=geometry_type,
          crs=crs, layer=layer, layer_metadata=meta, append=append)


#: A staging file (``services.linkage._staging``): ``.STEM.RUN_ID.HEX8.part.SUFFIX``, moved to ``STEM.SUFFIX``
_STAGING = re.compile(r"^\.(?P<stem>.+)\.[^.]+\.[0-9a-f]{8}\.part$")


def _layer_name(path: Path) -> str:
    """The layer name for a file: its stem, or the stem of the file a staging file becomes.

    >>> _layer_name(Path(".series2.ls-1e8974395cf5.121f0ae4.part.geojson")), _layer_name(Path("series2.geojson"))
    ('series2', 'series2')
    """
    found = _STAGING.match(path.stem)
    return found.group("stem") if found else path.stem


def write_series(out: str | Path, kind: str, members: pd.DataFrame, series: pd.DataFrame, crs: str | None,
                 meta: dict[str, str], *, pad_m: float = 50.0, name: str | None = None) -> Path:
    """Write candidate series as ``kind`` (``gpkg``, ``geojson`` or ``csv``); see the module notes.

    ``name``: the GeoJSON's top-level ``name`` (the layer name QGIS shows); by default the stem of the file
    the export ends up as (:func:`_layer_name`), not of a staging file it is first written to.

    ``members``: one row per member with :data:`MEMBER_FIELDS` and ``x_m``, ``y_m`` (in ``crs``),
    ``lon``, ``lat``; ``series``: one row per series with :data:`SERIES_FIELDS`.
    """
    path = Path(out)
    if kind not in SERIES_FORMATS:
        raise InvalidParameterError(f"series export {path.name!r}: got format {kind!r}; expected one of "
                                    f"{list(SERIES_FORMATS)} (from --format or the suffix .gpkg, .geojson, .csv)")
    _check(members, series)
    path.parent.mkdir(parents=True, exist_ok=True)
    heads = series[list(SERIES_FIELDS)].rename(columns={"offense": "series_offense"})
    rows = members[[*MEMBER_FIELDS, "x_m", "y_m", "lon", "lat"]].merge(
        heads.drop(columns=["first_from", "last_to"]), on="series_id", how="left", validate="many_to_one")
    if kind == "csv":
        x, y = rows["x_m"].to_numpy(np.float64), rows["y_m"].to_numpy(np.float64)
        wkt = [f"POINT ({float(a)!r} {float(b)!r})" if np.isfinite(a) and np.isfinite(b) else ""
               for a, b in zip(x, y, strict=True)]
        write_gis_csv(path, rows.assign(wkt=wkt, crs=crs or ""), _CSV_TYPES, crs, meta)
        return path
    if path.exists():
        path.unlink()
    points = _points(members["x_m"].to_numpy(np.float64), members["y_m"].to_numpy(np.float64))
    if kind == "geojson":
        # GDAL's GeoJSON writer drops layer metadata: the run's fields go in a top-level "metadata" member
        # (a foreign member, RFC 7946 section 6.1, which GIS readers ignore) and the mark on every feature
        _write_layer(path, "GeoJSON", None, rows.drop(columns=["x_m", "y_m"]).assign(mark=meta.get("mark", "")),
                     _to_wgs84(points, crs), "Point", "EPSG:4326" if crs else None, None, append=False)
        doc = json.loads(path.read_text(encoding="utf-8"))
        doc["name"] = name or _layer_name(path)  # GDAL names the layer after the file written: a staging file's
        doc["metadata"] = dict(meta)
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        return path
    ids = series["series_id"].astype(str).tolist()
    _write_layer(path, "GPKG", "series", series[list(SERIES_FIELDS)].reset_index(drop=True),
                 _hulls(members, ids, pad_m), "Polygon", crs, {**meta, "hull_pad_m": f"{pad_m:g}"}, append=False)
    _write_layer(path, "GPKG", "series_members", members[[*MEMBER_FIELDS, "lon", "lat"]].reset_index(drop=True),
                 points, "Point", crs, meta, append=True)
    links, lines = _links(members)
    _write_layer(path, "GPKG", "series_links", links, lines, "LineString", crs, meta, append=True)
    return path
