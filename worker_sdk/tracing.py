"""A span around each handler, continuing the job's trace, when OpenTelemetry is set up.

With ``opentelemetry-api`` installed and a tracer provider configured by your service (the
OpenTelemetry SDK, or its auto-instrumentation), each job runs inside a span named
``handle {handler}``, a child of the job's own span (its ``traceparent``): calls the handler
makes through instrumented libraries join the pipeline's trace. Without them this does
nothing, at no cost.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

try:
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # the API is optional
    trace = None  # type: ignore[assignment]


@contextlib.contextmanager
def handler_span(
    handler: str, traceparent: str | None, attributes: dict[str, Any]
) -> Iterator[Any]:
    """The span the handler runs in (None without OpenTelemetry or a traceparent)."""
    if trace is None or traceparent is None:
        yield None
        return
    parent = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
    tracer = trace.get_tracer("worker_sdk")
    with tracer.start_as_current_span(
        f"handle {handler}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes=attributes,
        record_exception=False,  # a handler's error is the job's outcome, set by the caller
        set_status_on_exception=False,
    ) as span:
        yield span


def set_outcome(span: Any, status: str, error: str | None) -> None:
    """Mark the handler's span with how the job ended."""
    if span is None or trace is None:
        return
    span.set_attribute("pipelogiq.outcome", status)
    if status != "completed":
        span.set_status(trace.Status(trace.StatusCode.ERROR, error or status))
