"""Planner statistics of the job path's tables, kept in step with their growth.

The job path's statements are prepared once per connection, and PostgreSQL soon settles on a
generic plan for each, costed with the table sizes it knew when it planned. On a new database
those are a few rows, so a sequential scan wins; and it stays the plan while the table grows
to thousands of rows, until autovacuum analyses the table (it looks once a minute by default)
and so invalidates the plans. Measured with ``just bench`` on a new database: every claim and
advance read the whole ``stages`` table, and dispatch was two to four times slower.

So the built-in worker analyses a job-path table itself once it holds at least ``MIN_ROWS``
rows and twice as many as its statistics say. In steady state autovacuum keeps them current
and this finds nothing to do; it matters on a new install, or after a sudden surge.
"""

from __future__ import annotations

import logging

import asyncpg

log = logging.getLogger(__name__)

# The tables the claim, ack and advance statements look rows up in.
TABLES = ("pipelines", "stages", "stage_dependencies", "context_items", "stage_attempts")
MIN_ROWS = 1000

_OUTGROWN = """
SELECT s.relname, s.n_live_tup, c.reltuples
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.schemaname = current_schema() AND s.relname = ANY($1::text[])
  AND s.n_live_tup >= $2 AND s.n_live_tup > 2 * greatest(c.reltuples, 0)
ORDER BY s.relname
"""


async def refresh_outgrown(pool: asyncpg.Pool) -> list[str]:
    """Analyse the job-path tables that outgrew their statistics; the names of those done."""
    refreshed = []
    for row in await pool.fetch(_OUTGROWN, list(TABLES), MIN_ROWS):
        name = row["relname"]
        try:
            async with pool.acquire() as connection, connection.transaction():
                # Autovacuum may be analysing the table right now; then it is left to that.
                await connection.execute("SET LOCAL lock_timeout = '1s'")
                await connection.execute(f'ANALYZE "{name}"')
        except asyncpg.LockNotAvailableError:
            continue
        log.info(
            "statistics of %s refreshed: %d rows, where the planner knew of %d",
            name,
            row["n_live_tup"],
            max(0, row["reltuples"]),
        )
        refreshed.append(name)
    return refreshed
