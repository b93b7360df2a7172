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

from controlplane.engine.upkeep import rollups

_VISIBLE = """
    ($3::uuid IS NULL OR a.application_id IN (
        SELECT m.application_id FROM memberships m WHERE m.user_id = $3))
    AND ($4::uuid IS NULL OR a.application_id = $4)
"""

# Running pipelines are counted now, whatever the range (pipelines_running_name); the
# others by the times they finished in it, from the rollups and the unfolded finishes.
_PIPELINES = f"""
WITH counted AS (
    SELECT a.status, 1 AS n FROM pipelines a WHERE a.status = 'running' AND {_VISIBLE}
    UNION ALL
    SELECT r.status, r.n FROM pipeline_rollups r WHERE {{spans}} AND {{visible_r}}
    UNION ALL
    SELECT f.status, 1 FROM pipeline_finishes f
    WHERE f.txid >= $7 AND f.finished_at >= $1 AND f.finished_at < $2 AND {{visible_f}}
)
SELECT status, sum(n)::bigint AS pipelines FROM counted GROUP BY status
"""

# The range is read from the rollups: per minute at its edges ($5 the first whole hour in
# it, $6 the last), per hour between them; and the attempts not folded yet ($7 the fold's
# cursor) from stage_attempts itself, counted the same way (rollups.COUNTS).
_SPANS = """
    ((r.grain = 'minute' AND r.at >= date_trunc('minute', $1::timestamptz, 'UTC')
      AND r.at < $5)
     OR (r.grain = 'hour' AND r.at >= $5 AND r.at < $6)
     OR (r.grain = 'minute' AND r.at >= $6 AND r.at < $2))
"""
_TAIL = "t.txid >= $7 AND t.finished_at >= $1 AND t.finished_at < $2"
_VISIBLE_R = _VISIBLE.replace("a.application_id", "r.application_id")
_VISIBLE_T = _VISIBLE.replace("a.application_id", "t.application_id")
_PIPELINES = _PIPELINES.format(
    spans=_SPANS,
    visible_r=_VISIBLE_R,
    visible_f=_VISIBLE.replace("a.application_id", "f.application_id"),
)

_BY_STAGE = f"""
WITH figures AS (
    SELECT r.application_id, r.handler, r.stage_name, r.attempts, r.completed, r.failed,
           r.failed_for_good, r.retried, r.lease_lost, r.duration_sum
    FROM attempt_rollups r WHERE {_SPANS} AND {_VISIBLE_R}
    UNION ALL
    SELECT t.application_id, t.handler, t.stage_name, {rollups.COUNTS}
    FROM stage_attempts t WHERE {_TAIL} AND {_VISIBLE_T}
    GROUP BY t.application_id, t.handler, t.stage_name
)
SELECT f.application_id, ap.name AS application_name, f.handler, f.stage_name,
       sum(f.attempts)::bigint AS attempts, sum(f.completed)::bigint AS completed,
       sum(f.failed)::bigint AS failed, sum(f.failed_for_good)::bigint AS failed_for_good,
       sum(f.retried)::bigint AS retried, sum(f.lease_lost)::bigint AS lease_lost
FROM figures f JOIN applications ap ON ap.id = f.application_id
GROUP BY f.application_id, ap.name, f.handler, f.stage_name
ORDER BY attempts DESC, f.handler, f.stage_name
LIMIT 500
"""

# Durations of the attempts a handler finished, by bucket (rollups.BUCKET).
_DURATIONS = f"""
WITH counted AS (
    SELECT r.application_id, r.handler, r.stage_name, r.bucket, r.n
    FROM duration_rollups r WHERE {_SPANS} AND {_VISIBLE_R}
    UNION ALL
    SELECT t.application_id, t.handler, t.stage_name, {rollups.BUCKET}, 1
    FROM stage_attempts t WHERE {_TAIL} AND {_VISIBLE_T} AND {rollups.FINISHED}
)
SELECT application_id, handler, stage_name, bucket, sum(n)::bigint AS n
FROM counted GROUP BY 1, 2, 3, 4
"""

