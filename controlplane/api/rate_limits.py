"""Request rate limits: a token bucket per API key, per user and per client address.

Each bucket holds up to ``burst`` requests and refills at ``rate`` per second; a request that
finds it empty is answered 429 ``rate_limited`` with ``Retry-After``, and counted in
``pipelogiq_requests_limited_total``. The buckets live in the API process, so with several
API processes each one limits what it sees. Probes and scrapes are never limited.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from typing import Any

from litestar.types import ASGIApp, Receive, Scope, Send
from prometheus_client import Counter

from controlplane.api.clients import client_of
from controlplane.errors import TooManyRequests
from controlplane.settings import Settings

REQUESTS_LIMITED = Counter(
    "pipelogiq_requests_limited",
    "Requests refused with 429 by a rate limit, by API and by what was limited.",
    ["api", "by"],
)

NOT_LIMITED = frozenset({"/healthz", "/readyz", "/metrics", "/version"})


class TokenBuckets:
    """Buckets by key; a bucket is forgotten once full again (memory stays bounded by the
    number of keys seen recently)."""

    def __init__(self, rate: float, burst: int, max_buckets: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self._max = max_buckets
        self._buckets: dict[Any, tuple[float, float]] = {}  # key: (tokens, when)

    def take(self, key: Any) -> float:
        """0 if a request may go now; otherwise how many seconds until it may."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        tokens, then = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate
        if len(self._buckets) >= self._max:
            self._forget_full(now)
        self._buckets[key] = (tokens - 1, now)
        return 0.0

    def _forget_full(self, now: float) -> None:
        full = [
            k
            for k, (t, then) in self._buckets.items()
            if t + (now - then) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self._max:  # a flood of new keys: start over, rather than grow
            self._buckets.clear()


class RateLimits:
    """The buckets of one API app: per client address, and per API key or per user."""

    def __init__(self, api: str, settings: Settings) -> None:
        self.api = api
        self.polls = WaitingPolls(settings.max_polls_per_key)
        self.trusted_proxies = settings.trusted_proxies
        self.per_client = TokenBuckets(settings.rate_per_client, settings.burst_per_client)
        if api == "external":
            self.per_caller = TokenBuckets(settings.rate_per_key, settings.burst_per_key)
        else:
            self.per_caller = TokenBuckets(settings.rate_per_user, settings.burst_per_user)

    def check_caller(self, caller: Any) -> None:
        """After authentication: 429 when the key (or user) has sent too many requests."""
        wait = self.per_caller.take(caller)
        if wait:
            raise self._limited("key" if self.api == "external" else "user", wait)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """An ASGI middleware: the limit per client address, before anything else is done."""

        async def limit(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["path"] not in NOT_LIMITED:
                wait = self.per_client.take(client_of(scope, self.trusted_proxies))
                if wait:
                    raise self._limited("client", wait)
            await app(scope, receive, send)

        return limit

    def _limited(self, by: str, wait: float) -> TooManyRequests:
        REQUESTS_LIMITED.labels(self.api, by).inc()
        return TooManyRequests(
            "rate_limited",
            f"too many requests from this {by}; slow down",
            retry_after=max(1, math.ceil(wait)),
        )


class WaitingPolls:
    """How many long polls each API key has waiting in this process: one key may not hold
    every request slot of the process (the others' acks and heartbeats would wait behind)."""

    def __init__(self, per_key: int) -> None:
        self._per_key = per_key
        self._waiting: dict[Any, int] = {}

    @contextlib.contextmanager
    def waiting(self, key: Any) -> Iterator[None]:
        """429 ``too_many_polls`` when the key already has its fill waiting."""
        count = self._waiting.get(key, 0)
        if count >= self._per_key:
            REQUESTS_LIMITED.labels("external", "polls").inc()
            raise TooManyRequests(
                "too_many_polls",
                f"this key already has {count} long polls waiting here; wait for one to end",
                retry_after=1,
            )
        self._waiting[key] = count + 1
        try:
            yield
        finally:
            left = self._waiting[key] - 1
            if left:
                self._waiting[key] = left
            else:
                del self._waiting[key]
