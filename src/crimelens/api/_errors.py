"""One JSON error shape for every failure: ``{"ok": false, "error", "type", "status"}``.

The status comes from the error class (:attr:`crimelens.errors.CrimelensError.http_status`);
request validation is 422, an unknown route 404, anything else a bug (500, logged).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from crimelens.errors import CrimelensError, PermissionDeniedError, RateLimitedError

__all__ = ["ERROR_SCHEMA", "NotAuthenticatedError", "error_body", "install_error_handlers"]

log = logging.getLogger("crimelens.api")


class NotAuthenticatedError(PermissionDeniedError):
    """No bearer token, or one that names no active user: the caller is not authenticated."""

    http_status = 401


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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CrimelensError)
    async def _ours(request: Request, exc: CrimelensError) -> JSONResponse:
        status = int(getattr(exc, "http_status", 500))
        if status >= 500:
            log.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimitedError) else None
        return _respond(str(exc), type(exc).__name__, status, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for e in exc.errors()[:5]:
            where = ".".join(str(p) for p in e.get("loc", ()))
            got = e.get("input")
            got_text = repr(got)[:80] if got is not None else "nothing"
            parts.append(f"{where}: got {got_text}; expected {e.get('msg', 'a valid value')}")
        return _respond(f"{request.method} {request.url.path}: " + "; ".join(parts), "RequestValidationError", 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        return _respond(f"{request.method} {request.url.path}: {detail}", "HTTPError", exc.status_code)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _respond(f"{request.method} {request.url.path}: internal error ({type(exc).__name__}); "
                        "this is a bug, please report it", "InternalError", 500)