_HOTSPOTS = f"""
WITH counted AS (
    SELECT r.handler, r.stage_name, r.code, r.message, r.n, r.last_seen_at
    FROM error_rollups r WHERE {_SPANS} AND {_VISIBLE_R}
    UNION ALL
    SELECT t.handler, t.stage_name, {rollups.CODE}, {rollups.MESSAGE}, 1, t.finished_at
    FROM stage_attempts t
    WHERE {_TAIL} AND {_VISIBLE_T} AND t.outcome IN ('failed', 'lease_lost')
)
SELECT handler, stage_name, code, message, sum(n)::bigint AS occurrences,
       max(last_seen_at) AS last_seen_at
FROM counted
GROUP BY 1, 2, 3, 4
ORDER BY occurrences DESC, last_seen_at DESC
LIMIT 20
"""

# Attempts ended per time bucket ($8, whole minutes: rollups count by the minute), for the
# throughput chart.
_SERIES = f"""
WITH counted AS (
    SELECT r.at, r.completed, r.attempts - r.completed AS failed
    FROM attempt_rollups r WHERE {_SPANS} AND {_VISIBLE_R}
    UNION ALL
    SELECT date_trunc('minute', t.finished_at, 'UTC'), (t.outcome = 'completed')::int,
           (t.outcome <> 'completed')::int
    FROM stage_attempts t WHERE {_TAIL} AND {_VISIBLE_T}
)
SELECT date_bin($8::interval, at, date_trunc($9, $1::timestamptz, 'UTC')) AS at,
       sum(completed)::bigint AS completed, sum(failed)::bigint AS failed
FROM counted GROUP BY 1 ORDER BY 1
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


def _whole_hours(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The first and the last whole hour of the range, read from hourly rollups; both the
    range's end when none fits (all of it is read by the minute). A range that starts
    before the minute rollups kept is read by the hour whole, its edges rounded out."""
    first = start.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    last = end.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    hour = dt.timedelta(hours=1)
    try:
        if start < dt.datetime.now(dt.UTC) - rollups.MINUTES_KEPT:
            return first, last if last == end else last + hour
        if first < start:
            first += hour
    except OverflowError:  # the last hour of year 9999: read by the minute
        return end, end
    return (first, last) if first < last else (end, end)


def _figures(
    row: asyncpg.Record, histograms: dict[tuple[uuid.UUID, str, str], dict[int, int]]
) -> StageFigures:
    histogram = histograms.get((row["application_id"], row["handler"], row["stage_name"]), {})
    return StageFigures(
        **dict(row),
        p50_seconds=rollups.quantile(histogram, 0.5),
        p95_seconds=rollups.quantile(histogram, 0.95),
    )


# About this many buckets in a chart (at least a minute each).
_BUCKETS = 60


async def read_insights(
    pool: asyncpg.Pool,
    *,
    start: dt.datetime,
    end: dt.datetime,
    member: uuid.UUID | None,
    application_id: uuid.UUID | None,
) -> Insights:
    minutes = max(1, round((end - start).total_seconds() / _BUCKETS / 60))
    # An hour's rollup cannot be split between buckets: buckets under an hour are counted
    # from the minute rollups alone, longer ones are whole hours from the hour.
    if minutes >= 60:
        minutes = round(minutes / 60) * 60
    bucket = dt.timedelta(minutes=minutes)
    hours = _whole_hours(start, end)
    by_minute = minutes < 60 and start >= dt.datetime.now(dt.UTC) - rollups.MINUTES_KEPT
    series_hours = (end, end) if by_minute else hours
    origin = "minute" if by_minute else "hour"
    scope = (start, end, member, application_id)
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        cursor = await rollups.cursor(connection)
        spans = (*scope, *hours, cursor)
        pipelines = await connection.fetch(_PIPELINES, *spans)
        stages = await connection.fetch(_BY_STAGE, *spans)
        durations = await connection.fetch(_DURATIONS, *spans)
        hotspots = await connection.fetch(_HOTSPOTS, *spans)
        series = await connection.fetch(_SERIES, *scope, *series_hours, cursor, bucket, origin)
        queues = await connection.fetch(_QUEUES, member, application_id)
    histograms: dict[tuple[uuid.UUID, str, str], dict[int, int]] = {}
    for row in durations:
        key = (row["application_id"], row["handler"], row["stage_name"])
        histograms.setdefault(key, {})[row["bucket"]] = row["n"]
    return Insights(
        {row["status"]: row["pipelines"] for row in pipelines},
        [_figures(row, histograms) for row in stages],
        [Hotspot(**dict(row)) for row in hotspots],
        [Bucket(**dict(row)) for row in series],
        bucket.total_seconds(),
        [QueueFigures(**dict(row)) for row in queues],
    )
