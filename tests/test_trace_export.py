"""OpenTelemetry export: pipelines and jobs reach an OTLP/HTTP collector as spans of the
caller's trace, and the SDK's handler span continues each job's."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.processes import free_port
from tests.system import URL, running, running_system, sdk_worker
from worker_sdk import AsyncClient, JobContext, TerminalError

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


class Collector:
    """An OTLP/HTTP trace receiver: what the exporter sends, decoded."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        received = self.spans

        class Receive(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        received.extend((resource.resource, span) for span in scope.spans)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Receive)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def named(self, name: str) -> list[Any]:
        return [span for _, span in self.spans if span.name == name]


@pytest.fixture
def collector() -> Iterator[Collector]:
    receiver = Collector()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture(scope="module")
def sdk_spans() -> InMemorySpanExporter:
    """The worker's service has OpenTelemetry set up (its global tracer provider)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


async def test_pipelines_and_jobs_are_exported_as_spans_of_the_caller_s_trace(
    pool: asyncpg.Pool, rabbitmq: Any, collector: Collector, sdk_spans: InMemorySpanExporter
) -> None:
    async with running_system(pool, rabbitmq, otel_traces_endpoint=collector.url) as system:
        system.start_builtin_worker()
        worker = sdk_worker(system)

        @worker.handler("exported")
        def exported(ctx: JobContext, data: dict[str, Any]) -> str:
            if data.get("fail"):
                raise TerminalError("the file is empty", code="empty")
            return "done"

        stages = [
            {"name": "fetch", "handler": "exported", "input": {}},
            {"name": "check", "handler": "exported", "input": {"fail": True}},
        ]
        response = await system.client.post(
            "/pipelines",
            json={"name": "nightly", "stages": stages},
            headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},
        )
        pipeline_id = uuid.UUID(response.json()["id"])
        async with (
            AsyncClient(URL, system.api_key, transport=system.transport) as client,
            running(worker),
        ):
            finished = await client.wait(str(pipeline_id), timeout=20)
        assert finished.status == "failed"
        jobs = {
            r["stage_name"]: r["job_id"]
            for r in await pool.fetch("SELECT stage_name, job_id FROM stage_attempts")
        }
        assert system.services.effects.traces is not None
        await system.services.effects.traces.close()  # sends what is pending

    [root] = collector.named("pipeline nightly")
    assert root.trace_id.hex() == CALLER_TRACE
    assert root.span_id.hex() == pipeline_id.hex[:16]
    assert root.parent_span_id.hex() == CALLER_SPAN  # a child of the caller's span
    assert root.status.code == 2  # ERROR: the pipeline failed
    [fetch] = collector.named("stage fetch")
    [check] = collector.named("stage check")
    for span, stage in ((fetch, "fetch"), (check, "check")):
        assert span.trace_id.hex() == CALLER_TRACE
        assert span.span_id.hex() == jobs[stage].hex[:16]  # the span the traceparent names
        assert span.parent_span_id.hex() == root.span_id.hex()
        assert span.start_time_unix_nano < span.end_time_unix_nano
    attributes = {a.key: a.value.string_value for a in check.attributes}
    assert attributes["pipelogiq.handler"] == "exported"
    assert attributes["pipelogiq.outcome"] == "failed"
    assert (check.status.code, check.status.message) == (2, "empty: the file is empty")
    assert fetch.status.code == 1  # OK
    services = {
        a.value.string_value
        for r, _ in collector.spans
        for a in r.attributes
        if a.key == "service.name"
    }
    assert services == {"pipelogiq"}

    # The worker's own span of each job continues the job's span.
    handled = [s for s in sdk_spans.get_finished_spans() if s.name == "handle exported"]
    assert len(handled) == 2
    for span in handled:
        assert format(span.context.trace_id, "032x") == CALLER_TRACE
        assert span.parent is not None
        assert format(span.parent.span_id, "016x") in {fetch.span_id.hex(), check.span_id.hex()}
    failed = [s for s in handled if s.attributes["pipelogiq.outcome"] == "failed"]
    assert [s.status.description for s in failed] == ["the file is empty"]


async def test_without_an_endpoint_nothing_is_exported(system: Any) -> None:
    assert system.services.effects.traces is None
