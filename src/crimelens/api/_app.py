"""The application factory: one store, one ledger, the JSON API under ``/api`` and the dashboard pages."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crimelens import __version__
from crimelens.api._deps import LEDGER_RECEIPTS, ROUTE_ACTIONS_KEY, RouteAction, get_public_caller
from crimelens.api._errors import ERROR_SCHEMA, install_error_handlers
from crimelens.api._evidence import router as evidence_router
from crimelens.api._ingest import router as ingest_router
from crimelens.api._limits import PublicLimitGate, PublicLimits
from crimelens.api._risk import router as risk_router
from crimelens.api._routes import router
from crimelens.config import Settings
from crimelens.errors import CrimelensError
from crimelens.governance import Ledger, LedgerReceipt
from crimelens.services._context import Context, _utcnow
from crimelens.storage import DuckDBStore
from crimelens.web import mount_web

__all__ = ["ROUTE_ACTIONS", "create_app"]

_log = logging.getLogger("crimelens.api")

DESCRIPTION = """\
crimelens over HTTP. Every call needs `Authorization: Bearer <token>` (a registered user's API
token) and `X-Purpose: <why>`; every call is written to the usage ledger. Model outputs made without
an active deployment (`X-Deployment`) are research use and say so ("research — not for operational
use"). Errors always have the shape `{"ok": false, "error", "type", "status"}`. Lists take
`limit`/`offset`. We forecast *recorded incidents*, a product of offending and of policing.
"""

#: The ledger action of each step of ``POST /api/deployments/{name}/transitions/{step}``.
_STEP_ACTIONS = {"open-comment": "deployments.open_comment", "start-review": "deployments.start_review",
                 "close-review": "deployments.close_review", "activate": "deployments.activate",
                 "revise": "deployments.create", "open-renewal": "deployments.open_renewal",
                 "resume": "deployments.resume", "renew": "deployments.renew",
                 "decommission": "deployments.decommission"}


def _step_action(path: Mapping[str, str], body: Any) -> str:
    return _STEP_ACTIONS.get(path.get("step", ""), "deployments.transition")


def _custody_action(path: Mapping[str, str], body: Any) -> str:
    kind = body.get("kind", "transfer") if isinstance(body, Mapping) else "transfer"
    return f"evidence.{kind}" if kind in ("transfer", "check_out", "check_in") else "evidence.custody"


def _killswitch_action(path: Mapping[str, str], body: Any) -> str:
    return "killswitch.release" if isinstance(body, Mapping) and body.get("engaged") is False else "killswitch.engage"


#: The ledger action each API route stands for, by (method, path as the route declares it): the
#: action its entry, or its refusal by the governance gate, is logged under. A request refused
#: before the route's code runs (no ``X-Purpose``; a body or query that does not parse) is logged as
#: a refused entry of this action (``api._deps.route_action``); a route missing here, as
#: ``api.request``. tests/api/test_refusals_logged.py checks that every route is here and that each
#: action is the one tests/api/test_auth_table.py finds the route checking.
ROUTE_ACTIONS: dict[tuple[str, str], RouteAction] = {
    ("GET", "/api/me"): "users.authenticate",
    ("GET", "/api/datasets"): "data.status",
    ("GET", "/api/areas"): "data.view",
    ("GET", "/api/incidents"): "data.list",
    ("GET", "/api/incidents/{incident_id}/similar"): "link.similar",
    ("POST", "/api/incidents/{incident_id}/nearrepeat"): "nearrepeat.alert",
    ("POST", "/api/nearrepeat/runs"): "nearrepeat.knox",
    ("GET", "/api/nearrepeat/runs"): "nearrepeat.list",
    ("GET", "/api/nearrepeat/runs/{run_id}"): "nearrepeat.view",
    ("GET", "/api/nearrepeat/runs/{run_id}/export"): "nearrepeat.export",
    ("POST", "/api/forecasts"): "forecast.run",
    ("GET", "/api/forecasts"): "forecast.list",
    ("GET", "/api/forecasts/{run_id}/cells"): "forecast.view",
    ("GET", "/api/forecasts/{run_id}/evaluation"): "forecast.view",
    ("GET", "/api/forecasts/{run_id}/export"): "forecast.export",
    ("POST", "/api/backtests"): "forecast.backtest",
    ("GET", "/api/backtests"): "backtests.list",
    ("GET", "/api/backtests/{run_id}"): "backtests.view",
    ("GET", "/api/backtests/{run_id}/export"): "backtests.export",
    ("POST", "/api/linkers"): "link.train",
    ("POST", "/api/series-runs"): "link.series",
    ("POST", "/api/link-pairs"): "link.pairs",
    ("GET", "/api/link-pairs"): "link.list",
    ("GET", "/api/link-pairs/{run_id}"): "link.view",
    ("GET", "/api/link-pairs/{run_id}/csv"): "link.export",
    ("POST", "/api/series-labels"): "link.label",
    ("GET", "/api/series-runs"): "link.list",
    ("GET", "/api/series-runs/{run_id}"): "link.list",
    ("GET", "/api/series-runs/{run_id}/series/{series_id}"): "link.view",
    ("GET", "/api/series-runs/{run_id}/export"): "link.export",
    ("GET", "/api/risk/models"): "risk.list",
    ("POST", "/api/risk/models"): "risk.fit",
    ("GET", "/api/risk/models/{model_id}/card"): "risk.card",
    ("GET", "/api/risk/models/{model_id}/card/export"): "risk.export",
    ("GET", "/api/audits"): "audit.list",
    ("POST", "/api/audits"): "audit.fairness",
    ("GET", "/api/audits/{report_id}"): "audit.view",
    ("GET", "/api/audits/{report_id}/export"): "audit.export",
    ("POST", "/api/feedback/simulations"): "feedback.simulate",
    ("POST", "/api/feedback/exposure"): "feedback.exposure",
    ("GET", "/api/feedback/runs"): "feedback.list",
    ("GET", "/api/deployments"): "deployments.list",
    ("POST", "/api/deployments"): "deployments.create",
    ("GET", "/api/deployments/{name}"): "deployments.show",
    ("POST", "/api/deployments/{name}/suspend"): "deployments.suspend",
    ("PUT", "/api/deployments/{name}/assessment"): "deployments.assess",
    ("GET", "/api/deployments-questionnaire"): "deployments.list",
    ("POST", "/api/deployments/{name}/comments"): "deployments.comment",
    ("POST", "/api/deployments/{name}/board-comments"): "deployments.board_comment",
    ("POST", "/api/deployments/{name}/votes"): "deployments.vote",
    ("POST", "/api/deployments/{name}/transitions/{step}"): _step_action,
    ("POST", "/api/retention/purge"): "deployments.purge",
    ("POST", "/api/store/backup"): "store.backup",
    ("POST", "/api/killswitch"): _killswitch_action,
    ("POST", "/api/incident-reports"): "incidents.report",
    ("POST", "/api/complaints"): "complaints.file",
    ("GET", "/api/complaints"): "complaints.list",
    ("GET", "/api/complaints/{complaint_id}"): "complaints.status",
    ("POST", "/api/complaints/{complaint_id}/response"): "complaints.respond",
    ("GET", "/api/review"): "review.list",
    ("POST", "/api/review/{item_id}/decision"): "review.decide",
    ("GET", "/api/ledger/entries"): "ledger.list",
    ("POST", "/api/ledger/verify"): "ledger.verify",
    ("GET", "/api/ledger/head"): "ledger.head",
    ("GET", "/api/ledger/proof/{seq}"): "ledger.proof",
    ("GET", "/api/ledger/consistency"): "ledger.proof",
    ("GET", "/api/limits"): "limits.view",
    ("GET", "/api/users"): "users.list",
    ("POST", "/api/users"): "users.add",
    ("POST", "/api/users/{name}/disable"): "users.disable",
    ("POST", "/api/users/{name}/token"): "users.rotate_token",
    ("GET", "/api/models"): "models.list",
    ("GET", "/api/models/{name}/card"): "models.card",
    ("GET", "/api/reports/annual/{year}"): "report.annual",
    ("GET", "/api/evidence/cases"): "evidence.list",
    ("GET", "/api/evidence/cases/{case_id}"): "evidence.show",
    ("POST", "/api/evidence/cases/{case_id}/items"): "evidence.add",
    ("POST", "/api/evidence/cases/{case_id}/verify"): "evidence.verify",
    ("GET", "/api/evidence/items/{item_id}"): "evidence.show",
    ("GET", "/api/evidence/items/{item_id}/content"): "evidence.download",
    ("POST", "/api/evidence/items/{item_id}/custody"): _custody_action,
    ("POST", "/api/evidence/items/{item_id}/redactions"): "redact.text",
    ("GET", "/api/redactions"): "redact.list",
    ("GET", "/api/redactions/{run_id}"): "redact.show",
    ("GET", "/api/redactions/{run_id}/units/{unit}"): "redact.inspect",
    ("GET", "/api/redactions/{run_id}/units/{unit}/frame"): "redact.inspect",
    ("POST", "/api/redactions/{run_id}/units/{unit}/decision"): "redact.review",
    ("POST", "/api/redactions/{run_id}/release"): "redact.release",
    ("POST", "/api/datasets/{dataset}/files"): "ingest.file",
    ("POST", "/api/datasets/{dataset}/areas"): "areas.load",
    ("GET", "/api/quarantine"): "quarantine.list",
    ("GET", "/api/mappings"): "ingest.list",
    ("GET", "/api/mappings/{name}"): "ingest.show",
    ("PUT", "/api/mappings/{name}"): "ingest.mapping",
}


class LedgerBarrier:
    """ASGI middleware: no response leaves before the ledger entries its request queued are committed.

    The authentication entry of each request is only queued (:meth:`Ledger.submit`) so
    that it shares a group commit with the request's own use entry and with other
    requests' entries; this barrier waits for it when the response starts, whatever the
    route did (answered, refused, failed). If the commit fails, the response becomes a 500.
    """

    def __init__(self, app: ASGIApp, ledger: Ledger) -> None:
        self.app = app
        self.ledger = ledger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        receipts: list[LedgerReceipt] = []
        scope.setdefault("state", {})[LEDGER_RECEIPTS] = receipts

        async def held_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                pending = [r for r in receipts if not r.done]
                if pending:
                    await anyio.to_thread.run_sync(self._wait_all, pending)
                for r in receipts:
                    r.result()  # a failed commit raises here, before anything is sent
            await send(message)

        await self.app(scope, receive, held_send)

    def _wait_all(self, receipts: list[LedgerReceipt]) -> None:
        for r in receipts:
            self.ledger.wait(r)


def _warm_caches(ctx: Context) -> None:
    """Build the similar-incident cache of every dataset with a linker (run in a thread at start-up).

    Without it the first ``/similar`` request on a large city waits for the build (seconds on a
    million incidents), and so do the requests that arrive meanwhile.
    """
    from crimelens.services.linkage import prepare_similar

    datasets = [str(r[0]) for r in ctx.store.iter_rows("SELECT DISTINCT dataset FROM link_models ORDER BY 1")]
    for dataset in datasets:
        try:
            n = prepare_similar(ctx, dataset=dataset)
        except CrimelensError as exc:  # a broken linker must not stop the server; the route will say why
            _log.warning("similar cache for %r not built: %s", dataset, exc)
        else:
            _log.info("similar cache for %r: %d incidents", dataset, n)


def _public_routes() -> list[APIRoute]:
    """Every route a caller without an account may use (and is rate-limited on)."""

    def uses_public(dep: Dependant) -> bool:
        return dep.call is get_public_caller or any(uses_public(d) for d in dep.dependencies)

    return [r for r in router.routes if isinstance(r, APIRoute) and uses_public(r.dependant)]


def _public_operations() -> set[tuple[str, str]]:
    """(path, METHOD) of the public routes, for the schema (paths as the schema writes them: {name}, not {name:path})."""
    return {(r.path_format, m) for r in _public_routes() for m in (r.methods or ())}


def create_app(settings: Settings, *, require_deployment: bool = False,
               clock: Callable[[], datetime] | None = None, warm: bool = False) -> FastAPI:
    """Build the service on the store named by ``settings.db``.

    Parameters
    ----------
    settings
        Where the store, the signing key and the evidence live.
    require_deployment
        Operational server: refuse every model use that names no active deployment.
    clock
        The clock the services use (tests pass a fixed one).
    warm
        Build the similar-incident caches in a background thread at start-up (``crimelens serve``).

    The store is opened here (and migrated) and closed when the app shuts down;
    ``app.state.ctx`` is the services' context.
    """
    from crimelens.config import warn_unknown_settings

    warn_unknown_settings(_log.warning)  # once per process: `crimelens serve` has said it on stderr already
    store = DuckDBStore.open(settings.db)
    ctx = Context(store=store, settings=settings, ledger=Ledger(store, settings.key_dir), clock=clock or _utcnow)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        warmer = threading.Thread(target=_warm_caches, args=(ctx,), name="crimelens-warm", daemon=True)
        app.state.warmer = warmer
        if warm:
            warmer.start()
        yield
        if warmer.is_alive():
            warmer.join()
        store.close()

    app = FastAPI(title="crimelens", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.ctx = ctx
    app.state.require_deployment = require_deployment
    setattr(app.state, ROUTE_ACTIONS_KEY, ROUTE_ACTIONS)
    app.state.public_limits = PublicLimits(settings.public_reads_per_minute, settings.public_writes_per_hour,
                                           settings.failed_auth_per_minute)
    app.state.close = store.close
    install_error_handlers(app)
    app.add_middleware(LedgerBarrier, ledger=ctx.ledger)
    # outermost: a flood without an account is turned away before routing and the ledger
    app.add_middleware(PublicLimitGate, limits=app.state.public_limits,
                       operations=[(m, r.path_regex) for r in _public_routes() for m in (r.methods or ())])
    app.include_router(router)
    app.include_router(evidence_router)
    app.include_router(ingest_router)
    app.include_router(risk_router)
    mount_web(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        ref = {"$ref": "#/components/schemas/Error"}
        public = _public_operations()
        for path, path_item in schema.get("paths", {}).items():
            for method, op in path_item.items():
                responses = op.setdefault("responses", {})
                for code, why in (("401", "Not authenticated"), ("403", "Role, purpose or deployment refused"),
                                  ("404", "Not found"), ("422", "Invalid input")):
                    responses.setdefault(code, {"description": why,
                                                "content": {"application/json": {"schema": ref}}})
                if (path, method.upper()) in public:
                    responses.setdefault("429", {
                        "description": "Too many calls without an account from this address (see docs/api.md)",
                        "headers": {"Retry-After": {"description": "Seconds until the next call is taken",
                                                    "schema": {"type": "integer"}}},
                        "content": {"application/json": {"schema": ref}}})
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
