"""Retention: old rows and files go in bounded batches; day partitions are made and dropped."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import lance
import pyarrow as pa
import pytest
from prometheus_client import REGISTRY

from controlplane.api.app import create_internal_app
from controlplane.engine.access.applications import create_application
from controlplane.engine.upkeep import retention
from controlplane.engine.upkeep.retention import Retention
from tests.dashboard import Dashboard, add_member, logged_in, member_of, services_for
from tests.system import System, longest_hold, running_system


@pytest.fixture
async def system(pool: asyncpg.Pool, rabbitmq: Any, tmp_path: Path) -> AsyncIterator[System]:
    async with running_system(pool, rabbitmq, data_dir=tmp_path) as system:
        yield system


async def finished_pipeline(
    system: System, days_ago: float, *, attach: bytes = b"", datasets: Any = ()
) -> str:
    """A pipeline run to its end, with a log line (and a file, and the dataset versions it
    wrote), finished ``days_ago``."""
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
    await system.ack({"jobId": job["jobId"], "status": "completed", "datasets": list(datasets)})
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


# -- a preview and a round run by an admin ---------------------------------------------------


async def admin_of(system: System, data_dir: Path, email: str = "root@example.com") -> Dashboard:
    """An admin on an internal API whose artifact store is the system's."""
    await add_member(system.pool, system.application.id, email, "admin")
    app = create_internal_app(services_for(system.pool, system.services.broker, data_dir=data_dir))
    return Dashboard(await logged_in(app, email))


async def rows(pool: asyncpg.Pool) -> dict[str, int]:
    """How many rows each table retention deletes from holds, and the lake's versions."""
    tables = [
        "pipelines",
        "stages",
        "stage_attempts",
        "stage_logs",
        "artifacts",
        "artifact_deletions",
        "schedule_fires",
        "workers",
        "worker_events",
        "audit_log",
        "sessions",
        "pipeline_rollups",
        "pipeline_finishes",
    ]
    counted = {table: await count(pool, table) for table in tables}
    counted["removed_versions"] = await count(pool, "dataset_versions WHERE removed_at IS NOT NULL")
    return counted


