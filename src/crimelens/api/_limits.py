"""Rate limits for callers without an account: one token bucket per client address.

Every call to the service is written to the usage ledger, tokenless ones included, so an
address that sends calls as fast as the server takes them (93–180 a second on two cores, see
``docs/api.md``) would grow the ledger and the comment and complaint tables without bound and
crowd out everyone else. Registered users are not limited here: their token names them, their
role bounds what they can do, and an administrator can revoke them.

A refused call costs a dictionary lookup, takes no lock on the store and writes nothing to the
ledger (a ledger entry per refusal would let the flood through by another door); refusals are
counted per address and reported in the log, once per address and minute. Failed sign-ins (a
bad token) are logged in the ledger, one entry each, so they have a budget too: an address
that has spent it is answered 429 before its token is even looked at.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NoReturn

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from crimelens.api._errors import error_body
from crimelens.errors import InvalidParameterError, RateLimitedError

__all__ = ["PublicLimitGate", "PublicLimits", "TokenBucketLimiter"]

_log = logging.getLogger("crimelens.api")


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    refused: int = 0
    reported: float = -math.inf


@dataclass
class TokenBucketLimiter:
    """At most ``capacity`` calls in a burst per key, refilled at ``per_second`` calls a second.

    ``capacity == 0`` switches the limiter off. At most ``max_keys`` keys are remembered; the
    least recently seen is forgotten first (a forgotten key starts again with a full bucket, so
    forgetting only ever lets a call through, never refuses one wrongly).

    >>> t = [0.0]
    >>> lim = TokenBucketLimiter(capacity=2, per_second=1.0, clock=lambda: t[0])
    >>> [lim.take("a") for _ in range(3)]
    [0.0, 0.0, 1.0]
    >>> t[0] = 1.0
    >>> lim.take("a")
    0.0
    """

    capacity: int
    per_second: float
    max_keys: int = 100_000
    clock: Callable[[], float] = time.monotonic
    _buckets: OrderedDict[str, _Bucket] = field(default_factory=OrderedDict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.capacity < 0 or not math.isfinite(self.per_second) or self.per_second < 0 or self.max_keys < 1:
            raise InvalidParameterError(
                f"TokenBucketLimiter(capacity={self.capacity}, per_second={self.per_second}, "
                f"max_keys={self.max_keys}): expected capacity >= 0, per_second >= 0 and max_keys >= 1")
        if self.capacity and not self.per_second:
            raise InvalidParameterError(
                f"TokenBucketLimiter(capacity={self.capacity}, per_second=0): a bucket that never refills "
                "would refuse its key for ever; expected per_second > 0")

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def take(self, key: str, *, consume: bool = True) -> float:
        """Take one call for ``key``: 0.0 when taken, else the seconds until one would be.

        ``consume=False`` only asks, and counts nothing: for budgets charged after the fact, such
        as failed sign-ins (:meth:`count_refusal` counts the refusals that follow).
        """
        if not self.capacity:
            return 0.0
        now = self.clock()
        with self._lock:
            b = self._buckets.get(key)
            if b is None:
                b = self._buckets[key] = _Bucket(float(self.capacity), now)
                while len(self._buckets) > self.max_keys:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
                b.tokens = min(float(self.capacity), b.tokens + max(0.0, now - b.stamp) * self.per_second)
                b.stamp = now
            if b.tokens >= 1.0:
                if consume:
                    b.tokens -= 1.0
                return 0.0
            wait = (1.0 - b.tokens) / self.per_second
            if consume:
                self._count(b, key, now, wait)
            return wait

    def count_refusal(self, key: str, wait: float) -> None:
        """Count one refusal of ``key`` (asked with ``consume=False``) that is ``wait`` s from a token."""
        with self._lock:
            b = self._buckets.get(key)
            if b is not None:
                self._count(b, key, self.clock(), wait)

    @staticmethod
    def _count(b: _Bucket, key: str, now: float, wait: float) -> None:
        b.refused += 1
        if now - b.reported >= 60.0:
            _log.warning("rate limit: refused %d call(s) from %s so far; next one taken in %.1f s",
                         b.refused, key, wait)
            b.reported = now

    def refused(self, key: str) -> int:
        """How many calls from ``key`` were refused (while it is remembered)."""
        with self._lock:
            b = self._buckets.get(key)
            return b.refused if b else 0

    def most_refused(self, n: int) -> list[tuple[str, int]]:
        """The ``n`` remembered keys with the most refused calls (none refused: not listed)."""
        with self._lock:
            rows = [(k, b.refused) for k, b in self._buckets.items() if b.refused]
        return sorted(rows, key=lambda kv: (-kv[1], kv[0]))[:n]

    def __len__(self) -> int:
        return len(self._buckets)


class PublicLimits:
    """The budgets of a caller without a valid token, per client address: reads (GET) per minute
    and writes (comments, complaints) per hour without an account, and failed sign-ins (a bad
    token, each logged in the ledger) per minute. 0 switches a budget off."""

    def __init__(self, reads_per_minute: int, writes_per_hour: int, failed_auth_per_minute: int = 0, *,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.reads_per_minute = reads_per_minute
        self.writes_per_hour = writes_per_hour
        self.failed_auth_per_minute = failed_auth_per_minute
        #: seconds a refusal without an account is held before it is answered (PublicLimitGate)
        self.refusal_delay_s = 1.0
        self.reads = TokenBucketLimiter(reads_per_minute, reads_per_minute / 60.0, max_keys, clock)
        self.writes = TokenBucketLimiter(writes_per_hour, writes_per_hour / 3600.0, max_keys, clock)
        self.failed_auth = TokenBucketLimiter(failed_auth_per_minute, failed_auth_per_minute / 60.0, max_keys, clock)

    def snapshot(self, n: int = 50) -> dict[str, object]:
        """The budgets, and the ``n`` addresses with the most refusals per budget (kept in memory only)."""
        budgets = {"reads": (self.reads, self.reads_per_minute, "minute"),
                   "writes": (self.writes, self.writes_per_hour, "hour"),
                   "failed_sign_ins": (self.failed_auth, self.failed_auth_per_minute, "minute")}
        return {
            "budgets": {name: {"limit": limit, "per": per, "enabled": lim.enabled, "addresses_seen": len(lim)}
                        for name, (lim, limit, per) in budgets.items()},
            "refusal_delay_s": self.refusal_delay_s,
            "refused": [{"budget": name, "address": addr, "refused": k}
                        for name, (lim, _, _) in budgets.items() for addr, k in lim.most_refused(n)],
        }

    def sign_in_wait(self, client: str) -> float:
        """Seconds until ``client`` may fail a sign-in again (0.0: it may now); nothing is taken."""
        return self.failed_auth.take(client, consume=False)

    def refuse_sign_in(self, method: str, path: str, client: str, wait: float) -> NoReturn:
        """Count and raise the refusal of a bad token from ``client``, past its budget."""
        self.failed_auth.count_refusal(client, wait)
        raise RateLimitedError(
            f"{method} {path}: got more failed sign-ins from {client} than this service takes "
            f"({self.failed_auth_per_minute} a minute from one address); expected a pause: try again in "
            f"{math.ceil(wait)} s with a valid token", retry_after=math.ceil(wait))

    def failed_sign_in(self, client: str) -> None:
        """Charge one failed sign-in to ``client``."""
        self.failed_auth.take(client)

    def check(self, method: str, path: str, client: str) -> None:
        """Raise :class:`RateLimitedError` when ``client`` has spent the budget ``method`` draws on."""
        write = method.upper() not in ("GET", "HEAD", "OPTIONS")
        limiter, budget = (self.writes, f"{self.writes_per_hour} an hour") if write else (
            self.reads, f"{self.reads_per_minute} a minute")
        wait = limiter.take(client)
        if wait > 0.0:
            kind = "comments and complaints" if write else "reads"
            raise RateLimitedError(
                f"{method} {path}: got more {kind} without an account from {client} than this service takes "
                f"({budget} from one address); expected a pause: try again in {math.ceil(wait)} s, or sign in",
                retry_after=math.ceil(wait))


class PublicLimitGate:
    """ASGI middleware: a call with no ``Authorization`` header to a route open to the public is
    charged to its address's budget here, before routing, parsing or the ledger.

    A refusal costs a regular-expression match and a dictionary lookup, so a flood spends
    little of the server, and is answered after ``limits.refusal_delay_s`` (1 s), which slows a
    client that waits for its answers (measured in ``benchmarks/public_flood.py``). ``operations`` are the
    (METHOD, compiled path pattern) pairs of the public routes.
    """

    def __init__(self, app: ASGIApp, limits: PublicLimits,
                 operations: Iterable[tuple[str, re.Pattern[str]]]) -> None:
        self.app = app
        self.limits = limits
        self.operations = tuple(operations)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            method, path = scope["method"], scope["path"]
            if (not any(k == b"authorization" for k, _ in scope["headers"])
                    and any(m == method and rx.match(path) for m, rx in self.operations)):
                client = scope.get("client")
                try:
                    self.limits.check(method, path, client[0] if client else "unknown")
                except RateLimitedError as exc:
                    # answer a refusal late: a timer costs nothing, and a client that waits for each
                    # answer before sending again (most scripts) is slowed to one call a connection
                    # a delay
                    if self.limits.refusal_delay_s > 0:
                        await anyio.sleep(min(self.limits.refusal_delay_s, float(exc.retry_after)))
                    body = json.dumps(error_body(str(exc), "RateLimitedError", 429)).encode()
                    await send({"type": "http.response.start", "status": 429, "headers": [
                        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        (b"retry-after", str(exc.retry_after).encode())]})
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)
