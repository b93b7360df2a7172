"""Folding the attempts that ended, and the pipelines that finished, into per-minute and
per-hour rollups.

Insights, the overview and risk read rollups, not every attempt of a range: with a million
attempts a page view cost seconds. The built-in worker folds what is new every few seconds
(and reads add the unfolded tail, so nothing waits for it). An attempt is folded exactly
once: the fold takes the attempts of transactions older than the oldest still running (none
of those can still commit), and moves the cursor past them in the same transaction, the
cursor row locked; a second built-in worker waits for that lock and finds the cursor moved.
"""

from __future__ import annotations

import datetime as dt

import asyncpg

# Duration buckets: b holds [0.001 * GROWTH^b, 0.001 * GROWTH^(b+1)) seconds.
SMALLEST = 0.001
GROWTH = 1.1
LAST_BUCKET = 220
GRAINS = ("minute", "hour")

# What one attempt counts for, as columns of a row: shared by the fold and by the reads of
# the unfolded tail, so both count the same way. ``t`` is stage_attempts, ``p`` pipelines.
DURATION = "extract(epoch FROM t.finished_at - t.started_at)"
FINISHED = "t.outcome IN ('completed', 'failed')"
COUNTS = f"""
    count(*) AS attempts,
    count(*) FILTER (WHERE t.outcome = 'completed') AS completed,
    count(*) FILTER (WHERE t.outcome = 'failed') AS failed,
    count(*) FILTER (WHERE t.outcome = 'failed' AND NOT t.retried) AS failed_for_good,
    count(*) FILTER (WHERE t.retried) AS retried,
    count(*) FILTER (WHERE t.outcome = 'lease_lost') AS lease_lost,
    coalesce(sum({DURATION}) FILTER (WHERE {FINISHED}), 0) AS duration_sum"""


def _bucket(seconds: str) -> str:
    """The duration bucket of ``seconds`` (an SQL expression)."""
    return f"""least({LAST_BUCKET}, greatest(0, floor(
    ln(greatest({seconds}, {SMALLEST}) / {SMALLEST}) / ln({GROWTH}))))::smallint"""


BUCKET = _bucket(DURATION)
CODE = "coalesce(t.error ->> 'code', t.outcome)"
MESSAGE = "left(coalesce(t.error ->> 'message', ''), 300)"

# Whether anything waits to be folded: the fold's transaction (which takes a transaction id
# of its own, and so moves the horizon) runs only then.
_PENDING = """
SELECT EXISTS (SELECT 1 FROM stage_attempts t, rollup_cursors c
               WHERE t.txid >= c.position AND c.name = 'attempts')
    OR EXISTS (SELECT 1 FROM pipeline_finishes f, rollup_cursors c
               WHERE f.txid >= c.position AND c.name = 'attempts')
"""

_LOCK = "SELECT position FROM rollup_cursors WHERE name = 'attempts' FOR UPDATE"
# Every transaction before this one has ended: its attempts are all there to fold.
_HORIZON = "SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint"
_MOVE = "UPDATE rollup_cursors SET position = $1 WHERE name = 'attempts'"

_NEW = "t.txid >= $1 AND t.txid < $2"

_FOLD_COUNTS = f"""
INSERT INTO attempt_rollups AS r (grain, at, application_id, pipeline_name, stage_name, handler,
    attempts, completed, failed, failed_for_good, retried, lease_lost, duration_sum)
SELECT $3, date_trunc($3, t.finished_at, 'UTC'), t.application_id, p.name, t.stage_name,
       t.handler, {COUNTS}
FROM stage_attempts t JOIN pipelines p ON p.id = t.pipeline_id
WHERE {_NEW}
GROUP BY 1, 2, 3, 4, 5, 6
ON CONFLICT (grain, at, application_id, pipeline_name, stage_name, handler) DO UPDATE SET
    attempts = r.attempts + EXCLUDED.attempts,
    completed = r.completed + EXCLUDED.completed,
    failed = r.failed + EXCLUDED.failed,
    failed_for_good = r.failed_for_good + EXCLUDED.failed_for_good,
    retried = r.retried + EXCLUDED.retried,
    lease_lost = r.lease_lost + EXCLUDED.lease_lost,
    duration_sum = r.duration_sum + EXCLUDED.duration_sum
"""

