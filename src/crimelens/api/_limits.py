"""Rate limits for callers without an account: one token bucket per client address.

Every call to the service is written to the usage ledger, tokenless ones included, so an
address that sends calls as fast as the server takes them (93–180 a second on two cores, see
``docs/api.md``) would grow the ledger and the comment and complaint tables without bound and
crowd out everyone else. Registered users are not limited here: their token names them, their
role bounds what they can do, and an administrator can revoke them.

A refused call costs a dictionary lookup, takes no lock on the store and writes nothing to the
ledger (a ledger entry per refusal would let the flood through by another door); refusals are
counted per address and reported in the log, once per address and minute.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from crimelens.errors import InvalidParameterError, RateLimitedError

__all__ = ["PublicLimits", "TokenBucketLimiter"]

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

    def take(self, key: str) -> float:
        """Take one call for ``key``: 0.0 when taken, else the seconds until one would be."""
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
                b.tokens -= 1.0
                return 0.0
            b.refused += 1
            wait = (1.0 - b.tokens) / self.per_second
            if now - b.reported >= 60.0:
                _log.warning("rate limit: refused %d call(s) from %s so far; next one taken in %.1f s",
                             b.refused, key, wait)
                b.reported = now
            return wait

    def refused(self, key: str) -> int:
        """How many calls from ``key`` were refused (while it is remembered)."""
        with self._lock:
            b = self._buckets.get(key)
            return b.refused if b else 0

    def __len__(self) -> int:
        return len(self._buckets)


class PublicLimits:
    """The two budgets of a tokenless caller: reads (GET) per minute and writes (comments,
    complaints) per hour, each per client address. 0 switches a budget off."""

    def __init__(self, reads_per_minute: int, writes_per_hour: int, *,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.reads_per_minute = reads_per_minute
        self.writes_per_hour = writes_per_hour
        self.reads = TokenBucketLimiter(reads_per_minute, reads_per_minute / 60.0, max_keys, clock)
        self.writes = TokenBucketLimiter(writes_per_hour, writes_per_hour / 3600.0, max_keys, clock)

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
