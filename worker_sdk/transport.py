"""HTTP to the control plane: authentication, problem documents, retries with backoff.

A request that fails on the network, or is answered 429 or 5xx, is retried with capped
exponential backoff and full jitter (or after the answer's ``Retry-After``, up to
``MAX_RETRY_AFTER``); a 4xx answer raises :class:`ApiError` at once, since sending the same
request again cannot help.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import math
import random
import time
from typing import Any, TypeVar

import httpx
import msgspec

from worker_sdk.errors import ApiError, Unavailable

T = TypeVar("T")

_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

# The longest wait a Retry-After header gets: a worker's results must not wait past the leases
# of their jobs (30 s by default) on the word of one answer.
MAX_RETRY_AFTER = 30.0


class Backoff:
    """Capped exponential backoff with full jitter (each delay uniform in [0, cap])."""

    def __init__(self, first: float = 0.2, cap: float = 10.0) -> None:
        self.first = first
        self.cap = cap
        self.failures = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.first * 2**self.failures)
        self.failures += 1
        return random.uniform(0, ceiling)

    def reset(self) -> None:
        self.failures = 0


def headers(api_key: str) -> dict[str, str]:
    return {"X-API-Key": api_key, "Content-Type": "application/json"}


def decode(response: httpx.Response, into: type[T]) -> T:
    """The body of a 2xx answer as ``into``; raises for anything else.

    Raises :class:`ApiError` for a 4xx answer and :class:`_Retryable` for one worth retrying.
    """
    if response.status_code in _RETRYABLE_STATUSES:
        raise _Retryable(response)
    if response.status_code >= 400:
        raise _api_error(response)
    return msgspec.json.decode(response.content, type=into)


def retry_after(response: httpx.Response) -> float | None:
    """The seconds the answer's ``Retry-After`` asks to wait, at most ``MAX_RETRY_AFTER``;
    None without the header, or with one that is neither a number nor an HTTP date."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _api_error(response: httpx.Response) -> ApiError:
    try:
        problem = msgspec.json.decode(response.content)
        if not isinstance(problem, dict):
            raise ValueError
    except (msgspec.DecodeError, ValueError):
        problem = {"detail": response.text[:500]}
    return ApiError(
        response.status_code,
        str(problem.get("code", "http_error")),
        str(problem.get("detail", response.reason_phrase)),
        problem,
    )


class _Retryable(Exception):
    """An answer worth sending the request again for (429 or a 5xx)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"{response.status_code} from {response.request.url.path}")
        self.status = response.status_code
        self.retry_after = retry_after(response)


class Retries:
    """Whether, and after how long, to send a request again after it failed."""

    def __init__(self, attempts: int) -> None:
        self._left = attempts
        self._backoff = Backoff()

    def delay_after(self, error: Exception, method: str, path: str) -> float:
        """The delay before the next try; raises when the error is final or tries are spent."""
        if not isinstance(error, _Retryable | httpx.TransportError):
            raise error
        status: int | None = None
        asked: float | None = None  # by the answer's Retry-After
        if isinstance(error, _Retryable):
            status, asked = error.status, error.retry_after
        if self._left == 0:
            raise Unavailable(
                f"{method} {path}: {error}", status=status, retry_after=asked
            ) from error
        self._left -= 1
        delay = self._backoff.next_delay()
        return delay if asked is None else asked


def _body(body: Any) -> bytes | None:
    return None if body is None else msgspec.json.encode(body)


class AsyncTransport:
    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.retries = retries
        self.http = httpx.AsyncClient(
            base_url=url.rstrip("/"),
            headers=headers(api_key),
            timeout=timeout,
            transport=transport,
        )

    async def call(
        self,
        method: str,
        path: str,
        into: type[T],
        body: Any = None,
        *,
        retries: int | None = None,
    ) -> T:
        """Send a request, retrying what is worth retrying up to ``retries`` times."""
        policy = Retries(self.retries if retries is None else retries)
        while True:
            try:
                return decode(await self.http.request(method, path, content=_body(body)), into)
            except Exception as error:
                await asyncio.sleep(policy.delay_after(error, method, path))

    async def send_bytes(
        self,
        path: str,
        into: type[T],
        content: bytes,
        content_type: str,
        params: dict[str, str] | None = None,
    ) -> T:
        """POST ``content`` as the body, as ``content_type``; retried as :meth:`call` is."""
        policy = Retries(self.retries)
        while True:
            try:
                response = await self.http.post(
                    path, content=content, params=params, headers={"Content-Type": content_type}
                )
                return decode(response, into)
            except Exception as error:
                await asyncio.sleep(policy.delay_after(error, "POST", path))

    async def close(self) -> None:
        await self.http.aclose()


class SyncTransport:
    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retries = retries
        self.http = httpx.Client(
            base_url=url.rstrip("/"), headers=headers(api_key), timeout=timeout, transport=transport
        )

    def call(self, method: str, path: str, into: type[T], body: Any = None) -> T:
        policy = Retries(self.retries)
        while True:
            try:
                return decode(self.http.request(method, path, content=_body(body)), into)
            except Exception as error:
                time.sleep(policy.delay_after(error, method, path))

    def close(self) -> None:
        self.http.close()
