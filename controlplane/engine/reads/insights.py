"""How handlers and stages do over a time range, from the attempts that ended in it; and how
the queues stand now.

Every query takes the same leading parameters: the range ($1, $2), the member whose
applications count (NULL: all), and one application (NULL: every visible one).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg

_VISIBLE = """
    ($3::uuid IS NULL OR a.application_id IN (
        SELECT m.application_id FROM memberships m WHERE m.user_id = $3))
    AND ($4::uuid IS NULL OR a.application_id = $4)
"""

# Running pipelines are counted now, whatever the range; the others by when they finished.
# Each side of the OR has its partial index (pipelines_running_name, pipelines_finished).
_PIPELINES = f"""
SELECT a.status, count(*) AS pipelines
FROM pipelines a
WHERE (a.status = 'running' OR (a.finished_at >= $1 AND a.finished_at < $2)) AND {_VISIBLE}
GROUP BY a.status
"""

# Durations count attempts a handler finished (completed or failed), not those whose worker
# vanished or that were cancelled under it.
_BY_STAGE = f"""
SELECT a.application_id, ap.name AS application_name, a.handler, a.stage_name,
       count(*) AS attempts,
       count(*) FILTER (WHERE a.outcome = 'completed') AS completed,
       count(*) FILTER (WHERE a.outcome = 'failed') AS failed,
       count(*) FILTER (WHERE a.outcome = 'failed' AND NOT a.retried) AS failed_for_good,
       count(*) FILTER (WHERE a.retried) AS retried,
       count(*) FILTER (WHERE a.outcome = 'lease_lost') AS lease_lost,
       percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM a.finished_at - a.started_at))
           FILTER (WHERE a.outcome IN ('completed', 'failed')) AS p50_seconds,
       percentile_cont(0.95) WITHIN GROUP (
           ORDER BY extract(epoch FROM a.finished_at - a.started_at))
           FILTER (WHERE a.outcome IN ('completed', 'failed')) AS p95_seconds
FROM stage_attempts a JOIN applications ap ON ap.id = a.application_id
WHERE a.finished_at >= $1 AND a.finished_at < $2 AND {_VISIBLE}
GROUP BY a.application_id, ap.name, a.handler, a.stage_name
ORDER BY attempts DESC, a.handler, a.stage_name
LIMIT 500
"""

_HOTSPOTS = f"""
SELECT a.handler, a.stage_name, coalesce(a.error->>'code', a.outcome) AS code,
       left(coalesce(a.error->>'message', ''), 300) AS message,
       count(*) AS occurrences, max(a.finished_at) AS last_seen_at
FROM stage_attempts a
WHERE a.finished_at >= $1 AND a.finished_at < $2 AND {_VISIBLE}
  AND a.outcome IN ('failed', 'lease_lost')
GROUP BY 1, 2, 3, 4
ORDER BY occurrences DESC, last_seen_at DESC
LIMIT 20
"""

# Attempts ended per time bucket ($5), for the throughput chart.
_SERIES = f"""
SELECT date_bin($5::interval, a.finished_at, $1) AS at,
       count(*) FILTER (WHERE a.outcome = 'completed') AS completed,
       count(*) FILTER (WHERE a.outcome <> 'completed') AS failed
FROM stage_attempts a
WHERE a.finished_at >= $1 AND a.finished_at < $2 AND {_VISIBLE}
GROUP BY 1 ORDER BY 1
"""

# Uses the stages_queued index: its predicate needs the queued_at condition spelled out.
_QUEUES = """
SELECT s.application_id, ap.name AS application_name, s.handler, count(*) AS depth,
       extract(epoch FROM now() - min(s.queued_at))::float8 AS oldest_age_seconds
FROM stages s JOIN applications ap ON ap.id = s.application_id
WHERE s.status = 'queued' AND s.queued_at IS NOT NULL
  AND ($1::uuid IS NULL OR s.application_id IN (
      SELECT m.application_id FROM memberships m WHERE m.user_id = $1))
  AND ($2::uuid IS NULL OR s.application_id = $2)
GROUP BY s.application_id, ap.name, s.handler
ORDER BY depth DESC
LIMIT 500
"""


@dataclass(frozen=True)
class StageFigures:
    application_id: uuid.UUID
    application_name: str
    handler: str
    stage_name: str
    attempts: int
    completed: int
    failed: int
    failed_for_good: int
    retried: int
    lease_lost: int
    p50_seconds: float | None
    p95_seconds: float | None


@dataclass(frozen=True)
class Hotspot:
    handler: str
    stage_name: str
    code: str
    message: str
    occurrences: int
    last_seen_at: dt.datetime


@dataclass(frozen=True)
class Bucket:
    at: dt.datetime
    completed: int
    failed: int


@dataclass(frozen=True)
class QueueFigures:
    application_id: uuid.UUID
    application_name: str
    handler: str
    depth: int
    oldest_age_seconds: float


@dataclass(frozen=True)
class Insights:
    # Pipelines by status: running now, the others finished in the range.
    pipelines: dict[str, int]
    stages: list[StageFigures]
    hotspots: list[Hotspot]
    series: list[Bucket]
    bucket_seconds: float
    queues: list[QueueFigures]


# About this many buckets in a chart, each a whole number of seconds.
_BUCKETS = 60


async def read_insights(
    pool: asyncpg.Pool,
    *,
    start: dt.datetime,
    end: dt.datetime,
    member: uuid.UUID | None,
    application_id: uuid.UUID | None,
) -> Insights:
    bucket = dt.timedelta(seconds=max(1, int((end - start).total_seconds() / _BUCKETS)))
    scope = (start, end, member, application_id)
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        pipelines = await connection.fetch(_PIPELINES, *scope)
        stages = await connection.fetch(_BY_STAGE, *scope)
        hotspots = await connection.fetch(_HOTSPOTS, *scope)
        series = await connection.fetch(_SERIES, *scope, bucket)
        queues = await connection.fetch(_QUEUES, member, application_id)
    return Insights(
        {row["status"]: row["pipelines"] for row in pipelines},
        [StageFigures(**dict(row)) for row in stages],
        [Hotspot(**dict(row)) for row in hotspots],
        [Bucket(**dict(row)) for row in series],
        bucket.total_seconds(),
        [QueueFigures(**dict(row)) for row in queues],
    )
