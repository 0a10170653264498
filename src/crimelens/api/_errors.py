"""One JSON error shape for every failure: ``{"ok": false, "error", "type", "status"}``.

The status comes from the error class (:attr:`crimelens.errors.CrimelensError.http_status`);
request validation is 422, an unknown route 404, anything else a bug (500, logged).

Every refusal is a ledger entry. The services log theirs (the governance gate, and the refusals
for what was asked that a service names itself); two kinds are logged here, as one refused entry
of the route's action (``api._app.ROUTE_ACTIONS``) naming the caller, their purpose, the request
and the error class:

- a request the framework refuses before the route's code runs (422 ``RequestValidationError``: a
  malformed time, an unknown enum value, an extra field, a wrong type, a body that is not JSON),
  with its first validation errors. The caller is the one the route's dependency identified; for
  a body that is not JSON (refused before the dependencies run) the caller is identified here as
  the dependency would, so a request without a valid token is still answered 401, or 403 without
  a purpose;
- on the routes of :data:`SHELL_LOGGED_ACTIONS` (``redact.*``, whose service does not log them),
  an :class:`~crimelens.errors.InputError` or :class:`~crimelens.errors.NotFoundError` (a bad
  span, an unknown item, run or review item), unless the services' ``refuse`` raised it, which
  logged it already.

A store that DuckDB finds damaged while the service runs (a block whose checksum fails, read by
whichever request first needs it) is not a bug: that request, and every one after it until the
service is restarted on a restored store, is answered 503 :class:`StoreDamagedError` with what
DuckDB found and what to do. Writing on into a damaged file could bury the damage under new
entries, so the service stops using the store the moment it knows.

A full disk (``No space left on device``, from DuckDB's write or commit, or a file the request
writes) is not a bug either: it is answered 507 :class:`~crimelens.errors.StoreFullError`, saying
that nothing was lost (DuckDB rolled the change back) and what to do. The service goes on: once
space is freed, requests succeed again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from crimelens.errors import (
    CrimelensError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    StoreError,
)
from crimelens.services._context import LOGGED_MARK
from crimelens.storage import damage_error
from crimelens.storage._duckdb import full_disk_error

__all__ = ["ERROR_SCHEMA", "SHELL_LOGGED_ACTIONS", "STORE_DAMAGE", "NotAuthenticatedError", "StoreDamagedError",
           "error_body", "install_error_handlers", "logged_by_refuse", "malformed_json", "refused_after_damage",
           "store_damaged"]

#: The app-state key that holds what was found when the store was found damaged (None until then).
STORE_DAMAGE = "store_damage"

#: Action prefixes whose refusals for what was asked (InputError, NotFoundError) this handler logs,
#: because their service raises them without logging (evidence custody and intake log their own).
SHELL_LOGGED_ACTIONS: tuple[str, ...] = ("redact.",)

#: The most validation errors a refused entry (and the answer) names.
MAX_VALIDATION_ERRORS = 5

log = logging.getLogger("crimelens.api")


class NotAuthenticatedError(PermissionDeniedError):
    """No bearer token, or one that names no active user: the caller is not authenticated."""

    http_status = 401


class StoreDamagedError(StoreError):
    """The service's store is damaged on disk: nothing more is read from or written to it (503)."""

    http_status = 503


def store_damaged(request: Request, exc: BaseException) -> StoreDamagedError | None:
    """The answer for ``exc`` if it is DuckDB finding the service's store damaged; the service then
    keeps what was found (``app.state.store_damage``) and refuses every later request with it."""
    found = damage_error(request.app.state.ctx.store.path, exc)
    if found is None:
        return None
    first = f"{request.method} {request.url.path}"
    if getattr(request.app.state, STORE_DAMAGE, None) is None:
        setattr(request.app.state, STORE_DAMAGE, (first, str(found)))
    return StoreDamagedError(f"{first}: {found} This service has stopped using the store: it refuses every "
                             "request until it is restarted on a restored store.")


