"""The HTTP routes. Each one parses, calls one service, and returns its JSON; nothing else.

Every route needs a bearer token (401 without one) and an ``X-Purpose`` header,
except the few a member of the public may call without an account (reading the
deployments and model cards, commenting on one open for comment, filing a
complaint, the annual report, the signed ledger head and inclusion proofs), where a call without a
token is ``public:<name>`` with the purpose "public participation" by default;
roles are enforced by the services' governance gate, with a route-level check
(:meth:`Caller.allow`) where a service would look things up before checking the
role. Lists take ``limit``/``offset`` and answer ``{"items", "total", "limit",
"offset"}``. Model outputs made without a deployment are research use and carry
the research mark.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol

import anyio
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from crimelens._jsontext import default as json_default
from crimelens._jsontext import dumps as strict_json
from crimelens.api._deps import Caller, CallerDep, CtxDep, PublicCallerDep, public_name
from crimelens.api._errors import error_body
from crimelens.errors import CrimelensError
from crimelens.governance import Actor, Role
from crimelens.governance._aia import AIA_QUESTIONS, required_controls
from crimelens.governance._aia import LEVELS as AIA_LEVELS
from crimelens.governance._policy import (
    GOVERNANCE_PERMISSIONS,
    MIN_COMMENT_DAYS_FLOOR,
    UsePolicy,
    role_allows,
)
from crimelens.governance._report import FIRST_REPORT_YEAR
from crimelens.services import dashboard as dash
from crimelens.services import forecasts as fc
from crimelens.services import governance as gov
from crimelens.services._context import record_use

__all__ = ["MODEL_USE_ACTIONS", "router"]

router = APIRouter(prefix="/api")
_log = logging.getLogger(__name__)

Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")]
Name = Annotated[str, Path(min_length=1, max_length=200)]

#: Actions that use a model (refused without a deployment when the server runs operational use only).
MODEL_USE_ACTIONS = ("forecast.run", "link.similar", "link.series", "link.train", "link.pairs",
                     "nearrepeat.alert", "feedback.simulate")


_BYTES_CACHE: dict[int, tuple[Any, bytes]] = {}


def ok(data: Any, *, cache: bool = False) -> Response:
    """A JSON response; ``cache`` reuses the bytes of an immutable, service-cached document."""
    if cache:
        hit = _BYTES_CACHE.get(id(data))
        if hit is not None and hit[0] is data:
            return Response(hit[1], media_type="application/json")
    text = strict_json(data, ensure_ascii=False).encode("utf-8")
    if cache:
        if len(_BYTES_CACHE) > 64:
            _BYTES_CACHE.clear()
        _BYTES_CACHE[id(data)] = (data, text)
    return Response(text, media_type="application/json")


def _body(**fields: Any) -> dict[str, Any]:
    return {"ok": True, **fields}


# who am I, what data --------------------------------------------------------------------------
@router.get("/me", tags=["session"], summary="The authenticated user and the stated purpose")
def me(caller: CallerDep) -> Response:
    """Who is calling, and ``may``: the governance actions their role may perform (the dashboard
    offers only those controls; the server checks each call anyway)."""
    may = sorted(a for a in GOVERNANCE_PERMISSIONS if role_allows(caller.actor.role, a))
    return ok(_body(user=caller.actor.user, role=str(caller.actor.role), purpose=caller.purpose,
                    deployment=caller.deployment, may=may))


@router.get("/datasets", tags=["data"], summary="Datasets in the store: counts, time span, snapshot hash")
def datasets(ctx: CtxDep, caller: CallerDep,
             dataset: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    return ok(dash.snapshot(ctx, actor=caller.actor, purpose=caller.purpose, dataset=dataset))


@router.get("/areas", tags=["data"], summary="Basemap: area polygons and city outline (GeoJSON, lon/lat)")
def areas(ctx: CtxDep, caller: CallerDep, dataset: Annotated[str, Query(min_length=1, max_length=200)]) -> Response:
    return ok(dash.area_layer(ctx, dataset=dataset, actor=caller.actor, purpose=caller.purpose), cache=True)


@router.get("/incidents", tags=["data"], summary="Incidents matching filters, newest first (paginated)")
def incidents(ctx: CtxDep, caller: CallerDep, limit: Limit = 100, offset: Offset = 0,
              dataset: Annotated[str | None, Query(max_length=200)] = None,
              offense: Annotated[str | None, Query(max_length=200)] = None,
              area: Annotated[str | None, Query(max_length=200)] = None,
              start: datetime | None = None, end: datetime | None = None) -> Response:
    return ok(dash.list_incidents(ctx, dataset=dataset, actor=caller.actor, purpose=caller.purpose,
                                  offense=offense, start=start, end=end, area=area, limit=limit, offset=offset))


@router.get("/incidents/{incident_id:path}/similar", tags=["linkage"],
            summary="The k incidents most likely linked to one, with the features that drove each score")
def similar(ctx: CtxDep, caller: CallerDep, incident_id: Name,
            dataset: Annotated[str, Query(min_length=1, max_length=200)],
            k: Annotated[int, Query(ge=1, le=100)] = 10,
            linker_id: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    from crimelens.services.linkage import similar_with_places

    caller.allow(ctx, "link.similar", model_use=True)
    return ok(similar_with_places(ctx, dataset=dataset, incident_id=incident_id, actor=caller.actor,
                                  purpose=caller.purpose, k=k, linker_id=linker_id, deployment=caller.deployment))


class NearRepeatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset: str | None = Field(default=None, max_length=200)
    alpha: float | None = Field(
        default=None, gt=0, lt=1, description="Elevated: ratio > 1 and p below this. Default: the surface run's own "
                                              "alpha (the one its findings used; 0.05 for runs stored before runs "
                                              "kept it).")
    cell_m: float = Field(default=50.0, ge=5, le=1000)
    permutations: int = Field(default=99, ge=9, le=999,
                              description="Only when no run is stored and a surface is computed now.")
    seed: int = Field(default=1, ge=0, le=2**63 - 1)
    allow_coarse_times: bool = Field(
        default=False, description="Read a surface of coarse times (or alert for an incident known only to a window "
                                   "longer than the surface's narrowest time band) with a warning instead of a 422.")


class KnoxIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset: str | None = Field(default=None, max_length=200, description="Default: the only dataset.")
    offense: str | None = Field(default=None, max_length=200)
    since: datetime | None = Field(default=None, description="Only incidents from then (with offset).")
    until: datetime | None = Field(default=None, description="Only incidents before then (with offset).")
    space_bands: list[Annotated[float, Field(gt=0, le=100_000)]] = Field(
        default=[100.0, 200.0, 300.0], min_length=1, max_length=20, description="Upper band edges, metres.")
    time_bands: list[Annotated[float, Field(gt=0, le=3650)]] = Field(
        default=[7.0, 14.0, 21.0], min_length=1, max_length=20, description="Upper band edges, days.")
    distance: Literal["manhattan", "euclidean"] = "manhattan"
    convention: Literal["standard", "nrc", "pysal"] = "standard"
    permutations: int = Field(default=99, ge=0, le=999)
    seed: int | None = Field(
        default=None, ge=0, le=2**63 - 1,
        description="Default: drawn (0 to 2**31 - 1) and reported. Any stored run's seed (up to 2**63 - 1: runs "
                    "stored before drew 63-bit seeds) is accepted, as a number or as a string of digits (a "
                    "JavaScript number loses whole numbers above 2**53; runs report `seed_text`).")
    time_of: Literal["from", "mid", "to"] = "mid"
    records: Literal["incident", "all"] = Field(
        default="incident", description="incident: one event per incident (further records ID#2, ID#3, ... of one "
                                        "incident left out); all: every record, as the Near Repeat Calculator counts.")
    alpha: float = Field(default=0.05, gt=0, lt=1,
                         description="The run's significance level, stored with it: its findings, the heat map's "
                                     "outlines and the alerts read from it use it.")
    allow_coarse_times: bool = Field(
        default=False, description="Run even when many records' time windows (police.uk months) are longer than the "
                                   "narrowest time band: the run then carries a warning (logged with the run). "
                                   "Without it such data is refused (422).")


@router.post("/nearrepeat/runs", tags=["near repeat"],
             summary="A Knox table of the store's incidents: observed pairs per distance x time band, ratio, p")
def knox_run(ctx: CtxDep, caller: CallerDep, body: KnoxIn) -> Response:
    from crimelens.domain import TimeWindow
    from crimelens.errors import InvalidParameterError
    from crimelens.nearrepeat import CONVENTION_NOTES
    from crimelens.services.nearrepeat import run_knox

    caller.allow(ctx, "nearrepeat.knox")
    period = None
    if body.since is not None or body.until is not None:
        if (body.since and body.since.tzinfo is None) or (body.until and body.until.tzinfo is None):
            raise InvalidParameterError("nearrepeat run: since/until need a UTC offset, e.g. 2024-01-01T00:00:00Z")
        period = TimeWindow(body.since or datetime(1900, 1, 1, tzinfo=UTC), body.until or datetime(2200, 1, 1, tzinfo=UTC))
    run = run_knox(ctx, actor=caller.actor, purpose=caller.purpose, dataset=body.dataset, offense=body.offense,
                   period=period, space_bands=body.space_bands, time_bands=body.time_bands, distance=body.distance,
                   convention=body.convention, permutations=body.permutations, seed=body.seed, time_of=body.time_of,
                   records=body.records, alpha=body.alpha, allow_coarse_times=body.allow_coarse_times)
    return ok({**run.to_dict(), "convention_note": CONVENTION_NOTES[body.convention]})


@router.get("/nearrepeat/runs", tags=["near repeat"], summary="Stored Knox runs, newest first (paginated)")
def knox_runs(ctx: CtxDep, caller: CallerDep, limit: Limit = 50, offset: Offset = 0,
              dataset: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    from crimelens.services.nearrepeat import list_runs

    return ok(_page(list_runs(ctx, actor=caller.actor, purpose=caller.purpose, dataset=dataset), limit, offset))


@router.get("/nearrepeat/runs/{run_id}", tags=["near repeat"], summary="One stored Knox table, as computed")
def knox_run_show(ctx: CtxDep, caller: CallerDep, run_id: Name) -> Response:
    from crimelens.services.nearrepeat import show_run

    return ok({"ok": True, **show_run(ctx, run_id, actor=caller.actor, purpose=caller.purpose)})


@router.get("/nearrepeat/runs/{run_id}/export", tags=["near repeat"], response_class=Response,
            responses={200: {"content": {"image/png": {}, "text/csv": {}},
                             "description": "the heat map or the table of a stored run"}},
            summary="A stored Knox run as the heat map `nearrepeat --png` draws, or its table as CSV")
def nearrepeat_export(ctx: CtxDep, caller: CallerDep, run_id: Name,
                      format: Annotated[Literal["png", "csv"], Query(description="png or csv")] = "png",
                      alpha: Annotated[float | None, Query(
                          gt=0, lt=1, description="Outline cells with p below this (default: the run's own alpha).")
                                       ] = None) -> Response:
    from crimelens.services.nearrepeat import KNOX_EXPORTS, export_run

    data = export_run(ctx, run_id, format, actor=caller.actor, purpose=caller.purpose, alpha=alpha)
    return _attachment(data, KNOX_EXPORTS[format], f"knox-{run_id}.{format}")


@router.post("/incidents/{incident_id:path}/nearrepeat", tags=["near repeat"],
             summary="Near-repeat alert around one incident (the elevated-risk surface)")
def nearrepeat(ctx: CtxDep, caller: CallerDep, incident_id: Name, body: NearRepeatIn) -> Response:
    from crimelens.services.nearrepeat import nearrepeat_alert

    caller.allow(ctx, "nearrepeat.alert", model_use=True)
    run = nearrepeat_alert(ctx, incident_id, actor=caller.actor, purpose=caller.purpose, dataset=body.dataset,
                           alpha=body.alpha, cell_m=body.cell_m, permutations=body.permutations, seed=body.seed,
                           allow_coarse_times=body.allow_coarse_times, deployment=caller.deployment)
    from crimelens.services.dashboard import band_rings

    out = run.to_dict()
    crs = ctx.store.dataset_crs(run.dataset)
    out["crs"] = crs
    # the outer edge of each elevated band, in the shape of the run's distance
    out["rings"] = band_rings(crs, run.alert.x_m, run.alert.y_m,
                              [e.distance_to_m for e in run.alert.elevated], run.alert.distance)
    return ok(out)


# forecasts -------------------------------------------------------------------------------------
_OFFENSE = ("Normalised offense, e.g. burglary; several separated by commas are pooled (their incidents forecast "
            "together, the run recording them joined), e.g. theft,theft_from_vehicle,vehicle_theft; an offense the "
            "dataset does not hold is refused, naming those it holds. Default: every offense.")


class ForecastIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset: str | None = Field(default=None, max_length=200)
    offense: str | None = Field(default=None, max_length=200, description=_OFFENSE)
    at: datetime = Field(description="Forecast start (the model sees only incidents before it); a time without an "
                                     "offset is read in the dataset's time zone (the one its files were read in).")
    records: Literal["incident", "all"] = Field(
        default="incident", description="incident: each incident once (further records ID#2, ID#3, ... of one "
                                        "incident left out, in training and in scoring); all: every record.")
    model: str | None = Field(default=None, max_length=100, description="Model name (default: the service's default).")
    horizon_days: float = Field(default=7.0, gt=0, le=366)
    cell_m: float = Field(default=150.0, ge=25, le=5000)
    coverage: float = Field(default=0.05, gt=0, le=1)
    mask: Literal["activity", "bbox", "h3"] = Field(
        default="activity", description="Study area: square cells with a past incident, the bounding box's "
                                        "cells, or H3 hexagons with a past incident.")
    h3_resolution: int = Field(default=9, ge=0, le=15, description="H3 resolution (with mask 'h3').")
    params: dict[str, float | int | bool | str | None] | None = Field(
        default=None, max_length=20,
        description="Model parameters by name (`crimelens forecast models` lists them); recorded with the run. "
                    "Research use: refused with a deployment.")


@router.post("/forecasts", tags=["forecast"], summary="Run and store a forecast of recorded incidents")
def create_forecast(ctx: CtxDep, caller: CallerDep, body: ForecastIn) -> Response:
    caller.allow(ctx, "forecast.run", model_use=True)
    chosen: dict[str, Any] = {"model": body.model} if body.model else {}
    run = fc.run_forecast(ctx, offense=body.offense, at=body.at, actor=caller.actor, **chosen,
                          params=body.params, horizon_days=body.horizon_days, cell_m=body.cell_m, dataset=body.dataset,
                          coverage=body.coverage, mask=body.mask, h3_resolution=body.h3_resolution,
                          purpose=caller.purpose, deployment=caller.deployment, records=body.records)
    return ok(run.to_dict())


@router.get("/forecasts", tags=["forecast"], summary="Stored forecast runs, newest first (paginated)")
def forecasts(ctx: CtxDep, caller: CallerDep, limit: Limit = 50, offset: Offset = 0) -> Response:
    return ok(dash.list_forecast_runs(ctx, actor=caller.actor, purpose=caller.purpose, limit=limit, offset=offset))


@router.get("/forecasts/{run_id}/cells", tags=["forecast"],
            summary="The forecast layer: a run's cells as GeoJSON with risk, rank and the top-k flag")
def forecast_cells(ctx: CtxDep, caller: CallerDep, run_id: Name) -> Response:
    return ok(dash.forecast_layer(ctx, run_id=run_id, actor=caller.actor, purpose=caller.purpose,
                                  deployment=caller.deployment), cache=True)


@router.get("/forecasts/{run_id}/export", tags=["forecast"], response_class=Response,
            responses={200: {"content": {t: {} for t in fc.EXPORT_TYPES.values()},
                             "description": "the run's cells as a file QGIS opens"}},
            summary="A stored run as GeoPackage, GeoJSON or CSV: the columns, polygons and metadata of "
                    "`forecast run --out`; or a PNG map, as `forecast run --png` draws; X-Output-Hash-Matches "
                    "says whether the stored cells still match the run's ledger entry (the output hash "
                    "recomputed from the stored risks, and the stored rank and flags)")
def forecast_export(ctx: CtxDep, caller: CallerDep, run_id: Name,
                    format: Annotated[Literal["gpkg", "geojson", "csv", "png"], Query(
                        description="gpkg (layer 'forecast', data CRS), geojson (lon/lat), csv (WKT) or png "
                                    "(a map).")] = "gpkg",
                    ) -> Response:
    import tempfile
    from pathlib import Path as FsPath

    with tempfile.TemporaryDirectory(prefix="crimelens-export-") as tmp:
        done = fc.export_stored_file(ctx, run_id, format, FsPath(tmp), actor=caller.actor, purpose=caller.purpose,
                                     deployment=caller.deployment)
        out = FsPath(done["path"])
        data = out.read_bytes()
        name = out.name
    return _attachment(data, fc.EXPORT_TYPES[format], name, bool(done["matches_ledger"]))


@router.get("/forecasts/{run_id}/evaluation", tags=["forecast"],
            summary="Hit rate and PAI of a run against the incidents recorded in its window, overall and per "
                    "audit group")
def forecast_evaluation(ctx: CtxDep, caller: CallerDep, run_id: Name,
                        group_by: Annotated[str | None, Query(
                            min_length=1, max_length=100,
                            description="Audit groups: an incident column (area, premise) or an attribute of the "
                                        "dataset's areas; default the areas' 'group' when they have one.")] = None
                        ) -> Response:
    return ok(dash.forecast_evaluation(ctx, run_id=run_id, actor=caller.actor, purpose=caller.purpose,
                                       group_by=group_by))


class BacktestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset: str | None = Field(default=None, max_length=200)
    offense: str | None = Field(default=None, max_length=200, description=_OFFENSE)
    models: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=1, max_length=12,
        description="Model names (see `crimelens forecast models`); LABEL=MODEL runs a model again under a label "
                    "of its own, e.g. [\"weighted\", \"w365=weighted\"] with params {\"w365\": {...}}.")
    start: datetime = Field(description="The first forecast's start; the study area is the cells with an incident "
                                        "before it, so no test-period information enters the area. A date or a time "
                                        "without an offset is read in the dataset's time zone.")
    records: Literal["incident", "all"] = Field(
        default="incident", description="incident: each incident once (further records ID#2, ID#3, ... of one "
                                        "incident left out, in training and in scoring); all: every record.")
    periods: int = Field(default=52, ge=1, le=260, description="Forecasts, one after another.")
    horizon_days: float = Field(default=7.0, gt=0, le=366)
    cell_m: float = Field(default=150.0, ge=25, le=5000)
    coverages: list[Annotated[float, Field(gt=0, le=1)]] = Field(default=[0.01, 0.05], min_length=1, max_length=20)
    mask_days: float | None = Field(default=None, gt=0, le=36_600,
                                    description="Study area from the incidents of this many days before start "
                                                "(default: all before start); as `forecast backtest --mask-days`.")
    ceiling: bool = Field(default=True, description="Add the perfect-rate ceiling (simulated) beside the models.")
    group_by: str | None = Field(default=None, min_length=1, max_length=100,
                                 description="Audit groups for per-group hit rates; never a model input.")
    params: dict[str, dict[str, float | int | bool | str | None]] | None = Field(
        default=None, max_length=8,
        description="Model parameters by model name or label, e.g. {\"weighted\": {\"half_life_days\": 365}} "
                    "(`crimelens forecast models` lists them); the summary gives every model's parameters.")
    versus: str | None = Field(default=None, min_length=1, max_length=100,
                               description="Pair every other model against this one (e.g. naive); default: the best "
                                           "model against every other.")



def _attachment(data: bytes, media_type: str, name: str, matches: bool | None = None) -> Response:
    """A file to save as ``name``, with its SHA-256 and, for a stored output, whether it still
    hashes to its ledger entry (``X-Output-Hash-Matches``)."""
    headers = {"Content-Disposition": f'attachment; filename="{name}"',
               "X-Content-SHA256": hashlib.sha256(data).hexdigest()}
    if matches is not None:
        headers["X-Output-Hash-Matches"] = str(matches).lower()
    return Response(data, media_type=media_type, headers=headers)

NDJSON = "application/x-ndjson"


class _Say(Protocol):
    def __call__(self, done: int, total: int, stage: str | None = None) -> None: ...


def _streamed(work: Callable[[_Say], dict[str, Any]],
              refused: Callable[[CrimelensError], None] | None = None) -> StreamingResponse:
    """Run ``work(progress)`` in a thread and stream its progress as NDJSON lines ``{"done", "total"}``
    (with ``"stage"`` where the work has several), then one ``{"result": ...}`` line, or one
    ``{"error", "type", "status"}`` line if it failed (the status line of the response was sent
    before the work began). ``refused(error)``, before that line, does what the error handlers do for
    the route's unstreamed answer (logs the refusal where its service does not)."""
    lines: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def say(done: int, total: int, stage: str | None = None) -> None:
        lines.put({"done": done, "total": total} if stage is None else {"stage": stage, "done": done, "total": total})

    def run() -> None:
        try:
            lines.put({"result": work(say)})
        except CrimelensError as exc:
            if refused is not None:
                try:
                    refused(exc)
                except Exception:
                    _log.exception("streamed work failed, and so did logging its refusal")
            lines.put(error_body(str(exc), type(exc).__name__, int(getattr(exc, "http_status", 500))))
        except Exception:
            _log.exception("streamed work failed")
            lines.put(error_body("internal error; see the server log", "InternalError", 500))
        finally:
            lines.put(None)

    threading.Thread(target=run, name="crimelens-stream", daemon=True).start()

    async def body() -> AsyncIterator[bytes]:
        while (item := await anyio.to_thread.run_sync(lines.get)) is not None:
            yield (strict_json(item, ensure_ascii=False) + "\n").encode("utf-8")

    return StreamingResponse(body(), media_type=NDJSON, headers={"Cache-Control": "no-store"})


