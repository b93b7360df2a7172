"""A pipeline name's run history: how long its runs took and how often they failed, bucket by
bucket over a range, and how long each of its stages took in its latest runs.

The range is read from the hourly run rollups (kept as long as the pipelines are), so a name
that runs a thousand times an hour costs no more than one that runs nightly; the latest runs
and their stages are read from the pipelines themselves, a bounded number of them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass

import asyncpg

from controlplane.engine.upkeep import rollups

LATEST_RUNS = 50

# Durations in bucket -1 are runs without a run time (finished again after a rerun): counted
# in the statuses, not in the durations.
_SERIES = """
SELECT date_trunc($5, r.at, 'UTC') AS at, r.status, r.bucket, sum(r.n)::bigint AS n
FROM run_rollups r
WHERE r.grain = 'hour' AND r.application_id = $1 AND r.pipeline_name = $2
  AND r.at >= $3 AND r.at < $4
GROUP BY 1, 2, 3
ORDER BY 1
"""
# Through the index pipelines_name.
_LATEST = """
SELECT id, status, created_at, finished_at,
       extract(epoch FROM coalesce(finished_at, now()) - created_at) AS seconds
FROM pipelines WHERE application_id = $1 AND name = $2
ORDER BY created_at DESC LIMIT $3
"""
# Each stage of those runs: its attempts, failures and durations, in the order the stages
# come in the pipeline.
_STAGES = f"""
SELECT t.stage_name AS name, t.handler, count(*) AS attempts,
       count(*) FILTER (WHERE t.outcome = 'failed') AS failed,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY {rollups.DURATION}) AS p50_seconds,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY {rollups.DURATION}) AS p95_seconds
FROM stages s JOIN stage_attempts t ON t.stage_id = s.id
WHERE s.pipeline_id = ANY($1::uuid[]) AND {rollups.FINISHED}
GROUP BY t.stage_name, t.handler
ORDER BY min(s.position), t.stage_name
"""


@dataclass(frozen=True)
class Bucket:
    at: dt.datetime
    completed: int
    failed: int
    cancelled: int
    p50_seconds: float | None
    p95_seconds: float | None


@dataclass(frozen=True)
class Run:
    id: uuid.UUID
    status: str
    created_at: dt.datetime
    finished_at: dt.datetime | None
    seconds: float


@dataclass(frozen=True)
class StageTimes:
    name: str
    handler: str
    attempts: int
    failed: int
    p50_seconds: float | None
    p95_seconds: float | None


@dataclass(frozen=True)
class RunHistory:
    completed: int
    failed: int
    cancelled: int
    # Completed of those completed or failed; None without either.
    success_rate: float | None
    p50_seconds: float | None
    p95_seconds: float | None
    series: list[Bucket]
    latest: list[Run]
    stages: list[StageTimes]


def _tally(rows: list[asyncpg.Record]) -> tuple[dict[str, int], dict[int, int]]:
    statuses: dict[str, int] = defaultdict(int)
    durations: dict[int, int] = defaultdict(int)
    for row in rows:
        statuses[row["status"]] += row["n"]
        if row["bucket"] >= 0:
            durations[row["bucket"]] += row["n"]
    return statuses, durations


def _bucket(at: dt.datetime, rows: list[asyncpg.Record]) -> Bucket:
    statuses, durations = _tally(rows)
    return Bucket(
        at,
        statuses["completed"],
        statuses["failed"],
        statuses["cancelled"],
        rollups.quantile(durations, 0.5),
        rollups.quantile(durations, 0.95),
    )


async def run_history(
    pool: asyncpg.Pool,
    application_id: uuid.UUID,
    name: str,
    start: dt.datetime,
    end: dt.datetime,
    bucket: str,
) -> RunHistory:
    """``bucket``: ``hour`` or ``day``, the width of each point of the series."""
    rows = await pool.fetch(_SERIES, application_id, name, start, end, bucket)
    by_bucket: dict[dt.datetime, list[asyncpg.Record]] = defaultdict(list)
    for row in rows:
        by_bucket[row["at"]].append(row)
    statuses, durations = _tally(rows)
    finished = statuses["completed"] + statuses["failed"]
    found = await pool.fetch(_LATEST, application_id, name, LATEST_RUNS)
    latest = [Run(**dict(row)) for row in found]
    stages = [StageTimes(**dict(row)) for row in await pool.fetch(_STAGES, [r.id for r in latest])]
    return RunHistory(
        statuses["completed"],
        statuses["failed"],
        statuses["cancelled"],
        statuses["completed"] / finished if finished else None,
        rollups.quantile(durations, 0.5),
        rollups.quantile(durations, 0.95),
        [_bucket(at, bucket_rows) for at, bucket_rows in by_bucket.items()],
        latest,
        stages,
    )
