"""The worker SDK against a real control plane (in this process, on PostgreSQL and RabbitMQ)."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest

from tests.processes import free_port
from tests.system import URL, System, running, sdk_worker
from worker_sdk import (
    ApiError,
    AsyncClient,
    JobContext,
    PipelineSpec,
    RetryableError,
    TerminalError,
    Worker,
)


class Order(msgspec.Struct):
    id: str
    quantity: int


@dataclasses.dataclass
class Greeting:
    name: str


@pytest.fixture
async def client(system: System) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(URL, system.api_key, transport=system.transport) as client:
        yield client


async def test_typed_sync_and_async_handlers_run_a_pipeline(
    system: System, client: AsyncClient
) -> None:
    system.start_builtin_worker()
    worker = sdk_worker(system)

    @worker.handler("orders.price")
    def price(ctx: JobContext, order: Order) -> dict[str, Any]:
        ctx.log.info("pricing %s", order.id)
        ctx.set_context("currency", "EUR")
        return {"total": order.quantity * 3}

    @worker.handler("orders.greet")
    async def greet(ctx: JobContext, greeting: Greeting) -> str:
        await asyncio.sleep(0)
        total = ctx.dependencies["price"]["total"]
        return f"hello {greeting.name}: {total} {ctx.context['currency']}"

    spec = PipelineSpec("order")
    spec.stage("price", "orders.price", input={"id": "A-1", "quantity": 4})
    spec.stage("greet", "orders.greet", input={"name": "Ada"})
    async with running(worker):
        submitted = await client.create_pipeline(spec)
        finished = await client.wait(submitted.id, timeout=20)
    assert finished.status == "completed"
    assert finished.stage("price").output == {"total": 12}
    assert finished.stage("greet").output == "hello Ada: 12 EUR"
    assert finished.context == {"currency": "EUR"}
    logs = await system.pool.fetch("SELECT level, message FROM stage_logs")
    assert [(r["level"], r["message"]) for r in logs] == [("info", "pricing A-1")]
    assert worker.stats.completed == 2


async def test_an_input_that_does_not_fit_fails_without_retry(
    system: System, client: AsyncClient
) -> None:
    system.start_builtin_worker()
    worker = sdk_worker(system)
    calls = []

    @worker.handler("orders.price")
    def price(ctx: JobContext, order: Order) -> int:
        calls.append(order)
        return order.quantity

    async with running(worker):
        submitted = await client.create_pipeline(
            {
                "name": "bad",
                "stages": [
                    {
                        "name": "p",
                        "handler": "orders.price",
                        "input": {"id": "A"},
                        "maxRetries": 3,
                    }
                ],
            }
        )
        finished = await client.wait(submitted.id, timeout=20)
    assert finished.status == "failed"
    error = finished.stage("p").error
    assert error["code"] == "invalid_input"
    assert "Order" in error["message"]
    assert "quantity" in error["message"]
    assert finished.stage("p").attempt == 1  # terminal: not retried
    assert calls == []


async def test_errors_decide_retries(system: System, client: AsyncClient) -> None:
    system.start_builtin_worker()
    worker = sdk_worker(system)
    attempts: dict[str, list[int]] = {"flaky": [], "broken": [], "crash": []}

    @worker.handler("flaky")
    def flaky(ctx: JobContext, _: Any) -> str:
        attempts["flaky"].append(ctx.attempt)
        if ctx.attempt == 1:
            raise RetryableError("try again", code="BUSY")
        return "ok"

    @worker.handler("broken")
    def broken(ctx: JobContext, _: Any) -> None:
        attempts["broken"].append(ctx.attempt)
        raise TerminalError("cannot work", code="BROKEN")

    @worker.handler("crash")
    async def crash(ctx: JobContext, _: Any) -> None:
        attempts["crash"].append(ctx.attempt)
        raise ValueError("unexpected")

    retry = {"maxRetries": 2, "retryBackoffSeconds": 0.05, "dependsOn": []}
    async with running(worker):
        ids = [
            (
                await client.create_pipeline(
                    {"name": h, "stages": [{"name": h, "handler": h, **retry}]}
                )
            ).id
            for h in attempts
        ]
        finished = [await client.wait(i, timeout=20) for i in ids]
    assert [p.status for p in finished] == ["completed", "failed", "failed"]
    assert attempts == {"flaky": [1, 2], "broken": [1], "crash": [1, 2, 3]}
    assert finished[1].stages[0].error == {"message": "cannot work", "code": "BROKEN"}
    assert finished[2].stages[0].error["code"] == "ValueError"


async def test_concurrency_limit_is_obeyed(system: System, client: AsyncClient) -> None:
    system.start_builtin_worker()
    worker = sdk_worker(system, concurrency=2)
    now_running = 0
    most = 0
    lock = threading.Lock()

    @worker.handler("slow")
    def slow(ctx: JobContext, _: Any) -> None:
        nonlocal now_running, most
        with lock:
            now_running += 1
            most = max(most, now_running)
        time.sleep(0.1)
        with lock:
            now_running -= 1

    stages = [{"name": f"s{i}", "handler": "slow", "dependsOn": []} for i in range(6)]
    async with running(worker):
        submitted = await client.create_pipeline({"name": "wide", "stages": stages})
        finished = await client.wait(submitted.id, timeout=20)
    assert finished.status == "completed"
    assert most == 2


@pytest.mark.parametrize("broker", ["rabbitmq"], indirect=True)
async def test_a_cancelled_pipeline_stops_its_running_handler(pool: Any, broker: Any) -> None:
    from tests.system import running_system

    async with running_system(pool, broker, heartbeat_interval_seconds=0.2) as system:
        system.start_builtin_worker()
        async with AsyncClient(URL, system.api_key, transport=system.transport) as client:
            worker = sdk_worker(system)
            started = asyncio.Event()
            stopped = asyncio.Event()

            @worker.handler("long")
            async def long(ctx: JobContext, _: Any) -> None:
                started.set()
                try:
                    await asyncio.sleep(60)
                except asyncio.CancelledError:
                    stopped.set()
                    raise

            async with running(worker):
                submitted = await client.create_pipeline(
                    {"name": "c", "stages": [{"name": "l", "handler": "long"}]}
                )
                await asyncio.wait_for(started.wait(), 10)
                await client.cancel_pipeline(submitted.id)
                await asyncio.wait_for(stopped.wait(), 10)
                pipeline = await client.get_pipeline(submitted.id)
            assert pipeline.status == "cancelled"
            assert worker.stats.dropped == 1
            assert worker.stats.completed == worker.stats.failed == 0


async def test_a_worker_serves_its_own_metrics_when_given_a_port(
    system: System, client: AsyncClient
) -> None:
    system.start_builtin_worker()
    port = free_port()
    worker = sdk_worker(system, metrics_port=port)

    @worker.handler("measured")
    def measured(ctx: JobContext, data: dict[str, Any]) -> None:
        if data.get("fail"):
            raise TerminalError("no")

    stages = [
        {"name": "ok", "handler": "measured", "input": {}},
        {"name": "bad", "handler": "measured", "input": {"fail": True}, "dependsOn": ["ok"]},
    ]
    async with running(worker):
        submitted = await client.create_pipeline({"name": "m", "stages": stages})
        await client.wait(submitted.id, timeout=20)
        async with httpx.AsyncClient() as http:
            exposed = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    assert 'pipelogiq_worker_jobs_total{handler="measured",outcome="completed"} 1.0' in exposed
    assert 'pipelogiq_worker_jobs_total{handler="measured",outcome="failed"} 1.0' in exposed
    assert 'pipelogiq_worker_job_duration_seconds_count{handler="measured"} 2.0' in exposed
    assert "pipelogiq_worker_jobs_running 0.0" in exposed
    lint = await asyncio.to_thread(
        subprocess.run,
        ["promtool", "check", "metrics"],
        input=exposed,
        capture_output=True,
        text=True,
    )
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, "")
    # Stopped, the worker no longer listens.
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/metrics")


async def test_a_stopped_worker_hands_back_what_outlives_its_grace(
    system: System, client: AsyncClient
) -> None:
    worker = sdk_worker(system, shutdown_grace_seconds=0.5)
    started = asyncio.Event()

    @worker.handler("endless")
    async def endless(ctx: JobContext, _: Any) -> None:
        started.set()
        await asyncio.sleep(60)

    submitted = await client.create_pipeline(
        {"name": "h", "stages": [{"name": "e", "handler": "endless"}]}
    )
    async with running(worker):
        await asyncio.wait_for(started.wait(), 10)
    # Handed back as the worker left, not held for the 30 s lease: the next worker gets it.
    [job] = await system.pull("endless", wait=2)
    assert job["pipelineId"] == submitted.id
    assert worker.stats.dropped == 1
    stage = await system.pool.fetchrow("SELECT status, lease_expiries FROM stages")
    assert (stage["status"], stage["lease_expiries"]) == ("running", 1)


@pytest.mark.parametrize("broker", ["rabbitmq"], indirect=True)
async def test_heartbeats_keep_a_long_job_s_lease(pool: Any, broker: Any) -> None:
    from tests.system import running_system

    quick = {"lease_seconds": 1.0, "heartbeat_interval_seconds": 0.2, "sweep_interval_seconds": 0.2}
    async with running_system(pool, broker, **quick) as system:
        system.start_builtin_worker()
        async with AsyncClient(URL, system.api_key, transport=system.transport) as client:
            worker = sdk_worker(system)

            @worker.handler("long")
            async def long(ctx: JobContext, _: Any) -> str:
                await asyncio.sleep(3)  # three times the lease
                return "done"

            async with running(worker):
                submitted = await client.create_pipeline(
                    {"name": "l", "stages": [{"name": "l", "handler": "long"}]}
                )
                finished = await client.wait(submitted.id, timeout=20)
        expiries = await system.pool.fetchval("SELECT lease_expiries FROM stages")
        metrics = await system.pool.fetchval("SELECT metrics FROM workers")
    assert finished.status == "completed"
    assert finished.stages[0].attempt == 1
    assert expiries == 0
    # The heartbeats said what the worker's process uses.
    assert metrics["cpuPercent"] >= 0
    assert metrics["memoryBytes"] > 10_000_000


async def test_a_handler_past_its_timeout_is_stopped_and_fails_as_a_timeout(
    system: System, client: AsyncClient
) -> None:
    system.start_builtin_worker()
    worker = sdk_worker(system)
    saw_cancel = threading.Event()

    @worker.handler("sleepy")
    def sleepy(ctx: JobContext, _: Any) -> None:
        if not ctx.cancelled.wait(30):  # a cooperative sync handler
            return
        saw_cancel.set()

    async with running(worker):
        submitted = await client.create_pipeline(
            {"name": "t", "stages": [{"name": "s", "handler": "sleepy", "timeoutSeconds": 1}]}
        )
        finished = await client.wait(submitted.id, timeout=20)
    assert finished.status == "failed"
    assert finished.stages[0].error["code"] == "timeout"
    assert saw_cancel.wait(5)


class FlakyTransport(httpx.AsyncBaseTransport):
    """Passes requests through, except that acks fail while ``down`` is set."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.down = asyncio.Event()
        self.refused_acks = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down.is_set() and request.url.path == "/jobs/ack":
            self.refused_acks += 1
            raise httpx.ConnectError("control plane unreachable", request=request)
        return await self.inner.handle_async_request(request)


