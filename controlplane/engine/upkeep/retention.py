"""Retention: delete what has aged past its settings, a bounded batch at a time.

The built-in worker runs :func:`enforce` every few minutes. Rows are deleted in batches of
``batch`` per statement with ``SKIP LOCKED``, so a sweep never waits on, nor holds for long,
a row the job path is using, and several built-in workers may sweep at once. The two tables
that grow fastest, ``stage_logs`` and ``worker_events``, are partitioned by day: old days are
dropped whole, and days ahead are made in time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import asyncpg

from controlplane.artifact_store import ArtifactStore

# Days ahead whose partitions exist at all times: a built-in worker may be down that long
# before rows start to land in the default partition (from which they are moved, not lost).
DAYS_AHEAD = 3
PARTITIONED = ("stage_logs", "worker_events")


@dataclass(frozen=True)
class Retention:
    """How many days each kind of row is kept; 0 keeps it for ever."""

    pipelines_days: int = 30
    logs_days: int = 14
    workers_days: int = 7
    audit_days: int = 365


# A finished pipeline goes with everything of it (stages, logs, attempts, context, approvals,
# artifacts: all cascade); the files of its artifacts are listed for deletion in the same
# statement, so that none is forgotten.
_DELETE_PIPELINES = """
WITH doomed AS (
    SELECT id FROM pipelines
    WHERE finished_at < now() - make_interval(days => $1)
    ORDER BY finished_at LIMIT $2
    FOR UPDATE SKIP LOCKED
), files AS (
    INSERT INTO artifact_deletions (storage_key)
    SELECT storage_key FROM artifacts WHERE pipeline_id IN (SELECT id FROM doomed)
    ON CONFLICT DO NOTHING
)
DELETE FROM pipelines WHERE id IN (SELECT id FROM doomed)
"""

_DELETE_SCHEDULE_FIRES = """
DELETE FROM schedule_fires WHERE id IN (
    SELECT id FROM schedule_fires WHERE fired_at < now() - make_interval(days => $1) LIMIT $2
)
"""

# A worker not heard from for that long is gone; its events go with it.
_DELETE_WORKERS = """
DELETE FROM workers WHERE id IN (
    SELECT id FROM workers WHERE last_heartbeat_at < now() - make_interval(days => $1)
    LIMIT $2 FOR UPDATE SKIP LOCKED
)
"""

_DELETE_AUDIT = """
DELETE FROM audit_log WHERE id IN (
    SELECT id FROM audit_log WHERE at < now() - make_interval(days => $1)
    ORDER BY at LIMIT $2
)
"""

# Sessions end by expiry; a day after it nobody can refresh them, so they are history.
_DELETE_SESSIONS = """
DELETE FROM sessions WHERE id IN (
    SELECT id FROM sessions WHERE expires_at < now() - interval '1 day' LIMIT $1
)
"""

# Old rows that landed in a default partition (before their day had a partition).
_DELETE_DEFAULT_ROWS = """
DELETE FROM {table}_default WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM {table}_default
    WHERE created_at < now() - make_interval(days => $1) LIMIT $2
))
"""

_ADD_PARTITIONS = """
SELECT count(*) FILTER (WHERE pipelogiq_add_day_partition($1, current_date + ahead))
FROM generate_series(0, $2 - 1) AS ahead
"""

_DROP_PARTITIONS = """
SELECT pipelogiq_drop_day_partitions($1, date_trunc('day', now() - make_interval(days => $2)))
"""

_FILES_TO_DELETE = """
SELECT storage_key FROM artifact_deletions ORDER BY queued_at LIMIT $1
"""

_FILES_DELETED = "DELETE FROM artifact_deletions WHERE storage_key = ANY($1)"


async def add_partitions(pool: asyncpg.Pool, days_ahead: int = DAYS_AHEAD) -> int:
    """Make the day partitions from today to ``days_ahead`` days on; returns how many."""
    made = 0
    for table in PARTITIONED:
        made += await pool.fetchval(_ADD_PARTITIONS, table, days_ahead)
    return made


async def enforce(
    pool: asyncpg.Pool, store: ArtifactStore, retention: Retention, *, batch: int = 500
) -> Counter[str]:
    """Delete whatever retention says is due; returns how many of each kind went."""
    deleted: Counter[str] = Counter()
    if retention.pipelines_days:
        days = retention.pipelines_days
        # Pipelines cascade to many rows each: smaller batches keep each statement short.
        deleted["pipelines"] = await _in_batches(pool, _DELETE_PIPELINES, days, max(1, batch // 10))
        deleted["schedule_fires"] = await _in_batches(pool, _DELETE_SCHEDULE_FIRES, days, batch)
    if retention.workers_days:
        deleted["workers"] = await _in_batches(pool, _DELETE_WORKERS, retention.workers_days, batch)
    if retention.audit_days:
        deleted["audit"] = await _in_batches(pool, _DELETE_AUDIT, retention.audit_days, batch)
    deleted["sessions"] = await _in_batches(pool, _DELETE_SESSIONS, None, batch)
    for table, days in (
        ("stage_logs", retention.logs_days),
        ("worker_events", retention.workers_days),
    ):
        if days:
            dropped = await pool.fetch(_DROP_PARTITIONS, table, days)
            deleted["partitions_dropped"] += len(dropped)
            query = _DELETE_DEFAULT_ROWS.format(table=table)
            deleted[table] = await _in_batches(pool, query, days, batch)
    deleted["files"] = await delete_files(pool, store, batch)
    return +deleted  # only what is not zero


async def delete_files(pool: asyncpg.Pool, store: ArtifactStore, batch: int = 500) -> int:
    """Delete the stored files of deleted artifacts; returns how many."""
    done = 0
    while keys := [r["storage_key"] for r in await pool.fetch(_FILES_TO_DELETE, batch)]:
        for key in keys:
            await store.delete(key)  # a file already gone is not an error
        await pool.execute(_FILES_DELETED, keys)
        done += len(keys)
        if len(keys) < batch:
            break
    return done


async def _in_batches(pool: asyncpg.Pool, query: str, days: int | None, batch: int) -> int:
    """Run a bounded DELETE until it deletes less than a batch; returns the rows deleted."""
    args = (batch,) if days is None else (days, batch)
    total = 0
    while True:
        status = await pool.execute(query, *args)
        count = int(status.rsplit(" ", 1)[1])
        total += count
        if count < batch:
            return total
