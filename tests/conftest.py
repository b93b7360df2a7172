"""Shared fixtures: a fresh database cloned from a migrated template for each test, and
brokers that keep every test's queues apart with a random name prefix.

The real PostgreSQL and RabbitMQ are used; point the tests elsewhere with
PIPELOGIQ_TEST_DATABASE_URL and PIPELOGIQ_TEST_AMQP_URL.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from controlplane.api.app import create_internal_app
from controlplane.broker.base import Broker
from controlplane.broker.memory import InMemoryBroker
from controlplane.broker.rabbitmq import RabbitMQBroker
from database.migrator import migrate
from database.pool import create_pool
from tests.dashboard import Dashboard, add_member, logged_in, services_for
from tests.system import System, running_system

ADMIN_DSN = os.environ.get(
    "PIPELOGIQ_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
AMQP_URL = os.environ.get("PIPELOGIQ_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def dsn_for(database: str) -> str:
    base, _, _ = ADMIN_DSN.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(scope="session")
async def template_database() -> AsyncIterator[str]:
    name = f"pipelogiq_template_{os.getpid()}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
        await migrate(dsn_for(name))
        yield name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def database_url(template_database: str) -> AsyncIterator[str]:
    name = f"pipelogiq_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
        yield dsn_for(name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=8)
    yield pool
    await pool.close()


def unique_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:10]}."


@contextlib.asynccontextmanager
async def started_rabbitmq() -> AsyncIterator[RabbitMQBroker]:
    """A RabbitMQ broker with a prefix of its own; its queues are deleted afterwards."""
    broker = RabbitMQBroker(AMQP_URL, prefix=unique_prefix(), idle_seconds=1.0)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.delete_queues(sorted(broker._declared))
        await broker.close()


@pytest.fixture
async def rabbitmq() -> AsyncIterator[RabbitMQBroker]:
    async with started_rabbitmq() as broker:
        yield broker


@pytest.fixture(params=["rabbitmq", "memory"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    if request.param == "memory":
        memory = InMemoryBroker(prefix=unique_prefix())
        await memory.start()
        yield memory
        await memory.close()
    else:
        async with started_rabbitmq() as rabbit:
            yield rabbit


@pytest.fixture
async def system(pool: asyncpg.Pool, broker: Broker) -> AsyncIterator[System]:
    """The whole system on both brokers (RabbitMQ and in-process)."""
    async with running_system(pool, broker) as system:
        yield system


@pytest.fixture
async def rabbit_system(pool: asyncpg.Pool, rabbitmq: RabbitMQBroker) -> AsyncIterator[System]:
    """The whole system on RabbitMQ only, for tests about the database side."""
    async with running_system(pool, rabbitmq) as system:
        yield system


@pytest.fixture
async def operator(system: System) -> AsyncIterator[Dashboard]:
    """An operator of the system's application, logged in to an internal API of the same
    process (op@example.com)."""
    await add_member(system.pool, system.application.id, "op@example.com", "operator")
    app = create_internal_app(services_for(system.pool, system.services.broker))
    client = await logged_in(app, "op@example.com")
    yield Dashboard(client)
    await client.aclose()


@pytest.fixture
async def people(system: System) -> AsyncIterator[dict[str, Dashboard]]:
    """Two developers (ada and bob) and an operator (olga) of the system's application,
    logged in to an internal API of the same process."""
    for email, role in [
        ("ada@example.com", "developer"),
        ("bob@example.com", "developer"),
        ("olga@example.com", "operator"),
    ]:
        await add_member(system.pool, system.application.id, email, role)  # type: ignore[arg-type]
    app = create_internal_app(services_for(system.pool, system.services.broker))
    clients = {name: await logged_in(app, f"{name}@example.com") for name in ("ada", "bob", "olga")}
    yield {name: Dashboard(client) for name, client in clients.items()}
    for client in clients.values():
        await client.aclose()


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A lake of the test's own for the dataset templates (PIPELOGIQ_LAKE), and the test's
    folder as their data root, where its source files are written."""
    monkeypatch.setenv("PIPELOGIQ_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("PIPELOGIQ_DATA_ROOTS", str(tmp_path))
    return tmp_path / "lake"
