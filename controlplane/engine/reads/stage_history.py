"""What happened to a pipeline's stages: every attempt, and the log lines they wrote."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from controlplane.errors import NotFound

# Ended attempts from their history, the running ones from their stage rows.
_ATTEMPTS = """
SELECT a.stage_id, a.attempt, a.job_id, a.worker_id, w.name AS worker_name, a.outcome,
       a.retried, a.error, a.queued_at, a.started_at, a.finished_at
FROM stage_attempts a LEFT JOIN workers w ON w.id = a.worker_id
WHERE a.stage_id IN (SELECT id FROM stages WHERE pipeline_id = $1)
UNION ALL
SELECT s.id, s.attempt, s.job_id, s.worker_id, w.name, 'running', false, NULL,
       s.queued_at, s.started_at, NULL
FROM stages s LEFT JOIN workers w ON w.id = s.worker_id
WHERE s.pipeline_id = $1 AND s.status = 'running'
ORDER BY started_at, attempt
"""

_STAGE_OF_PIPELINE = "SELECT 1 FROM stages WHERE id = $1 AND pipeline_id = $2"

_LOGS = """
SELECT id, attempt, job_id, level, message, created_at
FROM stage_logs
WHERE stage_id = $1 AND id > $2 AND ($3::int IS NULL OR attempt = $3)
ORDER BY id
LIMIT $4
"""


@dataclass(frozen=True)
class Attempt:
    stage_id: uuid.UUID
    attempt: int
    job_id: uuid.UUID
    worker_id: uuid.UUID | None
    worker_name: str | None
    # running | completed | failed | lease_lost | cancelled
    outcome: str
    retried: bool
    error: Any
    queued_at: dt.datetime | None
    started_at: dt.datetime
    finished_at: dt.datetime | None


@dataclass(frozen=True)
class LogLine:
    id: int
    attempt: int
    job_id: uuid.UUID | None
    level: str
    message: str
    created_at: dt.datetime


async def list_attempts(pool: asyncpg.Pool, pipeline_id: uuid.UUID) -> list[Attempt]:
    """Every attempt of every stage of the pipeline, in the order they started."""
    return [Attempt(**dict(row)) for row in await pool.fetch(_ATTEMPTS, pipeline_id)]


async def read_logs(
    pool: asyncpg.Pool,
    pipeline_id: uuid.UUID,
    stage_id: uuid.UUID,
    *,
    after: int,
    limit: int,
    attempt: int | None = None,
) -> list[LogLine]:
    """Log lines of a stage of the pipeline after the one numbered ``after``, oldest first:
    page or tail with it."""
    if await pool.fetchval(_STAGE_OF_PIPELINE, stage_id, pipeline_id) is None:
        raise NotFound("stage_not_found", f"no stage {stage_id} in this pipeline")
    rows = await pool.fetch(_LOGS, stage_id, after, attempt, limit)
    return [LogLine(**dict(row)) for row in rows]
