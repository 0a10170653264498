"""Use cases: run a forecast (stored with its ledger entry), backtest models, export a run.

A forecast run is written to ``forecast_runs`` / ``forecast_cells`` together with
its ledger entry (action ``forecast.run``) in one transaction; a backtest's
summary likewise (action ``forecast.backtest``). Local use is logged with the
purpose "research" and outputs carry :data:`crimelens.services.RESEARCH_MARK`.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crimelens import __version__
from crimelens.domain import Area, IncidentTable, TimeWindow
from crimelens.domain._time import as_utc, in_zone, wall_clock_add, wall_clock_steps
from crimelens.errors import InvalidParameterError, NotFoundError
from crimelens.forecast import (
    DATA_PARAMS,
    DEFAULT_CURVE,
    DEFAULT_MODEL,
    MODELS,
    BacktestResult,
    HotspotModel,
    RiskSurface,
    StudyArea,
    coverage_for_area,
    make_model,
    reading_hours_in,
    rolling_origin,
)
from crimelens.forecast._backtest import MIN_PERIODS_FOR_INTERVAL
from crimelens.forecast._base import days_since_epoch, params_used
from crimelens.forecast._export import (
    FORMATS,
    export_surface,
    format_span,
    format_start,
    plot_coverage_curves,
    plot_surface,
    presented_flags,
    surface_frame,
)
from crimelens.forecast._hours import day_long_share, share_in_hours
from crimelens.forecast._metrics import KM2_PER_SQ_MI
from crimelens.forecast._surface import output_hash, rank_cells, tie_at_cut
from crimelens.governance import Actor
from crimelens.governance._cards import ModelCard
from crimelens.services._context import (
    RESEARCH,
    RESEARCH_MARK,
    Context,
    authorize,
    check_dataset,
    check_records,
    count_records,
    local_time,
    output_mark,
    reading_zone,
    record_use,
    refuse,
    sha256_hex,
)
from crimelens.services.governance import register_model
from crimelens.storage import _governance as gov_db
from crimelens.storage._forecast import (
    BacktestRecord,
    ForecastRecord,
    get_forecast_run,
    save_backtest,
    save_forecast_run,
)

__all__ = [
    "BACKTEST_EXPORTS",
    "BacktestRun",
    "ForecastRun",
    "audit_groups",
    "check_stored_run",
    "data_hash",
    "export_backtest",
    "export_stored_file",
    "export_stored_run",
    "forecast_warnings",
    "list_backtests",
    "offense_list",
    "outside_note",
    "paired_summary",
    "parse_horizon",
    "record_export",
    "register_backtested",
    "run_backtest",
    "run_forecast",
    "show_backtest",
]


def parse_horizon(text: str | float) -> float:
    """``'7d'``, ``'12h'``, ``'2w'`` or a number of days -> days.

    Examples
    --------
    >>> parse_horizon("7d"), parse_horizon("12h"), parse_horizon("2w"), parse_horizon(3)
    (7.0, 0.5, 14.0, 3.0)
    """
    if isinstance(text, int | float):
        value = float(text)
    else:
        s = text.strip().lower()
        units = {"d": 1.0, "h": 1 / 24, "w": 7.0}
        try:
            value = float(s[:-1]) * units[s[-1]] if s and s[-1] in units else float(s)
        except ValueError:
            value = float("nan")
    if not value > 0:
        raise InvalidParameterError(
            f"horizon: got {text!r}; expected a positive duration such as 7d, 12h or 2w"
        )
    return value


def data_hash(incidents: IncidentTable) -> str:
    """SHA-256 over the incidents' ids, times and coordinates (order-independent)."""
    frame = incidents.frame[["incident_id", "occurred_from", "occurred_to", "x_m", "y_m"]]
    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(np.sort(rows).tobytes()).hexdigest()


@dataclass(frozen=True)
class ForecastRun:
    """A stored forecast: the surface, what it was made from, and its ledger entry."""

    run_id: str
    surface: RiskSurface
    dataset: str | None
    offense: str | None
    coverage: float
    n_training: int
    data_hash: str
    ledger_seq: int
    mark: str = RESEARCH_MARK
    files: dict[str, str] = field(default_factory=dict)
    #: ``(flagged km², coverage)`` for each area-defined coverage (NIJ-style)
    areas: tuple[tuple[float, float], ...] = ()
    #: the zone the window was read in and is shown in (the dataset's)
    timezone: str = "UTC"
    #: 'incident': each incident once; 'all': every record (see ``count_records``)
    records: str = "incident"
    n_records_left_out: int = 0
    #: the newest training incident's time as the models read it (the middle of its window), before
    #: the window: how old the data is at the window
    newest_incident: datetime | None = None
    #: what a reader must know before trusting the forecast (see :func:`forecast_warnings`)
    warnings: tuple[str, ...] = ()
    #: the parameters as used and recorded (``cell_m`` the study area's; see ``params_used``);
    #: None: the surface's own
    params: Mapping[str, Any] | None = None
    #: each file ``out`` wrote: kind, format, path, bytes, SHA-256 and its ``forecast.export`` entry
    exports: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self, *, top: int = 10) -> dict[str, Any]:
        frame = surface_frame(self.surface, self.coverage)
        window = self.surface.window
        age = None if self.newest_incident is None else (window.start - self.newest_incident).total_seconds() / 86400
        described = self.surface.describe()
        if self.params is not None:
            described["params"] = dict(self.params)
        return {
            "ok": True,
            "run_id": self.run_id,
            "mark": self.mark,
            "dataset": self.dataset,
            "offense": self.offense,
            **described,
            "coverage": self.coverage,
            "n_flagged": int(frame["flagged"].sum()),
            # the tie the shown flags cut through (cells of risk 0 are never shown flagged)
            "tie_at_cut": tie_at_cut(frame["risk"].to_numpy(np.float64), np.flatnonzero(frame["flagged"].to_numpy())),
            "n_training": self.n_training,
            "newest_incident": None if self.newest_incident is None else local_time(self.newest_incident, self.timezone),
            "days_since_newest_incident": None if age is None else round(age, 2),
            "records": self.records,
            "n_records_left_out": self.n_records_left_out,
            "timezone": self.timezone,
            "window_local": [local_time(window.start, self.timezone), local_time(window.end, self.timezone)],
            "data_hash": self.data_hash,
            "ledger_seq": self.ledger_seq,
            "top_cells": frame.head(top)[["cell", "cell_id", "lon", "lat", "risk", "rank"]].to_dict("records"),
            "warnings": list(self.warnings),
            "files": dict(self.files),
            "exports": [dict(e) for e in self.exports],
        }


def _model(model: str | HotspotModel, params: Mapping[str, Any] | None) -> HotspotModel:
    if params and "cell_m" in params:  # the study area's cells are the ones used: it would be ignored
        raise InvalidParameterError(
            f"model parameter cell_m={params['cell_m']!r}: the study area sets the cells' size; expected it as "
            "--cell-m (cell_m of the forecast or backtest), not as a model parameter")
    if isinstance(model, HotspotModel):
        return model if not params else model.set_params(**params)
    if params and model in MODELS:
        known = sorted(k for k in MODELS[model]().get_params() if k != "area")
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise InvalidParameterError(
                f"model {model!r}: got unknown parameter(s) {unknown}; expected some of {known} "
                "(crimelens forecast models lists them with their defaults)"
            )
    return make_model(model, **dict(params or {}))


def offense_list(offense: str | Sequence[str] | None) -> list[str] | None:
    """The offenses a forecast or backtest reads: one name, several pooled (``"theft,vehicle_theft"``
    or a list; blanks and repeats dropped, the order kept), or None for every offense.

    Examples
    --------
    >>> offense_list("theft, theft_from_vehicle,theft"), offense_list("burglary"), offense_list(None)
    (['theft', 'theft_from_vehicle'], ['burglary'], None)
    """
    if offense is None:
        return None
    items = offense.split(",") if isinstance(offense, str) else [str(o) for o in offense]
    names = list(dict.fromkeys(o.strip() for o in items if o.strip()))
    if not names:
        raise InvalidParameterError(f"offense: got {offense!r}; expected an offense name such as burglary, or "
                                    "several separated by commas to pool them (theft,vehicle_theft)")
    return names


def _offense_text(names: list[str] | None) -> str | None:
    """How a run records its offenses: the name, or the pooled names joined by commas."""
    return None if names is None else ",".join(names)


def _store_offense(names: list[str] | None) -> str | list[str] | None:
    return None if names is None else names[0] if len(names) == 1 else names


def _check_offenses(ctx: Context, dataset: str | None, names: list[str] | None, what: str) -> None:
    """Refuse an offense the dataset does not hold (a misspelling would read as "no history"), naming the
    offenses it does hold, the most common first. A store without incidents is left to the caller."""
    if names is None:
        return
    where, args = (" WHERE dataset = ?", [dataset]) if dataset is not None else ("", [])
    counts = ctx.store.query(f"SELECT offense, count(*) AS n FROM incidents{where} GROUP BY offense "
                             "ORDER BY n DESC, offense", args)
    if counts.empty:
        return
    held = {str(o): int(n) for o, n in zip(counts["offense"], counts["n"], strict=True)}
    missing = [o for o in names if o not in held]
    if not missing:
        return
    label = _dataset_label(ctx, dataset)
    shown = list(held.items())[:15]
    listed = ", ".join(f"{o} ({n:,})" for o, n in shown) + (f", and {len(held) - 15} more" if len(held) > 15 else "")
    which = (f"offense {missing[0]!r} is" if len(missing) == 1
             else f"offenses {', '.join(repr(o) for o in missing)} are")
    raise NotFoundError(
        f"{what}: {which} not in dataset {label!r}; it holds {sum(held.values()):,} records of {len(held)} "
        f"offense(s), the most common first: {listed}; expected one of these, or several separated by commas "
        "to pool them (e.g. --offense theft,vehicle_theft)")


def _when(t: datetime, zone: str) -> str:
    """A time for a message: on the dataset's clocks, with the zone named (``2021-01-01 06:00 UTC``)."""
    return format_start(t, zone)


def _one_city(ctx: Context, dataset: str | None, what: str) -> None:
    """Without --dataset a forecast reads every dataset: refused when the store holds several (their
    incidents are other places, often in other CRSs, and one grid over them means nothing)."""
    if dataset is not None:
        check_dataset(ctx, dataset, what)
        return
    names = ctx.store.datasets()
    if len(names) > 1:
        raise InvalidParameterError(f"{what}: the store {str(ctx.store.path)!r} holds {len(names)} datasets "
                                    f"{names}; name one with --dataset")


_STATE_CRS = ("state its CRS: a GeoPackage, or a shapefile with its .prj, records it; a GeoJSON takes a `crs` member, "
              '{"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32610"}} (or reproject it to lon/lat)')


def _boundary_off_earth(path: Path) -> None:
    """Refuse a boundary file whose coordinates are not positions in the CRS it is read in (a GeoJSON in
    metres without a ``crs`` member is read as lon/lat, RFC 7946): projecting it gives no boundary at all."""
    import pyogrio
    from pyproj import CRS

    try:
        info = pyogrio.read_info(str(path), force_total_bounds=True)
    except Exception:  # pyogrio raises DataSourceError and others; reading the areas names the problem
        return
    file_crs = info.get("crs") or "EPSG:4326"
    bounds = info.get("total_bounds")
    try:
        geographic = CRS.from_user_input(file_crs).is_geographic
    except Exception:  # pyproj's CRSError: reading the areas names the problem
        return
    if bounds is None or not geographic:
        return
    west, south, east, north = (float(v) for v in bounds)
    if np.isfinite([west, south, east, north]).all() and west >= -180 and east <= 180 and south >= -90 and north <= 90:
        return
    stated = (" (a GeoJSON without a `crs` member is read as lon/lat, RFC 7946)"
              if path.suffix.lower() in (".geojson", ".json") else "")
    raise InvalidParameterError(
        f"--polygon {path.name}: its coordinates (x {west:.6g}..{east:.6g}, y {south:.6g}..{north:.6g}) are not on "
        f"Earth in {file_crs}{stated}; they look like metres or feet of a projected CRS: expected lon/lat, or "
        f"{_STATE_CRS}")


