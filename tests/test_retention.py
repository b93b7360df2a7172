"""Retention: old rows and files go in bounded batches; day partitions are made and dropped."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from controlplane.engine.upkeep import retention
from controlplane.engine.upkeep.retention import Retention
from tests.system import System, running_system


@pytest.fixture
async def system(pool: asyncpg.Pool, rabbitmq: Any, tmp_path: Path) -> AsyncIterator[System]:
    async with running_system(pool, rabbitmq, data_dir=tmp_path) as system:
        yield system


async def finished_pipeline(system: System, days_ago: float, *, attach: bytes = b"") -> str:
    """A pipeline run to its end, with a log line (and a file), finished ``days_ago``."""
    pipeline = await system.submit([{"name": "only", "handler": "old"}])
    [job] = await system.pull("old", wait=5)
    logged = await system.client.post(
        "/logs", json={"entries": [{"jobId": job["jobId"], "level": "info", "message": "hi"}]}
    )
    assert logged.json()["accepted"] == 1
    if attach:
        answer = await system.client.post(
            f"/jobs/{job['jobId']}/artifacts", params={"name": "a.txt"}, content=attach
        )
        assert answer.status_code == 201, answer.text
    await system.ack({"jobId": job["jobId"], "status": "completed"})
    await system.worker.advance([uuid.UUID(job["stageId"])])
    await system.pool.execute(
        "UPDATE pipelines SET finished_at = now() - make_interval(days => $2) WHERE id = $1",
        uuid.UUID(pipeline["id"]),
        days_ago,
    )
    return pipeline["id"]


async def count(pool: asyncpg.Pool, query: str, *args: Any) -> int:
    return await pool.fetchval(f"SELECT count(*) FROM {query}", *args)


def stored_files(system: System) -> list[Path]:
    root = system.services.settings.data_dir / "artifacts"
    return [p for p in root.rglob("*") if p.is_file()]


DEFAULTS = Retention()


async def enforce(system: System, policy: Retention = DEFAULTS, batch: int = 500) -> Any:
    return await retention.enforce(system.pool, system.services.artifacts, policy, batch=batch)


async def test_old_finished_pipelines_go_with_their_rows_and_files(system: System) -> None:
    old = [await finished_pipeline(system, 31, attach=b"old file") for _ in range(3)]
    recent = await finished_pipeline(system, 29, attach=b"recent file")
    # Still running after 40 days: kept, whatever its age.
    running = await system.submit([{"name": "slow", "handler": "forever"}])
    await system.pool.execute("UPDATE pipelines SET created_at = now() - interval '40 days'")
    assert len(stored_files(system)) == 4

    deleted = await enforce(system, batch=10)  # one pipeline per statement: three statements

    assert deleted["pipelines"] == 3
    assert deleted["files"] == 3
    left = {str(r["id"]) for r in await system.pool.fetch("SELECT id FROM pipelines")}
    assert left == {recent, running["id"]}
    old_ids = [uuid.UUID(p) for p in old]
    for table in ("stages", "stage_logs", "stage_attempts", "artifacts"):
        assert await count(system.pool, f"{table} WHERE pipeline_id = ANY($1)", old_ids) == 0
    assert await count(system.pool, "stage_logs") == 1  # the recent pipeline's
    assert [p.read_bytes() for p in stored_files(system)] == [b"recent file"]
    assert await count(system.pool, "artifact_deletions") == 0
    # Nothing more is due: a second sweep deletes nothing.
    assert (await enforce(system)).get("pipelines", 0) == 0


async def test_zero_days_keeps_for_ever(system: System) -> None:
    await finished_pipeline(system, 3650)
    forever = Retention(pipelines_days=0, logs_days=0, workers_days=0, audit_days=0)
    deleted = await enforce(system, forever)
    assert "pipelines" not in deleted
    assert await count(system.pool, "pipelines") == 1
    assert await count(system.pool, "stage_logs") == 1


async def test_log_days_are_partitions_made_ahead_and_dropped_when_old(system: System) -> None:
    pool = system.pool
    assert await retention.add_partitions(pool) == 2 * 3  # today and two days on, each table
    days = await pool.fetchval("SELECT array_agg(current_date + d) FROM generate_series(0, 2) d")
    for table in retention.PARTITIONED:
        for day in days:
            assert await pool.fetchval("SELECT to_regclass($1)", f"{table}_{day:%Y%m%d}")
    # An old day with its own partition, and old rows from before partitions (the default).
    pipeline = await finished_pipeline(system, 1)
    stage_id = await pool.fetchval("SELECT id FROM stages")
    await pool.execute("SELECT pipelogiq_add_day_partition('stage_logs', current_date - 20)")
    for days_ago in (20, 25, 1):
        await pool.execute(
            "INSERT INTO stage_logs (stage_id, pipeline_id, application_id, handler, attempt,"
            " level, message, created_at)"
            " SELECT id, pipeline_id, application_id, handler, 1, 'info', 'aged',"
            " now() - make_interval(days => $3) FROM stages WHERE id = $1 AND pipeline_id = $2",
            stage_id,
            uuid.UUID(pipeline),
            days_ago,
        )
    old_day = await pool.fetchval("SELECT to_char(current_date - 20, 'YYYYMMDD')")

    deleted = await enforce(system, Retention(logs_days=14))

    assert await pool.fetchval("SELECT to_regclass($1)", f"stage_logs_{old_day}") is None
    assert deleted["partitions_dropped"] == 1
    assert deleted["stage_logs"] == 1  # the 25-day-old row, from the default partition
    ages = await pool.fetch("SELECT message FROM stage_logs ORDER BY id")
    assert [r["message"] for r in ages] == ["hi", "aged"]  # today's, and yesterday's


async def test_rows_of_a_day_without_a_partition_move_into_it_when_it_is_made(
    system: System,
) -> None:
    pool = system.pool
    await finished_pipeline(system, 1)
    worker = await pool.fetchval(
        "INSERT INTO workers (application_id, name) VALUES ($1, 'w') RETURNING id",
        system.application.id,
    )
    await pool.execute(
        "INSERT INTO worker_events (worker_id, application_id, kind, created_at)"
        " VALUES ($1, $2, 'later', current_date + 5)",
        worker,
        system.application.id,
    )
    assert await count(pool, "worker_events_default") == 1
    # The built-in worker was away for days: the day's partition is made now, with the row.
    assert await retention.add_partitions(pool, days_ahead=7) > 0
    assert await count(pool, "worker_events_default") == 0
    where = await pool.fetchval("SELECT tableoid::regclass::text FROM worker_events")
    assert where == f"worker_events_{await pool.fetchval('SELECT current_date + 5'):%Y%m%d}"


async def test_quiet_workers_old_audit_and_expired_sessions_go(
    system: System, operator: Any
) -> None:
    pool = system.pool
    app = system.application.id
    for name, quiet_days in (("gone", 8), ("resting", 6)):
        worker = await pool.fetchval(
            "INSERT INTO workers (application_id, name, last_heartbeat_at)"
            " VALUES ($1, $2, now() - make_interval(days => $3)) RETURNING id",
            app,
            name,
            quiet_days,
        )
        await pool.execute(
            "INSERT INTO worker_events (worker_id, application_id, kind) VALUES ($1, $2, 'hi')",
            worker,
            app,
        )
    await pool.execute(
        "INSERT INTO audit_log (at, actor, action, target_type) VALUES"
        " (now() - interval '400 days', 'cli', 'old.thing', 'x'), (now(), 'cli', 'new.thing', 'x')"
    )
    sessions_before = await count(pool, "sessions")  # the operator's, current
    await pool.execute(
        "INSERT INTO sessions (id, user_id, refresh_hash, expires_at)"
        " SELECT gen_random_uuid(), user_id, '\\x00', now() - interval '2 days' FROM sessions"
    )

    deleted = await enforce(system)

    names = [r["name"] for r in await pool.fetch("SELECT name FROM workers")]
    assert names == ["resting"]
    assert await count(pool, "worker_events") == 1
    actions = [r["action"] for r in await pool.fetch("SELECT action FROM audit_log")]
    assert "new.thing" in actions
    assert "old.thing" not in actions
    assert await count(pool, "sessions") == sessions_before
    assert (deleted["workers"], deleted["audit"], deleted["sessions"]) == (1, 1, sessions_before)


async def test_two_built_in_workers_enforcing_at_once_agree(system: System) -> None:
    for _ in range(4):
        await finished_pipeline(system, 40)
    results = await asyncio.gather(enforce(system, batch=10), enforce(system, batch=10))
    assert sum(r.get("pipelines", 0) for r in results) == 4
    assert await count(system.pool, "pipelines") == 0
    made = await asyncio.gather(*(retention.add_partitions(system.pool) for _ in range(2)))
    assert sum(made) == 2 * 3  # each day of each table made once, by one of them


async def test_the_built_in_worker_enforces_its_settings_and_counts(
    pool: asyncpg.Pool, rabbitmq: Any, tmp_path: Path
) -> None:
    def counted() -> float:
        sample = {"kind": "pipelines"}
        return REGISTRY.get_sample_value("pipelogiq_retention_deleted_total", sample) or 0.0

    async with running_system(pool, rabbitmq, data_dir=tmp_path, retain_pipelines_days=2) as system:
        await finished_pipeline(system, 3)
        kept = await finished_pipeline(system, 1)
        before = counted()
        await system.worker.enforce_retention()
        assert [str(r["id"]) for r in await pool.fetch("SELECT id FROM pipelines")] == [kept]
        assert counted() == before + 1
