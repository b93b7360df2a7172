"""W3C trace context: a pipeline joins its caller's trace, each job carries a traceparent,
the SDK continues it into its logs, and the dashboard links a pipeline to its trace."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from typing import Any

import asyncpg

from controlplane.api.app import create_internal_app
from controlplane.engine.jobpath.tracing import parse_traceparent
from tests.dashboard import Dashboard, add_member, logged_in, services_for
from tests.system import URL, System, running, running_system, sdk_worker
from worker_sdk import AsyncClient, JobContext
from worker_sdk.logs import JsonFormatter, TextFormatter

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"


def test_a_traceparent_is_read_as_the_standard_says() -> None:
    parsed = parse_traceparent(CALLER)
    assert parsed is not None
    assert (parsed.trace_id.hex, parsed.span_id) == (CALLER_TRACE, "00f067aa0ba902b7")
    assert parse_traceparent(CALLER.upper()) == parsed  # hex in either case
    # A later version may add fields after these four.
    assert parse_traceparent(f"cc-{CALLER_TRACE}-00f067aa0ba902b7-01-what-comes") is not None
    for bad in (
        None,
        "",
        "garbage",
        f"ff-{CALLER_TRACE}-00f067aa0ba902b7-01",  # version ff is forbidden
        f"00-{'0' * 32}-00f067aa0ba902b7-01",  # an all-zero trace id
        f"00-{CALLER_TRACE}-{'0' * 16}-01",  # an all-zero span id
        f"00-{CALLER_TRACE}-00f067aa0ba902b7-01-extra",  # version 00 has exactly four
        f"00-{CALLER_TRACE[:-1]}-00f067aa0ba902b7-01",
    ):
        assert parse_traceparent(bad) is None, bad


async def test_a_pipeline_joins_its_caller_s_trace_and_each_job_is_a_span_of_it(
    system: System,
) -> None:
    response = await system.client.post(
        "/pipelines",
        json={"name": "traced", "stages": [{"name": "a", "handler": "t"}]},
        headers={"traceparent": CALLER},
    )
    assert response.status_code == 201
    assert response.json()["traceId"] == CALLER_TRACE
    [job] = await system.pull("t", wait=5)
    span = uuid.UUID(job["jobId"]).hex[:16]
    assert job["traceparent"] == f"00-{CALLER_TRACE}-{span}-01"
    assert (await system.pipeline(response.json()["id"]))["traceId"] == CALLER_TRACE
    stored = await system.pool.fetchrow("SELECT parent_span_id FROM pipelines")
    assert stored["parent_span_id"] == "00f067aa0ba902b7"


async def test_without_a_valid_traceparent_each_pipeline_starts_its_own_trace(
    system: System,
) -> None:
    traces = []
    for header in ({}, {"traceparent": "nonsense"}):
        response = await system.client.post(
            "/pipelines",
            json={"name": "new", "stages": [{"name": "a", "handler": "n"}]},
            headers=header,
        )
        assert response.status_code == 201  # a bad header never fails the submit
        traces.append(response.json()["traceId"])
    assert all(re.fullmatch("[0-9a-f]{32}", trace) for trace in traces)
    assert traces[0] != traces[1]
    jobs = await system.pull_until("n", 2)
    assert {job["traceparent"].split("-")[1] for job in jobs} == set(traces)


async def test_a_handler_sees_its_trace_and_its_log_lines_carry_the_ids(
    system: System,
) -> None:
    system.start_builtin_worker()
    worker = sdk_worker(system)
    seen: dict[str, Any] = {}
    json_lines, text_lines = io.StringIO(), io.StringIO()
    handlers = []
    for stream, formatter in ((json_lines, JsonFormatter()), (text_lines, TextFormatter())):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        handlers.append(handler)
    app_log = logging.getLogger("my.handler")
    for handler in handlers:
        app_log.addHandler(handler)

    @worker.handler("traced")
    def traced(ctx: JobContext, _: Any) -> None:
        seen.update(traceparent=ctx.traceparent, trace=ctx.trace_id, span=ctx.span_id)
        seen.update(job=ctx.job_id, pipeline=ctx.pipeline_id, stage=ctx.stage_id)
        app_log.warning("working on it")  # a sync handler: in a thread of its own

    try:
        async with (
            AsyncClient(URL, system.api_key, transport=system.transport) as c,
            running(worker),
        ):
            pipeline = await c.create_pipeline(
                {"name": "p", "stages": [{"name": "s", "handler": "traced"}]}
            )
            finished = await c.wait(pipeline.id, timeout=20)
    finally:
        for handler in handlers:
            app_log.removeHandler(handler)
    assert finished.trace_id == seen["trace"]
    assert seen["traceparent"] == f"00-{seen['trace']}-{seen['span']}-01"
    [line] = [json.loads(x) for x in json_lines.getvalue().splitlines()]
    assert line["message"] == "working on it"
    assert line["level"] == "WARNING"
    assert (line["pipeline_id"], line["stage_id"], line["job_id"]) == (
        seen["pipeline"],
        seen["stage"],
        seen["job"],
    )
    assert (line["trace_id"], line["span_id"]) == (seen["trace"], seen["span"])
    assert f"trace_id={seen['trace']}" in text_lines.getvalue()


async def test_the_dashboard_links_a_pipeline_to_its_trace(
    pool: asyncpg.Pool, rabbitmq: Any
) -> None:
    template = "https://traces.example.com/trace/{traceId}?from=pipelogiq"
    async with running_system(pool, rabbitmq) as system:
        response = await system.client.post(
            "/pipelines",
            json={"name": "linked", "stages": [{"name": "a", "handler": "l"}]},
            headers={"traceparent": CALLER},
        )
        await add_member(pool, system.application.id, "op@example.com", "operator")
        services = services_for(pool, rabbitmq, trace_url=template)
        operator = await logged_in(create_internal_app(services), "op@example.com")
        try:
            detail = (await operator.get(f"/api/pipelines/{response.json()['id']}")).json()
        finally:
            await operator.aclose()
    assert detail["pipeline"]["traceId"] == CALLER_TRACE
    assert detail["traceUrl"] == f"https://traces.example.com/trace/{CALLER_TRACE}?from=pipelogiq"


async def test_without_a_trace_url_there_is_no_link(system: System, operator: Dashboard) -> None:
    pipeline = await system.submit([{"name": "a", "handler": "x"}])
    detail = (await operator.get(f"/api/pipelines/{pipeline['id']}")).json()
    assert detail["traceUrl"] is None
    assert detail["pipeline"]["traceId"] == pipeline["traceId"]
