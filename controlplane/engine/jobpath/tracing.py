"""W3C trace context (https://www.w3.org/TR/trace-context/) for pipelines and their jobs.

A pipeline joins the trace of the request that submitted it, when that request carried a
valid ``traceparent``, and starts a new trace otherwise. Each job of it is a span of that
trace: its span id is the first half of its job id, so the control plane, the worker and any
exporter name the same span without telling each other. The pipeline's own span id is the
first half of its id.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")


@dataclass(frozen=True)
class TraceParent:
    trace_id: uuid.UUID
    span_id: str


def parse_traceparent(header: str | None) -> TraceParent | None:
    """The caller's trace, or None for a missing or malformed header (which, as the standard
    says, starts a new trace rather than failing the request)."""
    if not header:
        return None
    match = _TRACEPARENT.match(header.strip().lower())
    if match is None:
        return None
    version, trace_id, span_id, _, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return TraceParent(uuid.UUID(trace_id), span_id)


def span_id_of(some_id: uuid.UUID) -> str:
    """The span id of a pipeline or a job: the first half of its id."""
    return some_id.hex[:16]


def trace_url(template: str | None, trace_id: str | None) -> str | None:
    """Where the tracing UI shows a trace: ``template`` with ``{traceId}`` filled in."""
    if template is None or trace_id is None:
        return None
    return template.replace("{traceId}", trace_id)


def job_traceparent(trace_id: uuid.UUID | None, job_id: uuid.UUID) -> str | None:
    """The ``traceparent`` a job carries to its worker (sampled)."""
    if trace_id is None:
        return None
    return f"00-{trace_id.hex}-{span_id_of(job_id)}-01"
