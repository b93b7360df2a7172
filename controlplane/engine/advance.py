"""Applying what follows from finished stages: queue dependents, fail or finish pipelines.

Run by the built-in worker for each batch of ``stage.results`` events, and by the sweep that
finds finished stages left unadvanced. The first statement marks the stages advanced and only
the stages it marks go further, so an event delivered twice does nothing the second time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from controlplane.engine.dispatch import QueuedStage
from controlplane.metrics import STAGES_ADVANCED
from database.pool import retry_on_deadlock

_MARK_ADVANCED = """
UPDATE stages SET advanced_at = now()
WHERE id = ANY($1::uuid[]) AND advanced_at IS NULL
  AND status IN ('completed', 'failed', 'skipped', 'cancelled')
RETURNING id, pipeline_id, status
"""

# The statements below start from the ids they are given and reach every other row through
# LATERAL lookups (OFFSET 0 keeps the planner from flattening them back into joins), so the
# plans open to the planner are index lookups per id. Joining on `= ANY($1)` instead lets a
# table that was never analysed (a fresh install under load) be scanned whole per batch.

# not_started -> queued, for dependents whose dependencies have all completed. Reads the
# statuses that the acks committed before announcing, so whichever dependency is advanced
# last sees all of them done; two consumers racing on one fan-in stage are serialised by the
# row lock and the status guard.
_QUEUE_READY_DEPENDENTS = """
UPDATE stages d SET status = 'queued', queued_at = now(), published_at = NULL
FROM (
    SELECT DISTINCT waiting.stage_id
    FROM unnest($1::uuid[]) AS finished(id)
    CROSS JOIN LATERAL (
        SELECT x.stage_id FROM stage_dependencies x WHERE x.depends_on_id = finished.id
        OFFSET 0
    ) AS waiting
) AS candidate
WHERE d.id = candidate.stage_id AND d.status = 'not_started'
  AND NOT EXISTS (
      SELECT 1 FROM stage_dependencies x JOIN stages p ON p.id = x.depends_on_id
      WHERE x.stage_id = d.id AND p.status NOT IN ('completed', 'skipped'))
RETURNING d.id, d.application_id, d.handler, d.attempt
"""

# A stage that failed for good fails its pipeline: what has not started never will.
_CANCEL_UNSTARTED = """
UPDATE stages SET status = 'cancelled', finished_at = now(), advanced_at = now(),
                  retry_at = NULL
WHERE id IN (
    SELECT unstarted.id
    FROM unnest($1::uuid[]) AS failed(pipeline_id)
    CROSS JOIN LATERAL (
        SELECT s.id FROM stages s
        WHERE s.pipeline_id = failed.pipeline_id
          AND s.status IN ('not_started', 'queued', 'retry_scheduled')
        OFFSET 0
    ) AS unstarted
)
"""

_DERIVE_PIPELINE_STATUS = """
UPDATE pipelines p SET status = summary.derived, finished_at = now(), updated_at = now()
FROM unnest($1::uuid[]) AS touched(id)
CROSS JOIN LATERAL (
    SELECT CASE WHEN bool_or(s.status = 'failed') THEN 'failed'
                WHEN bool_and(s.status IN ('completed', 'skipped')) THEN 'completed'
                WHEN bool_and(s.status IN ('completed', 'skipped', 'failed', 'cancelled'))
                    THEN 'cancelled'
                ELSE 'running' END AS derived
    FROM stages s WHERE s.pipeline_id = touched.id
) AS summary
WHERE p.id = touched.id AND p.status = 'running' AND summary.derived <> 'running'
RETURNING p.id, p.status
"""


@dataclass(frozen=True)
class Advanced:
    stages: int
    queued: list[QueuedStage]
    finished_pipelines: dict[uuid.UUID, str]


async def advance_stages(pool: asyncpg.Pool, stage_ids: list[uuid.UUID]) -> Advanced:
    """One transaction for the whole batch; the caller publishes ``queued`` afterwards."""
    if not stage_ids:
        return Advanced(0, [], {})
    ordered = sorted(set(stage_ids))  # rows are locked in ascending id order
    return await retry_on_deadlock(lambda: _advance_once(pool, ordered))


async def _advance_once(pool: asyncpg.Pool, stage_ids: list[uuid.UUID]) -> Advanced:
    async with pool.acquire() as connection, connection.transaction():
        marked = await connection.fetch(_MARK_ADVANCED, stage_ids)
        if not marked:
            return Advanced(0, [], {})
        done = [row["id"] for row in marked if row["status"] in ("completed", "skipped")]
        failed_pipelines = sorted({r["pipeline_id"] for r in marked if r["status"] == "failed"})
        queued = (
            [
                QueuedStage.from_row(row)
                for row in await connection.fetch(_QUEUE_READY_DEPENDENTS, done)
            ]
            if done
            else []
        )
        if failed_pipelines:
            await connection.execute(_CANCEL_UNSTARTED, failed_pipelines)
        pipelines = sorted({row["pipeline_id"] for row in marked})
        finished = {
            row["id"]: row["status"]
            for row in await connection.fetch(_DERIVE_PIPELINE_STATUS, pipelines)
        }
    STAGES_ADVANCED.inc(len(marked))
    return Advanced(len(marked), queued, finished)
