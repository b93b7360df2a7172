"""Clients for applications: submit pipelines, read them, cancel them, wait for them."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import msgspec

from worker_sdk.builder import PipelineSpec
from worker_sdk.transport import AsyncTransport, SyncTransport
from worker_sdk.wire import Pipeline

PipelineRequest = PipelineSpec | dict[str, Any]


def _submission(pipeline: PipelineRequest) -> dict[str, Any]:
    body: dict[str, Any] = (
        msgspec.to_builtins(pipeline) if isinstance(pipeline, PipelineSpec) else dict(pipeline)
    )
    # Every submit carries an idempotency key, so a submit retried after a lost answer
    # returns the first pipeline instead of creating a second one.
    body.setdefault("idempotencyKey", None)
    if body["idempotencyKey"] is None:
        body["idempotencyKey"] = f"sdk-{uuid.uuid4()}"
    return body


def _poll_delays() -> Any:
    delay = 0.05
    while True:
        yield delay
        delay = min(delay * 2, 1.0)


class AsyncClient:
    """``async with AsyncClient(url, api_key) as client: await client.create_pipeline(...)``"""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._transport = AsyncTransport(
            url, api_key, timeout=timeout, retries=retries, transport=transport
        )

    async def create_pipeline(self, pipeline: PipelineRequest) -> Pipeline:
        return await self._transport.call("POST", "/pipelines", Pipeline, _submission(pipeline))

    async def get_pipeline(self, pipeline_id: str | uuid.UUID) -> Pipeline:
        return await self._transport.call("GET", f"/pipelines/{pipeline_id}", Pipeline)

    async def cancel_pipeline(self, pipeline_id: str | uuid.UUID) -> Pipeline:
        return await self._transport.call("POST", f"/pipelines/{pipeline_id}/cancel", Pipeline)

    async def wait(
        self,
        pipeline_id: str | uuid.UUID,
        timeout: float | None = None,  # noqa: ASYNC109 - the same call shape as Client.wait
    ) -> Pipeline:
        """The pipeline once it is completed, failed or cancelled.

        Raises :class:`TimeoutError` if it is still running after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for delay in _poll_delays():
            pipeline = await self.get_pipeline(pipeline_id)
            if pipeline.finished:
                return pipeline
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"pipeline {pipeline_id} is still {pipeline.status}")
                delay = min(delay, remaining)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Client:
    """The blocking twin of :class:`AsyncClient`, for scripts and synchronous services."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._transport = SyncTransport(
            url, api_key, timeout=timeout, retries=retries, transport=transport
        )

    def create_pipeline(self, pipeline: PipelineRequest) -> Pipeline:
        return self._transport.call("POST", "/pipelines", Pipeline, _submission(pipeline))

    def get_pipeline(self, pipeline_id: str | uuid.UUID) -> Pipeline:
        return self._transport.call("GET", f"/pipelines/{pipeline_id}", Pipeline)

    def cancel_pipeline(self, pipeline_id: str | uuid.UUID) -> Pipeline:
        return self._transport.call("POST", f"/pipelines/{pipeline_id}/cancel", Pipeline)

    def wait(self, pipeline_id: str | uuid.UUID, timeout: float | None = None) -> Pipeline:
        """The pipeline once it is completed, failed or cancelled (see :meth:`AsyncClient.wait`)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for delay in _poll_delays():
            pipeline = self.get_pipeline(pipeline_id)
            if pipeline.finished:
                return pipeline
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"pipeline {pipeline_id} is still {pipeline.status}")
                delay = min(delay, remaining)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
