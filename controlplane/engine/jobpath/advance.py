"""Applying what follows from finished stages: queue dependents, fail or finish pipelines.

Run by the built-in worker for each batch of ``stage.results`` events, and by the sweep that
finds finished stages left unadvanced.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from controlplane.engine.outcome import Outcome, PipelineChange, QueuedStage, StageChange
from controlplane.metrics import STAGES_ADVANCED
from database.pool import fetch_retrying

# The whole advance is one statement, so it commits atomically without a transaction's
# extra round trips. Its parts share one snapshot, which is why they can be one statement:
#
# - `marked` takes the stages first; only what it marks goes further, so an event delivered
#   twice does nothing the second time.
# - `queued` moves not_started -> queued the dependents whose dependencies have all
#   completed. It reads the statuses the acks committed before announcing, so whichever
#   dependency is advanced last sees all of them done; two advances racing on one fan-in
#   stage are serialised by the row lock and the status guard.
# - `cancelled`: a stage that failed for good fails its pipeline, and what has not started
#   never will. Its rows are disjoint from `queued`'s (a failed pipeline queues nothing), as
#   a statement may change each row only once.
# - `finished` derives the status of the touched pipelines that queued nothing. The snapshot
#   does not show this statement's own changes, and need not: a marked failure makes the
#   pipeline failed whatever else it holds, and without one the only change here is queueing,
#   which keeps a pipeline running.
# - An operator's rerun or skip may commit while this statement waits for a row it locked.
#   Postgres then rechecks the WHERE clause against the row's new version, but everything
#   else was read from the older snapshot. So `queued` and `finished` carry the revision they
#   read and change a row only if its revision is still that: a stage or pipeline the
#   operator reset is left as the operator left it.
#
# Every other row is reached from the given ids through LATERAL lookups (OFFSET 0 keeps the
# planner from flattening them back into joins), so the plans open to the planner are index
# lookups per id: joining on `= ANY($1)` instead lets a table that was never analysed (a
# fresh install under load) be scanned whole per batch.
_ADVANCE = """
WITH marked AS (
    UPDATE stages SET advanced_at = now()
    WHERE id = ANY($1::uuid[]) AND advanced_at IS NULL
      AND status IN ('completed', 'failed', 'skipped', 'cancelled')
    RETURNING id, pipeline_id, status
),
failed_pipelines AS (
    SELECT DISTINCT pipeline_id FROM marked WHERE status = 'failed'
),
queued AS (
    UPDATE stages d SET status = 'queued', queued_at = now(), published_at = NULL
    FROM (
        SELECT DISTINCT waiting.stage_id, waiting.revision
        FROM marked
        CROSS JOIN LATERAL (
            SELECT x.stage_id, w.revision
            FROM stage_dependencies x JOIN stages w ON w.id = x.stage_id
            WHERE x.depends_on_id = marked.id
            OFFSET 0
        ) AS waiting
        WHERE marked.status IN ('completed', 'skipped')
    ) AS candidate
    WHERE d.id = candidate.stage_id AND d.revision = candidate.revision
      AND d.status = 'not_started'
      AND d.pipeline_id NOT IN (SELECT pipeline_id FROM failed_pipelines)
      AND NOT EXISTS (
          SELECT 1 FROM stage_dependencies x JOIN stages p ON p.id = x.depends_on_id
          WHERE x.stage_id = d.id AND p.status NOT IN ('completed', 'skipped'))
    RETURNING d.id, d.pipeline_id, d.application_id, d.handler, d.attempt
),
cancelled AS (
    UPDATE stages SET status = 'cancelled', finished_at = now(), advanced_at = now(),
                      retry_at = NULL
    WHERE id IN (
        SELECT unstarted.id
        FROM failed_pipelines f
        CROSS JOIN LATERAL (
            SELECT s.id FROM stages s
            WHERE s.pipeline_id = f.pipeline_id
              AND s.status IN ('not_started', 'queued', 'retry_scheduled')
            OFFSET 0
        ) AS unstarted
    )
    RETURNING id, pipeline_id, application_id
),
finished AS (
    UPDATE pipelines p SET status = summary.derived, finished_at = now(), updated_at = now()
    FROM (
        SELECT DISTINCT m.pipeline_id, seen.revision
        FROM marked m
        CROSS JOIN LATERAL (
            SELECT revision FROM pipelines WHERE id = m.pipeline_id OFFSET 0
        ) AS seen
        WHERE m.pipeline_id NOT IN (SELECT pipeline_id FROM queued)
    ) AS touched
    CROSS JOIN LATERAL (
        SELECT CASE WHEN bool_or(s.status = 'failed') THEN 'failed'
                    WHEN bool_and(s.status IN ('completed', 'skipped')) THEN 'completed'
                    WHEN bool_and(s.status IN ('completed', 'skipped', 'failed', 'cancelled'))
                        THEN 'cancelled'
                    ELSE 'running' END AS derived
        FROM stages s WHERE s.pipeline_id = touched.pipeline_id
    ) AS summary
    WHERE p.id = touched.pipeline_id AND p.revision = touched.revision
      AND p.status = 'running' AND summary.derived <> 'running'
    RETURNING p.id, p.application_id, p.status
)
SELECT 'queued' AS kind, id, pipeline_id, application_id, handler, attempt, 'queued' AS status
FROM queued
UNION ALL
SELECT 'cancelled', id, pipeline_id, application_id, NULL, NULL, 'cancelled' FROM cancelled
UNION ALL
SELECT 'finished', id, NULL, application_id, NULL, NULL, status FROM finished
UNION ALL
SELECT 'marked', NULL, NULL, NULL, NULL, count(*)::int, NULL FROM marked
"""


@dataclass(frozen=True)
class Advanced:
    # How many of the stages were advanced now (the rest had been before).
    stages: int
    # The dependents queued, the stages cancelled behind a failure, the pipelines finished.
    outcome: Outcome


async def advance_stages(pool: asyncpg.Pool, stage_ids: list[uuid.UUID]) -> Advanced:
    """Advance a batch of finished stages."""
    if not stage_ids:
        return Advanced(0, Outcome())
    ordered = sorted(set(stage_ids))  # rows are locked in ascending id order
    rows = await fetch_retrying(pool, _ADVANCE, ordered)
    marked = next(row["attempt"] for row in rows if row["kind"] == "marked")
    STAGES_ADVANCED.inc(marked)
    finished = [
        PipelineChange(row["id"], row["application_id"], row["status"])
        for row in rows
        if row["kind"] == "finished"
    ]
    outcome = Outcome(
        queued=tuple(QueuedStage.from_row(row) for row in rows if row["kind"] == "queued"),
        stages=tuple(StageChange.from_row(row) for row in rows if row["kind"] == "cancelled"),
        pipelines=tuple(finished),
        ended_pipelines=tuple(p.pipeline_id for p in finished),
    )
    return Advanced(marked, outcome)