_FOLD_DURATIONS = f"""
INSERT INTO duration_rollups AS r (grain, at, application_id, stage_name, handler, bucket, n)
SELECT $3, date_trunc($3, t.finished_at, 'UTC'), t.application_id, t.stage_name, t.handler,
       {BUCKET}, count(*)
FROM stage_attempts t
WHERE {_NEW} AND {FINISHED}
GROUP BY 1, 2, 3, 4, 5, 6
ON CONFLICT (grain, at, application_id, stage_name, handler, bucket)
DO UPDATE SET n = r.n + EXCLUDED.n
"""

_FOLD_ERRORS = f"""
INSERT INTO error_rollups AS r (grain, at, application_id, handler, stage_name, code, message,
    n, last_seen_at)
SELECT $3, date_trunc($3, t.finished_at, 'UTC'), t.application_id, t.handler, t.stage_name,
       {CODE}, {MESSAGE}, count(*), max(t.finished_at)
FROM stage_attempts t
WHERE {_NEW} AND t.outcome IN ('failed', 'lease_lost')
GROUP BY 1, 2, 3, 4, 5, 6, 7
ON CONFLICT (grain, at, application_id, handler, stage_name, code, message) DO UPDATE SET
    n = r.n + EXCLUDED.n, last_seen_at = greatest(r.last_seen_at, EXCLUDED.last_seen_at)
"""

_FOLD_FINISHES = """
INSERT INTO pipeline_rollups AS r (grain, at, application_id, status, n)
SELECT $3, date_trunc($3, f.finished_at, 'UTC'), f.application_id, f.status, count(*)
FROM pipeline_finishes f
WHERE f.txid >= $1 AND f.txid < $2
GROUP BY 1, 2, 3, 4
ON CONFLICT (grain, at, application_id, status) DO UPDATE SET n = r.n + EXCLUDED.n
"""

# A run's time is known only for a first finish (seconds is null after a reopening): bucket
# -1. A finish logged by the trigger as it was before migration 0022 has no name: it is read
# from the pipeline (gone already: not counted).
_FOLD_RUNS = f"""
INSERT INTO run_rollups AS r (grain, at, application_id, pipeline_name, status, bucket, n)
SELECT $3, date_trunc($3, f.finished_at, 'UTC'), f.application_id, f.name, f.status,
       CASE WHEN f.seconds IS NULL THEN -1 ELSE {_bucket("f.seconds")} END, count(*)
FROM (SELECT finished_at, application_id, status, seconds,
             coalesce(pipeline_name, (SELECT p.name FROM pipelines p WHERE p.id = pipeline_id))
                 AS name
      FROM pipeline_finishes WHERE txid >= $1 AND txid < $2) f
WHERE f.name IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6
ON CONFLICT (grain, at, application_id, pipeline_name, status, bucket)
DO UPDATE SET n = r.n + EXCLUDED.n
"""

_CURSOR = "SELECT position FROM rollup_cursors WHERE name = 'attempts'"

# Minute rollups serve the edges of recent ranges; older ranges are read by the hour.
MINUTES_KEPT = dt.timedelta(days=2)


async def fold(pool: asyncpg.Pool) -> int:
    """Fold the attempts not folded yet whose transactions have all ended; returns how many
    attempt rows the fold added to the minute rollups (0: nothing new)."""
    if not await pool.fetchval(_PENDING):
        return 0
    async with pool.acquire() as db, db.transaction():
        start = await db.fetchval(_LOCK)
        end = await db.fetchval(_HORIZON)
        if end <= start:
            return 0
        folded = 0
        for grain in GRAINS:
            status = await db.execute(_FOLD_COUNTS, start, end, grain)
            if grain == "minute":
                folded = int(status.split()[-1])
            await db.execute(_FOLD_DURATIONS, start, end, grain)
            await db.execute(_FOLD_ERRORS, start, end, grain)
            await db.execute(_FOLD_FINISHES, start, end, grain)
            await db.execute(_FOLD_RUNS, start, end, grain)
        await db.execute(_MOVE, end)
    return folded


async def cursor(connection: asyncpg.Connection | asyncpg.Pool) -> int:
    """Where the unfolded attempts begin (by transaction id)."""
    return int(await connection.fetchval(_CURSOR))


def quantile(histogram: dict[int, int], q: float) -> float | None:
    """The ``q`` quantile of durations counted by bucket, interpolated within its bucket on
    the log scale the buckets are cut on (within 5% of the exact one)."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for bucket in sorted(histogram):
        count = histogram[bucket]
        if seen + count >= rank:
            within = (rank - seen) / count if count else 0.0
            return SMALLEST * GROWTH ** (bucket + within)
        seen += count
    return SMALLEST * GROWTH ** (max(histogram) + 1)
