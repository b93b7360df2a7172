"""Idle is cheap: waiting pullers wait on the broker, and the sweeps are few and bounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from controlplane.broker.rabbitmq import RabbitMQBroker
from controlplane.engine.alerts import deliveries, evaluate
from controlplane.engine.definitions import schedules
from controlplane.engine.jobpath import gates, sweeps
from controlplane.engine.upkeep import rollups
from database.pool import create_pool
from tests.system import running_system

SWEEPS = {value for name, value in vars(sweeps).items() if name.startswith("_") and name.isupper()}
SWEEPS.add(gates._HOLDING)  # the release of held stages: one probe per gate policy
SWEEPS.add(schedules._NEXT_DUE)  # when the next schedule is due
SWEEPS.add(rollups._PENDING)  # whether any attempt waits to be folded
SWEEPS.add(evaluate._RULES_AND_OPEN)  # the active alert rules, and the kinds of alert open
SWEEPS.add(deliveries._ANY_DUE)  # whether any notification is due


@pytest.fixture
async def counted() -> list[str]:
    return []


@pytest.fixture
async def counting_pool(database_url: str, counted: list[str]) -> AsyncIterator[asyncpg.Pool]:
    """A pool that notes the text of every statement any of its connections runs."""

    def on_connect(connection: asyncpg.Connection) -> None:
        connection.add_query_logger(lambda record: counted.append(record.query))

    pool = await create_pool(database_url, min_size=1, max_size=8, on_connect=on_connect)
    yield pool
    await pool.close()


async def statements_during(counted: list[str], seconds: float) -> list[str]:
    counted.clear()
    await asyncio.sleep(seconds)
    return list(counted)


async def test_waiting_pullers_make_no_database_queries(
    counting_pool: asyncpg.Pool, rabbitmq: RabbitMQBroker, counted: list[str]
) -> None:
    async with running_system(counting_pool, rabbitmq) as system:
        await system.pull("idle", wait=0)  # the API key is read once, then cached
        pulls = [asyncio.create_task(system.pull("idle", wait=2.0)) for _ in range(20)]
        during = await statements_during(counted, 1.5)
        assert [await pull for pull in pulls] == [[]] * 20
    assert during == []


async def test_an_idle_builtin_worker_runs_a_few_bounded_sweeps(
    counting_pool: asyncpg.Pool, rabbitmq: RabbitMQBroker, counted: list[str]
) -> None:
    async with running_system(counting_pool, rabbitmq) as system:
        system.start_builtin_worker()
        await asyncio.sleep(0.5)  # past the start-up sweeps
        window = 3.0
        during = await statements_during(counted, window)
    assert during, "the sweeps should have run in the window"
    # Only the sweeps run, and each is bounded (a page of rows, or one aggregate).
    assert set(during) <= SWEEPS, set(during) - SWEEPS
    # With the default intervals: leases, timeouts, held stages, the retry check (two
    # statements) and the next schedule once a second; whether anything waits to be folded
    # or sent every two seconds; the relay and the worker watchdog (two each) and the alert
    # rules every five seconds; queue depths every fifteen. A busy poll would run hundreds.
    assert len(during) <= 10 * window
