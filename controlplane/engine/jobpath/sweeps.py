"""The watchdog's sweeps: each a bounded query over one partial index.

Several built-in workers may sweep at once: rows are claimed with ``FOR UPDATE SKIP LOCKED``
and every transition is guarded, so no row is moved twice.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import asyncpg

from controlplane.engine.outcome import Outcome, QueuedStage, StageChange, WorkerChange

log = logging.getLogger(__name__)

# running -> queued (the worker is gone; not a failure of the handler) or, once a stage has
# lost more leases than allowed, -> failed. The job id is kept so that a late ack from the
# vanished worker is told "lease_lost".
_EXPIRE_LEASES = """
WITH expired AS (
    SELECT id FROM stages
    WHERE status = 'running' AND lease_expires_at < now()
    ORDER BY lease_expires_at LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE stages s SET
    lease_expiries = s.lease_expiries + 1,
    status = CASE WHEN s.lease_expiries >= $2 THEN 'failed' ELSE 'queued' END,
    error = CASE WHEN s.lease_expiries >= $2 THEN jsonb_build_object(
        'code', 'lease_expired',
        'message', format('the worker stopped heartbeating %s times', s.lease_expiries + 1))
        ELSE s.error END,
    queued_at = now(),
    published_at = NULL,
    finished_at = CASE WHEN s.lease_expiries >= $2 THEN now() END,
    lease_expires_at = NULL,
    deadline_at = NULL
FROM expired
WHERE s.id = expired.id AND s.status = 'running'
RETURNING s.id, s.pipeline_id, s.application_id, s.handler, s.attempt, s.status, s.name,
          s.job_id, s.trace_id
"""

# running -> retry_scheduled | failed: the handler ran past its timeout. Counts as a failure,
# and a timeout is always worth retrying where retries remain.
_TIME_OUT = """
WITH late AS (
    SELECT id FROM stages
    WHERE status = 'running' AND deadline_at < now()
    ORDER BY deadline_at LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE stages s SET
    status = CASE WHEN pipelogiq_may_retry(s.failures, s.max_retries, s.retry_on, true, 'timeout')
                  THEN 'retry_scheduled' ELSE 'failed' END,
    failures = s.failures + 1,
    error = jsonb_build_object(
        'code', 'timeout',
        'message', format('the job ran longer than its timeout of %s s', s.timeout_seconds)),
    retry_at = CASE WHEN pipelogiq_may_retry(s.failures, s.max_retries, s.retry_on, true, 'timeout')
        THEN now() + pipelogiq_retry_delay(s.retry_backoff, s.retry_backoff_seconds,
                                           s.retry_backoff_max_seconds, s.failures + 1)
        END,
    finished_at = now(),
    lease_expires_at = NULL,
    deadline_at = NULL
FROM late
WHERE s.id = late.id AND s.status = 'running'
RETURNING s.id, s.pipeline_id, s.application_id, s.status, s.name, s.job_id, s.trace_id
"""

# retry_scheduled -> queued, once the backoff has passed.
_QUEUE_DUE_RETRIES = """
WITH due AS (
    SELECT id FROM stages
    WHERE status = 'retry_scheduled' AND retry_at <= now()
    ORDER BY retry_at LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE stages s SET status = 'queued', queued_at = now(), published_at = NULL, retry_at = NULL
FROM due
WHERE s.id = due.id AND s.status = 'retry_scheduled'
RETURNING s.id, s.pipeline_id, s.application_id, s.handler, s.attempt
"""

_NEXT_RETRY_AT = """
SELECT extract(epoch FROM min(retry_at) - now()) FROM stages WHERE status = 'retry_scheduled'
"""

# Queued stages whose publish was never recorded: the process died between commit and
# publish, or the broker was down. Publishing again is safe; the claim drops duplicates.
_UNPUBLISHED = """
SELECT id, pipeline_id, application_id, handler, attempt FROM stages
WHERE status = 'queued' AND published_at IS NULL AND held_by IS NULL
  AND queued_at < now() - make_interval(secs => $2)
ORDER BY queued_at LIMIT $1
"""

_UNADVANCED = """
SELECT id FROM stages
WHERE advanced_at IS NULL AND status IN ('completed', 'failed', 'skipped', 'cancelled')
  AND finished_at < now() - make_interval(secs => $2)
ORDER BY finished_at LIMIT $1
"""

# queued -> failed: the pending watchdog of an alert rule gave up on a stage that waited
# past its bound with no worker serving its handler.
_FAIL_UNSERVED = """
UPDATE stages SET status = 'failed', finished_at = now(), published_at = NULL,
    error = jsonb_build_object(
        'code', 'no_worker',
        'message', format('no online worker served %s for %s minutes', handler,
                          floor(extract(epoch FROM now() - queued_at) / 60)))
WHERE id = ANY ($1::uuid[]) AND status = 'queued' AND held_by IS NULL
RETURNING id, pipeline_id, application_id, status, name, job_id, trace_id
"""

_MARK_WORKERS_OFFLINE = """
UPDATE workers SET state = 'offline'
WHERE id IN (
    SELECT id FROM workers
    WHERE state IN ('online', 'draining')
      AND last_heartbeat_at < now() - make_interval(secs => $1)
    LIMIT 1000
) AND state IN ('online', 'draining')
RETURNING id, application_id
"""

_HANDLERS_OF_ONLINE_WORKERS = """
SELECT DISTINCT a.name, h.handler
FROM workers w JOIN applications a ON a.id = w.application_id
CROSS JOIN LATERAL unnest(w.handlers) AS h(handler)
WHERE w.state IN ('online', 'draining')
"""

_WORKERS_ONLINE = "SELECT count(*) FROM workers WHERE state IN ('online', 'draining')"

# Used at start with a broker that kept nothing (the in-process one): every queued stage
# must be published again.
_FORGET_PUBLISHES = """
UPDATE stages SET published_at = NULL WHERE status = 'queued' AND published_at IS NOT NULL
"""


@dataclass(frozen=True)
class Swept:
    # How many stages the sweep moved.
    count: int
    # The stages that failed for good: the sweeper advances their pipelines at once.
    failed: list[uuid.UUID]
    outcome: Outcome


async def expire_leases(pool: asyncpg.Pool, limit: int, max_lease_expiries: int) -> Swept:
    """Stages whose lease expired go back to the queue, or fail for good past
    ``max_lease_expiries``; their jobs (each its stage's lost attempt) ended."""
    rows = await pool.fetch(_EXPIRE_LEASES, limit, max_lease_expiries)
    _log_each(rows, "lease expired on stage %r (its worker stopped heartbeating): now %s")
    lost = [StageChange.from_row(row) for row in rows if row["status"] == "failed"]
    outcome = Outcome(
        queued=tuple(QueuedStage.from_row(row) for row in rows if row["status"] == "queued"),
        stages=tuple(lost),
        ended_jobs=tuple(row["job_id"] for row in rows),
    )
    return Swept(len(rows), [change.stage_id for change in lost], outcome)


async def time_out_jobs(pool: asyncpg.Pool, limit: int) -> Swept:
    """Jobs past their timeout end: their stages wait for a retry, or fail for good."""
    rows = await pool.fetch(_TIME_OUT, limit)
    _log_each(rows, "job of stage %r ran past its timeout: now %s")
    changes = [StageChange.from_row(row) for row in rows]
    failed = [change.stage_id for change in changes if change.status == "failed"]
    outcome = Outcome(stages=tuple(changes), ended_jobs=tuple(row["job_id"] for row in rows))
    return Swept(len(rows), failed, outcome)


def _log_each(rows: list[asyncpg.Record], message: str) -> None:
    """One line per stage (these are rare, and each is worth finding by its ids)."""
    for row in rows:
        ids = {
            "pipeline_id": row["pipeline_id"],
            "stage_id": row["id"],
            "job_id": row["job_id"],
            "trace_id": row["trace_id"].hex if row["trace_id"] else None,
        }
        log.warning(message, row["name"], row["status"], extra=ids)


async def queue_due_retries(pool: asyncpg.Pool, limit: int) -> Outcome:
    rows = await pool.fetch(_QUEUE_DUE_RETRIES, limit)
    return Outcome(queued=tuple(QueuedStage.from_row(row) for row in rows))


async def seconds_until_next_retry(pool: asyncpg.Pool) -> float | None:
    value = await pool.fetchval(_NEXT_RETRY_AT)
    return None if value is None else float(value)


async def unpublished_stages(pool: asyncpg.Pool, limit: int, grace_seconds: float) -> Outcome:
    """Queued stages whose publish was not recorded in time: to publish again."""
    rows = await pool.fetch(_UNPUBLISHED, limit, grace_seconds)
    return Outcome(republished=tuple(QueuedStage.from_row(row) for row in rows))


async def unadvanced_stages(
    pool: asyncpg.Pool, limit: int, grace_seconds: float
) -> list[uuid.UUID]:
    return [row["id"] for row in await pool.fetch(_UNADVANCED, limit, grace_seconds)]


async def fail_unserved(pool: asyncpg.Pool, stage_ids: list[uuid.UUID]) -> Outcome:
    """Fail the queued stages given (those still queued): nobody serves their handler."""
    rows = await pool.fetch(_FAIL_UNSERVED, stage_ids)
    _log_each(rows, "stage %s %s: no online worker served its handler in time")
    return Outcome(
        stages=tuple(StageChange.from_row(row) for row in rows),
        finished_stages=tuple(row["id"] for row in rows),
    )


async def mark_workers_offline(pool: asyncpg.Pool, offline_after_seconds: float) -> Outcome:
    rows = await pool.fetch(_MARK_WORKERS_OFFLINE, offline_after_seconds)
    return Outcome(
        workers=tuple(WorkerChange(row["id"], row["application_id"], "offline") for row in rows)
    )


async def count_workers_online(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval(_WORKERS_ONLINE))


async def handlers_of_online_workers(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    rows = await pool.fetch(_HANDLERS_OF_ONLINE_WORKERS)
    return [(row["name"], row["handler"]) for row in rows]


async def forget_publishes(pool: asyncpg.Pool) -> None:
    await pool.execute(_FORGET_PUBLISHES)
