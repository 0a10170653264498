"""Read-only use cases behind the dashboard and the HTTP API: listings, map layers, snapshots.

The other services produce outputs (forecast runs, series, audits, simulations)
and log them; the functions here *read* what is stored and shape it for a map
or a table. Each read still goes through the governance gate
(:func:`crimelens.services._context.authorize`) and is logged with
:func:`record_use` under a ``view``/``list`` action, so the ledger shows who
looked at which output and for what stated purpose.

Geometry: the store keeps metres in the dataset's projected CRS; maps need
longitude/latitude (EPSG:4326). Cells and areas are reprojected here with
pyproj. Square cells are drawn as squares of the run's cell size; an H3 study
area's cells as their hexagons (the ``h3`` package's boundaries), and the
hit-rate panel assigns incidents to H3 cells by their H3 index. Near-repeat
distance bands are drawn in the data CRS and reprojected: diamonds for
Manhattan distance, circles for Euclidean (:func:`band_rings`). A run stored
before its study area was recorded falls back to squares of the centres'
spacing.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pyproj import Transformer

from crimelens.domain import IncidentTable, TimeWindow
from crimelens.domain._time import as_utc
from crimelens.errors import InvalidParameterError, NotFoundError
from crimelens.forecast import coverage_scores, h3_cells
from crimelens.forecast._surface import tie_at_cut
from crimelens.governance import Actor
from crimelens.services._context import (
    RESEARCH_MARK,
    Context,
    authorize,
    count_records,
    dataset_timezone,
    local_time,
    reading_zone,
    record_use,
    sha256_hex,
)
from crimelens.services.forecasts import audit_groups, check_stored_run, offense_list
from crimelens.storage._forecast import forecast_cells, get_forecast_run

__all__ = [
    "area_layer",
    "audit_report",
    "band_rings",
    "forecast_evaluation",
    "forecast_layer",
    "forget_outputs",
    "list_audit_reports",
    "list_forecast_runs",
    "list_incidents",
    "list_risk_models",
    "list_series",
    "list_series_runs",
    "snapshot",
]

_LAYER_CACHE: OrderedDict[tuple[str, str, str], dict[str, Any]] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 32


def _cached(key: tuple[str, str, str]) -> dict[str, Any] | None:
    with _CACHE_LOCK:
        hit = _LAYER_CACHE.get(key)
        if hit is not None:
            _LAYER_CACHE.move_to_end(key)
        return hit


def forget_outputs(ctx: Context, output_ids: list[str]) -> None:
    """Drop cached layers of outputs that were deleted (a retention purge), so none is served again."""
    gone = set(output_ids)
    with _CACHE_LOCK:
        for key in [k for k in _LAYER_CACHE if k[0] == ctx.store.path and k[2] in gone]:
            del _LAYER_CACHE[key]


def _remember(key: tuple[str, str, str], value: dict[str, Any]) -> None:
    with _CACHE_LOCK:
        _LAYER_CACHE[key] = value
        while len(_LAYER_CACHE) > _CACHE_SIZE:
            _LAYER_CACHE.popitem(last=False)


def _to_lonlat(crs: str | None, x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[
        NDArray[np.float64], NDArray[np.float64]]:
    if not crs or crs.upper() in ("EPSG:4326", "OGC:CRS84"):
        return np.asarray(x, np.float64), np.asarray(y, np.float64)
    tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(np.asarray(x, np.float64), np.asarray(y, np.float64))
    return np.asarray(lon, np.float64), np.asarray(lat, np.float64)


def _view(ctx: Context, action: str, actor: Actor, purpose: str | None, deployment: str | None = None,
          **detail: Any) -> int:
    fields: dict[str, Any] = {}
    if deployment is not None:
        fields["deployment"] = deployment
    authorize(ctx, action=action, actor=actor, purpose=purpose, detail=detail, **fields)
    return record_use(ctx, action=action, actor=actor, purpose=purpose, detail=detail, **fields)


def _page(limit: int, offset: int) -> None:
    if not 1 <= limit <= 5000:
        raise InvalidParameterError(f"limit={limit}: expected 1..5000")
    if offset < 0:
        raise InvalidParameterError(f"offset={offset}: expected >= 0")


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if isinstance(value, np.generic):
        return _plain(value.item())
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


# snapshots ------------------------------------------------------------------------------------
def snapshot(ctx: Context, *, actor: Actor, purpose: str | None, dataset: str | None = None) -> dict[str, Any]:
    """What data the pages show: per dataset, incident count, time span (also the earliest and latest incident
    in the zone its files were read in), CRS and the ingested files' hashes."""
    authorize(ctx, action="data.status", actor=actor, purpose=purpose)
    s = ctx.store
    names = [dataset] if dataset else s.datasets()
    out = []
    for name in names:
        n = int(s.scalar("SELECT count(*) FROM incidents WHERE dataset = ?", [name]))
        if dataset and n == 0:
            raise NotFoundError(f"dataset {name!r}: no incidents in the store; expected one of {s.datasets()}")
        lo, hi, last = next(iter(s.iter_rows(
            "SELECT min(occurred_from), max(occurred_to), max(occurred_from) FROM incidents WHERE dataset = ?",
            [name])))
        zone = dataset_timezone(ctx, name)
        files = s.query("SELECT file, file_sha256, n_landed, finished_at FROM ingests WHERE dataset = ? "
                        "ORDER BY started_at", [name])
        hashes = files["file_sha256"].astype(str).tolist()
        out.append({"dataset": name, "n_incidents": n, "occurred_from": _plain(lo), "occurred_to": _plain(hi),
                    "timezone": zone or "UTC", "first_local": local_time(lo, zone), "last_local": local_time(last, zone),
                    "crs": s.dataset_crs(name) if n else None,
                    "snapshot_sha256": sha256_hex("\n".join(hashes)) if hashes else None,
                    "files": _records(files),
                    "offenses": [str(r[0]) for r in s.iter_rows(
                        "SELECT offense FROM incidents WHERE dataset = ? GROUP BY 1 ORDER BY count(*) DESC",
                        [name])]})
    record_use(ctx, action="data.status", actor=actor, purpose=purpose, detail={"datasets": names})
    return {"ok": True, "datasets": out}