def by_kind(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each kind's counts, without what describes it."""
    return {
        k["kind"]: {f: k[f] for f in ("count", "applications", "contents", "items")}
        for k in report["kinds"]
    }


async def everything_due(system: System, tmp_path: Path) -> dict[str, Any]:
    """One or more of each kind retention deletes, beside what it keeps."""
    pool, app = system.pool, system.application.id
    # A dataset of two versions; the application keeps the newest only. The first was
    # written by a pipeline that is due: the round deletes it first, and then the version.
    uri = str(tmp_path / "orders.lance")
    for version in (1, 2):
        lance.write_dataset(pa.table({"n": [version]}), uri, mode="overwrite")
    await pool.execute("UPDATE applications SET retain_dataset_versions = 1 WHERE id = $1", app)
    schema = [{"name": "n", "type": "int64"}]
    old = [
        await finished_pipeline(
            system,
            31,
            attach=b"old file",
            datasets=[{"uri": uri, "version": 1, "rows": 1, "schema": schema}],
        ),
        await finished_pipeline(system, 40, attach=b"older file"),
    ]
    recent = await finished_pipeline(
        system, 1, datasets=[{"uri": uri, "version": 2, "rows": 1, "schema": schema}]
    )
    # An old log line of a kept pipeline in the default partition (its day had none), and
    # one of a pipeline that goes (it goes with its pipeline), and an old day of its own.
    for pipeline in (recent, old[0]):
        await pool.execute(
            "INSERT INTO stage_logs (stage_id, pipeline_id, application_id, handler, attempt,"
            " level, message, created_at)"
            " SELECT id, pipeline_id, application_id, handler, 1, 'info', 'aged',"
            " now() - interval '25 days' FROM stages WHERE pipeline_id = $1",
            uuid.UUID(pipeline),
        )
    await pool.execute("SELECT pipelogiq_add_day_partition('stage_logs', current_date - 20)")
    # Quiet workers of two applications, with an event each; one still heard from.
    other, _ = await create_application(pool, f"other-{uuid.uuid4().hex[:6]}")
    for application, name, quiet_days in ((app, "gone", 8), (other.id, "away", 9), (app, "up", 1)):
        worker = await pool.fetchval(
            "INSERT INTO workers (application_id, name, last_heartbeat_at)"
            " VALUES ($1, $2, now() - make_interval(days => $3)) RETURNING id",
            application,
            name,
            quiet_days,
        )
        await pool.execute(
            "INSERT INTO worker_events (worker_id, application_id, kind) VALUES ($1, $2, 'hi')",
            worker,
            application,
        )
    # A schedule fired long ago, an old audit entry, an expired session, an old rollup.
    definition = await pool.fetchval(
        "INSERT INTO definitions (application_id, name) VALUES ($1, 'd') RETURNING id", app
    )
    schedule = await pool.fetchval(
        "INSERT INTO schedules (application_id, definition_id, name, interval_seconds, status)"
        " VALUES ($1, $2, 's', 60, 'paused') RETURNING id",
        app,
        definition,
    )
    await pool.execute(
        "INSERT INTO schedule_fires (schedule_id, due_at, kind, fired_at) VALUES"
        " ($1, now() - interval '40 days', 'scheduled', now() - interval '40 days'),"
        " ($1, now() - interval '1 day', 'scheduled', now() - interval '1 day')",
        schedule,
    )
    await pool.execute(
        "INSERT INTO audit_log (at, actor, action, target_type) VALUES"
        " (now() - interval '400 days', 'cli', 'old.thing', 'x')"
    )
    await pool.execute(
        "INSERT INTO sessions (id, user_id, refresh_hash, expires_at)"
        " SELECT gen_random_uuid(), user_id, '\\x00', now() - interval '2 days' FROM sessions"
    )
    await pool.execute(
        "INSERT INTO pipeline_rollups (grain, at, application_id, status, n) VALUES"
        " ('minute', now() - interval '3 days', $1, 'completed', 1),"
        " ('minute', now() - interval '1 hour', $1, 'completed', 1)",
        app,
    )
    return {"uri": uri, "other": other, "old": old, "recent": recent}


async def test_the_preview_deletes_nothing_and_the_run_deletes_what_it_said(
    system: System, tmp_path: Path
) -> None:
    admin = await admin_of(system, tmp_path)
    made = await everything_due(system, tmp_path)
    app = str(system.application.id)
    before = await rows(system.pool)

    previewed = await admin.get("/api/retention/preview")

    assert previewed.status_code == 200, previewed.text
    assert await rows(system.pool) == before
    preview = by_kind(previewed.json())
    pipelines = preview["pipelines"]
    assert pipelines["count"] == 2
    assert pipelines["applications"] == [
        {"applicationId": app, "applicationName": system.application.name, "count": 2}
    ]
    # Each has one stage, attempt and file; the first has its old log line too.
    assert pipelines["contents"] == {"stages": 2, "attempts": 2, "logLines": 3, "artifacts": 2}
    assert preview["files"]["count"] == 2
    assert preview["workers"]["count"] == 2
    assert preview["workers"]["contents"] == {"events": 2}
    assert {a["applicationName"]: a["count"] for a in preview["workers"]["applications"]} == {
        system.application.name: 1,
        made["other"].name: 1,
    }
    assert preview["stage_logs"]["count"] == 1  # the kept pipeline's
    [day] = preview["stage_logs_partitions"]["items"]
    assert day.startswith("stage_logs_")
    expected = {"schedule_fires": 1, "audit": 1, "rollups": 1, "dataset_versions": 1}
    assert {kind: preview[kind]["count"] for kind in expected} == expected
    assert preview["sessions"]["count"] >= 1
    described = {k["kind"]: k for k in previewed.json()["kinds"]}
    assert described["pipelines"]["setting"] == "PIPELOGIQ_RETAIN_PIPELINES_DAYS"
    assert described["pipelines"]["value"] == 30
    assert described["dataset_versions"]["setting"] == "PIPELOGIQ_RETAIN_DATASET_VERSIONS"
    assert described["files"]["cutoff"] is None

    ran = await admin.send("POST", "/api/retention/run")

    assert ran.status_code == 200, ran.text
    assert ran.json()["problems"] == []
    assert by_kind(ran.json()) == preview
    after = await rows(system.pool)
    assert after["pipelines"] == before["pipelines"] - 2
    assert after["removed_versions"] == 1
    assert [v["version"] for v in lance.dataset(made["uri"]).versions()] == [2]
    assert [p.read_bytes() for p in stored_files(system)] == []
    # Nothing is due any more.
    again = by_kind((await admin.get("/api/retention/preview")).json())
    assert {kind: c["count"] for kind, c in again.items() if c["count"]} == {}
    [entry] = await system.pool.fetch(
        "SELECT actor, details FROM audit_log WHERE action = 'retention.run'"
    )
    assert entry["actor"] == "root@example.com"
    assert entry["details"]["deleted"]["pipelines"] == 2


async def test_only_admins_see_or_run_retention(system: System, operator: Any) -> None:
    developer = await member_of(system, "dev@example.com", "developer")
    for who in (operator, developer):
        assert (await who.get("/api/retention/preview")).status_code == 403
        assert (await who.send("POST", "/api/retention/run")).status_code == 403


async def test_a_round_runs_once_at_a_time(system: System, tmp_path: Path) -> None:
    admin = await admin_of(system, tmp_path)
    await finished_pipeline(system, 31)
    store = system.services.artifacts
    async with system.pool.acquire() as db, db.transaction():
        # A built-in worker's round, under way.
        assert await db.fetchval("SELECT pg_try_advisory_xact_lock($1)", retention._ROUND_LOCK)
        assert await retention.run_round(system.pool, store, DEFAULTS) is None
        refused = await admin.send("POST", "/api/retention/run")
        assert refused.status_code == 409
        assert refused.json()["code"] == "retention_running"
        assert await count(system.pool, "pipelines") == 1
    ran = await admin.send("POST", "/api/retention/run")
    assert ran.status_code == 200, ran.text
    assert by_kind(ran.json())["pipelines"]["count"] == 1
    # Two at once: one runs, the other is told so, and the pipeline goes once.
    await finished_pipeline(system, 31)
    rounds = await asyncio.gather(
        *(retention.run_round(system.pool, store, DEFAULTS, batch=1) for _ in range(2))
    )
    done = [r for r in rounds if r is not None]
    assert sum(r.kinds["pipelines"].count for r in done) == 1


async def test_a_large_backlog_goes_in_batches_without_holding_the_event_loop(
    system: System, tmp_path: Path
) -> None:
    admin = await admin_of(system, tmp_path)
    await system.pool.execute(
        "INSERT INTO pipelines (application_id, name, status, finished_at)"
        " SELECT $1, 'old', 'completed', now() - interval '40 days'"
        " FROM generate_series(1, 2000)",
        system.application.id,
    )
    await system.pool.execute(
        "INSERT INTO audit_log (at, actor, action, target_type)"
        " SELECT now() - interval '400 days', 'cli', 'old.thing', 'x'"
        " FROM generate_series(1, 5000)"
    )
    async with longest_hold() as held:
        previewed = await admin.get("/api/retention/preview")
        ran = await admin.send("POST", "/api/retention/run")
    assert ran.status_code == 200, ran.text
    assert by_kind(previewed.json()) == by_kind(ran.json())
    assert by_kind(ran.json())["pipelines"]["count"] == 2000
    assert by_kind(ran.json())["audit"]["count"] == 5000
    assert held[0] < 0.1, f"the event loop was held for {held[0]:.3f} s of CPU"