@router.post("/backtests", tags=["forecast"],
             responses={200: {"content": {NDJSON: {}}, "description": "with `Accept: application/x-ndjson`: "
                              "a progress line per forecast, then the result line"}},
             summary="Backtest forecast models week by week (rolling origin) and store the summary")
def create_backtest(ctx: CtxDep, caller: CallerDep, body: BacktestIn,
                    accept: Annotated[str | None, Header(description=f"'{NDJSON}' streams progress")] = None
                    ) -> Response:
    caller.allow(ctx, "forecast.backtest")

    def work(progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        run = fc.run_backtest(ctx, models=body.models, offense=body.offense, start=body.start,
                              periods=body.periods, actor=caller.actor, horizon_days=body.horizon_days,
                              cell_m=body.cell_m, coverages=body.coverages, dataset=body.dataset,
                              mask_days=body.mask_days, ceiling=body.ceiling, purpose=caller.purpose,
                              group_by=body.group_by, params=body.params, versus=body.versus,
                              progress=progress, records=body.records)
        return run.to_dict(per_period=False)

    if accept and NDJSON in accept:
        return _streamed(work)
    return ok(work())


@router.get("/backtests", tags=["forecast"], summary="Stored backtests, newest first (paginated)")
def backtests(ctx: CtxDep, caller: CallerDep, limit: Limit = 50, offset: Offset = 0) -> Response:
    return ok(fc.list_backtests(ctx, actor=caller.actor, purpose=caller.purpose, limit=limit, offset=offset))


@router.get("/backtests/{run_id}", tags=["forecast"],
            summary="One stored backtest: mean hit rate, PAI and PEI with intervals per model and coverage, "
                    "the paired comparison and the study area")
def backtest(ctx: CtxDep, caller: CallerDep, run_id: Name) -> Response:
    return ok(fc.show_backtest(ctx, run_id, actor=caller.actor, purpose=caller.purpose))


@router.get("/backtests/{run_id}/export", tags=["forecast"], response_class=Response,
            responses={200: {"content": {t: {} for t in ("application/json", "text/csv", "image/png")},
                             "description": "the stored backtest as a file"}},
            summary="A stored backtest as its stored JSON summary (byte for byte), a CSV of mean and interval per "
                    "model, coverage and metric, or the hit-rate curve as PNG; X-Output-Hash-Matches says whether "
                    "the stored summary still hashes to its ledger entry")
def backtest_export(ctx: CtxDep, caller: CallerDep, run_id: Name,
                    format: Annotated[Literal["json", "csv", "png"], Query(
                        description="json (the stored summary), csv (long table) or png (curves).")] = "json",
                    ) -> Response:
    data, matches = fc.export_backtest(ctx, run_id, format, actor=caller.actor, purpose=caller.purpose)
    return _attachment(data, fc.BACKTEST_EXPORTS[format], f"backtest-{run_id}.{format}", matches)


# linkage ---------------------------------------------------------------------------------------
class LinkerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset: str = Field(min_length=1, max_length=200)
    cutoff: datetime | None = Field(default=None, description="Train on incidents before it; report how the "
                                    "labelled ones from it on score.")
    label: str = Field(default="series_id", min_length=1, max_length=200, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                       description="Incident attribute holding the known series (analyst labels are added).")
    radius_m: float = Field(default=1000.0, gt=0, le=100_000, description="Block radius, metres.")
    window_days: float = Field(default=30.0, gt=0, le=3650, description="Block: most days between two incidents.")
    narrative: bool = Field(default=True, description="Use narrative similarity.")


_STAGED: dict[int | str, dict[str, Any]] = {200: {"content": {NDJSON: {}}, "description": "with `Accept: application/x-ndjson`: progress lines "
                 "({stage, done, total}; each stage counts in its own units), then the result line"}}


@router.post("/linkers", tags=["linkage"], responses=_STAGED,
             summary="Train a pairwise linker on the labelled series")
def train(ctx: CtxDep, caller: CallerDep, body: LinkerIn,
          accept: Annotated[str | None, Header(description=f"'{NDJSON}' streams progress")] = None) -> Response:
    from crimelens.services.linkage import train_linker

    caller.allow(ctx, "link.train", model_use=True)

    def work(progress: _Say | None = None) -> dict[str, Any]:
        say = None if progress is None else (lambda stage, k, n: progress(k, n, stage))
        return train_linker(ctx, dataset=body.dataset, actor=caller.actor, purpose=caller.purpose,
                            cutoff=body.cutoff, label=body.label, radius_m=body.radius_m,
                            window_days=body.window_days, narrative=body.narrative,
                            deployment=caller.deployment, progress=say).to_dict()

    if accept and NDJSON in accept:
        return _streamed(work)
    return ok(work())


class PairsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset: str = Field(min_length=1, max_length=200)
    min_score: float = Field(default=0.5, ge=0, le=1, description="Keep the pairs with at least this link probability.")
    linker_id: str | None = Field(default=None, max_length=200, description="Default: the dataset's newest linker.")


@router.post("/link-pairs", tags=["linkage"],
             responses={200: {"content": {NDJSON: {}}, "description": "with `Accept: application/x-ndjson`: "
                              "progress lines (candidate pairs scored of the total), then the result line"}},
             summary="Score every candidate pair with the linker and store those above min_score")
def create_pairs(ctx: CtxDep, caller: CallerDep, body: PairsIn,
                 accept: Annotated[str | None, Header(description=f"'{NDJSON}' streams progress")] = None
                 ) -> Response:
    from crimelens.services.linkage import score_pairs

    caller.allow(ctx, "link.pairs", model_use=True)

    def work(progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        return score_pairs(ctx, dataset=body.dataset, actor=caller.actor, purpose=caller.purpose,
                           linker_id=body.linker_id, min_score=body.min_score, deployment=caller.deployment,
                           progress=progress).to_dict(limit=100)

    if accept and NDJSON in accept:
        return _streamed(work)
    return ok(work())


@router.get("/link-pairs", tags=["linkage"], summary="Stored pair runs, newest first (paginated)")
def pair_runs(ctx: CtxDep, caller: CallerDep, limit: Limit = 50, offset: Offset = 0,
              dataset: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    from crimelens.services.linkage import list_pair_runs

    return ok(list_pair_runs(ctx, actor=caller.actor, purpose=caller.purpose, dataset=dataset, limit=limit,
                             offset=offset))


@router.get("/link-pairs/{run_id}", tags=["linkage"],
            summary="A stored pair run's pairs, highest score first, with each incident's offense, time and area "
                    "(paginated)")
def pairs_of_run(ctx: CtxDep, caller: CallerDep, run_id: Name,
                 limit: Annotated[int, Query(ge=1, le=5000, description="Page size.")] = 100,
                 offset: Offset = 0) -> Response:
    from crimelens.services.linkage import pair_page

    return ok(pair_page(ctx, run_id, actor=caller.actor, purpose=caller.purpose, limit=limit, offset=offset))


@router.get("/link-pairs/{run_id}/csv", tags=["linkage"], response_class=Response,
            responses={200: {"content": {"text/csv": {}},
                             "description": "incident_id_a,incident_id_b,score, as `link pairs --out` writes it"}},
            summary="A stored pair run as CSV, rebuilt from the store; X-Output-Hash-Matches says whether it "
                    "still hashes to its ledger entry")
def pairs_as_csv(ctx: CtxDep, caller: CallerDep, run_id: Name) -> Response:
    from crimelens.services.linkage import pairs_csv

    text, matches = pairs_csv(ctx, run_id, actor=caller.actor, purpose=caller.purpose)
    data = text.encode("utf-8")
    return _attachment(data, "text/csv", f"pairs-{run_id}.csv", matches)


class SeriesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset: str = Field(min_length=1, max_length=200)
    threshold: float = Field(default=0.01, gt=0, lt=1, description="Link probability that joins a series (calibrated "
                             "on all candidate pairs: 0.01 rebuilds most planted series, 0.5 gives a few "
                             "confident groups).")
    method: Literal["average", "components"] = Field(
        default="components", description="components (the default, as the CLI's: connected components of the pairs "
                                          "at or above the threshold) or average (average linkage: resists chaining, "
                                          "splits more).")
    linker_id: str | None = Field(default=None, max_length=200)


@router.post("/series-runs", tags=["linkage"],
             responses={200: {"content": {NDJSON: {}}, "description": "with `Accept: application/x-ndjson`: "
                              "progress lines (`stage`: reading incidents, indexing candidate pairs, scoring candidate "
                              "pairs, clustering, describing series, storing series; "
                              "`done` of `total`), then the result line"}},
             summary="Build and store candidate series")
def create_series(ctx: CtxDep, caller: CallerDep, body: SeriesIn,
                  accept: Annotated[str | None, Header(description=f"'{NDJSON}' streams progress")] = None
                  ) -> Response:
    from crimelens.services.linkage import build_series

    caller.allow(ctx, "link.series", model_use=True)

    def work(progress: _Say | None = None) -> dict[str, Any]:
        say = None if progress is None else (lambda stage, k, n: progress(k, n, stage))
        run = build_series(ctx, dataset=body.dataset, actor=caller.actor, purpose=caller.purpose,
                           linker_id=body.linker_id, threshold=body.threshold, method=body.method,
                           deployment=caller.deployment, progress=say)
        out = run.to_dict()
        out["series"] = [{k: v for k, v in s.items() if k not in ("explanations",)} for s in out["series"][:50]]
        return out

    if accept and NDJSON in accept:
        return _streamed(work)
    return ok(work())


@router.get("/series-runs", tags=["linkage"], summary="Stored series runs, newest first (paginated)")
def series_runs(ctx: CtxDep, caller: CallerDep, limit: Limit = 50, offset: Offset = 0,
                dataset: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    return ok(dash.list_series_runs(ctx, actor=caller.actor, purpose=caller.purpose, dataset=dataset,
                                    limit=limit, offset=offset))


@router.get("/series-runs/{run_id}", tags=["linkage"], summary="The candidate series of a run (paginated)")
def series_of_run(ctx: CtxDep, caller: CallerDep, run_id: Name, limit: Limit = 50, offset: Offset = 0,
                  incident: Annotated[str | None, Query(min_length=1, max_length=200, description=(
                      "Only the series holding this incident (none when it is in no series of the run)."))] = None,
                  ) -> Response:
    return ok(dash.list_series(ctx, run_id=run_id, actor=caller.actor, purpose=caller.purpose, limit=limit,
                               offset=offset, incident=incident))


@router.get("/series-runs/{run_id}/export", tags=["linkage"], response_class=Response,
            responses={200: {"content": {t: {} for t in ("application/geopackage+sqlite3", "application/geo+json",
                                                          "text/csv")},
                             "description": "the run's series as a file QGIS opens"}},
            summary="A stored series run as GeoPackage (layers series, series_members, series_links), GeoJSON "
                    "(the members) or CSV; X-Output-Hash-Matches says whether the stored series still hash to "
                    "the run's ledger entry")
def series_export(ctx: CtxDep, caller: CallerDep, run_id: Name,
                  format: Annotated[Literal["gpkg", "geojson", "csv"], Query(
                      description="gpkg (three layers, data CRS), geojson (members, lon/lat) or csv.")] = "gpkg",
                  ) -> Response:
    import tempfile
    from pathlib import Path as FsPath

    from crimelens.services.linkage import SERIES_EXPORTS, export_series_file

    name = f"series-{run_id}.{format}"
    with tempfile.TemporaryDirectory(prefix="crimelens-export-") as tmp:
        out = FsPath(tmp) / name
        matches = bool(export_series_file(ctx, run_id, out, fmt=format, actor=caller.actor, purpose=caller.purpose,
                                          deployment=caller.deployment, served_as=name)["matches_ledger"])
        data = out.read_bytes()
    return _attachment(data, SERIES_EXPORTS[format], name, matches)


@router.get("/series-runs/{run_id}/series/{series_id}", tags=["linkage"],
            summary="One candidate series: members, places, times and the features linking each member")
def series_detail(ctx: CtxDep, caller: CallerDep, run_id: Name, series_id: Name) -> Response:
    return ok(dash.series_detail(ctx, run_id=run_id, series_id=series_id, actor=caller.actor,
                                 purpose=caller.purpose))


class SeriesLabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset: str = Field(min_length=1, max_length=200)
    incident_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=1, max_length=1000)
    series: str = Field(min_length=1, max_length=200, description="The series or offender id it is filed under.")
    note: str | None = Field(default=None, max_length=2000, description="Why, e.g. an arrest report number.")


@router.post("/series-labels", tags=["linkage"],
             summary="Record an analyst-confirmed series: these incidents share an offender (training labels)")
def series_labels(ctx: CtxDep, caller: CallerDep, body: SeriesLabelIn) -> Response:
    from crimelens.services.linkage import label_series

    caller.allow(ctx, "link.label")
    counts = label_series(ctx, dataset=body.dataset, incident_ids=body.incident_ids, label=body.series,
                          actor=caller.actor, purpose=caller.purpose, note=body.note)
    return ok(_body(dataset=body.dataset, series=body.series, **counts))


# risk and audits --------------------------------------------------------------------------------
@router.get("/risk/models", tags=["risk"], summary="Stored risk models (paginated)")
def risk_models(ctx: CtxDep, caller: CallerDep, limit: Limit = 50, offset: Offset = 0) -> Response:
    return ok(dash.list_risk_models(ctx, actor=caller.actor, purpose=caller.purpose, limit=limit, offset=offset))


@router.get("/risk/models/{model_id}/card", tags=["risk"], summary="A risk model's card")
def risk_card(ctx: CtxDep, caller: CallerDep, model_id: Name) -> Response:
    from crimelens.services.risk import risk_card as card

    caller.allow(ctx, "risk.card")
    return ok(_body(card=card(ctx, model_id=model_id, actor=caller.actor, purpose=caller.purpose)))


@router.get("/risk/models/{model_id}/card/export", tags=["risk"], response_class=Response,
            responses={200: {"content": {"application/json": {}}, "description": "the stored card"}},
            summary="A risk model's card as the JSON file whose SHA-256 its ledger entry holds "
                    "(X-Output-Hash-Matches: whether it still does)")
def risk_card_export(ctx: CtxDep, caller: CallerDep, model_id: Name) -> Response:
    from crimelens.services.risk import export_card

    caller.allow(ctx, "risk.export")
    data, matches = export_card(ctx, model_id=model_id, actor=caller.actor, purpose=caller.purpose)
    return _attachment(data, "application/json", f"risk-card-{model_id}.json", matches)


@router.get("/audits", tags=["risk"], summary="Stored group audits (paginated)")
def audits(ctx: CtxDep, caller: CallerDep, limit: Limit = 50, offset: Offset = 0) -> Response:
    return ok(dash.list_audit_reports(ctx, actor=caller.actor, purpose=caller.purpose, limit=limit, offset=offset))


@router.get("/audits/{report_id}", tags=["risk"],
            summary="One audit: error rates by group with intervals, calibration, ROC; its warnings first")
def audit(ctx: CtxDep, caller: CallerDep, report_id: Name) -> Response:
    out = dash.audit_report(ctx, report_id=report_id, actor=caller.actor, purpose=caller.purpose)
    # what a reader must know first (an in-sample audit, a person on several rows), as the audit stored it;
    # none for audits stored before audits kept warnings
    return ok({**out, "warnings": list(out["report"].get("warnings") or [])})


@router.get("/audits/{report_id}/export", tags=["risk"], response_class=Response,
            responses={200: {"content": {"application/json": {}}, "description": "the stored audit"}},
            summary="A stored audit as the JSON document whose SHA-256 its ledger entry holds "
                    "(X-Output-Hash-Matches: whether it still does)")
def audit_export(ctx: CtxDep, caller: CallerDep, report_id: Name) -> Response:
    caller.allow(ctx, "audit.export")
    data, matches = dash.export_audit(ctx, report_id=report_id, actor=caller.actor, purpose=caller.purpose)
    return _attachment(data, "application/json", f"audit-{report_id}.json", matches)


# feedback --------------------------------------------------------------------------------------
class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenario: Literal["ensign-urn", "synthetic", "planted-city"] = "ensign-urn"
    model: Literal["naive", "kde", "sepp"] = "kde"
    days: int = Field(default=365, ge=10, le=1000)
    n_runs: int = Field(default=200, ge=1, le=1000)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


@router.post("/feedback/simulations", tags=["feedback"],
             summary="Run a feedback-loop simulation (with and without the correction)")
def simulate(ctx: CtxDep, caller: CallerDep, body: FeedbackIn) -> Response:
    from crimelens.services.feedback import simulate_feedback

    caller.research_only(ctx, "feedback.simulate", "a feedback-loop simulation")
    caller.allow(ctx, "feedback.simulate", model_use=True)
    run = simulate_feedback(ctx, scenario=body.scenario, actor=caller.actor, purpose=caller.purpose,
                            model=body.model, days=body.days, n_runs=body.n_runs, seed=body.seed)
    out = run.to_dict()
    out["section"] = run.section
    return ok(out)


class ExposureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset: str = Field(min_length=1, max_length=200, description="Incidents from this dataset in the store.")
    areas_dataset: str | None = Field(default=None, min_length=1, max_length=200,
                                      description="Areas stored for this dataset (default: the incidents' dataset).")
    group_by: str | None = Field(default=None, min_length=1, max_length=100,
                                 description="The areas' audit attribute that groups them (numbers are cut into "
                                             "quantile groups); default: each area.")
    quantiles: int = Field(default=2, ge=2, le=10, description="Groups for a numeric group_by.")
    model: str = Field(default="naive", min_length=1, max_length=100,
                       description="naive, kde, sepp or forecast:NAME (a forecast model by name).")
    offense: str | None = Field(default=None, max_length=200)
    cell_m: float = Field(default=150.0, ge=25, le=5000)
    coverage: float = Field(default=0.05, gt=0, le=1, description="Share of the surface flagged.")
    periods: int = Field(default=8, ge=1, le=104)
    period_days: int = Field(default=7, ge=1, le=366)
    window_days: int = Field(default=365, ge=1, le=3660, description="Training window before each period.")


@router.post("/feedback/exposure", tags=["feedback"],
             summary="Exposure audit: backtest a place-based model and audit its flags per group of areas "
                     "(flag share against incident and population shares, with intervals across periods)")
def exposure(ctx: CtxDep, caller: CallerDep, body: ExposureIn) -> Response:
    from crimelens.services.feedback import audit_exposure

    caller.research_only(ctx, "feedback.exposure", "an exposure audit")
    caller.allow(ctx, "feedback.exposure", model_use=True)
    run, _ = audit_exposure(ctx, actor=caller.actor, purpose=caller.purpose, dataset=body.dataset,
                            areas_dataset=body.areas_dataset, group_by=body.group_by, n_quantiles=body.quantiles,
                            model=body.model, cell_m=body.cell_m, coverage=body.coverage, n_periods=body.periods,
                            period_days=body.period_days, window_days=body.window_days, offense=body.offense)
    return ok(run.to_dict())


@router.get("/feedback/runs", tags=["feedback"], summary="Stored feedback simulations and exposure audits")
def feedback_runs(ctx: CtxDep, caller: CallerDep, limit: Limit = 50, offset: Offset = 0,
                  kind: Annotated[Literal["simulate", "exposure"] | None, Query()] = None) -> Response:
    return ok(dash.list_feedback_runs(ctx, actor=caller.actor, purpose=caller.purpose, kind=kind, limit=limit,
                                      offset=offset))


# governance ------------------------------------------------------------------------------------
def _page(items: list[Any], limit: int, offset: int) -> dict[str, Any]:
    return {"ok": True, "items": items[offset:offset + limit], "total": len(items), "limit": limit,
            "offset": offset}


@router.get("/deployments", tags=["governance"],
            summary="Deployments with their stored and effective state, and the global kill switch (paginated)")
def deployments(ctx: CtxDep, caller: PublicCallerDep, limit: Limit = 50, offset: Offset = 0) -> Response:
    """Each row has ``state`` (as stored), ``effective_state`` (what it means now: ``blocked: kill
    switch engaged ...``, ``lapsed: approval ended ...``) and ``kill_switch`` (``engaged``, ``since``,
    ``by``, ``reason``; the same on every row: with no deployment, nothing is there to stop)."""
    rows = gov.list_deployments(ctx, actor=caller.actor, purpose=caller.purpose)
    return ok(_page(rows, limit, offset))


@router.get("/deployments/{name:path}", tags=["governance"],
            summary="A deployment with its policy, assessment, events, comments and votes")
def deployment(ctx: CtxDep, caller: PublicCallerDep, name: Name) -> Response:
    return ok(_body(deployment=gov.show_deployment(ctx, deployment=name, actor=caller.actor,
                                                   purpose=caller.purpose)))


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/deployments/{name:path}/suspend", tags=["governance"],
             summary="Kill switch of one deployment: active -> suspended at once (reason required)")
def suspend(ctx: CtxDep, caller: CallerDep, name: Name, body: ReasonIn) -> Response:
    caller.allow(ctx, "deployments.suspend")
    return ok(_body(deployment=gov.suspend(ctx, deployment=name, reason=body.reason, actor=caller.actor,
                                           purpose=caller.purpose)))


class ProposalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    model: str = Field(min_length=1, max_length=200, description="A registered model's name.")
    model_version: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=5000, description="What it is for, in words the public reads.")
    policy: dict[str, Any] = Field(description="The use policy (the keys of `crimelens deployments create "
                                   "--policy FILE`): allowed_purposes, allowed_roles, retention_days, "
                                   "min_comment_days, board_quorum, approval_days, ...")


@router.post("/deployments", tags=["governance"],
             summary="Propose a deployment of a registered model under a use policy (starts as a draft)")
def propose(ctx: CtxDep, caller: CallerDep, body: ProposalIn) -> Response:
    caller.allow(ctx, "deployments.create")
    policy = UsePolicy.from_mapping(body.policy)
    return ok(_body(deployment=gov.create_deployment(
        ctx, name=body.name, model=body.model, model_version=body.model_version, description=body.description,
        policy=policy, actor=caller.actor, purpose=caller.purpose)))


class AssessmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answers: dict[str, str] = Field(description="Question id -> chosen answer (the questions and their answers: "
                                    "GET /api/deployments-questionnaire).")


@router.put("/deployments/{name:path}/assessment", tags=["governance"],
            summary="Score the algorithmic impact assessment of a draft deployment")
def assessment(ctx: CtxDep, caller: CallerDep, name: Name, body: AssessmentIn) -> Response:
    result = gov.assess_impact(ctx, deployment=name, answers=body.answers, actor=caller.actor,
                               purpose=caller.purpose)
    return ok(_body(assessment=result.to_json()))


@router.get("/deployments-questionnaire", tags=["governance"],
            summary="What a proposal answers: the impact assessment's questions and the use policy's defaults")
def questionnaire(ctx: CtxDep, caller: CallerDep) -> Response:
    """The algorithmic impact assessment in order (``questions``: ``id``, ``text``, ``kind`` risk or
    mitigation, ``choices`` as ``[{"answer", "score"}]``), how it is scored (``scoring``), each level's
    required controls (``levels``), the use policy's defaults (``policy_defaults``), the roles a policy
    may allow (``roles``) and the floors the rules put under the policy's comment period and quorum
    (``floors``). The models a proposal may name are ``GET /api/models``. Logged as
    ``deployments.list``: it is what a proposal needs to read, and no one's data."""
    questions = [{"id": q.qid, "text": q.text, "kind": q.kind,
                  "choices": [{"answer": a, "score": s} for a, s in q.choices.items()]} for q in AIA_QUESTIONS]
    record_use(ctx, action="deployments.list", actor=caller.actor, purpose=caller.purpose,
               detail={"questionnaire": "impact assessment", "n_questions": len(questions)})
    levels = [{"level": lv, "required_controls": list(required_controls(lv))} for lv in AIA_LEVELS]
    return ok(_body(
        questions=questions, levels=levels,
        scoring="the Government of Canada's AIA rule: the risk answers' scores add to the raw impact score, "
                "reduced by 15 % when the mitigation score reaches 80 % of its maximum; as a share of the "
                "maximum raw score, level I up to 25 %, II up to 50 %, III up to 75 %, IV above",
        policy_defaults=UsePolicy().to_json(), roles=[str(r) for r in Role if r is not Role.PUBLIC],
        floors={"min_comment_days": MIN_COMMENT_DAYS_FLOOR,
                "board_quorum": "a majority of the active board members"}))


class TextIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=10_000)