def area_layer(ctx: Context, *, dataset: str, actor: Actor, purpose: str | None) -> dict[str, Any]:
    """The basemap: the dataset's area polygons and the city outline (their union) as GeoJSON in lon/lat."""
    authorize(ctx, action="data.view", actor=actor, purpose=purpose)
    # the cache key changes with the areas themselves, not only their count (a replaced set of the same size)
    n, mark = next(iter(ctx.store.iter_rows(
        "SELECT count(*), coalesce(sum(hash(area_id || wkt || coalesce(name, ''))), 0) FROM areas WHERE dataset = ?",
        [dataset])))
    key = (ctx.store.path, "areas", f"{dataset}:{n}:{mark}")
    layer = _cached(key)
    if layer is None:
        import shapely
        from shapely import wkt as shp_wkt
        from shapely.geometry import mapping

        areas = ctx.store.areas(dataset=dataset)
        if not areas:
            # most real exports come without area polygons: an empty basemap, not an error
            ctx.store.dataset_crs(dataset)  # a dataset the store does not hold is still a 404
            layer = {"type": "FeatureCollection", "features": [],
                     "properties": {"note": f"dataset {dataset!r} has no area polygons "
                                            "(crimelens areas load, or POST /api/datasets/{dataset}/areas, adds them)"}}
            _remember(key, layer)
            record_use(ctx, action="data.view", actor=actor, purpose=purpose,
                       detail={"layer": "areas", "dataset": dataset, "n_areas": 0})
            return layer
        crs = areas[0].crs or ctx.store.dataset_crs(dataset)
        tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

        def lonlat(xy: NDArray[np.float64]) -> NDArray[np.float64]:
            lo, la = tr.transform(xy[:, 0], xy[:, 1])
            return np.column_stack([lo, la])

        shapes = [shp_wkt.loads(a.wkt) for a in areas]
        features = []
        for a, shp in zip(areas, shapes, strict=True):
            c = shp.representative_point()
            geo = shapely.transform(shp, lonlat)
            lon, lat = tr.transform(c.x, c.y)
            features.append({"type": "Feature", "geometry": mapping(geo),
                             "properties": {"kind": "area", "area_id": a.area_id, "name": a.name,
                                            "population": a.population, "label_lon": lon, "label_lat": lat}})
        outline = shapely.transform(shapely.union_all(shapes), lonlat)
        features.append({"type": "Feature", "geometry": mapping(outline),
                         "properties": {"kind": "outline", "name": f"{dataset} outline"}})
        layer = json.loads(json.dumps({"type": "FeatureCollection", "features": features}))
        _remember(key, layer)
    record_use(ctx, action="data.view", actor=actor, purpose=purpose, detail={"layer": "areas", "dataset": dataset})
    return layer