def _drawn(path: Path, crs: str | None) -> Any:
    """The file's polygons as drawn (not repaired), in ``crs``; none when the file cannot be read so."""
    import pyogrio
    import shapely

    from crimelens.ingest._project import _transformer
    from crimelens.ingest._read import geometry_column

    try:
        meta, table = pyogrio.read_arrow(str(path))
    except Exception:  # pyogrio raises DataSourceError and others; read_areas has named the problem
        return np.array([], dtype=object)
    column = geometry_column(meta, list(table.column_names))
    if column is None:
        return np.array([], dtype=object)
    geoms = shapely.from_wkb(table.column(column).to_numpy(zero_copy_only=False), on_invalid="ignore")
    source = meta.get("crs") or "EPSG:4326"
    if crs is not None and source != crs:
        tr = _transformer(source, crs)
        geoms = shapely.transform(geoms, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
    return geoms


def _repair(geoms: Any, path: Path, notes: list[str] | None) -> Any:
    """The boundary's polygons made valid, with a warning naming each that was not (a self-intersecting ring, a
    bow tie) and the area before and after: ``make_valid`` keeps every part, which may not be what was meant."""
    import shapely

    bad = np.flatnonzero(~shapely.is_valid(geoms))
    fixed = shapely.make_valid(geoms)
    if len(bad) and notes is not None:
        said = []
        for i in bad[:3]:
            said.append(f"feature {i + 1} ({shapely.is_valid_reason(geoms[i])}): {geoms[i].area / 1e6:,.3f} km² "
                        f"as drawn, {fixed[i].area / 1e6:,.3f} km² repaired")
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        notes.append(f"--polygon {path.name}: {len(bad)} of its {len(geoms)} polygon(s) are not valid and were "
                     f"repaired (shapely make_valid): {'; '.join(said)}{more}. Check that the study area is the one "
                     "meant (a ring crossing itself is split at the crossing), or fix the boundary and run again.")
    return fixed


def _boundary(polygon: str, crs: str | None, notes: list[str] | None = None) -> tuple[Any, str]:
    """A study-area boundary from a polygon file (every feature, united, projected to the data's CRS)
    or from WKT already in that CRS; the name the study area records (the file's name and SHA-256).
    A file whose coordinates are no positions in its CRS is refused; an invalid polygon is repaired, with
    a warning in ``notes``."""
    import shapely

    path = Path(polygon)
    if path.suffix.lower() in (".geojson", ".json", ".gpkg", ".shp", ".zip") or path.is_file():
        if not path.is_file():
            raise NotFoundError(f"--polygon {polygon}: no such file; expected a GeoJSON, GeoPackage or "
                                "zipped shapefile of the boundary, or WKT in the data CRS")
        from crimelens.feedback import read_areas

        _boundary_off_earth(path)
        areas = read_areas(path, crs=crs)  # repaired already: the file's own polygons are checked for the warning
        _repair(_drawn(path, crs), path, notes)
        geoms = shapely.from_wkt([a.wkt for a in areas])
        finite = [bool(np.isfinite(shapely.get_coordinates(g)).all()) for g in geoms]
        if not all(finite):
            raise InvalidParameterError(
                f"--polygon {path.name}: feature {finite.index(False) + 1} does not project to {crs} (its coordinates "
                f"are outside what that CRS can hold); expected a boundary around the data, in a CRS the file "
                f"states; {_STATE_CRS}")
        geom = shapely.union_all(_repair(geoms, path, notes))
        return geom, f"{path.name} (sha256 {hashlib.sha256(path.read_bytes()).hexdigest()[:16]})"
    try:
        geom = shapely.from_wkt(polygon)
    except shapely.errors.GEOSException as exc:
        raise InvalidParameterError(
            f"--polygon: got {polygon[:80]!r}, which is neither a boundary file nor WKT ({exc}); expected a "
            "GeoJSON, GeoPackage or zipped shapefile, or WKT in the data CRS, e.g. POLYGON((x y, ...))") from exc
    if not shapely.is_valid(geom):
        geom = _repair(np.array([geom], dtype=object), Path("WKT"), notes)[0]
    return geom, "polygon"


def _area(history: IncidentTable, cell_m: float, mask: str, polygon: str | None,
          h3_resolution: int = 9, before: datetime | None = None, notes: list[str] | None = None) -> StudyArea:
    """The study area of one forecast; ``before``, the forecast's start, names the history an activity
    mask counted in its rule ("incidents (mid-time) before ..."); a repaired boundary is warned about in
    ``notes``."""
    period = None if before is None else TimeWindow(datetime(1900, 1, 1, tzinfo=before.tzinfo), before)
    if polygon is not None and mask != "polygon":  # it would be ignored: the area would not be the one given
        raise InvalidParameterError(f"a boundary (--polygon) with mask={mask!r}; expected mask 'polygon' (or no "
                                    "boundary)")
    if mask == "h3":
        return StudyArea.h3(history, h3_resolution, period=period)
    if mask == "activity":
        return StudyArea.from_activity(history, cell_m, period=period)
    if mask == "bbox":
        return StudyArea.bounding_box(history, cell_m)
    if mask == "polygon":
        if polygon is None:
            raise InvalidParameterError("mask='polygon': give the boundary (--polygon): a GeoJSON, GeoPackage or "
                                        "zipped shapefile, or WKT in the data CRS")
        geom, name = _boundary(polygon, history.crs, notes)
        return StudyArea.from_polygon(geom, cell_m, crs=history.crs, name=name)
    raise InvalidParameterError(f"mask={mask!r}: expected 'activity', 'bbox', 'polygon' or 'h3'")


def run_forecast(
    ctx: Context,
    *,
    offense: str | Sequence[str] | None,
    at: datetime | str,
    actor: Actor,
    model: str | HotspotModel = DEFAULT_MODEL,
    params: Mapping[str, Any] | None = None,
    horizon_days: float = 7.0,
    cell_m: float = 150.0,
    dataset: str | None = None,
    area: StudyArea | None = None,
    mask: str = "activity",
    polygon: str | None = None,
    h3_resolution: int = 9,
    coverage: float = 0.05,
    purpose: str | None = RESEARCH,
    deployment: str | None = None,
    out: str | Path | None = None,
    records: str = "incident",
) -> ForecastRun:
    """Fit ``model`` on the incidents before ``at`` and forecast ``[at, at + horizon_days)``.

    ``at`` as a date, or a time without an offset, is read in the dataset's time zone (the zone its
    files were read in): "2018-01-01" for Chicago is midnight in Chicago. A time with an offset keeps it.
    ``records="incident"`` (the default) counts each incident once: the further records ``ID#2``,
    ``ID#3``... of one incident (one row per victim or offence) are left out; ``"all"`` counts every
    record. The run, its ledger entry and its later scoring keep the choice.
    ``offense`` is one offense, several pooled (``"theft,theft_from_vehicle,vehicle_theft"`` or a list:
    their incidents forecast together; the run records them joined by commas), or None for all; an
    offense the dataset does not hold is refused, naming those it holds.

    The study area (unless given) is the cells of ``cell_m`` metres holding at
    least one incident before ``at`` (``mask='activity'``), every cell of the
    bounding box (``'bbox'``), the cells inside ``polygon`` (``'polygon'``), or
    the H3 hexagons of ``h3_resolution`` holding a past incident (``'h3'``;
    ``cell_m`` is then unused). The run and its ledger entry are stored in one transaction; ``out`` also
    writes an export (``.geojson``, ``.gpkg``, ``.csv``; its format checked, and the export authorized,
    before any work) plus a PNG map beside it, each file logged as ``forecast.export`` with its path,
    format and SHA-256 (:func:`record_export`), and the export's metadata names the run, dataset,
    offense and the window on the dataset's clocks.

    ``params`` set the model's hyperparameters (``crimelens forecast models`` lists them); the
    run and its ledger entry record every parameter as used: ``cell_m`` is the study area's cell
    size (absent for H3 cells), and a model parameter ``cell_m`` is refused (use ``cell_m``). A
    deployment approves a model with the parameters its card was measured with, so ``params``
    with ``deployment`` is refused (and the refusal logged): custom parameters are research use.
    So are settings the card's backtest did not measure (:func:`_check_measured_settings`): under a
    deployment, a ``cell_m``, ``horizon_days`` or study-area rule other than the card's, or a
    ``coverage`` above the largest it measured, is refused and the refusal logged.

    A window shorter than a day on records whose times are mostly windows of a day or more
    (month-only data) leaves out the time of day (``time_of_day=None``) with a warning; the run's
    ``warnings`` (in its JSON, its ledger entry and its exports) also say why every risk is 0
    when it is, and when cells of risk 0 are left unflagged (:func:`forecast_warnings`).
    """
    if not 0 < coverage <= 1:
        raise InvalidParameterError(f"coverage={coverage}: expected a fraction in (0, 1]")
    check_records(records)
    offenses = offense_list(offense)
    offense = _offense_text(offenses)
    estimator = _model(model, params)
    if deployment is not None and params:
        refuse(ctx, action="forecast.run", actor=actor, purpose=purpose, deployment=deployment,
               model=type(estimator).__name__, detail={"params": _plain(dict(params))},
               reason=(f"deployment {deployment!r} approves its model with the parameters its card was "
                       f"measured with; got custom parameters {sorted(params)}: research use only "
                       "(drop the deployment, or the parameters)"))
    card_notes = [] if deployment is None else _check_measured_settings(
        ctx, deployment, actor=actor, purpose=purpose, model=type(estimator).__name__, cell_m=cell_m,
        horizon_days=horizon_days, mask=mask, h3_resolution=h3_resolution, coverage=coverage, area=area)
    _one_city(ctx, dataset, "forecast")
    _check_offenses(ctx, dataset, offenses, "forecast")
    dep: dict[str, Any] = {"deployment": deployment} if deployment is not None else {}
    kind = None if out is None else _export_kind(Path(out))
    if out is not None:  # before any work: a refused export leaves no stored run behind
        authorize(ctx, action="forecast.export", actor=actor, purpose=purpose, **dep)
    zone = reading_zone(ctx, dataset)
    reading_hours_in(estimator, zone)  # a shift's hours on the dataset's own clocks
    start = as_utc(at, zone)
    window = TimeWindow(start, wall_clock_add(start, horizon_days, zone))  # 7d: to the same local time
    history = ctx.store.incidents(dataset=dataset, offense=_store_offense(offenses),
                                  period=TimeWindow(datetime(1900, 1, 1, tzinfo=start.tzinfo), start))
    if len(history) == 0:
        raise NotFoundError(
            f"forecast: no incidents before {_when(start, zone)} for dataset={dataset!r}, "
            f"offense={offense!r}; expected some history before the window (a later --at, or ingest a file first)"
        )
    history, n_left_out = count_records(history, records)
    area_notes: list[str] = []  # a boundary repaired
    study = area if area is not None else _area(history, cell_m, mask, polygon, h3_resolution, before=start,
                                                notes=area_notes)
    size = params_used(estimator, study).get("cell_m")  # the area's cells are the ones used: recorded so
    estimator.set_params(area=study, **({} if size is None else {"cell_m": size}))
    # the records the models read: a record whose window began before the forecast but whose middle
    # falls after its start (a police.uk month) is left out by every model, so not counted
    read = history.select(mask=(_read_times(history) < start).to_numpy(dtype=bool))
    n_read = len(read)
    notes = [*card_notes, *area_notes, *([] if window.days >= 1 else _hours_unknown({"": estimator}, read, window.days,
                                                                       _dataset_label(ctx, dataset))[0])]
    with warnings.catch_warnings():  # records="all" counts every record on purpose, and says so in the run
        warnings.filterwarnings("ignore", message=r".*further records of its incidents", category=UserWarning)
        surface = estimator.fit(history).predict(window)
    newest = _newest_before(history, start)
    notes += forecast_warnings(estimator, surface, coverage, n_training=n_read, newest=newest, zone=zone)
    used = _plain(params_used(estimator))
    run_id = uuid.uuid4().hex[:16]
    d_hash = data_hash(history)
    o_hash = surface.hash()
    mark = output_mark(ctx, action="forecast.run", purpose=purpose, deployment=deployment)  # pending review if actionable
    frame = surface_frame(surface, coverage)
    cells = frame[["cell", "cell_id", "x_m", "y_m", "risk", "rank", "flagged"]]
    with ctx.store.transaction():
        seq = record_use(
            ctx, action="forecast.run", actor=actor, purpose=purpose, model=surface.model,
            model_version=__version__, params=used, data_hash=d_hash,
            output_hash=o_hash, inputs={"dataset": dataset, "offense": offense,
                                        "n_training": n_read},
            detail={"run_id": run_id, "window": [window.start.isoformat(), window.end.isoformat()],
                    "area": study.describe(), "coverage": coverage, "records": records,
                    "n_records_left_out": n_left_out, "warnings": list(notes),
                    **({"offenses": offenses} if offenses is not None and len(offenses) > 1 else {})}, **dep)
        save_forecast_run(ctx.store, ForecastRecord(
            run_id=run_id, created_at=ctx.now(), user_name=actor.user, purpose=str(purpose),
            dataset=dataset, offense=offense, model=surface.model, model_version=__version__,
            params=json.dumps(used, sort_keys=True),
            window_start=window.start, window_end=window.end,
            area=json.dumps(study.describe(), sort_keys=True, default=str), crs=study.crs,
            n_cells=study.n_cells, n_training=n_read, coverage=coverage, data_hash=d_hash,
            output_hash=o_hash, ledger_seq=seq, mark=mark, records=records, n_records_left_out=n_left_out), cells)
    files: dict[str, str] = {}
    exports: list[dict[str, Any]] = []
    if out is not None and kind is not None:
        meta = _run_metadata(run_id, dataset, offense, window, zone, notes)
        # a file already there is replaced (as any --out is): its hash is kept in the new entry and said,
        # since an earlier entry naming it (two exports of one name, .gpkg and .geojson, share one .png)
        # no longer matches the file
        before = {p: sha256_hex(p.read_bytes()) for p in (Path(out), Path(out).with_suffix(".png")) if p.is_file()}
        path = export_surface(surface, out, coverage=coverage, fmt=kind, mark=mark, extra=meta)
        png = plot_surface(surface, path.with_suffix(".png"), coverage=coverage, mark=mark, zone=zone,
                           caption=_caption(run_id, dataset, offense))
        files.update(export=str(path), map=str(png))
        for what, fmt, written in (("export", kind, path), ("map", "png", png)):
            old = before.get(Path(written))
            exports.append({"kind": what, **record_export(
                ctx, run_id=run_id, fmt=fmt, path=written, n_cells=study.n_cells, output_hash=o_hash, actor=actor,
                purpose=purpose, deployment=deployment, local=True, replaced=old)})
            if old is not None:
                notes.append(f"{written} existed and was replaced (its SHA-256 was {old}): a ledger entry of an "
                             "earlier run that names it no longer matches the file; give each export its own name")
    return ForecastRun(run_id, surface, dataset, offense, coverage, n_read, d_hash, seq,
                       mark or "", files, timezone=zone, records=records, n_records_left_out=n_left_out,
                       newest_incident=newest, warnings=tuple(notes), params=used, exports=tuple(exports))


#: A card's figures at a coverage: ``hit_rate_0.05`` (``register_backtested`` writes ``{c:g}``).
_COVERAGE_METRIC = re.compile(r"^hit_rate_(\d*\.?\d+(?:[eE][-+]?\d+)?)$")


def _mask_of(definition: Mapping[str, Any]) -> str | None:
    """A study area's rule as ``--mask`` names it, from its written definition (``StudyArea.describe``):
    ``activity`` (cells with a past incident; with the lookback when it was not all the history),
    ``bbox``, ``polygon``, ``h3 resolution R``; None when the definition says none of these."""
    rule = str(definition.get("rule", ""))
    if definition.get("kind") == "h3":
        return f"h3 resolution {definition.get('resolution')}"
    if rule.startswith("cells with >= "):
        least = int(definition.get("min_events", 1) or 1)
        period = definition.get("period")
        label = "activity" if least == 1 else f"activity (>= {least} incidents a cell)"
        if isinstance(period, list | tuple) and len(period) == 2:
            start, end = (datetime.fromisoformat(str(t)) for t in period)
            if start.year > 1900:  # a backtest's --mask-days: only the last days' incidents counted
                label += f" over the {format_span((end - start).total_seconds() / 86400)} before the start"
        return label
    if rule.startswith("every cell of the grid"):
        return "bbox"
    if rule.startswith("cells whose centre lies inside"):
        return "polygon"
    return None


def _card_settings(evaluation: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a registered card's figures were measured with (``register_backtested`` writes them
    in its evaluation data): ``cell_m``, ``horizon_days``, ``mask`` and ``coverages``; a setting an older
    card does not record is absent."""
    data = evaluation.get("data")
    data = dict(data) if isinstance(data, Mapping) else {}
    area = data.get("study_area")
    area = dict(area) if isinstance(area, Mapping) else {}
    out: dict[str, Any] = {}
    if isinstance(area.get("cell_m"), int | float):
        out["cell_m"] = float(area["cell_m"])
    elif area.get("kind") == "h3":
        out["cell_m"] = None  # hexagons have no size in metres: the rule names their resolution
    if isinstance(data.get("horizon_days"), int | float):
        out["horizon_days"] = float(data["horizon_days"])
    if area and _mask_of(area) is not None:
        out["mask"] = _mask_of(area)
        out["area_rule"] = str(area.get("rule", ""))
    found = (_COVERAGE_METRIC.match(str(k)) for k in dict(evaluation.get("metrics") or {}))
    coverages = sorted({float(m.group(1)) for m in found if m is not None})
    if coverages:
        out["coverages"] = coverages
    return out


def _check_measured_settings(ctx: Context, deployment: str, *, actor: Actor, purpose: str | None, model: str,
                             cell_m: float, horizon_days: float, mask: str, h3_resolution: int, coverage: float,
                             area: StudyArea | None) -> list[str]:
    """Refuse (and log) a deployed forecast whose settings the deployment's model card did not measure.

    The card's figures (``register_backtested``) hold for the cell size, horizon and study-area rule
    of its backtest and for the coverages it reported: a forecast under the deployment must use the
    same cell size, horizon and rule, and flag no larger a share of cells than the largest coverage
    measured (a smaller share flags the top cells of that one: the flags are nested). Returns the
    run's warnings: a coverage between the measured ones, and each setting an older card does not
    record (not checked, so allowed). A deployment not found is left to the use gate.
    """
    dep = gov_db.deployment_row(ctx.store, deployment)
    if dep is None:
        return []
    name, version = str(dep["model"]), str(dep["model_version"])
    measured = _card_settings(gov_db.model_row(ctx.store, name, version)["evaluation"])
    asked_mask = (_mask_of(area.describe()) if area is not None
                  else f"h3 resolution {h3_resolution}" if mask == "h3" else mask)
    asked_cell = (area.describe().get("cell_m") if area is not None
                  else None if mask == "h3" else float(cell_m))
    wrong: dict[str, dict[str, Any]] = {}
    words: list[str] = []
    missing: list[str] = []
    if "cell_m" not in measured:
        missing.append("cell size")
    elif (asked_cell is not None and measured["cell_m"] is not None
          and not np.isclose(float(asked_cell), measured["cell_m"], rtol=1e-9, atol=0)):
        wrong["cell_m"] = {"asked": float(asked_cell), "measured": measured["cell_m"]}
        words.append(f"cell size (--cell-m) {float(asked_cell):g} m, measured {measured['cell_m']:g} m")
    if "horizon_days" not in measured:
        missing.append("horizon")
    elif not np.isclose(horizon_days, measured["horizon_days"], rtol=1e-9, atol=0):
        wrong["horizon_days"] = {"asked": horizon_days, "measured": measured["horizon_days"]}
        words.append(f"horizon (--horizon) {format_span(horizon_days)}, measured "
                     f"{format_span(measured['horizon_days'])}")
    if "mask" not in measured:
        missing.append("study-area rule")
    elif asked_mask != measured["mask"]:
        wrong["mask"] = {"asked": asked_mask, "measured": measured["mask"], "measured_rule": measured["area_rule"]}
        words.append(f"study-area rule (--mask) {asked_mask}, measured {measured['mask']} "
                     f"({measured['area_rule']!r})")
    notes: list[str] = []
    covs = measured.get("coverages")
    if covs is None:
        missing.append("coverages")
    elif coverage > max(covs) and not np.isclose(coverage, max(covs), rtol=1e-9, atol=0):
        wrong["coverage"] = {"asked": coverage, "measured": covs}
        words.append(f"coverage (--coverage) {coverage:g}, above the largest measured {max(covs):g} "
                     f"(measured {', '.join(f'{c:g}' for c in covs)})")
    elif not any(np.isclose(coverage, c, rtol=1e-9, atol=0) for c in covs):
        notes.append(f"coverage {coverage:g} is not one the card of {name} {version} measured "
                     f"({', '.join(f'{c:g}' for c in covs)}): its figures are for those; the cells flagged "
                     f"are among the top {max(covs):g} it measured")
    if wrong:
        refuse(ctx, action="forecast.run", actor=actor, purpose=purpose, deployment=deployment, model=model,
               detail={"settings": wrong, "card": f"{name} {version}"},
               reason=(f"deployment {deployment!r} approves {name} {version} with the settings its card was "
                       f"measured with; got {'; '.join(words)}: research use only (drop the deployment, or "
                       "use the measured settings)"))
    if missing:
        notes.append(f"the card of {name} {version} does not record its measured {', '.join(missing)} (a card "
                     "not registered from a backtest, or an older one): these settings were not checked against "
                     "it; register the model again with `forecast backtest --register`")
    return notes


def _export_kind(out: Path) -> str:
    """The export format of ``out`` from its suffix, checked before a run is made."""
    kind = out.suffix.lstrip(".").lower()
    kind = {"json": "geojson", "geopackage": "gpkg"}.get(kind, kind)
    if kind not in FORMATS:
        raise InvalidParameterError(
            f"--out {out.name!r}: got format {kind!r}; expected a file ending .geojson, .gpkg or .csv")
    return kind


def _dataset_label(ctx: Context, dataset: str | None) -> str:
    """The dataset a forecast reads, by name (the store's only one when none is named)."""
    if dataset is not None:
        return dataset
    names = ctx.store.datasets()
    return names[0] if len(names) == 1 else "all"


def _caption(run_id: str, dataset: str | None, offense: str | None) -> str:
    return f"{dataset or 'all datasets'} · {offense or 'all offenses'} · run {run_id}"


def _run_metadata(run_id: str, dataset: str | None, offense: str | None, window: TimeWindow, zone: str,
                 notes: Sequence[str], *, matches: bool = True) -> dict[str, str]:
    """What an exported file adds to the surface's metadata: the run it came from, its dataset and
    offense, the window on the dataset's clocks with their offset (``window`` stays in UTC), the
    run's warnings (a JSON list) and whether the cells written are the ones its ledger entry logged
    (``matches_ledger``: at run time they are; a stored run is checked, :func:`check_stored_run`)."""
    return {"run_id": run_id, "dataset": dataset or "all", "offense": offense or "all", "timezone": zone,
            "window_local": f"{local_time(window.start, zone)}/{local_time(window.end, zone)}",
            "warnings": json.dumps(list(notes), ensure_ascii=False), "matches_ledger": str(matches).lower()}


def record_export(ctx: Context, *, run_id: str, fmt: str, path: Path, n_cells: int, output_hash: str,
                  actor: Actor, purpose: str | None, deployment: str | None = None,
                  local: bool = False, replaced: str | None = None,
                  matches_ledger: bool | None = None) -> dict[str, Any]:
    """Log a file written from forecast run ``run_id`` as ``forecast.export``: its format, name, size and
    SHA-256, and with ``local`` (a file left on this machine, as ``forecast run --out`` writes) its path,
    and ``replaced``, the SHA-256 of a file the write replaced (an earlier entry naming that file no
    longer matches it), and ``matches_ledger`` (a stored run's export: whether its cells still match the
    run's entry). The entry's output hash is the run's. Returns the entry's detail with its
    ``ledger_seq``."""
    blob = path.read_bytes()
    detail: dict[str, Any] = {"run_id": run_id, "format": fmt, "n_cells": n_cells, "file": path.name,
                              "bytes": len(blob), "sha256": sha256_hex(blob)}
    if matches_ledger is not None:
        detail["matches_ledger"] = matches_ledger
    if local:
        detail["path"] = str(path.resolve())
    if replaced is not None:
        detail["replaced_sha256"] = replaced
    dep: dict[str, Any] = {"deployment": deployment} if deployment else {}
    seq = record_use(ctx, action="forecast.export", actor=actor, purpose=purpose, output_hash=output_hash,
                     detail=detail, **dep)
    return {**detail, "ledger_seq": seq}


def _read_times(history: IncidentTable) -> pd.Series:
    """The training times as the models read them: the middle of each record's window."""
    began = history.frame["occurred_from"]
    return began + (history.frame["occurred_to"].fillna(began) - began) / 2


def _newest_before(history: IncidentTable, start: datetime) -> datetime | None:
    """The newest training time as the models read it (the middle of each record's window) before ``start``."""
    mid = _read_times(history)
    mid = mid[mid < start]
    return None if mid.empty else pd.Timestamp(mid.max()).to_pydatetime()


def _hours_unknown(estimators: Mapping[str, HotspotModel], history: IncidentTable, horizon_days: float,
                   label: str, *, backtest: bool = False) -> tuple[list[str], tuple[str, ...]]:
    """A window shorter than a day on records whose times are mostly windows of a day or more (month-only
    police.uk data): their time of day is their window's middle (about 00:00 or 12:00), not when anything
    happened, so the time-of-day adjustment would give every cell 0 in most shifts, and in a shift that
    holds one of those times a share that only says how long the months were. It is turned off in each
    of ``estimators`` that uses it (``time_of_day=None``: each cell's daily rate spread evenly over the
    day), and the run says so.
    Returns the warning (none when the records say the time of day) and the labels whose hours were
    turned off. ``backtest``: ``history`` is the records before the first origin, and the words are a
    backtest's."""
    share = day_long_share(history)
    if share < 0.5:
        return [], ()
    off = tuple(name for name, e in estimators.items() if e.get_params(deep=False).get("time_of_day") is not None)
    for name in off:
        estimators[name].set_params(time_of_day=None)
    span = format_span(horizon_days)
    if backtest:
        read = f"of the {len(history):,} records of dataset {label!r} before the first origin"
        what = (f"the backtest's forecasts of {span} do not use the time of day"
                + (f" (time_of_day=None for {', '.join(off)})" if off else ""))
        advice = "Backtest whole days (--horizon 1d or more) on such data"
    else:
        read = f"of the {len(history):,} training records of dataset {label!r}"
        what = f"this forecast of {span} does not use the time of day" + (" (time_of_day=None)" if off else "")
        advice = "Forecast whole days (--horizon 1d or more) from such data"
    return [f"{share:.1%} {read} have time windows of a day or longer (e.g. month-only records, read at their "
            f"window's middle), so they do not say at what time of day incidents happen: {what}: each cell's "
            "expected count is its daily rate spread evenly over the day, and the cells rank as for a whole day. "
            + advice], off


#: A forecast whose newest training incident is more than its horizon plus this many days before its window is
#: warned of: the days between are read as days without incidents (a feed published up to four weeks late,
#: forecast for its next window, is not)
STALE_MARGIN_DAYS = 28.0


def forecast_warnings(estimator: HotspotModel, surface: RiskSurface, coverage: float, *, n_training: int,
                      newest: datetime | None, zone: str) -> list[str]:
    """What a reader of a forecast must know: why every cell's expected count is 0 when it is (stale
    history, no incident in the window's hours, no incident in the study area, or none of these), that
    cells of risk 0 are not presented as flagged (only the tie rule would pick them), that every cell has
    the same expected count (the flags are then only the tie rule), and that the newest training incident
    is more than the horizon plus :data:`STALE_MARGIN_DAYS` before the window (the days between are read as
    days without incidents)."""
    risk = surface.intensity
    k = surface.n_flagged(coverage)
    stale = _stale_note(surface, newest, zone)
    if not risk.any():
        cause, old_history = _zero_cause(estimator, surface, n_training, newest, zone)
        return [f"every cell's expected count is 0, so no cell is flagged: {cause}",
                *([stale] if stale and not old_history else [])]
    out: list[str] = []
    shown = int(presented_flags(surface, coverage).sum())
    if shown < k:
        out.append(f"only {shown:,} of the {k:,} cells in the top {coverage:.1%} have an expected count above 0; the "
                   f"other {k - shown:,} are not flagged: they tie at 0 with {int((risk == 0).sum()) - (k - shown):,} "
                   "more, and only the tie rule (lowest cell index) would pick them")
    elif k < len(risk) and bool(np.isclose(risk, risk.max(), rtol=1e-9, atol=0.0).all()):
        out.append(f"every cell has the same risk, an expected count of {float(risk.max()):.4g}: {surface.model} found nothing "
                   f"to tell the cells apart in {n_training:,} training incidents, so the {k:,} flagged cells are "
                   "only the lowest cell indices (the tie rule), not a forecast; try a model that needs less history "
                   "(naive, kde)")
    if stale:
        out.append(stale)
    return out


def _stale_note(surface: RiskSurface, newest: datetime | None, zone: str) -> str | None:
    """The warning that the newest training incident is more than the horizon plus :data:`STALE_MARGIN_DAYS`
    before the window: the models read the days without records as days without incidents."""
    if newest is None:
        return None
    window = surface.window
    age = (window.start - newest).total_seconds() / 86400
    limit = window.days + STALE_MARGIN_DAYS
    if age <= limit:
        return None
    return (f"the newest training incident, at {local_time(newest, zone)} (the middle of its time window), is "
            f"{age:,.1f} days before the window, more than the horizon plus {STALE_MARGIN_DAYS:g} days "
            f"({limit:,.1f}): the models read the days since as days without incidents, so the forecast "
            f"(expected total {float(surface.intensity.sum()):,.4g}) is what would follow {age:,.0f} quiet days, "
            "not the history's level; forecast a window nearer the data, or ingest the records since")


def _zero_cause(estimator: HotspotModel, surface: RiskSurface, n_training: int, newest: datetime | None,
                zone: str) -> tuple[str, bool]:
    """Why a model gave every cell 0, from what it read: its events (``t_``, ``cell_``) and parameters; and
    whether the cause is history older than the model reads (which names the history's age already)."""
    window = surface.window
    params = estimator.get_params(deep=False)
    t0 = days_since_epoch(window.start)
    t, cells = estimator.t_, estimator.cell_
    before = t < t0
    n_inside = int(np.count_nonzero(before & (cells >= 0)))
    if newest is None or not before.any():
        return (f"none of the {n_training:,} training records is read (at the middle of its time window) before the "
                "window, so the model has no history; forecast a later window", False)
    age = (window.start - newest).total_seconds() / 86400
    lookback = next(((name, float(params[name])) for name in ("window_days", "time_window_days")
                     if isinstance(params.get(name), int | float)), None)
    if lookback is not None and age >= lookback[1]:
        return (f"the newest training incident, at {local_time(newest, zone)} (the middle of its time window), is "
                f"{age:,.0f} days before the window, older than the {lookback[1]:,.0f} days of history "
                f"{surface.model} reads ({lookback[0]}); forecast a window nearer the data", True)
    if n_inside == 0:
        return (f"none of the {n_training:,} training incidents lies in the study area "
                f"({surface.area.describe().get('rule')}); choose another area", False)
    if window.days < 1 and params.get("time_of_day") is not None:
        n_in, n_all = share_in_hours(t[cells >= 0], t0, window.days, zone=params.get("timezone"))
        if n_all and n_in == 0:
            a, name = in_zone(window.start, params.get("timezone"))
            b, _ = in_zone(window.end, params.get("timezone"))
            return (f"none of the {n_all:,} training incidents in the study area (over the 8 years before the window) "
                    f"has a time of day between {a:%H:%M} and {b:%H:%M} {name}, the window's hours (each time read at "
                    "the middle of its record's window), so the city's share of these hours is 0, and so is every "
                    "cell's; forecast a longer window, or with a model that does not use the time of day "
                    "(naive, kde)", False)
    return (f"{surface.model} gave no cell an expected incident from {n_training:,} training incidents, the newest "
            f"{age:,.1f} days before the window ({local_time(newest, zone)}), though the history is recent enough "
            "and in the study area; compare with naive counts (--model naive)", False)


@dataclass(frozen=True)
class BacktestRun:
    run_id: str
    result: BacktestResult
    dataset: str | None
    offense: str | None
    coverages: tuple[float, ...]
    ledger_seq: int
    mark: str = RESEARCH_MARK
    files: dict[str, str] = field(default_factory=dict)
    #: ``(flagged km², coverage)`` for each area-defined coverage (NIJ-style)
    areas: tuple[tuple[float, float], ...] = ()
    #: SHA-256 of the incidents the backtest read (its ledger entry's ``data_hash``)
    data_hash: str | None = None
    #: what the per-group hit rates group by (None: not asked for)
    group_by: str | None = None
    #: the model every other is paired against (None: the best against every other)
    versus: str | None = None
    #: the zone the origins were read in (the dataset's)
    timezone: str = "UTC"
    #: 'incident': each incident once; 'all': every record (see ``count_records``)
    records: str = "incident"
    n_records_left_out: int = 0
    #: what a reader must know before trusting the means (see :func:`backtest_warnings`)
    warnings: tuple[str, ...] = ()
    #: the labels whose time of day a sub-day backtest on month-only records turned off
    #: (``time_of_day=None``, as ``run_forecast`` does for such a window; see ``warnings``)
    hours_off: tuple[str, ...] = ()

    def to_dict(self, *, per_period: bool = True) -> dict[str, Any]:
        res = self.result
        out: dict[str, Any] = {"ok": True, "run_id": self.run_id, "mark": self.mark,
                               "dataset": self.dataset, "offense": self.offense,
                               **res.summary(list(self.coverages)), "timezone": self.timezone,
                               "records": self.records, "n_records_left_out": self.n_records_left_out,
                               "ledger_seq": self.ledger_seq, "files": dict(self.files),
                               "n_periods_scored": int((res.n_events > 0).sum()), "warnings": list(self.warnings)}
        names = [m for m in res.models if not m.startswith("ceiling:")]
        if self.group_by is not None:
            out["groups"] = {"by": self.group_by, "models": {
                m: {f"{c:g}": res.group_hit_rates(m, c) for c in self.coverages} for m in names}}
        paired = paired_summary(res, self.coverages, versus=self.versus)
        if paired:
            out["paired"] = paired
        if self.versus is not None:
            out["versus"] = self.versus
        basis = ceiling_basis(res, [*self.coverages, *(c for _, c in self.areas)])
        if basis is not None:
            out["ceiling"] = basis
        if self.areas:
            out["flagged_areas"] = [self._area_entry(km2, c) for km2, c in self.areas]
        if per_period:
            out["per_period"] = res.per_period([*self.coverages, *(c for _, c in self.areas)])
        return out

    def _area_entry(self, km2: float, coverage: float) -> dict[str, Any]:
        res = self.result
        n_cells = int(res.area.get("n_cells", 0))
        entry: dict[str, Any] = {"km2": km2, "sq_mi": km2 / KM2_PER_SQ_MI, "coverage": coverage,
                                 "n_flagged": round(coverage * n_cells), "models": {}}
        for m in res.models:
            entry["models"][m] = {metric: dict(zip(("mean", "low", "high"), res.mean(m, metric, coverage),
                                                   strict=True))
                                  for metric in ("pai", "hit_rate", "pei")}
        # the same pairs as the coverages' (``paired``), at this flagged area
        pairs = _pairs(res, self.coverages, versus=self.versus)
        if pairs:
            entry["paired"] = {f"{a} / {b}": _paired_entry(res, a, b, coverage) for a, b in pairs}
        return entry


def paired_summary(result: BacktestResult, coverages: Sequence[float], *,
                   versus: str | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """The best model (by mean PAI at the first coverage) against each other model: the ratio of
    mean PAI over the same periods and its paired bootstrap interval, per coverage. With ``versus``
    (a model's label, e.g. ``naive``), each other model against that one instead (``gbm / naive``).
    Empty with one model.

    Each entry is ``{"ratio", "low", "high"}`` (:meth:`BacktestResult.paired_ratio`); where resamples
    had no ratio (the reference's mean PAI 0 in them) it adds ``n_undefined``, and where there is no
    interval (``low``/``high`` NaN: too many undefined, or one period) ``no_interval`` saying why."""
    return {f"{a} / {b}": {f"{c:g}": _paired_entry(result, a, b, c) for c in coverages}
            for a, b in _pairs(result, coverages, versus=versus)}


def _pairs(result: BacktestResult, coverages: Sequence[float], *, versus: str | None = None
           ) -> list[tuple[str, str]]:
    """The pairs :func:`paired_summary` compares: each other model against ``versus``, or the best (by mean
    PAI at the first coverage) against each other."""
    names = [m for m in result.models if not m.startswith("ceiling:")]
    if versus is not None and versus not in names:
        raise InvalidParameterError(f"versus {versus!r}: expected one of the backtested models {names}")
    if len(names) < 2 or not coverages:
        return []
    if versus is not None:
        return [(m, versus) for m in names if m != versus]
    best = max(names, key=lambda m: result.mean(m, "pai", coverages[0])[0])
    return [(best, other) for other in names if other != best]


def _paired_entry(result: BacktestResult, a: str, b: str, coverage: float) -> dict[str, Any]:
    """One paired PAI ratio as a summary keeps it: ratio and interval, and only where it happened, the
    resamples without a ratio and why there is no interval (so that a summary where neither happened
    reads as it always did)."""
    r = result.paired_ratio(a, b, "pai", coverage)
    out: dict[str, Any] = {k: r[k] for k in ("ratio", "low", "high")}
    if r["n_undefined"]:
        out["n_undefined"] = r["n_undefined"]
        out["n_resamples"] = result.n_boot
    if "no_interval" in r:
        out["no_interval"] = r["no_interval"]
    return out


#: A flagged cell holding fewer incidents than this, on average, over the span the perfect-rate ceiling's
#: rate is counted on: the ceiling is mostly Poisson noise there (a count of 10 is ±32 %), and biased upward
CEILING_MIN_PER_CELL = 10.0


def ceiling_basis(result: BacktestResult, coverages: Sequence[float]) -> dict[str, Any] | None:
    """What the perfect-rate ceiling rests on, at each of ``coverages``: the days its rate was counted over
    (``span_days``: the test periods and as many days before them), the incidents per flagged cell over
    them (``incidents_per_flagged_cell``), and the largest PAI any forecast can reach (``max_pai``,
    ``n_cells / k``: every incident in the flagged cells). None without a ceiling (or a result made before
    it kept these)."""
    if result.ceiling_support is None or result.ceiling_span_days is None:
        return None
    n = int(result.area.get("n_cells") or 0)
    covs = list(dict.fromkeys(float(c) for c in coverages))
    support = {f"{c:g}": float(result.ceiling_support[result._cov(c)]) for c in covs}
    return {"span_days": result.ceiling_span_days, "incidents_per_flagged_cell": support,
            "max_pai": {f"{c:g}": n / max(1, round(c * n)) for c in covs},
            "min_per_cell": CEILING_MIN_PER_CELL}


_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,39}")


def backtest_labels(models: Sequence[str]) -> dict[str, str]:
    """Each backtest entry's label and model: ``weighted`` runs the model under its own name;
    ``LABEL=MODEL`` (e.g. ``w730=weighted``) runs it again under another label, so that two
    settings of one model are scored on the same forecasts and compared paired. A label is a
    letter then up to 39 letters, digits, ``_`` or ``-``; it may not be another model's name."""
    if not models:
        raise InvalidParameterError(f"models []: expected names from {sorted(MODELS)}")
    out: dict[str, str] = {}
    for entry in models:
        label, eq, kind = (part.strip() for part in str(entry).partition("="))
        kind = kind if eq else label
        if kind not in MODELS:
            raise InvalidParameterError(f"models: got {entry!r}; expected a name from {sorted(MODELS)} "
                                        "or LABEL=MODEL (e.g. w730=weighted)")
        if not _LABEL.fullmatch(label):
            raise InvalidParameterError(
                f"models: got label {label!r} in {entry!r}; expected a letter then up to 39 letters, digits, "
                "'_' or '-' (e.g. w730=weighted)")
        if label in MODELS and label != kind:
            raise InvalidParameterError(f"models: got {entry!r}; {label!r} names another model, expected a "
                                        "label of its own (e.g. w730=weighted)")
        if label in out:
            raise InvalidParameterError(f"models: {label!r} appears twice; give a second setting a label of its "
                                        f"own, e.g. {label}2={kind}")
        out[label] = kind
    return out


def _periods_within_records(incidents: IncidentTable, first: datetime, periods: int, horizon_days: float,
                            zone: str = "UTC") -> None:
    """Refuse test periods that begin after the last record: nothing could be scored in them.

    Their metrics would be undefined and left out of the means, while the run would still claim
    every period. A last period that the records end inside is kept.
    """
    if periods < 1 or not horizon_days > 0:
        return  # rolling_origin names these
    last = incidents.frame["occurred_from"].max().to_pydatetime()
    usable = int((last - first) / timedelta(days=horizon_days)) + 1 if last >= first else 0
    if periods > usable:
        span = format_span(horizon_days)
        want = (f"--periods {usable} or fewer, or an earlier --start" if usable
                else "a --start before the last record")
        raise InvalidParameterError(
            f"backtest: {periods:,} periods of {span} from {_when(first, zone)}, but the records end at "
            f"{_when(last, zone)}, so {periods - usable:,} of them would begin after the last record; "
            f"expected {want}")


def run_backtest(
    ctx: Context,
    *,
    models: Sequence[str],
    offense: str | Sequence[str] | None,
    start: datetime | str,
    periods: int,
    actor: Actor,
    horizon_days: float = 7.0,
    cell_m: float = 150.0,
    coverages: Sequence[float] = (0.01, 0.05),
    areas_km2: Sequence[float] = (),
    nij_limits: bool = True,
    dataset: str | None = None,
    mask_days: float | None = None,
    ceiling: bool = True,
    purpose: str | None = RESEARCH,
    plot: str | Path | None = None,
    group_by: str | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    versus: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    records: str = "incident",
) -> BacktestRun:
    """Weekly (``horizon_days``) rolling-origin backtest of ``models`` from ``start``.

    ``start`` as a date, or a time without an offset, is read in the dataset's time zone (the zone
    its files were read in); the origins then step ``horizon_days`` apart on that zone's wall clocks,
    so weekly forecasts start at local midnight across daylight-saving changes.
    ``records="incident"`` (the default) counts each incident once in training and in scoring (see
    ``run_forecast``); ``"all"`` counts every record.

    The study area is the cells with at least one incident before ``start`` (in
    the last ``mask_days`` if given, 0 < ``mask_days`` <= 36,600): no test-period information enters the
    area. Scores at ``coverages`` plus the 0.5 %–20 % curve are kept. They are defined on the study
    area: a test incident in a cell outside it is not scored, and the run says how many there were
    (``test_incidents`` in its JSON and stored summary, per period and per group; a warning above 10 %).
    ``offense`` is one offense, several pooled (comma-separated or a list) or None, as in
    ``run_forecast``.
    ``areas_km2`` adds coverages given as a flagged area (as many whole cells
    as fit in it), held to the NIJ challenge's 0.25-0.75 sq mi and cell-size
    limits unless ``nij_limits`` is False. ``group_by`` adds each audit group's hit rate:
    an incident column (e.g. ``area``, ``premise``) or an attribute of the dataset's areas
    (e.g. ``group``), read through the incident's ``area``; the models never see it.
    ``params`` sets hyperparameters by model name (``{"weighted": {"half_life_days": 365}}``);
    the stored summary gives every model's parameters. An entry ``LABEL=MODEL`` in ``models``
    runs a model again under another label (``backtest_labels``), with its own ``params[LABEL]``.
    ``versus`` pairs every other model against that one (e.g. ``naive``) instead of the best
    against every other.

    A horizon shorter than a day on records whose times are mostly windows of a day or more
    (month-only data; counted over the records before the first origin) leaves out the time of day
    in every model that uses it (``time_of_day=None``, the rule of ``run_forecast``): each shift's
    forecast is the day's spread evenly over it. The summary's parameters say so, and the run's
    ``warnings``, its stored summary and its ledger entry (``time_of_day_off``) name it; a model
    so backtested can still be registered (a deployed forecast of such a window does the same).
    """
    labels = backtest_labels(models)
    check_records(records)
    offenses = offense_list(offense)
    offense = _offense_text(offenses)
    if mask_days is not None and not 0 < mask_days <= 36_600:
        raise InvalidParameterError(f"mask_days={mask_days:g}: expected days in (0, 36600]: the study area is the "
                                    "cells with an incident in that many days before the start (default: all before)")
    if versus is not None and versus not in labels:
        raise InvalidParameterError(f"versus {versus!r}: expected one of the backtested models {list(labels)}")
    stray = sorted(set(params or {}) - set(labels))
    if stray:
        raise InvalidParameterError(
            f"parameters for {stray}: those models are not in this backtest; expected some of {list(labels)}")
    estimators = {label: _model(kind, (params or {}).get(label)) for label, kind in labels.items()}
    _one_city(ctx, dataset, "backtest")
    _check_offenses(ctx, dataset, offenses, "backtest")
    zone = reading_zone(ctx, dataset)
    for estimator in estimators.values():
        reading_hours_in(estimator, zone)  # a shift's hours on the dataset's own clocks
    first = as_utc(start, zone)
    incidents = ctx.store.incidents(dataset=dataset, offense=_store_offense(offenses))
    if len(incidents) == 0:
        raise NotFoundError(f"backtest: no incidents for dataset={dataset!r}, offense={offense!r}")
    incidents, n_left_out = count_records(incidents, records)
    mask_from = datetime(1900, 1, 1, tzinfo=first.tzinfo) if mask_days is None else first - timedelta(days=mask_days)
    history = incidents.select(window=TimeWindow(mask_from, first))
    if len(history) == 0:
        raise NotFoundError(f"backtest: no incidents before {_when(first, zone)}"
                            + ("" if mask_days is None else f" (in the {format_span(mask_days)} before it)")
                            + " to define the study area; expected a later --start"
                            + ("" if mask_days is None else " or a longer --mask-days"))
    _periods_within_records(incidents, first, periods, horizon_days, zone)
    hours_notes: list[str] = []
    hours_off: tuple[str, ...] = ()
    if horizon_days < 1:  # as run_forecast: month-only records say no time of day, so shifts leave it out
        before = incidents.select(window=TimeWindow(datetime(1900, 1, 1, tzinfo=first.tzinfo), first))
        hours_notes, hours_off = _hours_unknown(estimators, before, horizon_days, _dataset_label(ctx, dataset),
                                                backtest=True)
    area = StudyArea.from_activity(incidents, cell_m, period=TimeWindow(mask_from, first))
    areas = tuple((float(km2), coverage_for_area(area, km2, nij_limits=nij_limits)) for km2 in areas_km2)
    covs = sorted(set(DEFAULT_CURVE) | {float(c) for c in coverages} | {c for _, c in areas})
    groups = None if group_by is None else audit_groups(ctx, incidents, group_by, dataset)
    result = rolling_origin(incidents, estimators, area=area,
                            origins=wall_clock_steps(first, periods, horizon_days, zone),  # local midnights
                            horizon_days=horizon_days, zone=zone, coverages=covs,
                            ceiling=ceiling, groups=groups, progress=progress)
    run_id = uuid.uuid4().hex[:16]
    asked = [*(float(c) for c in coverages), *(c for _, c in areas)]
    warnings = (*hours_notes, *backtest_warnings(incidents, result, zone=zone, coverages=asked))
    summary = result.summary()
    summary["n_periods_scored"] = int((result.n_events > 0).sum())
    summary["warnings"] = list(warnings)
    # what the run was asked for, so that a stored run reads on its own
    summary["coverages"] = [float(c) for c in coverages]
    summary["timezone"] = zone
    summary["records"] = records
    summary["n_records_left_out"] = n_left_out
    summary["paired"] = paired_summary(result, [float(c) for c in coverages], versus=versus)
    basis = ceiling_basis(result, asked)
    if basis is not None:
        summary["ceiling"] = basis
    if versus is not None:
        summary["versus"] = versus
    summary["flagged_areas_km2"] = [km2 for km2, _ in areas]
    if mask_days is not None:
        summary["mask_days"] = mask_days
    if offenses is not None and len(offenses) > 1:
        summary["offenses"] = offenses
    if group_by is not None:
        summary["groups"] = {"by": group_by, "models": {
            m: {f"{c:g}": result.group_hit_rates(m, float(c)) for c in coverages}
            for m in result.models if not m.startswith("ceiling:")}}
    text = json.dumps(summary, sort_keys=True, default=str)
    d_hash = data_hash(incidents)
    o_hash = sha256_hex(text)
    with ctx.store.transaction():
        seq = record_use(ctx, action="forecast.backtest", actor=actor, purpose=purpose,
                         model=",".join(models), model_version=__version__, data_hash=d_hash,
                         output_hash=o_hash, inputs={"dataset": dataset, "offense": offense},
                         detail={"run_id": run_id, "start": first.isoformat(), "periods": periods,
                                 "horizon_days": horizon_days, "area": area.describe(), "group_by": group_by,
                                 "flagged_areas_km2": [km2 for km2, _ in areas], "records": records,
                                 "n_records_left_out": n_left_out,
                                 "params_set": {m: _plain(dict(v)) for m, v in (params or {}).items() if v},
                                 "time_of_day_off": list(hours_off), "warnings": list(warnings),
                                 "test_incidents": _outside_totals(result),
                                 **({} if mask_days is None else {"mask_days": mask_days}),
                                 **({"offenses": offenses} if offenses is not None and len(offenses) > 1
                                    else {})})
        save_backtest(ctx.store, BacktestRecord(
            run_id=run_id, created_at=ctx.now(), user_name=actor.user, purpose=str(purpose),
            dataset=dataset, offense=offense, models=json.dumps(list(models)), summary=text,
            data_hash=d_hash, output_hash=o_hash, ledger_seq=seq))
    files: dict[str, str] = {}
    if plot is not None:
        curves = {m: [result.mean(m, "hit_rate", c)[0] for c in covs] for m in result.models}
        files["curves"] = str(plot_coverage_curves(
            curves, covs, plot, metric="hit rate",
            title=f"{dataset or 'all'} {offense or ''}: {periods} forecasts of {format_span(horizon_days)}; "
                  f"{area.n_cells} cells ({area.describe()['rule']})"))
    return BacktestRun(run_id, result, dataset, offense, tuple(float(c) for c in coverages), seq,
                       RESEARCH_MARK, files, areas, d_hash, group_by, versus, zone, records, n_left_out, warnings,
                       hours_off)


#: Above this share of the test incidents outside the study area, a backtest warns that its scores leave
#: much of what was recorded out.
OUTSIDE_SHARE_WARNING = 0.10


def outside_note(test: Mapping[str, Any]) -> str:
    """``97 of 322 test incidents (30 %) fell outside the study area and are not scored``, from a
    backtest's ``test_incidents`` (or a group's figures: ``n_recorded``, ``n_outside``)."""
    total, out = int(test.get("n_recorded") or 0), int(test.get("n_outside") or 0)
    share = out / total if total else 0.0
    return (f"{out:,} of {total:,} test incidents ({share * 100:.0f} %) fell outside the study area and are "
            "not scored")


def _outside_totals(result: BacktestResult) -> dict[str, Any]:
    """The test incidents' totals (no per-period lists): what a ledger entry and a model card keep."""
    test = result.outside_area() or {}
    return {k: v for k, v in test.items() if k != "per_period"}


def backtest_warnings(incidents: IncidentTable, result: BacktestResult, *, zone: str = "UTC",
                      coverages: Sequence[float] | None = None) -> tuple[str, ...]:
    """What a reader of a backtest's means must know: periods left unscored (no records in the area:
    the means and intervals are over the rest); fewer than :data:`MIN_PERIODS_FOR_INTERVAL` periods
    scored (the intervals across them are not reliable; one gives none); more than 10 % of the test
    incidents outside the study area (not scored: the scores speak for the area only); records whose
    times are windows longer than the horizon, or as long but not lined up with the periods (a
    month-only export scored weekly, or day-long records in UTC days scored on local days): such a
    record falls in the one period its window's middle does, so the periods say nothing about when
    within its window it happened; and a perfect-rate ceiling resting on few incidents per flagged cell
    at ``coverages`` (default: every scored one; see :func:`ceiling_basis`).
    Day-long records scored on the same days (NIJ Portland's calls on local-midnight periods of a
    day) fit their periods exactly and are not warned of."""
    out = []
    n, scored = len(result.origins), int((result.n_events > 0).sum())
    if scored < n:
        out.append(f"{n - scored} of {n} periods had no records in the study area and are not scored: the means "
                   f"and intervals are over the other {scored}")
    if scored == 1:
        out.append("only 1 period was scored: its figures are one forecast's, with no interval (null), and no "
                   "paired interval; backtest more periods (at least "
                   f"{MIN_PERIODS_FOR_INTERVAL}) before comparing models")
    elif 1 < scored < MIN_PERIODS_FOR_INTERVAL:
        out.append(f"only {scored} periods were scored: intervals across fewer than {MIN_PERIODS_FOR_INTERVAL} "
                   f"periods are not reliable (a bootstrap over {scored} values draws few distinct means, so the "
                   "intervals, paired ones included, are too narrow or too wide by chance); backtest at least "
                   f"{MIN_PERIODS_FOR_INTERVAL} periods before reading them")
    ceiling = _ceiling_note(result, result.coverages if coverages is None else coverages)
    if ceiling:
        out.append(ceiling)
    test = result.outside_area()
    if test is not None and test["share_outside"] > OUTSIDE_SHARE_WARNING:
        out.append(f"{outside_note(test)}: they are in cells with no incident before the start (the study area is "
                   "the cells with one), so hit rate, PAI and PEI speak for the study area only, not for every "
                   f"incident recorded (more than {OUTSIDE_SHARE_WARNING * 100:.0f} % left out)")
    note = _window_note(incidents, result, zone)
    if note:
        out.append(note)
    return tuple(out)


def _ceiling_note(result: BacktestResult, coverages: Sequence[float]) -> str | None:
    """The warning that the perfect-rate ceiling is biased upward: at some of ``coverages`` its flagged cells
    hold fewer than :data:`CEILING_MIN_PER_CELL` incidents each over the span its rate is counted on, or it
    reaches the largest PAI possible (every incident of that span in the flagged cells)."""
    basis = ceiling_basis(result, coverages)
    if basis is None:
        return None
    name = next(m for m in result.models if m.startswith("ceiling:"))
    few, top = [], []
    for c in dict.fromkeys(float(x) for x in coverages):
        key = f"{c:g}"
        per_cell = basis["incidents_per_flagged_cell"][key]
        pai = result.mean(name, "pai", c)[0]
        if np.isfinite(pai) and pai >= basis["max_pai"][key] * (1 - 1e-9):
            top.append(f"{c:.3g} ({pai:.2f} = {result.area.get('n_cells')} cells / "
                       f"{max(1, round(c * int(result.area.get('n_cells') or 0)))} flagged)")
        if per_cell < CEILING_MIN_PER_CELL:
            few.append(f"{per_cell:.2g} at {c:.3g}")
    if not few and not top:
        return None
    said = [f"the perfect-rate ceiling is biased upward here: its rate is each cell's count over "
            f"{format_span(round(basis['span_days'], 1))} (the test periods and as long before them), and its flagged cells "
            "are chosen by those same counts, so where they hold few incidents it ranks cells by their luck and "
            "scores them on it"]
    if few:
        said.append(f"its flagged cells hold {', '.join(few)} incidents each over that span, fewer than "
                    f"{CEILING_MIN_PER_CELL:g} (a count of {CEILING_MIN_PER_CELL:g} is ±{100 / np.sqrt(CEILING_MIN_PER_CELL):.0f} % "
                    "Poisson noise)")
    if top:
        said.append(f"at coverage {', '.join(top)} it is the largest PAI possible: every incident of that span in "
                    "the flagged cells")
    return "; ".join(said) + ". Read the room above the models from a backtest over a longer span"


def _window_note(incidents: IncidentTable, result: BacktestResult, zone: str) -> str | None:
    """The warning about records whose time windows do not fit the periods (see ``backtest_warnings``)."""
    began, ended = incidents.t_days(how="from"), incidents.t_days(how="to")
    width = ended - began
    finite = np.isfinite(width)
    if not finite.any():
        return None
    median = float(np.median(width[finite]))
    tolerance = 1 / 1440  # a minute: day-long records across a clock change are 23 or 25 hours
    horizon = format_span(result.horizon_days)
    if median > result.horizon_days + tolerance:
        return (f"half the records' times are windows of {format_span(median)} or more (e.g. month-only records), "
                f"longer than the {horizon} horizon: each is scored in the period that holds its window's "
                "middle, so per-period figures say little about when within the window it happened; backtest "
                "with a horizon at least as long as the windows")
    if median < result.horizon_days - tolerance:
        return None
    # as long as the periods: they fit only when each record's window is one period's
    starts = np.array([days_since_epoch(o) for o in result.origins])
    ends = np.array([days_since_epoch(result.end(p)) for p in range(len(result.origins))])
    mid = began + np.where(np.isfinite(width), width, 0.0) / 2
    test = finite & (mid >= starts[0]) & (mid < ends[-1])
    if not test.any():
        return None
    p = np.searchsorted(starts, mid[test], side="right") - 1
    eps = 1e-6  # about 0.1 s: times are kept to the millisecond
    crossing = (began[test] < starts[p] - eps) | (ended[test] > ends[p] + eps)
    n_cross, n_test = int(crossing.sum()), int(test.sum())
    if n_cross * 2 < n_test:
        return None
    k = int(np.flatnonzero(crossing)[0])
    b, e = (datetime.fromtimestamp(float(v) * 86400, tz=UTC) for v in (began[test][k], ended[test][k]))
    q = int(p[k])
    return (f"half the records' times are windows of {format_span(median)}, as long as the {horizon} horizon but "
            f"not lined up with the periods: {n_cross:,} of the {n_test:,} records in the test periods cross a "
            f"period's edge (e.g. {_when(b, zone)} to {_when(e, zone)}, scored in the period from "
            f"{_when(result.origins[q], zone)} to {_when(result.end(q), zone)}), so each is scored in the period "
            "that holds its window's middle and per-period figures say little about when within the window it "
            "happened; start the periods where the records' windows start (--start at that time of day)")


#: Incident columns that are positions, times or free text, not audit groups.
_NOT_GROUPS = frozenset({"incident_id", "x_m", "y_m", "lon", "lat", "occurred_from", "occurred_to",
                         "reported_at", "narrative", "attrs", "offense_raw"})


def audit_groups(ctx: Context, incidents: IncidentTable, group_by: str, dataset: str | None,
                 areas: Sequence[Area] | None = None) -> list[str | None]:
    """Each incident's audit group: an incident column, or an attribute of its area (``areas``:
    the dataset's areas when the caller has read them already)."""
    frame = incidents.frame
    if group_by in frame.columns and group_by not in _NOT_GROUPS:
        values = frame[group_by]
    else:
        if areas is None:
            areas = ctx.store.areas(dataset=dataset) if dataset else []
        attrs = sorted({k for a in areas for k in (a.audit or {})})
        if group_by not in attrs:
            columns = [c for c in frame.columns if c not in _NOT_GROUPS]
            raise InvalidParameterError(
                f"group_by {group_by!r}: expected an incident column {columns} or an attribute of "
                f"dataset {dataset!r}'s areas {attrs}")
        by_area = {a.area_id: (a.audit or {}).get(group_by) for a in areas}
        values = frame["area"].map(by_area)
    return [None if pd.isna(v) else str(v) for v in values]


def _card_groups(run: BacktestRun, model: str) -> dict[str, dict[str, dict[str, float]]]:
    """The card's per-group figures: each group's hit rate at each coverage, its interval and n."""
    if run.group_by is None:
        return {}
    rows: dict[str, dict[str, float]] = {}
    for c in run.coverages:
        for g, v in run.result.group_hit_rates(model, c).items():
            row = rows.setdefault(g, {})
            row.update({f"hit_rate_{c:g}": v["hit_rate"], f"hit_rate_{c:g}_low": v["low"],
                        f"hit_rate_{c:g}_high": v["high"], "n": v["n"]})
            # the group's test incidents recorded, and those outside the study area (not scored)
            row.update({k: v[k] for k in ("n_recorded", "n_outside") if k in v})
    return {run.group_by: rows}


def _registry_name(result: BacktestResult, label: str) -> str:
    """The registry name of the model a backtest ran as ``label`` (a label of its own for a
    second setting of one model: ``w730=weighted``)."""
    cls = result.classes.get(label)
    names = [name for name, c in MODELS.items() if c.__name__ == cls]
    return names[0] if names else label


def register_backtested(ctx: Context, run: BacktestRun, *, model: str, actor: Actor,
                        purpose: str | None = "model registration") -> ModelCard:
    """Register ``model`` (a name the backtest ran) with that backtest's figures as its card's numbers.

    The card's metrics are the mean PAI, hit rate and PEI at each reported coverage with their
    bootstrap intervals (and the paired PAI ratio to naive counts when the backtest ran them);
    its evaluation data names the dataset, offence, study-area rule, origins and the backtest's
    run and ledger entry; a backtest run with ``group_by`` gives the card's per-group figures
    (each group's hit rate with its interval and incident count). The model is registered as its class name and this crimelens version,
    the pair a deployment approves and the use gate checks.
    """
    res = run.result
    if model not in res.models or model.startswith("ceiling:"):
        raise InvalidParameterError(f"register {model!r}: expected one of the backtested models "
                                    f"{[m for m in res.models if not m.startswith('ceiling:')]}")
    kind = _registry_name(res, model)
    # cell_m is the study area's cell size (the card's evaluation data names the area), not a model setting
    defaults = _plain({k: v for k, v in make_model(kind).get_params().items()
                       if k not in DATA_PARAMS and k != "cell_m"})
    # time_of_day turned off by the data (month-only records, a sub-day horizon) is what a deployed
    # run_forecast does too on such a window: the defaults, not a setting of the backtest
    auto = {"time_of_day"} if model in run.hours_off else set()
    changed = sorted(k for k, v in defaults.items()
                     if k not in auto and dict(res.params.get(model, {})).get(k, v) != v)
    if changed:
        raise InvalidParameterError(
            f"register {model!r}: the backtest set its parameters {changed}; a deployment runs the "
            "registered model with its defaults, so its card must be measured with them (backtest "
            "without --param to register it)")
    metrics: dict[str, float] = {}
    for c in run.coverages:
        for metric in ("pai", "hit_rate", "pei"):
            mean, low, high = res.mean(model, metric, c)
            metrics.update({f"{metric}_{c:g}": mean, f"{metric}_{c:g}_low": low, f"{metric}_{c:g}_high": high})
        if "naive" in res.models and model != "naive":
            ratio, low, high = res.paired(model, "naive", "pai", c)
            metrics.update({f"pai_ratio_to_naive_{c:g}": ratio, f"pai_ratio_to_naive_{c:g}_low": low,
                            f"pai_ratio_to_naive_{c:g}_high": high})
    summary = res.summary(list(run.coverages))
    data = {"what": "rolling-origin backtest of forecasts of recorded incidents", "dataset": run.dataset,
            "offense": run.offense, "study_area": summary["area"], "periods": summary["n_periods"],
            "horizon_days": summary["horizon_days"], "first_origin": summary["origins"][0],
            "last_origin": summary["origins"][-1], "interval": summary["interval"],
            "records": run.records, "n_records_left_out": run.n_records_left_out,
            "backtest_run": run.run_id, "backtest_ledger_entry": run.ledger_seq}
    test = _outside_totals(res)
    if test:  # the figures are on the study area: what was recorded outside it and not scored
        data.update(test_incidents_recorded=test["n_recorded"], test_incidents_in_study_area=test["n_in_study_area"],
                    test_incidents_outside_study_area=test["n_outside"],
                    share_outside_study_area=test["share_outside"])
    return register_model(ctx, name=type(make_model(kind)).__name__, version=__version__,
                          params=dict(res.params.get(model, {})),
                          evaluation={"metrics": metrics, "data": data, "groups": _card_groups(run, model)},
                          actor=actor, measured_by=f"forecast backtest {run.run_id} (ledger entry {run.ledger_seq})",
                          purpose=purpose, kind="forecast", training_dataset=run.dataset,
                          training_data_hash=run.data_hash, code_version=__version__)


_BACKTEST_COLUMNS = ("run_id", "created_at", "user_name", "purpose", "dataset", "offense", "models",
                     "data_hash", "output_hash", "ledger_seq")


def _backtest_row(row: Mapping[Hashable, Any], summary: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in _BACKTEST_COLUMNS}
    out["models"] = json.loads(str(row["models"]))
    out["mark"] = RESEARCH_MARK
    origins = summary.get("origins") or [None]
    zone = str(summary.get("timezone") or "UTC")  # stored before it was kept: origins were read in UTC
    first = None if origins[0] is None else local_time(datetime.fromisoformat(str(origins[0])), zone)
    out.update(n_periods=summary.get("n_periods"), horizon_days=summary.get("horizon_days"),
               first_origin=origins[0], last_origin=origins[-1], timezone=zone, first_origin_local=first,
               area=summary.get("area"))
    return out


def list_backtests(ctx: Context, *, actor: Actor, purpose: str | None = RESEARCH, limit: int = 50,
                   offset: int = 0) -> dict[str, Any]:
    """Stored backtests, newest first, each with its period span and study area (checked and logged)."""
    if not 1 <= limit <= 1000 or offset < 0:
        raise InvalidParameterError(f"backtests: limit {limit}, offset {offset}; expected 1-1000 and >= 0")
    authorize(ctx, action="backtests.list", actor=actor, purpose=purpose)
    total = int(ctx.store.scalar("SELECT count(*) FROM forecast_backtests"))
    frame = ctx.store.query(
        f"SELECT {', '.join(_BACKTEST_COLUMNS)}, summary FROM forecast_backtests "
        f"ORDER BY created_at DESC, run_id LIMIT {int(limit)} OFFSET {int(offset)}")
    items = [_backtest_row(r, json.loads(str(r["summary"]))) for r in frame.to_dict("records")]
    record_use(ctx, action="backtests.list", actor=actor, purpose=purpose, detail={"n": len(items)})
    return {"ok": True, "items": items, "total": total, "limit": limit, "offset": offset}


def _stored_backtest(ctx: Context, run_id: str) -> dict[Hashable, Any]:
    """The stored row of a backtest, with its summary text as stored (what the ledger hashed)."""
    frame = ctx.store.query(f"SELECT {', '.join(_BACKTEST_COLUMNS)}, summary FROM forecast_backtests "
                            "WHERE run_id = ?", [run_id])
    if frame.empty:
        raise NotFoundError(f"backtest {run_id!r}: not found in the store {ctx.store.path!r}")
    return frame.to_dict("records")[0]


def show_backtest(ctx: Context, run_id: str, *, actor: Actor, purpose: str | None = RESEARCH) -> dict[str, Any]:
    """One stored backtest as it was recorded: per model the mean and interval of hit rate, PAI and PEI
    at every stored coverage, the paired comparison and the study area (checked and logged)."""
    authorize(ctx, action="backtests.view", actor=actor, purpose=purpose)
    row = _stored_backtest(ctx, run_id)
    summary: dict[str, Any] = json.loads(str(row["summary"]))
    record_use(ctx, action="backtests.view", actor=actor, purpose=purpose, output_hash=str(row["output_hash"]),
               detail={"run_id": run_id})
    # the stored summary is what the ledger entry's output hash covers: return it whole
    return {"ok": True, **_backtest_row(row, summary), "summary": summary,
            "output_hash_matches": sha256_hex(str(row["summary"])) == row["output_hash"]}


#: What a stored backtest exports as, with its media type.
BACKTEST_EXPORTS = {"json": "application/json", "csv": "text/csv", "png": "image/png"}


def _backtest_csv(row: Mapping[Hashable, Any], summary: dict[str, Any], matches: bool) -> str:
    """One row per model, coverage and metric (mean and interval), with the run's setting as ``#`` lines."""
    buf = io.StringIO()
    area = summary.get("area") or {}
    origins = summary.get("origins") or [None]
    head = {"run_id": row["run_id"], "dataset": row["dataset"] or "all", "offense": row["offense"] or "all",
            "forecasts": f"{summary.get('n_periods')} x {format_span(float(summary.get('horizon_days') or 0))}, "
                         f"{origins[0]} to {origins[-1]}",
            "study_area": json.dumps(area, sort_keys=True, default=str), "interval": summary.get("interval", ""),
            "ties": summary.get("ties", ""), "mark": RESEARCH_MARK, "output_hash": row["output_hash"],
            "matches_ledger": str(matches).lower()}
    for k, v in head.items():
        buf.write(f"# {k}: {v}\n")
    buf.write("model,coverage,metric,mean,low,high\n")
    for model, entry in summary["models"].items():
        for metric in ("pai", "hit_rate", "pei"):
            for cov, v in sorted(entry.get(metric, {}).items(), key=lambda kv: float(kv[0])):
                vals = ["" if v.get(k) is None else repr(float(v[k])) for k in ("mean", "low", "high")]
                buf.write(f"{model},{cov},{metric},{','.join(vals)}\n")
    return buf.getvalue()


def export_backtest(ctx: Context, run_id: str, fmt: str, *, actor: Actor,
                    purpose: str | None = RESEARCH) -> tuple[bytes, bool]:
    """A stored backtest as a file: ``json`` (the stored summary, byte for byte: its SHA-256 is the
    ledger entry's output hash while nothing changed it), ``csv`` (model, coverage, metric, mean and
    interval) or ``png`` (hit rate against the share of cells flagged, with intervals; what
    ``forecast backtest --plot`` draws). Returns the bytes and whether the stored summary still
    hashes to its ledger entry. Logged as ``backtests.export``."""
    if fmt not in BACKTEST_EXPORTS:
        raise InvalidParameterError(f"backtest export format {fmt!r}: expected one of {sorted(BACKTEST_EXPORTS)}")
    authorize(ctx, action="backtests.export", actor=actor, purpose=purpose)
    row = _stored_backtest(ctx, run_id)
    text = str(row["summary"])
    matches = sha256_hex(text) == row["output_hash"]
    summary: dict[str, Any] = json.loads(text)
    if fmt == "json":
        data = text.encode("utf-8")
    elif fmt == "csv":
        data = _backtest_csv(row, summary, matches).encode("utf-8")
    else:
        data = _backtest_png(row, summary)
    record_use(ctx, action="backtests.export", actor=actor, purpose=purpose, output_hash=str(row["output_hash"]),
               detail={"run_id": run_id, "format": fmt, "matches_ledger": matches})
    return data, matches


def _backtest_png(row: Mapping[Hashable, Any], summary: dict[str, Any]) -> bytes:
    import tempfile

    models = summary["models"]
    covs = sorted({float(c) for m in models.values() for c in m["hit_rate"]})
    key = {c: next(k for k in next(iter(models.values()))["hit_rate"] if float(k) == c) for c in covs}
    curves = {m: [e["hit_rate"][key[c]]["mean"] for c in covs] for m, e in models.items()}
    bands = {m: ([e["hit_rate"][key[c]]["low"] for c in covs], [e["hit_rate"][key[c]]["high"] for c in covs])
             for m, e in models.items() if not m.startswith("ceiling:")}
    area = summary.get("area") or {}
    title = (f"{row['dataset'] or 'all'} {row['offense'] or ''}: {summary.get('n_periods')} forecasts of "
             f"{format_span(float(summary.get('horizon_days') or 0))}; {area.get('n_cells')} cells ({area.get('rule')})\n"
             f"backtest {row['run_id']} · {RESEARCH_MARK}")
    with tempfile.TemporaryDirectory(prefix="crimelens-bt-") as tmp:
        out = plot_coverage_curves(curves, covs, Path(tmp) / "curves.png", metric="hit rate (mean over forecasts)",
                                   title=title, intervals=bands)
        return out.read_bytes()


#: What a stored run exports as, with its media type.
EXPORT_TYPES = {"gpkg": "application/geopackage+sqlite3", "geojson": "application/geo+json", "csv": "text/csv",
                "png": "image/png"}


def export_stored_run(ctx: Context, run_id: str, fmt: str, folder: Path, *, actor: Actor,
                      purpose: str | None = RESEARCH, deployment: str | None = None) -> Path:
    """Write a stored forecast run to ``folder`` as GeoPackage, GeoJSON or CSV: the same columns,
    polygons and metadata as ``forecast run --out``, rebuilt from the store; or as a PNG map, what
    ``forecast run --png`` draws (logged as ``forecast.export``). :func:`export_stored_file` also says
    whether the stored cells still match the run's ledger entry."""
    return Path(export_stored_file(ctx, run_id, fmt, folder, actor=actor, purpose=purpose,
                                   deployment=deployment)["path"])


def export_stored_file(ctx: Context, run_id: str, fmt: str, folder: Path, *, actor: Actor,
                       purpose: str | None = RESEARCH, deployment: str | None = None,
                       name: str | None = None) -> dict[str, Any]:
    """:func:`export_stored_run`, returning ``{"path", "matches_ledger", "check"}``: the file, and whether
    the stored cells are still the run's (:func:`check_stored_run`: the output hash recomputed from the
    stored risks equals the ledger's, and the stored rank and flags are the ones those risks give). The
    files carry it as metadata (``matches_ledger``; a mismatch adds a warning saying what differs), the
    ``forecast.export`` entry in its detail. The cells written are the stored ones, as they are. The file
    is ``folder/NAME.FMT`` (default name ``forecast-RUN_ID``)."""
    from crimelens.forecast._area import cell_polygons
    from crimelens.forecast._export import _lonlat, plot_cells, write_cells
    from crimelens.storage._forecast import forecast_cells

    if fmt not in EXPORT_TYPES:
        raise InvalidParameterError(f"export format {fmt!r}: expected one of {sorted(EXPORT_TYPES)}")
    dep: dict[str, Any] = {"deployment": deployment} if deployment else {}
    authorize(ctx, action="forecast.export", actor=actor, purpose=purpose, **dep)
    rec = get_forecast_run(ctx.store, run_id)
    cells = forecast_cells(ctx.store, run_id).sort_values("rank", kind="stable").reset_index(drop=True)
    check = check_stored_run(rec, cells)
    matches = bool(check["matches_ledger"])
    definition = json.loads(rec.area)
    xy = cells[["x_m", "y_m"]].to_numpy(np.float64)
    lon, lat = _lonlat(xy, rec.crs)
    frame = pd.DataFrame({"cell": cells["cell"].to_numpy(np.int64), "cell_id": cells["cell_id"].to_numpy(np.int64),
                          "x_m": xy[:, 0], "y_m": xy[:, 1], "lon": lon, "lat": lat,
                          "risk": cells["risk"].to_numpy(np.float64), "rank": cells["rank"].to_numpy(np.int64),
                          "flagged": cells["flagged"].to_numpy(bool)})
    geoms = np.array(cell_polygons(definition, frame["cell_id"].to_numpy(np.int64), rec.crs), dtype=object)
    zone = reading_zone(ctx, rec.dataset)
    try:  # the run's warnings, as its ledger entry logged them (runs stored before they were logged have none)
        notes = [str(n) for n in ctx.ledger.entry(rec.ledger_seq).detail.get("warnings") or []]
    except NotFoundError:
        notes = []
    if not matches:
        notes.append(_mismatch_note(check))
    meta = {"model": rec.model, "window": f"{rec.window_start.isoformat()}/{rec.window_end.isoformat()}",
            "study_area": json.dumps(definition, sort_keys=True, default=str), "coverage": f"{rec.coverage:g}",
            "risk_units": "expected recorded incidents per cell in the window",
            "tie_rule": "rank by descending risk; ties by ascending cell index", "mark": rec.mark or "",
            "output_hash": rec.output_hash,
            **_run_metadata(rec.run_id, rec.dataset, rec.offense, TimeWindow(rec.window_start, rec.window_end),
                            zone, notes, matches=matches)}
    stem = name or f"forecast-{rec.run_id}"
    if fmt == "png":
        title = (f"{rec.model}: {format_start(rec.window_start, zone)} + "
                 f"{format_span((rec.window_end - rec.window_start).total_seconds() / 86400)}\n"
                 f"top {rec.coverage:.1%} of {len(frame)} cells outlined\n"
                 f"{_caption(rec.run_id, rec.dataset, rec.offense)}")
        out = plot_cells(geoms, frame["risk"].to_numpy(np.float64), frame["flagged"].to_numpy(bool),
                         Path(folder) / f"{stem}.png", title=title, crs=rec.crs, mark=rec.mark)
    else:
        out = write_cells(Path(folder) / f"{stem}.{fmt}", fmt, frame, geoms, rec.crs, meta)
    record_export(ctx, run_id=run_id, fmt=fmt, path=out, n_cells=len(frame), output_hash=rec.output_hash,
                  actor=actor, purpose=purpose, deployment=deployment, matches_ledger=matches)
    return {"path": out, "matches_ledger": matches, "check": check}


def _hashed_params(rec: ForecastRecord, definition: Mapping[str, Any]) -> dict[str, Any]:
    """The model parameters as the run's output hash covered them, from what the run recorded: the study
    area as its definition (recorded as ``"StudyArea"``) and, on H3 cells, ``cell_m`` (not recorded: unused
    there) as the model's default, the value a run by model name holds."""
    params: dict[str, Any] = json.loads(rec.params)
    if "area" in params:
        params["area"] = dict(definition)
    if definition.get("kind") == "h3" and "cell_m" not in params:
        cls = next((c for c in MODELS.values() if c.__name__ == rec.model), None)
        if cls is not None:
            params["cell_m"] = cls().get_params(deep=False).get("cell_m")
    return params


def check_stored_run(rec: ForecastRecord, cells: pd.DataFrame) -> dict[str, Any]:
    """Whether a stored run's cells are still what its ledger entry logged.

    Recomputes the output hash from the stored risks exactly as the run did (:func:`output_hash`: the
    risks in cell order, the window in UTC, the model, its recorded parameters and the study area's
    definition) and compares it with the run's ``output_hash`` (the ledger's); recomputes every cell's
    rank from the stored risks (descending, ties by ascending cell index) and the flags (the top
    ``max(1, round(coverage * n_cells))`` by that rank, less any of risk 0) and compares them with the
    stored ones; and checks that the cells are the study area's ``0 .. n_cells - 1`` once each and, on a
    square grid, that each cell's ``cell_id`` and centre (``x_m``, ``y_m``) are the ones the definition
    gives. ``matches_ledger`` is all of these. Returns it with the recomputed hash and what differs."""
    definition: dict[str, Any] = json.loads(rec.area)
    n = int(rec.n_cells)
    problems: list[str] = []
    cell = cells["cell"].to_numpy(np.int64)
    order = np.argsort(cell, kind="stable")
    cell = cell[order]
    if len(cell) != n or not np.array_equal(cell, np.arange(n)):
        problems.append(f"the store holds {len(cell):,} cell rows, {len(np.unique(cell)):,} distinct; the run has "
                        f"{n:,} cells (0 to {n - 1:,})")
        return {"matches_ledger": False, "output_hash": rec.output_hash, "recomputed_hash": None,
                "hash_matches": False, "n_rank_differs": None, "n_flagged_differs": None, "problems": problems}
    risk = cells["risk"].to_numpy(np.float64)[order]
    window = f"[{rec.window_start.astimezone(UTC).isoformat()}, {rec.window_end.astimezone(UTC).isoformat()})"
    recomputed = output_hash(risk, window=window, model=rec.model, params=_hashed_params(rec, definition),
                             area=definition)
    hash_matches = recomputed == rec.output_hash
    if not hash_matches:
        problems.append(f"the output hash recomputed from the stored risks is {recomputed}; the ledger's is "
                        f"{rec.output_hash}")
    rank = np.empty(n, dtype=np.int64)
    rank[rank_cells(risk)] = np.arange(1, n + 1)
    flagged = (rank <= max(1, round(rec.coverage * n))) & (risk > 0)
    n_rank = int((cells["rank"].to_numpy(np.int64)[order] != rank).sum())
    n_flag = int((cells["flagged"].to_numpy(bool)[order] != flagged).sum())
    if n_rank:
        problems.append(f"{n_rank:,} cells' stored rank differs from the rank their stored risks give")
    if n_flag:
        problems.append(f"{n_flag:,} cells' stored flag differs from the top {rec.coverage:g} their stored risks give "
                        f"({int(flagged.sum()):,} flagged, {int(cells['flagged'].to_numpy(bool).sum()):,} stored)")
    if definition.get("kind") == "square":
        ids = cells["cell_id"].to_numpy(np.int64)[order]
        x0, y0 = (float(v) for v in definition["origin_m"])
        size, nx = float(definition["cell_m"]), int(definition["grid_shape"][1])
        row, col = np.divmod(ids, nx)
        centre = np.column_stack([x0 + (col + 0.5) * size, y0 + (row + 0.5) * size])
        stored = cells[["x_m", "y_m"]].to_numpy(np.float64)[order]
        moved = int((~np.isclose(stored, centre, rtol=0, atol=1e-6).all(axis=1)).sum())
        if n > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            problems.append("the stored cell ids are not in the grid's order (ascending with the cell index)")
        if moved:
            problems.append(f"{moved:,} cells' stored centre is not the centre of their cell_id on the study area's grid")
    return {"matches_ledger": not problems, "output_hash": rec.output_hash, "recomputed_hash": recomputed,
            "hash_matches": hash_matches, "n_rank_differs": n_rank, "n_flagged_differs": n_flag,
            "problems": problems}


def _mismatch_note(check: Mapping[str, Any]) -> str:
    return ("the stored cells do not match this run's ledger entry (changed in the store after the run was logged): "
            + "; ".join(check["problems"]) + ". The file shows the cells as stored; output_hash is the ledger's")


def forecast_record(ctx: Context, run_id: str) -> ForecastRecord:
    """The stored row of a forecast run."""
    return get_forecast_run(ctx.store, run_id)


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        if k == "area":
            out[k] = None if v is None else "StudyArea"
        elif v is None or isinstance(v, bool | int | float | str):
            out[k] = v
        elif isinstance(v, tuple | list):
            out[k] = list(v)
        else:
            out[k] = type(v).__name__
    return out