_PUBLIC_NAME = Field(default=None, max_length=80,
                     description="Without a token: the name to record (public:<name>); left out, public:anonymous. "
                                 "Not used when a registered user calls.")


def _public(caller: Caller, name: str | None) -> Actor:
    return Actor(public_name(name), Role.PUBLIC) if caller.actor.role is Role.PUBLIC else caller.actor


class PublicTextIn(TextIn):
    name: str | None = _PUBLIC_NAME


@router.post("/deployments/{name:path}/comments", tags=["governance"],
             summary="A public comment, from anyone (no account needed), while the deployment is open for comment")
def public_comment(ctx: CtxDep, caller: PublicCallerDep, name: Name, body: PublicTextIn) -> Response:
    seq = gov.comment(ctx, deployment=name, body=body.body, actor=_public(caller, body.name), purpose=caller.purpose)
    return ok(_body(ledger_seq=seq))


@router.post("/deployments/{name:path}/board-comments", tags=["governance"],
             summary="A board member's recorded comment during board review")
def board_comment(ctx: CtxDep, caller: CallerDep, name: Name, body: TextIn) -> Response:
    seq = gov.board_comment(ctx, deployment=name, body=body.body, actor=caller.actor, purpose=caller.purpose)
    return ok(_body(ledger_seq=seq))


class VoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vote: Literal["approve", "reject", "abstain"]
    reason: str | None = Field(default=None, max_length=2000)


@router.post("/deployments/{name:path}/votes", tags=["governance"],
             summary="A board member's vote in the current review round (a later vote replaces theirs)")
def vote(ctx: CtxDep, caller: CallerDep, name: Name, body: VoteIn) -> Response:
    seq = gov.vote(ctx, deployment=name, choice=body.vote, reason=body.reason, actor=caller.actor,
                   purpose=caller.purpose)
    return ok(_body(ledger_seq=seq))


#: Lifecycle steps: the service each calls and whether it needs a reason.
_STEPS: dict[str, tuple[Any, bool]] = {
    "open-comment": (gov.open_public_comment, False),
    "start-review": (gov.start_board_review, False),
    "close-review": (gov.close_review, False),
    "activate": (gov.activate, False),
    "revise": (gov.revise, False),
    "open-renewal": (gov.open_renewal, False),
    "resume": (gov.resume, True),
    "renew": (gov.renew, True),
    "decommission": (gov.decommission, True),
}
Step = Literal["open-comment", "start-review", "close-review", "activate", "revise", "open-renewal", "resume",
               "renew", "decommission"]


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=2000,
                               description="Required for resume, renew and decommission; not used by the others.")