# incidents ------------------------------------------------------------------------------------
def list_incidents(ctx: Context, *, dataset: str | None, actor: Actor, purpose: str | None,
                   offense: str | None = None, start: datetime | str | None = None,
                   end: datetime | str | None = None, area: str | None = None,
                   limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """Incidents matching the filters (newest first), with longitude/latitude; paginated."""
    _page(limit, offset)
    authorize(ctx, action="data.list", actor=actor, purpose=purpose)
    where: list[str] = ["1=1"]
    params: list[Any] = []
    for col, val in (("dataset", dataset), ("offense", offense), ("area", area)):
        if val:
            where.append(f"{col} = ?")
            params.append(val)
    zone = reading_zone(ctx, dataset or None) if start is not None or end is not None else "UTC"
    if start is not None:  # a date or a time without an offset means the dataset's local time
        where.append("occurred_from >= ?")
        params.append(as_utc(start, zone))
    if end is not None:
        where.append("occurred_from < ?")
        params.append(as_utc(end, zone))
    cond = " AND ".join(where)
    total = int(ctx.store.scalar(f"SELECT count(*) FROM incidents WHERE {cond}", params))
    frame = ctx.store.query(
        "SELECT dataset, incident_id, offense, occurred_from, occurred_to, x_m, y_m, crs, area "
        f"FROM incidents WHERE {cond} ORDER BY occurred_from DESC, incident_id LIMIT {int(limit)} OFFSET {int(offset)}",
        params)
    if len(frame):
        lon = np.empty(len(frame))
        lat = np.empty(len(frame))
        for crs, idx in frame.groupby("crs").groups.items():
            pos = frame.index.get_indexer(idx)
            lo, la = _to_lonlat(str(crs), frame["x_m"].to_numpy(float)[pos], frame["y_m"].to_numpy(float)[pos])
            lon[pos], lat[pos] = lo, la
        frame = frame.assign(lon=lon, lat=lat)
    record_use(ctx, action="data.list", actor=actor, purpose=purpose,
               detail={"what": "incidents", "dataset": dataset, "offense": offense, "n": len(frame)})
    return {"ok": True, "items": _records(frame), "total": total, "limit": limit, "offset": offset}


# forecasts ------------------------------------------------------------------------------------
def list_forecast_runs(ctx: Context, *, actor: Actor, purpose: str | None, limit: int = 50,
                       offset: int = 0) -> dict[str, Any]:
    _page(limit, offset)
    authorize(ctx, action="forecast.list", actor=actor, purpose=purpose)
    total = int(ctx.store.scalar("SELECT count(*) FROM forecast_runs"))
    frame = ctx.store.query(
        "SELECT run_id, created_at, user_name, purpose, dataset, offense, model, model_version, window_start, "
        "window_end, n_cells, n_training, coverage, data_hash, output_hash, ledger_seq, mark FROM forecast_runs "
        f"ORDER BY created_at DESC, run_id LIMIT {int(limit)} OFFSET {int(offset)}")
    record_use(ctx, action="forecast.list", actor=actor, purpose=purpose, detail={"n": len(frame)})
    return {"ok": True, "items": _records(frame), "total": total, "limit": limit, "offset": offset}


def _cell_size(x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    for v in (x, y):
        u = np.unique(np.round(v, 3))
        if len(u) > 1:
            d = np.diff(u)
            d = d[d > 1e-6]
            if len(d):
                return float(d.min())
    return 150.0


def _area_definition(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _h3_resolution(area: dict[str, Any]) -> int | None:
    if area.get("kind") != "h3":
        return None
    res = area.get("resolution")
    return int(res) if isinstance(res, int | float) else None


def _cell_rings(crs: str | None, area: dict[str, Any], cells: pd.DataFrame) -> list[list[list[float]]]:
    """Each cell's outline as a closed lon/lat ring: hexagons for H3, squares otherwise."""
    if _h3_resolution(area) is not None:
        import h3

        rings = []
        for c in cells["cell_id"].tolist():  # an H3 area's cell_id is the H3 index
            b = h3.cell_to_boundary(h3.int_to_str(int(c)))  # (lat, lng) pairs, not closed
            ring = [[round(float(lng), 6), round(float(lat), 6)] for lat, lng in b]
            rings.append([*ring, ring[0]])
        return rings
    x = cells["x_m"].to_numpy(np.float64)
    y = cells["y_m"].to_numpy(np.float64)
    size = area.get("cell_m")
    h = (float(size) if isinstance(size, int | float) and size > 0 else _cell_size(x, y)) / 2.0
    xs = np.stack([x - h, x + h, x + h, x - h, x - h], axis=1)
    ys = np.stack([y - h, y - h, y + h, y + h, y - h], axis=1)
    lon, lat = _to_lonlat(crs, xs.ravel(), ys.ravel())
    lon = np.round(lon.reshape(xs.shape), 6)
    lat = np.round(lat.reshape(ys.shape), 6)
    return [[[float(a), float(b)] for a, b in zip(lon[k], lat[k], strict=True)] for k in range(len(x))]


def band_rings(crs: str | None, x_m: float, y_m: float, radii_m: list[float],
               distance: str) -> list[dict[str, Any] | None]:
    """The outer edge of each distance band around ``(x_m, y_m)`` as a GeoJSON polygon (lon/lat).

    Drawn in the data CRS, then reprojected: a diamond ``|dx| + |dy| = r`` for
    Manhattan distance, a circle for Euclidean. ``None`` for a band without a
    finite outer edge (an open-ended last band).

    Examples
    --------
    >>> ring = band_rings(None, 0.0, 0.0, [100.0], "manhattan")[0]["coordinates"][0]
    >>> max(abs(x) + abs(y) for x, y in ring)
    100.0
    """
    if distance not in ("manhattan", "euclidean"):
        raise InvalidParameterError(f"band_rings(distance={distance!r}): expected 'manhattan' or 'euclidean'")
    out: list[dict[str, Any] | None] = []
    for r in radii_m:
        if not np.isfinite(r) or r <= 0:
            out.append(None)
            continue
        if distance == "manhattan":
            # 16 points an edge, so the reprojected edges stay straight in the data CRS
            u = np.linspace(0.0, 1.0, 16, endpoint=False)
            corners = np.array([[r, 0.0], [0.0, r], [-r, 0.0], [0.0, -r], [r, 0.0]])
            pts = np.concatenate([corners[k] + np.outer(u, corners[k + 1] - corners[k]) for k in range(4)])
        else:
            a = np.linspace(0.0, 2 * np.pi, 96, endpoint=False)
            pts = np.column_stack([r * np.cos(a), r * np.sin(a)])
        lon, lat = _to_lonlat(crs, x_m + pts[:, 0], y_m + pts[:, 1])
        ring = [[round(float(a), 7), round(float(b), 7)] for a, b in zip(lon, lat, strict=True)]
        out.append({"type": "Polygon", "coordinates": [[*ring, ring[0]]]})
    return out


def forecast_layer(ctx: Context, *, run_id: str, actor: Actor, purpose: str | None,
                   deployment: str | None = None) -> dict[str, Any]:
    """A stored forecast run's cells as GeoJSON polygons (lon/lat), risk, rank and the top-k flag."""
    dep: dict[str, Any] = {"deployment": deployment} if deployment else {}
    authorize(ctx, action="forecast.view", actor=actor, purpose=purpose, **dep)
    key = (ctx.store.path, "forecast", run_id)
    layer = _cached(key)
    if layer is None:
        rec = get_forecast_run(ctx.store, run_id)
        cells = forecast_cells(ctx.store, run_id)
        area = _area_definition(rec.area)
        rings = _cell_rings(rec.crs, area, cells)
        check = check_stored_run(rec, cells)  # the map shows what the exports check: cells as the ledger logged
        risk = cells["risk"].to_numpy(np.float64)
        rank = cells["rank"].to_numpy(np.int64)
        flagged = cells["flagged"].to_numpy(bool)
        ids = cells["cell_id"].astype(str).tolist()
        features = [{"type": "Feature",
                     "geometry": {"type": "Polygon", "coordinates": [rings[k]]},
                     "properties": {"cell_id": ids[k], "risk": float(risk[k]), "rank": int(rank[k]),
                                    "flagged": bool(flagged[k])}}
                    for k in range(len(ids))]
        layer = {"type": "FeatureCollection", "features": features,
                 "properties": {"run_id": rec.run_id, "model": rec.model, "model_version": rec.model_version,
                                "params": json.loads(rec.params) if rec.params else {},
                                "window": [rec.window_start.isoformat(), rec.window_end.isoformat()],
                                "timezone": reading_zone(ctx, rec.dataset),
                                "records": rec.records, "n_records_left_out": rec.n_records_left_out,
                                "cell_shape": "hexagon (H3)" if _h3_resolution(area) is not None else "square",
                                "coverage": rec.coverage, "n_cells": len(ids), "n_flagged": int(flagged.sum()),
                                "tie_at_cut": tie_at_cut(np.asarray(risk, np.float64), np.flatnonzero(flagged)),
                                "data_hash": rec.data_hash, "output_hash": rec.output_hash,
                                "risk_units": "expected recorded incidents per cell in the window",
                                "max_risk": float(risk.max()) if len(risk) else 0.0,
                                "mark": rec.mark or "", "matches_ledger": bool(check["matches_ledger"]),
                                "ledger_problems": list(check["problems"])}}
        _remember(key, layer)
    record_use(ctx, action="forecast.view", actor=actor, purpose=purpose,
               detail={"run_id": run_id, "layer": "cells"}, **dep)
    return layer


def _group_scores(ctx: Context, incidents: IncidentTable, row: NDArray[np.int64], risk: NDArray[np.float64],
                  coverages: tuple[float, ...], dataset: str | None, group_by: str | None) -> dict[str, Any] | None:
    """Each audit group's hit rate in the window: the share of its recorded incidents (inside the
    study area) in flagged cells. ``group_by`` None: the areas' ``group`` when they have one."""
    areas = ctx.store.areas(dataset=dataset) if dataset else []  # read once, for both uses
    if group_by is None:
        if not any("group" in (a.audit or {}) for a in areas):
            return None
        group_by = "group"
    labels = np.array(audit_groups(ctx, incidents, group_by, dataset, areas) if len(incidents) else [],
                      dtype=object)
    groups: dict[str, Any] = {}
    for g in sorted({str(v) for v in labels if v is not None}):
        sel = (labels == g) & (row >= 0)
        obs = np.bincount(row[sel], minlength=len(risk)).astype(np.float64)
        r = coverage_scores(risk, obs, list(coverages))
        groups[g] = {"n": int(sel.sum()), "hit_rate": [_plain(float(v)) for v in r["hit_rate"]]}
    return {"by": group_by, "coverages": list(coverages), "groups": groups}


def forecast_evaluation(ctx: Context, *, run_id: str, actor: Actor, purpose: str | None,
                        coverages: tuple[float, ...] = (0.01, 0.05, 0.1),
                        group_by: str | None = None) -> dict[str, Any]:
    """Hit rate and PAI of a stored run against the incidents recorded in its window (when the store has them),
    overall and per audit group (``group_by``; by default the areas' ``group`` when they have one)."""
    authorize(ctx, action="forecast.view", actor=actor, purpose=purpose)
    rec = get_forecast_run(ctx.store, run_id)
    cells = forecast_cells(ctx.store, run_id).sort_values("cell", kind="stable")
    x = cells["x_m"].to_numpy(np.float64)
    y = cells["y_m"].to_numpy(np.float64)
    area = _area_definition(rec.area)
    size = float(area["cell_m"]) if isinstance(area.get("cell_m"), int | float) else _cell_size(x, y)
    observed_in, _ = count_records(ctx.store.incidents(dataset=rec.dataset, offense=offense_list(rec.offense),
                                                       period=TimeWindow(rec.window_start, rec.window_end)),
                                   rec.records)  # scored as the run counted its training records
    row = np.full(len(observed_in), -1, dtype=np.int64)  # each recorded incident's cell row (-1: outside)
    resolution = _h3_resolution(area)
    if len(observed_in) and resolution is not None and rec.crs:
        row_of = {int(c): k for k, c in enumerate(cells["cell_id"].tolist())}
        row[:] = [row_of.get(c, -1) for c in h3_cells(observed_in.xy_m, rec.crs, resolution).tolist()]
    elif len(observed_in):
        x0, y0 = x.min(), y.min()
        index = {(int(i), int(j)): k for k, (i, j) in enumerate(zip(np.rint((x - x0) / size), np.rint((y - y0) / size),
                                                                  strict=True))}
        pts = observed_in.xy_m
        gi = np.rint((pts[:, 0] - x0) / size).astype(int)
        gj = np.rint((pts[:, 1] - y0) / size).astype(int)
        row[:] = [index.get((i, j), -1) for i, j in zip(gi.tolist(), gj.tolist(), strict=True)]
    inside = row >= 0
    n_outside = int((~inside).sum())
    obs = np.bincount(row[inside], minlength=len(cells)).astype(np.float64)
    risk = cells["risk"].to_numpy(np.float64)
    scores = coverage_scores(risk, obs, list(coverages))
    rows = [{"coverage": c, "hit_rate": _plain(float(scores["hit_rate"][m])),
             "pai": _plain(float(scores["pai"][m])), "captured": float(scores["captured"][m]),
             "n_flagged": int(scores["n_flagged"][m])} for m, c in enumerate(coverages)]
    by_group = _group_scores(ctx, observed_in, row, risk, coverages, rec.dataset, group_by)
    out = {"ok": True, "run_id": run_id, "model": rec.model, "model_version": rec.model_version,
           "window": [rec.window_start.isoformat(), rec.window_end.isoformat()],
           "n_recorded_in_window": len(observed_in), "n_outside_study_area": n_outside, "scores": rows,
           "by_group": by_group,
           "data_hash": rec.data_hash, "mark": rec.mark or "",
           "note": ("no incidents recorded in the window yet: hit rate and PAI are undefined"
                    if len(observed_in) == 0 else
                    "hit rate = share of the window's recorded incidents inside the flagged cells; "
                    "PAI = hit rate / share of the area flagged")}
    record_use(ctx, action="forecast.view", actor=actor, purpose=purpose,
               detail={"run_id": run_id, "what": "evaluation", "n_recorded": len(observed_in)})
    return out


# series ---------------------------------------------------------------------------------------
def list_series_runs(ctx: Context, *, actor: Actor, purpose: str | None, dataset: str | None = None,
                     limit: int = 50, offset: int = 0) -> dict[str, Any]:
    _page(limit, offset)
    authorize(ctx, action="link.list", actor=actor, purpose=purpose)
    cond, params = ("kind = 'series'", []) if dataset is None else ("kind = 'series' AND dataset = ?", [dataset])
    total = int(ctx.store.scalar(f"SELECT count(*) FROM link_runs WHERE {cond}", params))
    frame = ctx.store.query(
        "SELECT r.run_id, r.linker_id, r.dataset, r.created_at, r.user_name, r.purpose, r.params, r.n_candidates, "
        f"r.n_rows AS n_series, r.output_hash FROM link_runs r WHERE {cond} ORDER BY created_at DESC, run_id "
        f"LIMIT {int(limit)} OFFSET {int(offset)}", params)
    record_use(ctx, action="link.list", actor=actor, purpose=purpose, detail={"what": "series runs", "n": len(frame)})
    return {"ok": True, "items": _records(frame), "total": total, "limit": limit, "offset": offset}


def list_series(ctx: Context, *, run_id: str, actor: Actor, purpose: str | None, limit: int = 50,
                offset: int = 0, incident: str | None = None) -> dict[str, Any]:
    """The candidate series of one stored run, largest first: span, cohesion, summary. ``incident``: only the
    series that holds this incident (none when it is in no series of the run)."""
    _page(limit, offset)
    authorize(ctx, action="link.list", actor=actor, purpose=purpose)
    run = _series_run_row(ctx, run_id)
    cond, params = "run_id = ?", [run_id]
    if incident is not None:
        cond += " AND series_id IN (SELECT series_id FROM link_series_members WHERE run_id = ? AND incident_id = ?)"
        params += [run_id, incident]
    total = int(ctx.store.scalar(f"SELECT count(*) FROM link_series WHERE {cond}", params))
    frame = ctx.store.query(
        f"SELECT series_id, n_members, first_from, last_to, cohesion, summary FROM link_series WHERE {cond} "
        f"ORDER BY n_members DESC, cohesion DESC, series_id LIMIT {int(limit)} OFFSET {int(offset)}", params)
    items = _records(frame)
    for it in items:
        it["summary"] = json.loads(it["summary"])
    record_use(ctx, action="link.list", actor=actor, purpose=purpose,
               detail={"run_id": run_id, "n": len(items), **({"incident": incident} if incident else {})})
    return {"ok": True, "run": run, "items": items, "total": total, "limit": limit, "offset": offset,
            "mark": RESEARCH_MARK if run["purpose"] == "research" else ""}


def _series_run_row(ctx: Context, run_id: str) -> dict[str, Any]:
    frame = ctx.store.query(
        "SELECT r.run_id, r.linker_id, r.dataset, r.created_at, r.purpose, r.params, r.output_hash, m.cutoff, "
        "m.features, m.evaluation FROM link_runs r LEFT JOIN link_models m USING (linker_id) "
        "WHERE r.run_id = ? AND r.kind = 'series'", [run_id])
    if frame.empty:
        raise NotFoundError(f"series run {run_id!r}: not in the store (crimelens link series makes one)")
    row = _records(frame)[0]
    for k in ("params", "features", "evaluation"):
        row[k] = json.loads(row[k]) if row.get(k) else None
    return row


def series_detail(ctx: Context, *, run_id: str, series_id: str, actor: Actor, purpose: str | None) -> dict[str, Any]:
    """One candidate series: members in time order with place, time and the features that link each one."""
    authorize(ctx, action="link.view", actor=actor, purpose=purpose)
    run = _series_run_row(ctx, run_id)
    head = ctx.store.query("SELECT series_id, n_members, first_from, last_to, cohesion, summary FROM link_series "
                           "WHERE run_id = ? AND series_id = ?", [run_id, series_id])
    if head.empty:
        raise NotFoundError(f"series {series_id!r}: not in run {run_id!r}")
    members = ctx.store.query(
        "SELECT m.position, m.incident_id, m.explanation, i.offense, i.occurred_from, i.occurred_to, i.x_m, i.y_m, "
        "i.crs, i.area FROM link_series_members m LEFT JOIN incidents i ON i.incident_id = m.incident_id "
        "AND i.dataset = ? WHERE m.run_id = ? AND m.series_id = ? ORDER BY m.position",
        [run["dataset"], run_id, series_id])
    crs = str(members["crs"].dropna().iloc[0]) if members["crs"].notna().any() else None
    lon, lat = _to_lonlat(crs, members["x_m"].to_numpy(np.float64), members["y_m"].to_numpy(np.float64))
    items = _records(members.drop(columns=["crs"]).assign(lon=lon, lat=lat))
    for it in items:
        it["explanation"] = json.loads(it["explanation"])
    info = _records(head)[0]
    info["summary"] = json.loads(info["summary"])
    record_use(ctx, action="link.view", actor=actor, purpose=purpose, model="PairwiseLinker",
               model_version=run["linker_id"], detail={"run_id": run_id, "series_id": series_id})
    return {"ok": True, "run": run, "series": info, "members": items,
            "mark": RESEARCH_MARK if run["purpose"] == "research" else ""}


# risk -----------------------------------------------------------------------------------------
def list_risk_models(ctx: Context, *, actor: Actor, purpose: str | None, limit: int = 50,
                     offset: int = 0) -> dict[str, Any]:
    _page(limit, offset)
    authorize(ctx, action="risk.list", actor=actor, purpose=purpose)
    total = int(ctx.store.scalar("SELECT count(*) FROM risk_models"))
    frame = ctx.store.query("SELECT model_id, kind, created_utc, user_name, label, n_train, data_hash FROM risk_models "
                            f"ORDER BY created_utc DESC LIMIT {int(limit)} OFFSET {int(offset)}")
    record_use(ctx, action="risk.list", actor=actor, purpose=purpose, detail={"n": len(frame)})
    return {"ok": True, "items": _records(frame), "total": total, "limit": limit, "offset": offset}


def list_audit_reports(ctx: Context, *, actor: Actor, purpose: str | None, limit: int = 50,
                       offset: int = 0) -> dict[str, Any]:
    _page(limit, offset)
    authorize(ctx, action="audit.list", actor=actor, purpose=purpose)
    total = int(ctx.store.scalar("SELECT count(*) FROM audit_reports"))
    frame = ctx.store.query(
        "SELECT report_id, created_utc, user_name, data_file, data_hash, score_name, label_name, group_columns, "
        f"threshold, model_id, json_hash FROM audit_reports ORDER BY created_utc DESC LIMIT {int(limit)} "
        f"OFFSET {int(offset)}")
    record_use(ctx, action="audit.list", actor=actor, purpose=purpose, detail={"n": len(frame)})
    return {"ok": True, "items": _records(frame), "total": total, "limit": limit, "offset": offset}


def audit_report(ctx: Context, *, report_id: str, actor: Actor, purpose: str | None) -> dict[str, Any]:
    """A stored audit report (groups with intervals, calibration, ROC when stored) with its hashes."""
    authorize(ctx, action="audit.view", actor=actor, purpose=purpose)
    frame = ctx.store.query("SELECT report_id, created_utc, user_name, data_file, data_hash, score_name, "
                            "label_name, threshold, model_id, report_json, json_hash FROM audit_reports "
                            "WHERE report_id = ?", [report_id])
    if frame.empty:
        raise NotFoundError(f"audit report {report_id!r}: not in the store (crimelens audit group makes one)")
    row = _records(frame)[0]
    report = json.loads(row.pop("report_json"))
    record_use(ctx, action="audit.view", actor=actor, purpose=purpose, detail={"report_id": report_id})
    return {"ok": True, **row, "report": report}


def export_audit(ctx: Context, *, report_id: str, actor: Actor, purpose: str | None) -> tuple[bytes, bool]:
    """A stored audit as the JSON document whose SHA-256 its ``audit.fairness`` ledger entry holds
    (``json_hash``), and whether it still hashes to it. Logged as ``audit.export``."""
    authorize(ctx, action="audit.export", actor=actor, purpose=purpose)
    frame = ctx.store.query("SELECT report_json, json_hash FROM audit_reports WHERE report_id = ?", [report_id])
    if frame.empty:
        raise NotFoundError(f"audit report {report_id!r}: not in the store (crimelens audit group makes one)")
    data = str(frame["report_json"].iloc[0]).encode("utf-8")
    logged = str(frame["json_hash"].iloc[0])
    matches = hashlib.sha256(data).hexdigest() == logged
    record_use(ctx, action="audit.export", actor=actor, purpose=purpose, output_hash=logged,
               detail={"report_id": report_id, "matches_ledger": matches})
    return data, matches


# feedback ---------------------------------------------------------------------------------------
def list_feedback_runs(ctx: Context, *, actor: Actor, purpose: str | None, kind: str | None = None,
                       limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """Stored feedback-loop simulations and exposure audits, newest first."""
    from crimelens.services.feedback import list_runs

    _page(limit, offset)
    authorize(ctx, action="feedback.list", actor=actor, purpose=purpose)
    rows = list_runs(ctx, kind=kind, limit=None)
    items = [{"run_id": r.run_id, "kind": r.kind, "scenario": r.scenario, "created_at": r.created_at.isoformat(),
              "user_name": r.user_name, "purpose": r.purpose, "params": r.params, "summary": r.summary,
              "output_hash": r.output_hash, "ledger_seq": r.ledger_seq} for r in rows]
    record_use(ctx, action="feedback.list", actor=actor, purpose=purpose, detail={"n": len(items)})
    return {"ok": True, "items": json.loads(json.dumps(items[offset:offset + limit], default=_json_default)),
            "total": len(items), "limit": limit, "offset": offset}


# ledger -----------------------------------------------------------------------------------------
def ledger_page(ctx: Context, *, actor: Actor, purpose: str | None, action: str | None = None,
                limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """Ledger entries newest first (``offset`` counts back from the newest), with their sequence numbers."""
    from crimelens.governance import LedgerEntry

    _page(limit, offset)
    authorize(ctx, action="ledger.list", actor=actor, purpose=purpose)
    cond, params = ("", []) if not action else (" WHERE starts_with(action, ?)", [action.rstrip("*")])
    total = int(ctx.store.scalar(f"SELECT count(*) FROM ledger{cond}", params))
    rows = list(ctx.store.iter_rows(f"SELECT seq, payload FROM ledger{cond} ORDER BY seq DESC "
                                    f"LIMIT {int(limit)} OFFSET {int(offset)}", params))
    items = [{"seq": int(s), **LedgerEntry.from_payload(json.loads(bytes(p))).to_payload()} for s, p in rows]
    record_use(ctx, action="ledger.list", actor=actor, purpose=purpose,
               detail={"filter_action": action, "n": len(items), "offset": offset})
    return {"ok": True, "items": json.loads(json.dumps(items, default=_json_default)), "total": total,
            "limit": limit, "offset": offset}


def _json_default(value: Any) -> Any:
    plain = _plain(value)
    if plain is value:
        return str(value)
    return plain
