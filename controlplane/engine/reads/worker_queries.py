"""Reading workers for people: live state, load, the jobs each holds, and their events."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from controlplane.settings import Settings

# The state a person should see. The stored state changes only on what a worker says and on
# the offline sweep, which runs every few seconds; the heartbeat's age tells the rest now:
# a worker that missed a beat or two is degraded, one silent past the limit is offline.
_LIVE_STATE = """
CASE WHEN w.state IN ('stopped', 'offline') THEN w.state
     WHEN w.last_heartbeat_at < now() - make_interval(secs => $2) THEN 'offline'
     WHEN w.state = 'draining' THEN 'draining'
     WHEN w.last_heartbeat_at < now() - make_interval(secs => $1) THEN 'degraded'
     ELSE 'online' END
"""

# Running stages are few and indexed (stages_running_lease), so counting them per worker
# reads only those.
_LIST = f"""
SELECT w.id, w.application_id, a.name AS application_name, w.name, w.instance_id, w.version,
       w.host_name, w.pid, w.handlers, w.metrics, w.started_at, w.last_heartbeat_at,
       w.stopped_at, {_LIVE_STATE} AS state,
       coalesce(running.jobs, 0) AS in_flight_jobs
FROM workers w
JOIN applications a ON a.id = w.application_id
LEFT JOIN (
    SELECT worker_id, application_id, count(*) AS jobs FROM stages WHERE status = 'running'
    GROUP BY worker_id, application_id
) running ON running.worker_id = w.id AND running.application_id = w.application_id
WHERE ($3::uuid IS NULL OR w.application_id IN (
          SELECT m.application_id FROM memberships m WHERE m.user_id = $3))
  AND ($4::uuid IS NULL OR w.application_id = $4)
  AND ($5::uuid IS NULL OR w.id = $5)
  AND (w.state IN ('online', 'draining') OR w.last_heartbeat_at >= $6)
ORDER BY w.state IN ('stopped', 'offline'), a.name, w.name, w.started_at DESC
LIMIT $7
"""

_JOBS = """
SELECT s.job_id, s.id AS stage_id, s.name AS stage_name, s.handler, s.attempt,
       s.pipeline_id, p.name AS pipeline_name, s.started_at, s.lease_expires_at, s.deadline_at
FROM stages s JOIN pipelines p ON p.id = s.pipeline_id
JOIN workers w ON w.id = s.worker_id AND w.application_id = s.application_id
WHERE s.status = 'running' AND s.worker_id = $1
ORDER BY s.started_at
LIMIT 1000
"""

_EVENTS = """
SELECT id, kind, message, data, created_at FROM worker_events
WHERE worker_id = $1 AND ($2::bigint IS NULL OR id < $2)
ORDER BY id DESC LIMIT $3
"""


@dataclass(frozen=True)
class WorkerRow:
    id: uuid.UUID
    application_id: uuid.UUID
    application_name: str
    name: str
    instance_id: str | None
    version: str | None
    host_name: str | None
    pid: int | None
    handlers: list[str]
    metrics: dict[str, Any] | None
    started_at: dt.datetime
    last_heartbeat_at: dt.datetime
    stopped_at: dt.datetime | None
    # online | degraded | draining | offline | stopped
    state: str
    in_flight_jobs: int


@dataclass(frozen=True)
class HeldJob:
    job_id: uuid.UUID
    stage_id: uuid.UUID
    stage_name: str
    handler: str
    attempt: int
    pipeline_id: uuid.UUID
    pipeline_name: str
    started_at: dt.datetime
    lease_expires_at: dt.datetime | None
    deadline_at: dt.datetime | None


@dataclass(frozen=True)
class WorkerEventRow:
    id: int
    kind: str
    message: str
    data: dict[str, Any]
    created_at: dt.datetime


@dataclass(frozen=True)
class Liveness:
    """When a worker counts as degraded, and when as offline, by its heartbeat's age."""

    degraded_after_seconds: float
    offline_after_seconds: float

    @classmethod
    def of(cls, settings: Settings) -> Liveness:
        # Two missed heartbeats make a worker degraded: one late beat is only jitter.
        return cls(2 * settings.heartbeat_interval_seconds, settings.worker_offline_after_seconds)


async def list_workers(
    pool: asyncpg.Pool,
    liveness: Liveness,
    *,
    member: uuid.UUID | None,
    application_id: uuid.UUID | None = None,
    worker_id: uuid.UUID | None = None,
    seen_since: dt.datetime,
    limit: int = 500,
) -> list[WorkerRow]:
    """Running workers, and those gone since ``seen_since``; ``member``: only the
    applications this user is a member of (None: all)."""
    rows = await pool.fetch(
        _LIST,
        liveness.degraded_after_seconds,
        liveness.offline_after_seconds,
        member,
        application_id,
        worker_id,
        seen_since,
        limit,
    )
    return [WorkerRow(**dict(row)) for row in rows]


async def held_jobs(pool: asyncpg.Pool, worker_id: uuid.UUID) -> list[HeldJob]:
    return [HeldJob(**dict(row)) for row in await pool.fetch(_JOBS, worker_id)]


async def worker_events(
    pool: asyncpg.Pool, worker_id: uuid.UUID, *, before: int | None, limit: int
) -> list[WorkerEventRow]:
    """The newest events older than ``before`` (an event id), newest first."""
    rows = await pool.fetch(_EVENTS, worker_id, before, limit)
    return [WorkerEventRow(**dict(row)) for row in rows]