@router.post("/deployments/{name:path}/transitions/{step}", tags=["governance"],
             summary="Move a deployment along its lifecycle (draft -> public comment -> board review -> "
                     "approved -> active; open-renewal, renew, resume, decommission, revise)")
def transition(ctx: CtxDep, caller: CallerDep, name: Name, step: Step, body: StepIn) -> Response:
    fn, needs_reason = _STEPS[step]
    extra = {"reason": body.reason or ""} if needs_reason else {}
    return ok(_body(deployment=fn(ctx, deployment=name, actor=caller.actor, purpose=caller.purpose, **extra)))


class PurgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run: bool = Field(description="true: list what is due for deletion and delete nothing (logged too).")
    deployment: str | None = Field(default=None, min_length=1, max_length=200,
                                   description="One deployment; every deployment when left out.")


@router.post("/retention/purge", tags=["governance"],
             summary="Delete deployment outputs older than their use policy's retention (admin; one ledger entry)")
def purge(ctx: CtxDep, caller: CallerDep, body: PurgeIn) -> Response:
    return ok(_body(report=gov.purge_expired_outputs(ctx, actor=caller.actor, deployment=body.deployment,
                                                     dry_run=body.dry_run, purpose=caller.purpose)))


class BackupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    folder: str = Field(min_length=1, max_length=1000, description="A new or empty folder on the server, under "
                        "CRIMELENS_BACKUP_ROOT (default: the folder holding the store); a relative one is taken "
                        "under it.")
    include_key: bool = Field(default=False, description="Also copy the ledger's signing key.")


