"""Migrations apply once, in order, even when processes start together."""

import asyncio
import re
import uuid
from pathlib import Path

import asyncpg
import pytest

from controlplane.engine.upkeep import rollups
from controlplane.statuses import PIPELINE_STATUSES, STAGE_STATUSES
from database.migrator import MIGRATIONS_DIR, MigrationError, load_migrations, migrate
from database.schema import SCHEMA_FILE, current_schema
from tests.conftest import ADMIN_DSN, dsn_for


@pytest.fixture
async def empty_database():
    name = f"pipelogiq_empty_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield dsn_for(name)
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def test_migration_files_are_numbered_in_order() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == sorted(versions)
    assert versions[0] == 1


async def test_processes_starting_together_migrate_once(empty_database: str) -> None:
    results = await asyncio.gather(*(migrate(empty_database) for _ in range(4)))
    assert sorted(len(applied) for applied in results) == [0, 0, 0, len(load_migrations())]
    connection = await asyncpg.connect(empty_database)
    try:
        count = await connection.fetchval("SELECT count(*) FROM schema_migrations")
        assert count == len(load_migrations())
        assert await connection.fetchval("SELECT to_regclass('stages') IS NOT NULL")
    finally:
        await connection.close()


async def test_an_edited_applied_migration_is_refused(empty_database: str, tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE t (id int);")
    await migrate(empty_database, tmp_path)
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE t (id bigint);")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await migrate(empty_database, tmp_path)


async def test_a_failed_migration_leaves_nothing_behind(
    empty_database: str, tmp_path: Path
) -> None:
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id int); SELECT nonsense();")
    with pytest.raises(asyncpg.PostgresError):
        await migrate(empty_database, tmp_path)
    connection = await asyncpg.connect(empty_database)
    try:
        assert await connection.fetchval("SELECT max(version) FROM schema_migrations") == 1
        assert await connection.fetchval("SELECT to_regclass('half')") is None
    finally:
        await connection.close()


async def test_definitions_saved_with_a_nul_before_it_was_refused_are_repaired(
    empty_database: str, tmp_path: Path
) -> None:
    # The schema as it was before the repair, holding what such a definition left behind.
    for migration in MIGRATIONS_DIR.glob("*.sql"):
        if int(migration.name[:4]) < 14:
            (tmp_path / migration.name).write_text(migration.read_text())
    await migrate(empty_database, tmp_path)
    connection = await asyncpg.connect(empty_database)
    try:
        application = await connection.fetchval(
            "INSERT INTO applications (name) VALUES ('old') RETURNING id"
        )
        definition = await connection.fetchval(
            "INSERT INTO definitions (application_id, name) VALUES ($1, 'nul') RETURNING id",
            application,
        )
        spec = r'{"name": "nul", "description": "a\u0000b", "note": "\\u0000 is text"}'
        await connection.execute(
            "INSERT INTO definition_versions (definition_id, application_id, version, spec) "
            "VALUES ($1, $2, 1, $3::json)",
            definition,
            application,
            spec,
        )
        with pytest.raises(asyncpg.UntranslatableCharacterError):
            await connection.fetchval("SELECT spec->>'description' FROM definition_versions")
        await migrate(empty_database)
        row = await connection.fetchrow(
            "SELECT spec->>'description' AS description, spec->>'note' AS note "
            "FROM definition_versions"
        )
        assert row["description"] == "a\ufffdb"
        assert row["note"] == "\\u0000 is text"
    finally:
        await connection.close()


async def test_the_schema_file_is_what_the_migrations_make() -> None:
    # database/schema.sql is read by people, never applied: it must not drift from the
    # migrations. `just schema` writes it again.
    assert await current_schema(ADMIN_DSN) == SCHEMA_FILE.read_text(), (
        "database/schema.sql is out of date: run `just schema`"
    )


async def test_the_statuses_named_in_code_are_the_ones_the_database_allows(
    pool: asyncpg.Pool,
) -> None:
    # controlplane/statuses.py names them once for the code; the CHECK constraints hold
    # them for the database. A status added to one and not the other fails here.
    async def allowed(table: str) -> set[str]:
        definition = await pool.fetchval(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = $1::regclass AND conname = $2",
            table,
            f"{table}_status_check",
        )
        return set(re.findall(r"'(\w+)'::text", definition))

    assert await allowed("stages") == set(STAGE_STATUSES)
    assert await allowed("pipelines") == set(PIPELINE_STATUSES)


async def test_run_rollups_start_with_the_history_and_count_each_run_once(
    empty_database: str, tmp_path: Path
) -> None:
    # Before 0022: runs finished long ago (not in the finish log), one whose finish is logged
    # and folded already, and one logged past the cursor that the fold is still to count.
    for migration in MIGRATIONS_DIR.glob("*.sql"):
        if int(migration.name[:4]) < 22:
            (tmp_path / migration.name).write_text(migration.read_text())
    await migrate(empty_database, tmp_path)
    connection = await asyncpg.connect(empty_database)
    finish = (
        "UPDATE pipelines SET status = $2, finished_at = now() - make_interval(hours => $3) "
        "WHERE id = $1"
    )
    try:
        application = await connection.fetchval(
            "INSERT INTO applications (name) VALUES ('old') RETURNING id"
        )

        async def run(status: str, hours_ago: int, took_seconds: int) -> uuid.UUID:
            pipeline = await connection.fetchval(
                "INSERT INTO pipelines (application_id, name, created_at) "
                "VALUES ($1, 'nightly', now() - make_interval(hours => $2, secs => $3)) "
                "RETURNING id",
                application,
                hours_ago,
                took_seconds,
            )
            await connection.execute(finish, pipeline, status, hours_ago)
            return pipeline

        await connection.execute("ALTER TABLE pipelines DISABLE TRIGGER pipelines_record_finish")
        await run("completed", 72, 60)
        await run("failed", 47, 30)
        await connection.execute("ALTER TABLE pipelines ENABLE TRIGGER pipelines_record_finish")
        await run("completed", 5, 60)
        await connection.execute(
            "UPDATE rollup_cursors SET position = (pg_current_xact_id()::text)::bigint"
        )
        await run("completed", 1, 120)
        await migrate(empty_database)

        async with asyncpg.create_pool(empty_database, min_size=1, max_size=2) as pool:
            # A transaction elsewhere on the server may hold the fold's horizon back a moment.
            while await rollups.cursor(pool) <= await pool.fetchval(
                "SELECT max(txid) FROM pipeline_finishes"
            ):
                await rollups.fold(pool)
                await asyncio.sleep(0.05)
        rows = await connection.fetch(
            "SELECT status, bucket, sum(n) AS n FROM run_rollups WHERE grain = 'hour' "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        )
        counted = {(row["status"], row["n"]) for row in rows}
        # Each of the four once: the two before the log and the folded one from the history,
        # the unfolded one by the fold (named by the migration, its time unknown: -1).
        assert sum(row["n"] for row in rows) == 4
        assert ("failed", 1) in counted
        buckets = sorted(row["bucket"] for row in rows if row["status"] == "completed")
        assert buckets[0] == -1
        assert rollups.SMALLEST * rollups.GROWTH ** buckets[1] == pytest.approx(60, rel=0.1)
        # Minutes are kept two days: the run of three days ago is counted by the hour alone.
        minutes = await connection.fetchval("SELECT sum(n) FROM run_rollups WHERE grain = 'minute'")
        assert minutes == 3
    finally:
        await connection.close()