async def test_results_kept_through_an_outage_arrive_afterwards(
    system: System, client: AsyncClient
) -> None:
    system.start_builtin_worker()
    flaky = FlakyTransport(system.transport)
    flaky.down.set()
    worker = Worker(URL, system.api_key, transport=flaky, poll_seconds=0.5)

    @worker.handler("echo")
    def echo(ctx: JobContext, value: Any) -> Any:
        return value

    async with running(worker):
        submitted = await client.create_pipeline(
            {"name": "o", "stages": [{"name": "e", "handler": "echo", "input": 7}]}
        )
        for _ in range(100):
            if flaky.refused_acks >= 2:
                break
            await asyncio.sleep(0.05)
        assert flaky.refused_acks >= 2  # it kept trying
        assert (await client.get_pipeline(submitted.id)).status == "running"
        flaky.down.clear()
        finished = await client.wait(submitted.id, timeout=20)
    assert finished.stage("e").output == 7


async def test_a_wrong_api_key_fails_the_worker_at_start(system: System) -> None:
    worker = Worker(URL, "plq_wrong", transport=system.transport)

    @worker.handler("x")
    def x(ctx: JobContext, _: Any) -> None: ...

    with pytest.raises(ApiError) as raised:
        await worker.run_async(handle_signals=False)
    assert raised.value.status == 401
    assert raised.value.code == "invalid_api_key"


