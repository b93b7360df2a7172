"""OpenTelemetry export of pipelines and jobs as spans, when an OTLP endpoint is configured.

Each pipeline is a span of its trace (its span id is the first half of its id; its parent the
caller's span, when the submit carried a ``traceparent``), and each job a child span of its
pipeline (its span id the first half of its job id: the span the job's ``traceparent``
names, which the SDK continues). Spans are built from what the database recorded — the
attempt history and the pipeline row — once they have ended, and sent in the background
through a batching exporter: the job path never waits on the collector.

Needs the ``otel`` extra (``pip install 'pipelogiq[otel]'``); without it, a configured
endpoint is reported once and ignored.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from typing import Any

import asyncpg

from controlplane.engine.jobpath.tracing import span_id_of

log = logging.getLogger(__name__)

_FINISHED_JOBS = """
SELECT a.job_id, a.pipeline_id, a.stage_id, a.stage_name, a.handler, a.attempt, a.outcome,
       a.error, a.worker_id, a.started_at, a.finished_at, s.trace_id
FROM stage_attempts a JOIN stages s ON s.id = a.stage_id
WHERE a.job_id = ANY($1::uuid[]) AND s.trace_id IS NOT NULL
"""

_FINISHED_PIPELINES = """
SELECT id, application_id, name, status, trace_id, parent_span_id, created_at, finished_at
FROM pipelines
WHERE id = ANY($1::uuid[]) AND trace_id IS NOT NULL AND finished_at IS NOT NULL
"""


def _nanos(at: Any) -> int:
    return int(at.timestamp() * 1_000_000_000)


class TraceExport:
    """Spans of finished jobs and pipelines, sent to an OTLP/HTTP collector."""

    def __init__(self, pool: asyncpg.Pool, endpoint: str, service_name: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self._pool = pool
        self._processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))
        self._resource = Resource.create({"service.name": service_name})
        self._pending: set[asyncio.Task[None]] = set()

    @classmethod
    def configured(
        cls, pool: asyncpg.Pool, endpoint: str | None, service_name: str
    ) -> TraceExport | None:
        if endpoint is None:
            return None
        try:
            return cls(pool, endpoint, service_name)
        except ImportError:
            log.warning(
                "an OTLP endpoint is set but OpenTelemetry is not installed "
                "(pip install 'pipelogiq[otel]'): no spans are exported"
            )
            return None

    def jobs_finished(self, job_ids: Iterable[uuid.UUID]) -> None:
        """Export the spans of these jobs (their attempts have ended), in the background."""
        if ids := list(job_ids):
            self._soon(self._export_jobs(ids))

    def pipelines_finished(self, pipeline_ids: Iterable[uuid.UUID]) -> None:
        if ids := list(pipeline_ids):
            self._soon(self._export_pipelines(ids))

    async def close(self) -> None:
        """Send what is still pending; called as the process stops."""
        if self._pending:
            await asyncio.wait(self._pending, timeout=5)
        await asyncio.to_thread(self._processor.shutdown)

    def _soon(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _rows(self, query: str, ids: list[uuid.UUID], what: str) -> list[asyncpg.Record]:
        """The rows spans are made of; none if the database cannot be read (spans are best
        effort: a missing one is a gap in a trace, never a failure of the job path)."""
        try:
            return await self._pool.fetch(query, ids)
        except (asyncpg.PostgresError, OSError):
            log.warning("could not read %d finished %s for their spans", len(ids), what)
            return []

    async def _export_jobs(self, job_ids: list[uuid.UUID]) -> None:
        for row in await self._rows(_FINISHED_JOBS, job_ids, "jobs"):
            attributes = {
                "pipelogiq.pipeline_id": str(row["pipeline_id"]),
                "pipelogiq.stage_id": str(row["stage_id"]),
                "pipelogiq.stage": row["stage_name"],
                "pipelogiq.handler": row["handler"],
                "pipelogiq.job_id": str(row["job_id"]),
                "pipelogiq.attempt": row["attempt"],
                "pipelogiq.outcome": row["outcome"],
            }
            if row["worker_id"] is not None:
                attributes["pipelogiq.worker_id"] = str(row["worker_id"])
            failed = row["outcome"] != "completed"
            self._end(
                f"stage {row['stage_name']}",
                row["trace_id"],
                span_id_of(row["job_id"]),
                span_id_of(row["pipeline_id"]),
                row["started_at"],
                row["finished_at"],
                attributes,
                error=_error_message(row["error"], row["outcome"]) if failed else None,
            )

    async def _export_pipelines(self, pipeline_ids: list[uuid.UUID]) -> None:
        for row in await self._rows(_FINISHED_PIPELINES, pipeline_ids, "pipelines"):
            self._end(
                f"pipeline {row['name']}",
                row["trace_id"],
                span_id_of(row["id"]),
                row["parent_span_id"],
                row["created_at"],
                row["finished_at"],
                {
                    "pipelogiq.pipeline_id": str(row["id"]),
                    "pipelogiq.application_id": str(row["application_id"]),
                    "pipelogiq.status": row["status"],
                },
                error=None if row["status"] == "completed" else row["status"],
            )

    def _end(
        self,
        name: str,
        trace_id: uuid.UUID,
        span_id: str,
        parent_span_id: str | None,
        started: Any,
        ended: Any,
        attributes: dict[str, Any],
        error: str | None,
    ) -> None:
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
        from opentelemetry.trace.status import Status, StatusCode

        def context(span: str) -> SpanContext:
            return SpanContext(
                trace_id.int, int(span, 16), is_remote=False, trace_flags=TraceFlags(1)
            )

        span = ReadableSpan(
            name,
            context=context(span_id),
            parent=context(parent_span_id) if parent_span_id else None,
            resource=self._resource,
            attributes=attributes,
            kind=SpanKind.INTERNAL,
            status=Status(StatusCode.ERROR, error) if error else Status(StatusCode.OK),
            start_time=_nanos(started),
            end_time=_nanos(ended),
        )
        self._processor.on_end(span)


def _error_message(error: Any, outcome: str) -> str:
    if isinstance(error, dict) and error.get("message"):
        return f"{error.get('code', outcome)}: {error['message']}"
    return outcome
