"""The built-in worker refreshes the planner's statistics of a job-path table that outgrew them."""

from __future__ import annotations

import asyncio

import asyncpg

from controlplane.engine.upkeep import statistics

# What the claim does to `stages`, in small: rows looked up by the ids of a batch.
_LOOKUP = "SELECT id FROM pipelines WHERE id = ANY($1::uuid[])"


async def _plan(connection: asyncpg.Connection) -> str:
    rows = await connection.fetch("EXPLAIN EXECUTE lookup('{}')")
    return "\n".join(row[0] for row in rows)


async def _refreshed_when_seen(pool: asyncpg.Pool) -> list[str]:
    # Row counts reach the statistics views when the writing backend flushes them (within
    # seconds); until then nothing has grown.
    for _ in range(150):
        if refreshed := await statistics.refresh_outgrown(pool):
            return refreshed
        await asyncio.sleep(0.1)
    raise AssertionError("the grown table was never refreshed")


async def test_a_table_grown_past_its_statistics_is_analysed_and_its_plans_follow(
    pool: asyncpg.Pool,
) -> None:
    assert await statistics.refresh_outgrown(pool) == []  # a new database: nothing grew
    application = await pool.fetchval(
        "INSERT INTO applications (name) VALUES ('stats') RETURNING id"
    )
    async with pool.acquire() as connection:
        # A plan cached while the table is empty, as a pooled connection's would be.
        await connection.execute("SET plan_cache_mode = force_generic_plan")
        await connection.execute(f"PREPARE lookup(uuid[]) AS {_LOOKUP}")
        assert "Seq Scan" in await _plan(connection)

        await connection.execute(
            "INSERT INTO pipelines (application_id, name) "
            "SELECT $1, 'p' || n FROM generate_series(1, $2) n",
            application,
            3 * statistics.MIN_ROWS,
        )
        await connection.execute("SELECT pg_stat_force_next_flush()")
        assert "Seq Scan" in await _plan(connection)  # grown, but still planned as empty

        assert await _refreshed_when_seen(pool) == ["pipelines"]
        assert "Index" in await _plan(connection)  # the analysis made it plan again
        await connection.execute("DEALLOCATE lookup")
        await connection.execute("RESET plan_cache_mode")

    known = await pool.fetchval("SELECT reltuples FROM pg_class WHERE relname = 'pipelines'")
    assert known == 3 * statistics.MIN_ROWS
    assert await statistics.refresh_outgrown(pool) == []  # current now: nothing more to do


async def test_a_small_table_is_left_to_autovacuum(pool: asyncpg.Pool) -> None:
    application = await pool.fetchval(
        "INSERT INTO applications (name) VALUES ('small') RETURNING id"
    )
    async with pool.acquire() as connection:
        await connection.execute(
            "INSERT INTO pipelines (application_id, name) "
            "SELECT $1, 'p' || n FROM generate_series(1, $2) n",
            application,
            statistics.MIN_ROWS - 1,
        )
        await connection.execute("SELECT pg_stat_force_next_flush()")
    for _ in range(150):  # until the statistics views count the rows
        live = await pool.fetchval(
            "SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = 'pipelines'"
        )
        if live == statistics.MIN_ROWS - 1:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the rows were never counted")
    assert await statistics.refresh_outgrown(pool) == []
    known = await pool.fetchval("SELECT reltuples FROM pg_class WHERE relname = 'pipelines'")
    assert known <= 0  # never analysed
