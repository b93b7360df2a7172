"""HTTP to the control plane: authentication, problem documents, retries with backoff.

A request that fails on the network, or is answered 429 or 5xx, is retried with capped
exponential backoff and full jitter; a 4xx answer raises :class:`ApiError` at once, since
sending the same request again cannot help.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import msgspec

from worker_sdk.errors import ApiError, Unavailable

T = TypeVar("T")

_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


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


def encode(body: Any) -> bytes:
    return msgspec.json.encode(body)


def decode(response: httpx.Response, into: type[T]) -> T:
    """The body of a 2xx answer as ``into``; raises for anything else.

    Raises :class:`ApiError` for a 4xx answer and :class:`_Retryable` for one worth retrying.
    """
    if response.status_code in _RETRYABLE_STATUSES:
        raise _Retryable(f"{response.status_code} from {response.request.url.path}")
    if response.status_code >= 400:
        raise _api_error(response)
    return msgspec.json.decode(response.content, type=into)


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
    pass


def _is_retryable(error: Exception) -> bool:
    return isinstance(error, _Retryable | httpx.TransportError)


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
        backoff = Backoff()
        attempts_left = self.retries if retries is None else retries
        while True:
            try:
                response = await self.http.request(
                    method,
                    path,
                    content=None if body is None else encode(body),
                )
                return decode(response, into)
            except Exception as error:
                if not _is_retryable(error):
                    raise
                if attempts_left == 0:
                    raise Unavailable(f"{method} {path}: {error}") from error
                attempts_left -= 1
                await asyncio.sleep(backoff.next_delay())

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
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.retries = retries
        self._sleep = sleep
        self.http = httpx.Client(
            base_url=url.rstrip("/"), headers=headers(api_key), timeout=timeout, transport=transport
        )

    def call(self, method: str, path: str, into: type[T], body: Any = None) -> T:
        backoff = Backoff()
        attempts_left = self.retries
        while True:
            try:
                response = self.http.request(
                    method, path, content=None if body is None else encode(body)
                )
                return decode(response, into)
            except Exception as error:
                if not _is_retryable(error):
                    raise
                if attempts_left == 0:
                    raise Unavailable(f"{method} {path}: {error}") from error
                attempts_left -= 1
                self._sleep(backoff.next_delay())

    def close(self) -> None:
        self.http.close()