@router.post("/store/backup", tags=["governance"],
             summary="A checked backup of the running store, its evidence and optionally the key (admin)")
def store_backup(ctx: CtxDep, caller: CallerDep, body: BackupIn) -> Response:
    from pathlib import Path as FsPath

    from crimelens.services import store as st

    # only under CRIMELENS_BACKUP_ROOT (default: the store's folder); a relative folder is taken under it
    report = st.backup(ctx, out=FsPath(body.folder), actor=caller.actor, include_key=body.include_key,
                       purpose=caller.purpose, root=st.backup_root(ctx.settings))
    return ok(_body(backup=report.to_json()))  # backup.folder: the absolute path written


class KillSwitchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    engaged: bool = Field(description="true engages the global kill switch (every deployment refused); false "
                          "releases it.")
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/killswitch", tags=["governance"], summary="Engage or release the global kill switch (reason required)")
def killswitch(ctx: CtxDep, caller: CallerDep, body: KillSwitchIn) -> Response:
    fn = gov.engage_kill_switch if body.engaged else gov.release_kill_switch
    fn(ctx, reason=body.reason, actor=caller.actor, purpose=caller.purpose)
    return ok(_body(engaged=body.engaged))


class IncidentReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["error", "harm", "breach"]
    severity: Literal["low", "medium", "high", "critical"]
    description: str = Field(min_length=1, max_length=10_000)
    deployment: str | None = Field(default=None, min_length=1, max_length=200)


