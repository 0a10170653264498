"""Who is calling, for what stated purpose, under which deployment: one dependency for every route.

It also names, for a request refused before its route's code runs, the ledger action that route
stands for (:func:`route_action`, from the table ``api._app.ROUTE_ACTIONS``) and the caller
(:func:`caller_of`), so that such a refusal is logged like any other (:func:`log_refusal`): a
missing ``X-Purpose`` here, a body or query that does not parse in ``api._errors``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn
from urllib.parse import unquote

from fastapi import Depends, Header, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from crimelens.api._errors import NotAuthenticatedError, refused_after_damage
from crimelens.api._limits import PublicLimits
from crimelens.errors import ApprovalRequiredError, InputError, PermissionDeniedError
from crimelens.governance import Actor, Role
from crimelens.services._context import Context, authorize, refuse
from crimelens.services.governance import identify_deferred, token_is_valid

__all__ = ["CALLER", "LEDGER_RECEIPTS", "MAX_PURPOSE_CHARS", "PUBLIC_PURPOSE", "ROUTE_ACTIONS_KEY", "UNNAMED_ACTION",
           "Caller", "CallerDep", "CtxDep", "PublicCallerDep", "RouteAction", "caller_of", "decode_purpose",
           "get_caller", "get_ctx", "get_public_caller", "log_refusal", "public_name", "route_action"]

#: The purpose recorded for a member of the public who states none.
PUBLIC_PURPOSE = "public participation"

#: The request-state key under which a request's queued ledger receipts wait for the barrier.
LEDGER_RECEIPTS = "ledger_receipts"

#: The longest stated purpose the service takes (characters, once decoded and trimmed).
MAX_PURPOSE_CHARS = 500

#: The ledger action of a request refused for its X-Purpose header (unreadable or too long).
PURPOSE_REFUSED = "api.purpose"

#: The request-state key under which the caller waits once a route's dependency has identified them.
CALLER = "caller"

#: The app-state key of the table of each route's ledger action (``api._app.ROUTE_ACTIONS``).
ROUTE_ACTIONS_KEY = "route_actions"

#: The action a refusal is logged under on a route the table does not name.
UNNAMED_ACTION = "api.request"

#: A route's ledger action: a name, or a function of the path parameters and the request's JSON body
#: (``None`` when it is not read yet or is not JSON) for routes whose action depends on them.
RouteAction = str | Callable[[Mapping[str, str], Any], str]

# RFC 8187 ext-value: charset ' [language] ' percent-encoded UTF-8 (only UTF-8 is taken)
_EXT_VALUE = re.compile(r"(?i)utf-8'[a-z0-9-]*'(.*)", re.DOTALL)


#: embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): they make stored text display as other text
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def decode_purpose(raw: str | None) -> str:
    """The stated purpose of an ``X-Purpose`` header as the client wrote it ('' when none).

    HTTP hands header values over as Latin-1 text, so the UTF-8 bytes a client sends for
    "enquête" arrive as "enquÃªte": the value is turned back into its bytes and read as UTF-8.
    An RFC 8187 value (``UTF-8''enqu%C3%AAte%20t%C3%A9moin``, for clients such as browsers that
    cannot send other bytes in a header) is percent-decoded. Raises :class:`InputError` for bytes
    that are not UTF-8, a control character, or more than :data:`MAX_PURPOSE_CHARS` characters.

    >>> decode_purpose("enquÃªte tÃ©moin JA1")
    'enquête témoin JA1'
    >>> decode_purpose("UTF-8''enqu%C3%AAte%20t%C3%A9moin")
    'enquête témoin'
    >>> decode_purpose("  research ")
    'research'
    """
    if raw is None:
        return ""
    data = raw.encode("latin-1", "backslashreplace")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"header X-Purpose, byte {exc.start + 1}: got {data[exc.start:exc.start + 4]!r}, which is not UTF-8; "
            "expected the purpose in UTF-8 (or RFC 8187 percent-encoded: UTF-8''enqu%C3%AAte)") from exc
    ext = _EXT_VALUE.fullmatch(text.strip())
    if ext is not None:
        try:
            text = unquote(ext.group(1), encoding="utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"header X-Purpose: got {ext.group(1)[:80]!r}, whose percent-encoded bytes are not UTF-8; "
                "expected RFC 8187 UTF-8''<percent-encoded UTF-8>") from exc
    text = text.strip()
    bad = next((i for i, ch in enumerate(text) if unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS), None)
    if bad is not None:
        raise InputError(f"header X-Purpose, character {bad + 1}: got the "
                         f"{'control' if unicodedata.category(text[bad]) == 'Cc' else 'text-direction'} character "
                         f"U+{ord(text[bad]):04X}; expected printable text")
    if len(text) > MAX_PURPOSE_CHARS:
        raise InputError(f"header X-Purpose: got {len(text)} characters ({text[:40]!r}...); expected at most "
                         f"{MAX_PURPOSE_CHARS}: state the purpose in a sentence and keep case notes elsewhere")
    return text


def _refuse_purpose(request: Request, ctx: Context, actor: Actor, raw: str | None, exc: InputError) -> NoReturn:
    """Log the refusal of a request for its X-Purpose header, then raise ``exc``."""
    data = (raw or "").encode("latin-1", "backslashreplace")
    sent = data.decode("utf-8", "backslashreplace")  # bytes that are not UTF-8 shown as \xNN
    refuse(ctx, action=PURPOSE_REFUSED, actor=actor, purpose="", reason=str(exc), error=exc,
           detail={"request": f"{request.method} {request.url.path}", "header": "X-Purpose",
                   "n_bytes": len(data), "start": sent[:80]})

_bearer = HTTPBearer(auto_error=False, description="A user's API token (crimelens users add prints it once).")


def get_ctx(request: Request) -> Context:
    """The services' context; a :class:`StoreDamagedError` once a request has found the store damaged."""
    refused = refused_after_damage(request)
    if refused is not None:
        raise refused
    ctx: Context = request.app.state.ctx
    return ctx


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated user, their stated purpose and the deployment they act under (if any)."""

    actor: Actor
    purpose: str
    deployment: str | None
    require_deployment: bool

    def fields(self) -> dict[str, Any]:
        return {"deployment": self.deployment} if self.deployment else {}

    def research_only(self, ctx: Context, action: str, what: str) -> None:
        """Refuse (and log) an X-Deployment on a use that runs under no deployment (``what`` says what it is),
        rather than let the header pass unread and the output be marked research while the caller thinks
        it operational."""
        if self.deployment:
            from crimelens.errors import InvalidParameterError
            from crimelens.services._context import refuse

            why = (f"{what} is research and oversight, not operational use: it runs under no deployment; got "
                   f"X-Deployment {self.deployment!r}; expected no X-Deployment header")
            refuse(ctx, action=action, actor=self.actor, purpose=self.purpose, reason=why,
                   error=InvalidParameterError(f"{action}: {why}"), deployment=self.deployment)

    def allow(self, ctx: Context, action: str, *, model_use: bool = False) -> None:
        """Route-level check (logged when refused) before a service that looks things up first."""
        if model_use and self.require_deployment and not self.deployment:
            from crimelens.services._context import refuse

            refuse(ctx, action=action, actor=self.actor, purpose=self.purpose,
                   reason="this server serves operational use only: send X-Deployment naming an active deployment",
                   error=ApprovalRequiredError(
                       f"{action}: got no X-Deployment header; expected an active deployment "
                       "(this server was started with operational use only)"))
        dep: dict[str, Any] = {"deployment": self.deployment} if model_use and self.deployment else {}
        authorize(ctx, action=action, actor=self.actor, purpose=self.purpose, **dep)


def client_address(request: Request) -> str:
    """The caller's address: the TCP peer, or the client a trusted proxy names (uvicorn's proxy headers)."""
    return request.client.host if request.client else "unknown"


def get_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    x_purpose: Annotated[str | None, Header(
        alias="X-Purpose", description="The stated purpose of this call, recorded in the ledger (e.g. 'research', "
        "'patrol planning', 'oversight').")] = None,
    x_deployment: Annotated[str | None, Header(
        alias="X-Deployment", description="The deployment this operational use runs under. Without one, "
        "model outputs are research use and carry the research mark.")] = None,
) -> Caller:
    ctx = get_ctx(request)
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise NotAuthenticatedError(
            f"{request.method} {request.url.path}: got no bearer token; expected the header "
            "'Authorization: Bearer clk_<id>.<secret>'")
    limits: PublicLimits | None = getattr(request.app.state, "public_limits", None)
    client = client_address(request)
    wait = limits.sign_in_wait(client) if limits is not None else 0.0
    # past the address's failed sign-in budget a bad token is refused unlogged; a valid one (a
    # colleague behind the same NAT) still signs in
    if limits is not None and wait > 0.0 and not token_is_valid(ctx, credentials.credentials):
        limits.refuse_sign_in(request.method, request.url.path, client, wait)
    try:
        actor, receipt = identify_deferred(ctx, credentials.credentials)
    except PermissionDeniedError as exc:
        if limits is not None:
            limits.failed_sign_in(client)
        raise NotAuthenticatedError(str(exc)) from exc
    held = getattr(request.state, LEDGER_RECEIPTS, None)
    if held is None:  # no ledger barrier around this app: wait here
        ctx.ledger.wait(receipt)
    else:  # the barrier (api._app) holds the response until the entry is committed
        held.append(receipt)
    try:
        if len(sent := request.headers.getlist("x-purpose")) > 1:  # which one would the ledger record?
            raise InputError(f"header X-Purpose: got {len(sent)} of them; expected one stated purpose")
        purpose = decode_purpose(x_purpose)
    except InputError as exc:
        _refuse_purpose(request, ctx, actor, x_purpose, exc)
    deployment = (x_deployment or "").strip() or None
    if not purpose:
        error = ApprovalRequiredError(
            f"{request.method} {request.url.path} by {actor.user}: got no stated purpose; expected the header "
            "'X-Purpose: <why>' (every use needs one)")
        log_refusal(ctx, request, Caller(actor, "", deployment, False), error=error,
                    reason="no stated purpose: the request has no X-Purpose header (every use needs one)")
        raise error
    caller = Caller(actor, purpose, deployment, bool(request.app.state.require_deployment))
    setattr(request.state, CALLER, caller)
    return caller


def public_name(name: str | None) -> str:
    """The ledger name of a member of the public: ``public:<name they gave>`` or ``public:anonymous``."""
    given = " ".join((name or "").split())[:80]
    return "public:" + (given.replace(":", " ") if given else "anonymous")


def get_public_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    x_purpose: Annotated[str | None, Header(
        alias="X-Purpose", description=f"The stated purpose (default for the public: '{PUBLIC_PURPOSE}').")] = None,
) -> Caller:
    """A registered user when a bearer token comes (401 if it is bad), else a member of the public.

    For the few routes the public may call without an account (reading a deployment, commenting
    while it is open for comment, filing a complaint, the annual report, ledger proofs). The
    public caller is ``public:anonymous`` until a route names them from the body. Tokenless
    calls are rate-limited per client address before they get here
    (:class:`~crimelens.api._limits.PublicLimitGate`).
    """
    if credentials is not None:
        return get_caller(request, credentials, x_purpose, None)
    actor = Actor(public_name(None), Role.PUBLIC)
    try:
        purpose = decode_purpose(x_purpose) or PUBLIC_PURPOSE
    except InputError as exc:
        _refuse_purpose(request, get_ctx(request), actor, x_purpose, exc)
    caller = Caller(actor, purpose, None, False)
    setattr(request.state, CALLER, caller)
    return caller


def route_action(request: Request, body: Any = None) -> str:
    """The ledger action of the route ``request`` matched, as the table ``api._app.ROUTE_ACTIONS``
    names it (``body``: the request's JSON, for the few routes whose action depends on it), or
    :data:`UNNAMED_ACTION` for a route the table does not name.

    For a refusal logged before the route's own code runs, which would name the action itself.
    """
    route = request.scope.get("route")
    table: Mapping[tuple[str, str], RouteAction] = getattr(request.app.state, ROUTE_ACTIONS_KEY, None) or {}
    found = table.get((request.method, route.path_format)) if isinstance(route, APIRoute) else None
    if found is None:
        return UNNAMED_ACTION
    return found if isinstance(found, str) else found(request.path_params, body)


async def caller_of(request: Request) -> Caller | None:
    """The caller of a request refused before its route's code ran, or None for a route without a caller.

    The one the route's dependency identified (its ``users.authenticate`` entry already queued);
    when the refusal came before the dependencies ran (a body that is not JSON is refused while it
    is read), identified now as that dependency does, so the authentication is logged once either
    way. Raises what the dependency raises: :class:`NotAuthenticatedError` without a valid token,
    :class:`ApprovalRequiredError` without a purpose (logged), ...
    """
    known: Caller | None = getattr(request.state, CALLER, None)
    if known is not None:
        return known
    route = request.scope.get("route")
    dependency = _caller_dependency(route.dependant) if isinstance(route, APIRoute) else None
    if dependency is None:
        return None
    credentials = await _bearer(request)
    purpose = request.headers.get("x-purpose")
    if dependency is get_public_caller:
        return await run_in_threadpool(get_public_caller, request, credentials, purpose)
    return await run_in_threadpool(get_caller, request, credentials, purpose, request.headers.get("x-deployment"))


def _caller_dependency(dependant: Dependant) -> Callable[..., Caller] | None:
    for dep in dependant.dependencies:
        if dep.call is get_caller or dep.call is get_public_caller:
            return dep.call
        found = _caller_dependency(dep)
        if found is not None:
            return found
    return None


def log_refusal(ctx: Context, request: Request, caller: Caller, *, error: Exception, action: str | None = None,
                reason: str | None = None, detail: Mapping[str, Any] | None = None) -> None:
    """Write one refused ledger entry for a request the service answers with ``error`` (already raised
    or about to be): ``action`` (default: the route's, :func:`route_action`), the caller's user, role,
    purpose and deployment, and the detail ``reason`` (default: the error's message), ``request``,
    ``error`` (its class) and ``detail``. Returns once the entry is committed.

    Written through the services' :func:`~crimelens.services._context.refuse`, which raises
    ``error`` once it is logged; that raise is swallowed here.
    """
    try:
        refuse(ctx, action=action or route_action(request), actor=caller.actor, purpose=caller.purpose,
               reason=reason or str(error), error=error, **caller.fields(),
               detail={"request": f"{request.method} {request.url.path}", **dict(detail or {}),
                       "error": type(error).__name__})
    except Exception as raised:
        if raised is not error:
            raise


CtxDep = Annotated[Context, Depends(get_ctx)]
CallerDep = Annotated[Caller, Depends(get_caller)]
PublicCallerDep = Annotated[Caller, Depends(get_public_caller)]
