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


def _run(
    definition: str,
    params: dict[str, Any] | None,
    version: int | None,
    idempotency_key: str | None,
    context: dict[str, Any] | None,
    keywords: list[str] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"definition": definition, "params": params or {}}
    if version is not None:
        body["version"] = version
    if context:
        body["context"] = context
    if keywords:
        body["keywords"] = keywords
    body["idempotencyKey"] = idempotency_key
    return _submission(body)


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


class _Waiting:
    """The polling of ``wait``: growing delays, and the deadline."""

    def __init__(self, pipeline_id: str | uuid.UUID, timeout: float | None) -> None:
        self._pipeline_id = pipeline_id
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._delay = 0.05

    def delay_after(self, pipeline: Pipeline) -> float:
        """How long to wait before reading again; raises TimeoutError past the deadline."""
        delay, self._delay = self._delay, min(self._delay * 2, 1.0)
        if self._deadline is None:
            return delay
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"pipeline {self._pipeline_id} is still {pipeline.status}")
        return min(delay, remaining)


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

    async def run_definition(
        self,
        definition: str,
        params: dict[str, Any] | None = None,
        *,
        version: int | None = None,
        idempotency_key: str | None = None,
        context: dict[str, Any] | None = None,
        keywords: list[str] | None = None,
    ) -> Pipeline:
        """Start a run of a published pipeline definition (its newest published version
        unless ``version`` names one), with ``params`` checked against its schema."""
        body = _run(definition, params, version, idempotency_key, context, keywords)
        return await self._transport.call("POST", "/pipelines", Pipeline, body)

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
        waiting = _Waiting(pipeline_id, timeout)
        while True:  # polling: the external API has no push channel
            pipeline = await self.get_pipeline(pipeline_id)
            if pipeline.finished:
                return pipeline
            await asyncio.sleep(waiting.delay_after(pipeline))

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

    def run_definition(
        self,
        definition: str,
        params: dict[str, Any] | None = None,
        *,
        version: int | None = None,
        idempotency_key: str | None = None,
        context: dict[str, Any] | None = None,
        keywords: list[str] | None = None,
    ) -> Pipeline:
        """Start a run of a published pipeline definition (see
        :meth:`AsyncClient.run_definition`)."""
        body = _run(definition, params, version, idempotency_key, context, keywords)
        return self._transport.call("POST", "/pipelines", Pipeline, body)

    def get_pipeline(self, pipeline_id: str | uuid.UUID) -> Pipeline:
        return self._transport.call("GET", f"/pipelines/{pipeline_id}", Pipeline)

    def cancel_pipeline(self, pipeline_id: str | uuid.UUID) -> Pipeline:
        return self._transport.call("POST", f"/pipelines/{pipeline_id}/cancel", Pipeline)

    def wait(self, pipeline_id: str | uuid.UUID, timeout: float | None = None) -> Pipeline:
        """The pipeline once it is completed, failed or cancelled (see :meth:`AsyncClient.wait`)."""
        waiting = _Waiting(pipeline_id, timeout)
        while True:
            pipeline = self.get_pipeline(pipeline_id)
            if pipeline.finished:
                return pipeline
            time.sleep(waiting.delay_after(pipeline))

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
