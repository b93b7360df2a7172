"""HTTP to the control plane: authentication, problem documents, retries with backoff.

A request that fails on the network, or is answered 429 or 5xx, is retried with capped
exponential backoff and full jitter; a 4xx answer raises :class:`ApiError` at once, since
sending the same request again cannot help.
"""

from __future__ import annotations

import asyncio
import random
import time
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


class Retries:
    """Whether, and after how long, to send a request again after it failed."""

    def __init__(self, attempts: int) -> None:
        self._left = attempts
        self._backoff = Backoff()

    def delay_after(self, error: Exception, method: str, path: str) -> float:
        """The delay before the next try; raises when the error is final or tries are spent."""
        if not isinstance(error, _Retryable | httpx.TransportError):
            raise error
        if self._left == 0:
            raise Unavailable(f"{method} {path}: {error}") from error
        self._left -= 1
        return self._backoff.next_delay()


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
