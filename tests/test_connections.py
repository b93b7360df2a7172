"""Database connections: stored sealed, managed on the internal API, tested and listed against
the real local PostgreSQL, and read by dataset.ingest on a real worker, incrementally."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import lance
import pytest

from controlplane.api.app import create_internal_app
from controlplane.broker import Broker
from controlplane.engine.access.applications import create_application
from controlplane.sealing import Sealer, Unsealable, key_from
from tests.conftest import ADMIN_DSN, dsn_for
from tests.dashboard import Dashboard, add_member, logged_in, services_for
from tests.processes import TEST_JWT_SECRET
from tests.system import URL, System, running, running_system, sdk_worker
from worker_sdk import AsyncClient

SECRET = "s3cr3t-Pa55word!"
LOCAL = "127.0.0.0/8"


@pytest.fixture
async def shop() -> AsyncIterator[str]:
    """A database of its own, with an orders table of 100 rows; its name."""
    name = f"shop_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        db = await asyncpg.connect(dsn_for(name))
        await db.execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY, country text, amount numeric(10,2));"
            "INSERT INTO orders SELECT n, (ARRAY['DE','FR'])[1 + n % 2], n * 1.25 "
            "FROM generate_series(1, 100) n"
        )
        await db.close()
        yield name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def plane(
    pool: asyncpg.Pool, broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[System]:
    monkeypatch.setenv("PIPELOGIQ_LAKE", str(tmp_path / "lake"))
    settings = {"jwt_secret": TEST_JWT_SECRET, "connections_allow": (LOCAL,)}
    async with running_system(pool, broker, **settings) as system:
        system.start_builtin_worker()
        yield system


async def people(system: System) -> tuple[Dashboard, Dashboard]:
    app = create_internal_app(
        services_for(system.pool, system.services.broker, connections_allow=(LOCAL,))
    )
    await add_member(system.pool, system.application.id, "dev@example.com", "developer")
    await add_member(system.pool, system.application.id, "op@example.com", "operator")
    return (
        Dashboard(await logged_in(app, "dev@example.com")),
        Dashboard(await logged_in(app, "op@example.com")),
    )


def connection(system: System, database: str, **extra: Any) -> dict[str, Any]:
    return {
        "applicationId": str(system.application.id),
        "name": "shop",
        "host": "127.0.0.1",
        "database": database,
        "username": "postgres",
        "password": SECRET,
        "sslmode": "disable",
        **extra,
    }


async def test_a_connection_is_kept_sealed_and_never_answered(plane: System, shop: str) -> None:
    developer, operator = await people(plane)
    created = await developer.send("POST", "/api/connections", connection(plane, shop))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["hasPassword"] is True
    assert SECRET not in created.text
    connection_id = body["id"]
    for path in ("/api/connections", f"/api/connections/{connection_id}"):
        answer = await operator.get(path)
        assert answer.status_code == 200
        assert SECRET not in answer.text
    # Sealed in the database, and only under its own row's id.
    sealed = bytes(
        await plane.pool.fetchval(
            "SELECT sealed_password FROM connections WHERE id = $1", uuid.UUID(connection_id)
        )
    )
    assert SECRET.encode() not in sealed
    sealer = Sealer(key_from(None, TEST_JWT_SECRET))
    assert sealer.open(sealed, uuid.UUID(connection_id).bytes) == SECRET
    with pytest.raises(Unsealable):
        sealer.open(sealed, uuid.uuid4().bytes)
    audit = await plane.pool.fetch("SELECT action, details::text FROM audit_log")
    assert [row["action"] for row in audit].count("connection.created") == 1
    assert all(SECRET not in row["details"] for row in audit)

    # Only admins and developers manage them; names are unique in an application.
    # A host that a URI parser could trip on (and quote the password in its error) is refused.
    for host in ("[::1", "db.internal/x", "a b"):
        odd = await developer.send("POST", "/api/connections", connection(plane, shop, host=host))
        assert odd.status_code == 422, host
    trailing = await developer.send("POST", "/api/connections", connection(plane, shop, name="x\n"))
    assert trailing.status_code == 422
    refused = await operator.send("POST", "/api/connections", connection(plane, shop, name="x"))
    assert refused.status_code == 403
    again = await developer.send("POST", "/api/connections", connection(plane, shop))
    assert again.status_code == 409
    assert again.json()["code"] == "connection_exists"
    elsewhere, _ = await create_application(plane.pool, "elsewhere")
    foreign = connection(plane, shop, applicationId=str(elsewhere.id), name="y")
    assert (await developer.send("POST", "/api/connections", foreign)).status_code == 404

    changed = await developer.send(
        "PATCH", f"/api/connections/{connection_id}", {"port": 5432, "password": None}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["hasPassword"] is False
    gone = await developer.send("DELETE", f"/api/connections/{connection_id}")
    assert gone.status_code == 204
    assert (await operator.get(f"/api/connections/{connection_id}")).status_code == 404


async def test_test_connection_and_list_tables_on_the_real_postgresql(
    plane: System, shop: str
) -> None:
    developer, _ = await people(plane)
    created = (await developer.send("POST", "/api/connections", connection(plane, shop))).json()
    tested = await developer.send("POST", f"/api/connections/{created['id']}/test")
    assert tested.status_code == 200, tested.text
    assert tested.json()["ok"] is True
    assert tested.json()["serverVersion"]
    listed = await developer.get(f"/api/connections/{created['id']}/tables")
    assert listed.status_code == 200, listed.text
    assert {"schema": "public", "name": "orders", "kind": "table"}.items() <= listed.json()[
        0
    ].items()

    # A server that refuses, and a database that is not there: said, with a stable code.
    # Moving the connection needs its password again.
    moved = await developer.send("PATCH", f"/api/connections/{created['id']}", {"port": 1})
    assert moved.status_code == 422
    assert moved.json()["code"] == "password_required"
    for change in (
        {"port": 1, "password": SECRET},
        {"port": 5432, "password": SECRET, "database": "no_such_database"},
    ):
        await developer.send("PATCH", f"/api/connections/{created['id']}", change)
        failed = await developer.send("POST", f"/api/connections/{created['id']}/test")
        assert failed.status_code == 409, failed.text
        assert failed.json()["code"] == "connection_failed"
        assert SECRET not in failed.text


async def test_internal_addresses_need_listing(
    pool: asyncpg.Pool, broker: Broker, shop: str
) -> None:
    async with running_system(pool, broker, jwt_secret=TEST_JWT_SECRET) as system:
        app = create_internal_app(services_for(system.pool, system.services.broker))
        await add_member(system.pool, system.application.id, "dev@example.com", "developer")
        developer = Dashboard(await logged_in(app, "dev@example.com"))
        created = await developer.send("POST", "/api/connections", connection(system, shop))
        refused = await developer.send("POST", f"/api/connections/{created.json()['id']}/test")
        assert refused.status_code == 422
        assert refused.json()["code"] == "address_not_allowed"


async def test_ingest_reads_a_table_incrementally_on_a_real_worker(
    plane: System, shop: str, tmp_path: Path
) -> None:
    developer, _ = await people(plane)
    await developer.send("POST", "/api/connections", connection(plane, shop))
    worker = sdk_worker(plane)
    worker.use_templates("dataset")
    stage = {
        "name": "bronze",
        "handler": "dataset.ingest",
        "input": {
            "connection": "shop",
            "table": "public.orders",
            "cursor": "id",
            "mode": "append",
            "output": "bronze/orders",
        },
    }

    async def run(client: AsyncClient, *stages: dict[str, Any]) -> Any:
        submitted = await client.create_pipeline({"name": "load", "stages": list(stages)})
        return await client.wait(submitted.id, timeout=60)

    async with running(worker), AsyncClient(URL, plane.api_key, transport=plane.transport) as c:
        first = await run(c, stage)
        assert first.status == "completed", [s.error for s in first.stages]
        assert first.stages[0].output["rowsAdded"] == 100
        db = await asyncpg.connect(dsn_for(shop))
        await db.execute("INSERT INTO orders SELECT n, 'NL', n FROM generate_series(101, 120) n")
        await db.close()
        second = await run(c, stage)
        assert second.stages[0].output["rowsAdded"] == 20
        assert second.stages[0].output["highWater"] == 100
        third = await run(c, stage)
        assert third.stages[0].output["rowsAdded"] == 0

        broken = {**stage, "input": {**stage["input"], "table": "public.nothing"}}
        failed = await run(c, broken)
        assert failed.status == "failed"
        assert failed.stages[0].error["code"] == "query_failed"

    dataset = lance.dataset(str(tmp_path / "lake" / "bronze" / "orders.lance"))
    assert dataset.count_rows() == 120
    assert sorted(dataset.to_table().column("id").to_pylist()) == list(range(1, 121))
    assert len(dataset.versions()) == 2
    [item] = (await plane.client.get("/datasets")).json()["items"]
    assert (item["name"], item["layer"], item["rows"], item["versions"]) == (
        "bronze/orders",
        "bronze",
        120,
        2,
    )
    # The credentials are for a running job whose input names the connection, and no other.
    [job] = await plane.pool.fetch("SELECT job_id FROM stages WHERE status = 'completed' LIMIT 1")
    stale = await plane.client.post(f"/jobs/{job['job_id']}/connections/shop")
    assert stale.status_code == 404
    assert stale.json()["code"] == "connection_not_found"