@router.post("/incident-reports", tags=["governance"],
             summary="Report an error, harm or breach; at the policy's severity the deployment is suspended at once")
def incident_report(ctx: CtxDep, caller: CallerDep, body: IncidentReportIn) -> Response:
    return ok(_body(**gov.report_incident(ctx, kind=body.kind, severity=body.severity,
                                          description=body.description, deployment=body.deployment,
                                          actor=caller.actor, purpose=caller.purpose)))


class ComplaintIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=10_000)
    entry_seqs: list[Annotated[int, Field(ge=0, le=2**40)]] = Field(
        default_factory=list, max_length=100, description="The ledger entries the complaint is about.")
    deployment: str | None = Field(default=None, min_length=1, max_length=200)
    name: str | None = _PUBLIC_NAME


@router.post("/complaints", tags=["governance"],
             summary="File a complaint, from anyone (no account needed), linked to ledger entries")
def complaint(ctx: CtxDep, caller: PublicCallerDep, body: ComplaintIn) -> Response:
    return ok(_body(**gov.file_complaint(ctx, body=body.body, entry_seqs=body.entry_seqs,
                                         deployment=body.deployment, actor=_public(caller, body.name),
                                         purpose=caller.purpose)))


@router.get("/complaints", tags=["governance"], summary="Complaints, oldest first, with responses (paginated)")
def complaints(ctx: CtxDep, caller: CallerDep, limit: Limit = 50, offset: Offset = 0,
               deployment: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    rows = gov.list_complaints(ctx, actor=caller.actor, deployment=deployment, purpose=caller.purpose)
    return ok(_page(rows, limit, offset))


@router.get("/complaints/{complaint_id}", tags=["governance"],
            summary="Where one complaint stands, for whoever holds its id (public): status and answer")
def complaint_status(ctx: CtxDep, caller: PublicCallerDep, complaint_id: Name) -> Response:
    return ok(_body(complaint=gov.complaint_status(ctx, complaint_id=complaint_id, actor=caller.actor,
                                                   purpose=caller.purpose)))


class ResponseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    response: str = Field(min_length=1, max_length=10_000)


@router.post("/complaints/{complaint_id}/response", tags=["governance"], summary="Answer a complaint")
def complaint_response(ctx: CtxDep, caller: CallerDep, complaint_id: Name, body: ResponseIn) -> Response:
    gov.respond_complaint(ctx, complaint_id=complaint_id, response=body.response, actor=caller.actor,
                          purpose=caller.purpose)
    return ok(_body(complaint_id=complaint_id))


@router.get("/review", tags=["governance"], summary="The human-review queue (paginated)")
def review(ctx: CtxDep, caller: CallerDep, limit: Limit = 50, offset: Offset = 0,
           status: Annotated[Literal["pending", "accepted", "overridden", "rejected", "all"], Query()] = "pending",
           deployment: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    rows = gov.review_queue(ctx, actor=caller.actor, status=None if status == "all" else status,
                            deployment=deployment, purpose=caller.purpose)
    return ok(_page(rows, limit, offset))


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["accept", "override", "reject"]
    reason: str = Field(min_length=1, max_length=2000, description="Why; every decision needs one.")
    replacement: dict[str, Any] | None = Field(default=None, description="For an override: what is decided instead.")


@router.post("/review/{item_id}/decision", tags=["governance"],
             summary="Accept, override or reject a recommendation, with a reason")
def decide(ctx: CtxDep, caller: CallerDep, item_id: Name, body: DecisionIn) -> Response:
    caller.allow(ctx, "review.decide")
    out = gov.decide_review(ctx, item_id=item_id, decision=body.decision, reason=body.reason, actor=caller.actor,
                            replacement=body.replacement, purpose=caller.purpose)
    return ok(_body(item_id=out.item_id, status=out.status, decisions_needed=out.decisions_needed,
                    decisions_made=out.decisions_made, ledger_seq=out.ledger_seq, mark=out.mark,
                    marked_runs=list(out.marked_runs)))


@router.get("/ledger/entries", tags=["ledger"], summary="Ledger entries, newest first (paginated)")
def ledger_entries(ctx: CtxDep, caller: CallerDep, limit: Limit = 50, offset: Offset = 0,
                   action: Annotated[str | None, Query(max_length=100)] = None) -> Response:
    return ok(dash.ledger_page(ctx, actor=caller.actor, purpose=caller.purpose, action=action, limit=limit,
                               offset=offset))


@router.post("/ledger/verify", tags=["ledger"],
             summary="Recompute the ledger's hash chain and Merkle root; check the signed head")
def ledger_verify(ctx: CtxDep, caller: CallerDep) -> Response:
    report = gov.verify_ledger(ctx, actor=caller.actor, purpose=caller.purpose)
    return ok(_body(report=report.to_json()))


@router.get("/ledger/head", tags=["ledger"], summary="The latest signed tree head and its public key")
def ledger_head(ctx: CtxDep, caller: PublicCallerDep) -> Response:
    return ok(_body(head=gov.ledger_head(ctx, actor=caller.actor, purpose=caller.purpose)))


@router.get("/ledger/proof/{seq}", tags=["ledger"], summary="RFC 6962 inclusion proof of one entry")
def ledger_proof(ctx: CtxDep, caller: PublicCallerDep, seq: Annotated[int, Path(ge=0, le=2**40)]) -> Response:
    return ok(_body(proof=gov.inclusion_proof(ctx, seq=seq, actor=caller.actor, purpose=caller.purpose)))


@router.get("/ledger/consistency", tags=["ledger"],
            summary="RFC 6962 consistency proof from an earlier tree size to a signed head (no account needed)")
def ledger_consistency(
    ctx: CtxDep, caller: PublicCallerDep,
    from_size: Annotated[int, Query(alias="from", ge=1, le=2**40,
                                    description="The earlier tree size M: the size of a head you hold.")],
    to: Annotated[int | None, Query(ge=1, le=2**40, description="The size N of a signed head the proof ends "
                                                                "at (default: the newest).")] = None,
    root: Annotated[str | None, Query(pattern=r"^[0-9a-fA-F]{64}$",
                                      description="The root_hash of the head published at size M: the store's "
                                                  "tree at M must have it (LedgerIntegrityError otherwise).")] = None,
) -> Response:
    """``proof`` (hex nodes, RFC 6962 ``PROOF(M, D[N])``), ``old_root`` (the store's tree at M),
    ``new_root`` and ``head`` (the signed head at N, with its public key), ``old_head`` (the signed head
    stored at M, or null), ``newest_head`` when N is not the newest; with ``root``, ``published``
    says what was checked against it."""
    return ok(_body(proof=gov.consistency_proof(ctx, old_size=from_size, new_size=to, root=root, source="root=",
                                                actor=caller.actor, purpose=caller.purpose)))


@router.get("/limits", tags=["ledger"],
            summary="The limits on calls without an account, and the addresses refused most (admin, auditor)")
def limits(request: Request, ctx: CtxDep, caller: CallerDep,
           limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> Response:
    caller.allow(ctx, "limits.view")
    snap = request.app.state.public_limits.snapshot(limit)
    record_use(ctx, action="limits.view", actor=caller.actor, purpose=caller.purpose,
               detail={"refused_addresses": len(snap["refused"])})
    return ok(_body(**snap))


@router.get("/users", tags=["users"], summary="Registered users and their roles, never their tokens (paginated)")
def users(ctx: CtxDep, caller: CallerDep, limit: Limit = 100, offset: Offset = 0) -> Response:
    return ok(_page(gov.list_users(ctx, actor=caller.actor, purpose=caller.purpose), limit, offset))


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^:\s][^:]*$", description="No ':'.")
    role: Literal["analyst", "supervisor", "board", "auditor", "admin"]


@router.post("/users", tags=["users"],
             summary="Register a user (admin); the answer carries their API token, shown this once")
def add_user(ctx: CtxDep, caller: CallerDep, body: UserIn) -> Response:
    user, token = gov.add_user(ctx, name=body.name, role=body.role, actor=caller.actor, purpose=caller.purpose)
    return Response(json.dumps({"ok": True, "user": user, "token": token}, default=json_default),
                    media_type="application/json", headers={"Cache-Control": "no-store"})


@router.post("/users/{name:path}/disable", tags=["users"], summary="Disable a user (admin); their token stops at once")
def disable_user(ctx: CtxDep, caller: CallerDep, name: Name) -> Response:
    gov.disable_user(ctx, name=name, actor=caller.actor, purpose=caller.purpose)
    return ok(_body(disabled=name))


@router.post("/users/{name:path}/token", tags=["users"],
             summary="Issue a new API token (admin; shown this once); the old one stops at once")
def rotate_token(ctx: CtxDep, caller: CallerDep, name: Name) -> Response:
    token = gov.rotate_token(ctx, name=name, actor=caller.actor, purpose=caller.purpose)
    return Response(json.dumps({"ok": True, "name": name, "token": token}), media_type="application/json",
                    headers={"Cache-Control": "no-store"})


@router.get("/models", tags=["governance"], summary="Registered models (paginated)")
def models(ctx: CtxDep, caller: CallerDep, limit: Limit = 50, offset: Offset = 0) -> Response:
    rows = gov.list_models(ctx, actor=caller.actor, purpose=caller.purpose)
    return ok(_page(rows, limit, offset))


@router.get("/models/{name:path}/card", tags=["governance"], summary="A registered model's card (public)")
def model_card(ctx: CtxDep, caller: PublicCallerDep, name: Name,
               version: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    card = gov.model_card(ctx, name=name, version=version, actor=caller.actor, purpose=caller.purpose)
    return ok(_body(card=card.to_json(), markdown=card.to_markdown()))


@router.get("/reports/annual/{year}", tags=["governance"],
            summary="The public annual report, recomputed from the ledger (JSON and HTML)")
def annual(ctx: CtxDep, caller: PublicCallerDep, year: Annotated[int, Path(ge=FIRST_REPORT_YEAR, le=2100)]) -> Response:
    report = gov.annual_report(ctx, year=year, actor=caller.actor, purpose=caller.purpose)
    return ok(_body(year=report.year, data=report.data, html=report.html))