def refused_after_damage(request: Request) -> StoreDamagedError | None:
    """The refusal of any request once the store was found damaged (``None`` before that)."""
    found: tuple[str, str] | None = getattr(request.app.state, STORE_DAMAGE, None)
    if found is None:
        return None
    first, what = found
    return StoreDamagedError(
        f"{request.method} {request.url.path}: refused: this service stopped using its store when {first} found "
        f"it damaged, and refuses every request until it is restarted on a restored store. {what}")


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["ok", "error", "type", "status"],
    "properties": {
        "ok": {"type": "boolean", "const": False},
        "error": {"type": "string", "description": "What went wrong, where, what was got and what was expected."},
        "type": {"type": "string", "description": "The error class (see docs/errors.md)."},
        "status": {"type": "integer", "description": "The HTTP status, repeated."},
    },
}


def error_body(message: str, kind: str, status: int) -> dict[str, Any]:
    return {"ok": False, "error": message, "type": kind, "status": status}


def _respond(message: str, kind: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="crimelens"'}
    return JSONResponse(error_body(message, kind, status), status_code=status, headers=headers)


def malformed_json(doc: Any, error: Mapping[str, Any]) -> str:
    """What the JSON parser found, and where, for a request body that is not JSON (FastAPI's
    ``json_invalid`` error: ``loc`` is ``("body", <0-based character>)``, ``ctx.error`` the parser's
    message, ``doc`` the body as text).

    >>> print(malformed_json('{"name": "carl" "role": 1}', {"loc": ("body", 16), "ctx": {"error": "Expecting ',' delimiter"}}))
    body: malformed JSON at character 16 (line 1, column 17): Expecting ',' delimiter; found '"' in '{"name": "carl" "role": 1}'; expected a JSON document
    """
    loc = tuple(error.get("loc", ()))
    pos = int(loc[1]) if len(loc) > 1 and isinstance(loc[1], int) else None
    why = str((error.get("ctx") or {}).get("error", "not JSON"))
    text = doc.decode("utf-8", "replace") if isinstance(doc, bytes | bytearray) else doc if isinstance(doc, str) else None
    if pos is None or text is None:
        return f"body: malformed JSON: {why}; expected a JSON document"
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    found = repr(text[pos]) if pos < len(text) else "the end of the body"
    start = max(0, pos - 30)
    near = ("..." if start else "") + text[start:pos + 30] + ("..." if pos + 30 < len(text) else "")
    return (f"body: malformed JSON at character {pos} (line {line}, column {column}): {why}; "
            f"found {found} in {near!r}; expected a JSON document")


def logged_by_refuse(exc: BaseException) -> bool:
    """Whether ``exc``, or an exception it was raised from or while handling, was raised by the
    services' :func:`~crimelens.services._context.refuse`, which logs the refusal before raising
    and marks the exception so (``LOGGED_MARK``)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if LOGGED_MARK in getattr(e, "__dict__", {}):
            return True
        todo.extend(c for c in (e.__cause__, e.__context__) if c is not None)
    return False


def _validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    """The first validation errors as a refused entry records them: where, the error type and what
    was expected (the values sent stay out of the ledger; the reason shows the first 80 characters)."""
    return [{"loc": ".".join(str(p) for p in e.get("loc", ())), "type": str(e.get("type", "")),
             "msg": str(e.get("msg", ""))[:200]} for e in exc.errors()[:MAX_VALIDATION_ERRORS]]


def _path_params(request: Request) -> dict[str, str]:
    """The request's path parameters (the item, run, unit... asked for), as a refused entry records them."""
    return {str(k): str(v)[:200] for k, v in request.path_params.items()}


def _plain(e: Mapping[str, Any]) -> str:
    """One validation error in words a person who is not a programmer reads: where, what came, what
    was expected (an empty reason reads "got an empty reason; expected a sentence saying why", not
    pydantic's "String should have at least 1 character").

    >>> _plain({"type": "string_too_short", "loc": ("body", "reason"), "input": "", "ctx": {"min_length": 1},
    ...         "msg": "String should have at least 1 character"})
    'body.reason: got an empty reason; expected a sentence saying why'
    >>> _plain({"type": "missing", "loc": ("body", "name"), "input": {}, "msg": "Field required"})
    'body.name: got nothing; expected a value (it is required)'
    >>> _plain({"type": "int_parsing", "loc": ("query", "limit"), "input": "x", "msg": "Input should be a valid integer"})
    "query.limit: got 'x'; expected input should be a valid integer"
    """
    loc = tuple(str(p) for p in e.get("loc", ()))
    where, field = ".".join(loc), (loc[-1] if loc else "value")
    got, kind = e.get("input"), e.get("type")
    if kind == "missing":
        return f"{where}: got nothing; expected a value (it is required)"
    if kind == "string_too_short" and isinstance(got, str) and not got.strip():
        wanted = "a sentence saying why" if field in ("reason", "purpose", "note") else "some text"
        return f"{where}: got an empty {field}; expected {wanted}"
    msg = str(e.get("msg", "a valid value"))
    got_text = repr(got)[:80] if got is not None else "nothing"
    return f"{where}: got {got_text}; expected {msg[:1].lower() + msg[1:]}"


def install_error_handlers(app: FastAPI) -> None:
    from crimelens.api import _deps  # imports this module: only once both are loaded

    @app.exception_handler(CrimelensError)
    async def _ours(request: Request, exc: CrimelensError) -> JSONResponse:
        damaged = store_damaged(request, exc) if not isinstance(exc, StoreDamagedError) else None
        if damaged is not None:
            exc = damaged
        status = int(getattr(exc, "http_status", 500))
        if isinstance(exc, StoreDamagedError) and damaged is None:  # a later request, refused: said once already
            log.warning("%s %s: refused: the store was found damaged", request.method, request.url.path)
        elif status >= 500:
            log.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        elif isinstance(exc, InputError | NotFoundError):
            await _log_asked_wrong(request, exc)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimitedError) else None
        return _respond(str(exc), type(exc).__name__, status, headers)

    async def _log_asked_wrong(request: Request, exc: CrimelensError) -> None:
        """Log a refusal for what was asked on a route of :data:`SHELL_LOGGED_ACTIONS` (not logged yet)."""
        action = _deps.route_action(request)
        caller: _deps.Caller | None = getattr(request.state, _deps.CALLER, None)
        if caller is None or not action.startswith(SHELL_LOGGED_ACTIONS) or logged_by_refuse(exc):
            return
        await run_in_threadpool(_deps.log_refusal, request.app.state.ctx, request, caller, error=exc,
                                action=action, detail=_path_params(request))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for e in exc.errors()[:MAX_VALIDATION_ERRORS]:
            if e.get("type") == "json_invalid":
                parts.append(malformed_json(exc.body, e))
                continue
            parts.append(_plain(e))
        message = f"{request.method} {request.url.path}: " + "; ".join(parts)
        if refused_after_damage(request) is None:  # a damaged store is refused before anything is read
            try:
                caller = await _deps.caller_of(request)
            except CrimelensError as first:  # the caller's dependency refuses first (no token, no purpose, ...)
                return await _ours(request, first)
            if caller is not None:
                await run_in_threadpool(
                    _deps.log_refusal, request.app.state.ctx, request, caller, error=exc, reason=message,
                    action=_deps.route_action(request, exc.body if isinstance(exc.body, Mapping) else None),
                    detail={**_path_params(request), "n_errors": len(exc.errors()), "errors": _validation_errors(exc)})
        return _respond(message, "RequestValidationError", 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        return _respond(f"{request.method} {request.url.path}: {detail}", "HTTPError", exc.status_code)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        damaged = store_damaged(request, exc)
        if damaged is not None:
            log.error("%s", damaged)
            return _respond(str(damaged), type(damaged).__name__, damaged.http_status)
        full = full_disk_error(request.app.state.ctx.store.path, exc)
        if full is not None:  # not a bug: the disk is full (507); the store is as it was
            log.error("%s %s: %s", request.method, request.url.path, full)
            return _respond(f"{request.method} {request.url.path}: {full}", type(full).__name__, full.http_status)
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _respond(f"{request.method} {request.url.path}: internal error ({type(exc).__name__}); "
                        "this is a bug, please report it", "InternalError", 500)