async def test_client_reads_and_refuses_with_codes(system: System, client: AsyncClient) -> None:
    with pytest.raises(ApiError) as raised:
        await client.get_pipeline("00000000-0000-0000-0000-000000000000")
    assert (raised.value.status, raised.value.code) == (404, "pipeline_not_found")
    with pytest.raises(ApiError) as raised:
        await client.create_pipeline({"name": "x", "stages": []})
    assert raised.value.code == "invalid_request"


async def test_a_retried_submit_returns_the_first_pipeline(system: System) -> None:
    # The first answer is lost on the way back: the client sends again with the same key.
    class LoseFirstAnswer(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.submits = 0

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await system.transport.handle_async_request(request)
            if request.url.path == "/pipelines" and request.method == "POST":
                self.submits += 1
                if self.submits == 1:
                    raise httpx.ReadError("connection reset", request=request)
            return response

    transport = LoseFirstAnswer()
    async with AsyncClient(URL, system.api_key, transport=transport) as client:
        pipeline = await client.create_pipeline(
            {"name": "once", "stages": [{"name": "a", "handler": "h"}]}
        )
    assert transport.submits == 2
    assert await system.pool.fetchval("SELECT count(*) FROM pipelines") == 1
    assert pipeline.name == "once"


async def test_a_result_the_control_plane_refuses_fails_its_job_and_spares_the_rest(
    system: System, client: AsyncClient
) -> None:
    system.start_builtin_worker()
    worker = sdk_worker(system)

    @worker.handler("writer")
    def writer(ctx: JobContext, key: str) -> str:
        ctx.set_context(key, 1)  # a key of 300 characters is over the limit of 200
        return "written"

    async with running(worker):
        bad = await client.create_pipeline(
            {"name": "bad", "stages": [{"name": "w", "handler": "writer", "input": "k" * 300}]}
        )
        good = await client.create_pipeline(
            {"name": "good", "stages": [{"name": "w", "handler": "writer", "input": "k"}]}
        )
        refused = await client.wait(bad.id, timeout=20)
        fine = await client.wait(good.id, timeout=20)
    assert refused.status == "failed"
    error = refused.stages[0].error
    assert error["message"].startswith("the control plane refused this job's result (")
    assert error["code"] == "result_refused"  # whatever the control plane's own code was
    assert fine.status == "completed"
    assert fine.context == {"k": 1}


async def test_a_result_holding_nul_fails_its_job_alone_through_the_real_server(
    system: System, client: AsyncClient
) -> None:
    # The whole way: the handler returns text the database cannot hold; the control plane
    # refuses that result alone (invalid_result) and applies the others of the same ack; the
    # SDK reports the job failed for good instead of sending the result again.
    system.start_builtin_worker()
    worker = sdk_worker(system)

    @worker.handler("echoer")
    def echoer(ctx: JobContext, text: str) -> dict[str, str]:
        return {"text": text.replace("{{nul}}", "\x00")}  # a submit could not carry it

    async with running(worker):
        bad = await client.create_pipeline(
            {"name": "bad", "stages": [{"name": "e", "handler": "echoer", "input": "a{{nul}}b"}]}
        )
        goods = [
            await client.create_pipeline(
                {"name": "good", "stages": [{"name": "e", "handler": "echoer", "input": "fine"}]}
            )
            for _ in range(3)
        ]
        refused = await client.wait(bad.id, timeout=20)
        fine = [await client.wait(good.id, timeout=20) for good in goods]
    assert refused.status == "failed"
    error = refused.stages[0].error
    assert error["code"] == "result_refused"
    assert "nul_character" in error["message"]
    assert refused.stages[0].attempt == 1  # refused for good: not run again
    assert [p.status for p in fine] == ["completed"] * 3
