"""While PostgreSQL or RabbitMQ is unreachable, requests that need it answer 503 with a
stable code and Retry-After, /readyz says which one is missing, and the process logs one line
when the outage starts and one when it ends — no traceback per request."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import httpx
import pytest

from controlplane.broker.rabbitmq import RabbitMQBroker
from database.pool import create_pool
from tests.conftest import AMQP_URL, unique_prefix
from tests.cutoff import Cutoff, cutoff
from tests.processes import create_app, delete_application_queues, environment, process, wait_ready
from tests.system import System, running_system


def _proxied(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{port}")
    return parts._replace(netloc=netloc).geturl()


class Outage:
    def __init__(self, system: System, database: Cutoff, broker: Cutoff) -> None:
        self.system = system
        self.database = database
        self.broker = broker


@pytest.fixture
async def outage(database_url: str) -> AsyncIterator[Outage]:
    database_address = urlsplit(database_url)
    broker_address = urlsplit(AMQP_URL)
    async with (
        cutoff(database_address.hostname or "", database_address.port or 5432) as database,
        cutoff(broker_address.hostname or "", broker_address.port or 5672) as broker_proxy,
    ):
        pool = await create_pool(_proxied(database_url, database.port), min_size=1, max_size=4)
        broker = RabbitMQBroker(
            _proxied(AMQP_URL, broker_proxy.port), prefix=unique_prefix(), idle_seconds=1.0
        )
        await broker.start()
        try:
            async with running_system(pool, broker) as system:
                yield Outage(system, database, broker_proxy)
        finally:
            await broker_proxy.restore()
            await database.restore()
            await broker.delete_queues(sorted(broker._declared))
            await broker.close()
            await pool.close()


def _our_tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    # The drivers' own reports are quieted by the processes' logging (see test_logs below).
    ours = ("controlplane", "builtin_worker", "pipelogiq", "litestar")
    return [r for r in caplog.records if r.exc_info and r.name.startswith(ours)]


def _outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pipelogiq.outages"]


async def _until(check: Callable[[], Awaitable[bool]], within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        assert loop.time() < deadline, "not within the time"
        await asyncio.sleep(0.2)


async def test_a_database_outage_answers_503_and_is_logged_once(
    outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    system = outage.system
    await system.submit([{"name": "a", "handler": "out"}])
    [job] = await system.pull("out")
    await outage.database.cut()
    result = {"results": [{"jobId": job["jobId"], "status": "completed"}]}
    for _ in range(3):
        answer = await system.client.post("/jobs/ack", json=result)
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["code"] == "database_unavailable"
        assert int(answer.headers["Retry-After"]) >= 1
    ready = await system.client.get("/readyz")
    assert (ready.status_code, ready.json()["code"]) == (503, "database_unavailable")
    assert ready.json()["checks"] == {"database": "unavailable", "broker": "ok"}
    await outage.database.restore()

    async def acked() -> bool:
        answer = await system.client.post("/jobs/ack", json=result)
        return answer.status_code == 200 and answer.json()["accepted"] == [job["jobId"]]

    await _until(acked)
    await _said_once(caplog, "database")


async def test_a_broker_outage_answers_503_and_is_logged_once(
    outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    system = outage.system
    await outage.broker.cut()
    pull = {"handlers": ["out"], "maxJobs": 1, "waitSeconds": 0}
    for _ in range(3):
        # (A bound, so that a pull waiting out the outage fails rather than hangs the suite.)
        answer = await asyncio.wait_for(system.client.post("/jobs/pull", json=pull), 10)
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "broker_unavailable"
        assert int(answer.headers["Retry-After"]) >= 1
    ready = await system.client.get("/readyz")
    assert (ready.status_code, ready.json()["code"]) == (503, "broker_unavailable")
    await outage.broker.restore()

    async def pulls() -> bool:
        return (await system.client.post("/jobs/pull", json=pull)).status_code == 200

    await _until(pulls)
    await _said_once(caplog, "broker")


async def _said_once(caplog: pytest.LogCaptureFixture, dependency: str) -> None:
    """The outage's start and end were logged, once each, and nothing of ours with a
    traceback."""

    async def both_said() -> bool:
        return len(_outage_lines(caplog)) == 2

    await _until(both_said)
    started, ended = _outage_lines(caplog)
    assert started.startswith(f"the {dependency} is unavailable")
    assert ended.startswith(f"the {dependency} is available again")
    assert not _our_tracebacks(caplog), "no traceback for an outage"


@pytest.mark.slow
async def test_processes_say_an_outage_once_and_answer_503(database_url: str) -> None:
    """The real processes, their database and broker behind proxies that the test cuts: each
    logs one line as an outage starts and one as it ends, and no traceback."""
    database_address = urlsplit(database_url)
    broker_address = urlsplit(AMQP_URL)
    prefix = unique_prefix()
    async with (
        cutoff(database_address.hostname or "", database_address.port or 5432) as database,
        cutoff(broker_address.hostname or "", broker_address.port or 5672) as broker,
    ):
        env = environment(
            DATABASE_URL=_proxied(database_url, database.port),
            AMQP_URL=_proxied(AMQP_URL, broker.port),
            PIPELOGIQ_AMQP_PREFIX=prefix,
        )
        key = await asyncio.to_thread(create_app, env)
        external = f"http://127.0.0.1:{env['PIPELOGIQ_EXTERNAL_PORT']}"
        metrics = f"http://127.0.0.1:{env['PIPELOGIQ_METRICS_PORT']}"
        with (
            process("api", env=env) as api,
            process("worker", env=env) as worker,
        ):
            await asyncio.to_thread(wait_ready, f"{external}/readyz", api)
            await asyncio.to_thread(wait_ready, f"{metrics}/readyz", worker)
            async with httpx.AsyncClient(base_url=external, headers={"X-API-Key": key}) as client:
                await _play_both_outages(client, database, broker)
            for part in (api, worker):
                part.terminate()
            # In threads: the proxies run on this loop, and the processes stop through them.
            outputs = [
                (await asyncio.to_thread(part.communicate, timeout=30))[0] for part in (api, worker)
            ]
        await asyncio.to_thread(delete_application_queues, database_url, AMQP_URL, prefix, ["out"])
    for name, output in zip(("api", "worker"), outputs, strict=True):
        assert "Traceback" not in output, f"{name}:\n{output}"
        for dependency in ("database", "broker"):
            assert output.count(f"the {dependency} is unavailable") == 1, f"{name}:\n{output}"
            assert output.count(f"the {dependency} is available again") == 1, f"{name}:\n{output}"
        assert len(output.splitlines()) < 20, f"{name}:\n{output}"


async def _play_both_outages(client: httpx.AsyncClient, database: Cutoff, broker: Cutoff) -> None:
    stage = {"name": "a", "handler": "out"}
    created = await client.post("/pipelines", json={"name": "p", "stages": [stage]})
    assert created.status_code == 201, created.text
    pull = {"handlers": ["out"], "maxJobs": 1, "waitSeconds": 5}
    [job] = (await client.post("/jobs/pull", json=pull)).json()["jobs"]
    result = {"results": [{"jobId": job["jobId"], "status": "completed"}]}

    await database.cut()
    for _ in range(5):
        answer = await client.post("/jobs/ack", json=result)
        assert (answer.status_code, answer.json()["code"]) == (503, "database_unavailable")
        await asyncio.sleep(0.5)  # the built-in worker's loops fail meanwhile too
    await database.restore()
    await _until(lambda: _answers(client, "/jobs/ack", result, 200))

    await broker.cut()
    pull["waitSeconds"] = 0
    for _ in range(5):
        answer = await client.post("/jobs/pull", json=pull)
        assert (answer.status_code, answer.json()["code"]) == (503, "broker_unavailable")
        await asyncio.sleep(0.5)
    await broker.restore()
    await _until(lambda: _answers(client, "/jobs/pull", pull, 200))
    await asyncio.sleep(3)  # long enough for every process's probe to see both back


async def _answers(client: httpx.AsyncClient, path: str, body: object, status: int) -> bool:
    return (await client.post(path, json=body)).status_code == status
