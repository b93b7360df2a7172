"""What operators do to a pipeline's stages: rerun them, skip them.

Each action is one transaction that first locks the pipeline row (so two actions on one
pipeline, or an action and a cancel, take turns) and then moves stages with guarded
statements, like the engine's own transitions. It bumps the revision of every row it
resets, which makes an advance that read those rows before the action leave them alone (see
:mod:`controlplane.engine.jobpath.advance`).

A rerun or skip reopens a finished pipeline: it runs again, and the stages its end had
cancelled wait for their dependencies again, except those behind a failure that stays.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec

from controlplane.engine.access.audit import Actor, record
from controlplane.engine.jobpath.policies import inputs_editable
from controlplane.engine.outcome import Outcome, PipelineChange, QueuedStage, StageChange
from controlplane.errors import Conflict, Forbidden, InvalidRequest, NotFound
from controlplane.statuses import RERUNNABLE

_LOCK_PIPELINE = """
SELECT status FROM pipelines WHERE id = $1 AND application_id = $2 FOR UPDATE
"""

# The stages acted on, with the dependencies that have not completed (or been skipped).
_TARGETS = """
SELECT s.id, s.name, s.status,
       array(SELECT p.name FROM stage_dependencies d JOIN stages p ON p.id = d.depends_on_id
             WHERE d.stage_id = s.id AND p.status NOT IN ('completed', 'skipped')
               AND NOT p.id = ANY($1::uuid[])
             ORDER BY p.position) AS unmet
FROM stages s WHERE s.id = ANY($1::uuid[]) AND s.pipeline_id = $2
ORDER BY s.position
FOR UPDATE OF s
"""

_FAILED_STAGES = """
SELECT id FROM stages WHERE pipeline_id = $1 AND status = 'failed' ORDER BY position
"""

# The rerun stages and, with `downstream`, everything after them, back to not_started with
# nothing of their last run left; without it, only the stages after them that have not run
# (a queued one would otherwise run on the output being replaced). Running ones run on.
_RESET = """
WITH RECURSIVE downstream AS (
    SELECT d.stage_id AS id FROM stage_dependencies d WHERE d.depends_on_id = ANY($1::uuid[])
    UNION
    SELECT d.stage_id FROM stage_dependencies d JOIN downstream ON d.depends_on_id = downstream.id
)
UPDATE stages s SET
    status = 'not_started',
    input = CASE WHEN $4 THEN $5::text::jsonb ELSE s.input END,
    output = NULL, error = NULL, failures = 0, lease_expiries = 0,
    queued_at = NULL, published_at = NULL, started_at = NULL, finished_at = NULL,
    retry_at = NULL, lease_expires_at = NULL, deadline_at = NULL, advanced_at = NULL,
    held_by = NULL, revision = s.revision + 1
WHERE s.pipeline_id = $2 AND (
    s.id = ANY($1::uuid[])
    OR (s.id IN (SELECT id FROM downstream)
        AND ($3 OR s.status IN ('not_started', 'queued', 'retry_scheduled', 'cancelled'))))
RETURNING s.id
"""

# A skipped stage counts as done for its dependents. Left unadvanced, so that the engine
# applies what follows from it like from any finished stage.
_SKIP = """
UPDATE stages SET
    status = 'skipped', output = $3::text::jsonb, error = NULL, finished_at = now(),
    advanced_at = NULL, retry_at = NULL, lease_expires_at = NULL, deadline_at = NULL,
    revision = revision + 1
WHERE id = ANY($1::uuid[]) AND pipeline_id = $2
  AND status IN ('not_started', 'queued', 'running', 'retry_scheduled', 'failed', 'cancelled')
RETURNING id
"""

# Stages the pipeline's end cancelled wait again, unless they sit behind a stage that is
# still failed (they could never run). Every waiting stage's revision moves on too.
_REVIVE = """
WITH RECURSIVE blocked AS (
    SELECT d.stage_id AS id
    FROM stage_dependencies d JOIN stages f ON f.id = d.depends_on_id
    WHERE f.pipeline_id = $1 AND f.status = 'failed'
    UNION
    SELECT d.stage_id FROM stage_dependencies d JOIN blocked b ON d.depends_on_id = b.id
)
UPDATE stages s SET
    status = 'not_started', finished_at = NULL, advanced_at = NULL, retry_at = NULL,
    queued_at = NULL, published_at = NULL, held_by = NULL, revision = s.revision + 1
WHERE s.pipeline_id = $1
  AND (s.status = 'not_started'
       OR (s.status = 'cancelled' AND s.id NOT IN (SELECT id FROM blocked)))
"""

_QUEUE_READY = """
UPDATE stages s SET status = 'queued', queued_at = now(), published_at = NULL
WHERE s.pipeline_id = $1 AND s.status = 'not_started'
  AND NOT EXISTS (
      SELECT 1 FROM stage_dependencies x JOIN stages p ON p.id = x.depends_on_id
      WHERE x.stage_id = s.id AND p.status NOT IN ('completed', 'skipped'))
RETURNING s.id, s.pipeline_id, s.application_id, s.handler, s.attempt
"""

# A pipeline that had finished is reopened: the run time risk compares (creation to finish)
# stops at its first finish (reopened_at).
_REOPEN = """
UPDATE pipelines SET status = 'running', finished_at = NULL, updated_at = now(),
                     revision = revision + 1,
                     reopened_at = CASE WHEN status <> 'running' THEN now() ELSE reopened_at END
WHERE id = $1
"""

# Every stage of the pipeline as the action leaves it, for the live updates.
_STATE = """
SELECT s.id, s.status, p.status AS pipeline_status, p.application_id
FROM stages s JOIN pipelines p ON p.id = s.pipeline_id
WHERE s.pipeline_id = $1
ORDER BY s.position
"""


@dataclass(frozen=True)
class ActionResult:
    pipeline_id: uuid.UUID
    # The stages queued, the stages finished (skipped ones: the engine advances past them),
    # and the pipeline's stages as they are now.
    outcome: Outcome


async def rerun_stages(
    pool: asyncpg.Pool,
    application_id: uuid.UUID,
    pipeline_id: uuid.UUID,
    stage_ids: list[uuid.UUID],
    *,
    downstream: bool,
    actor: Actor,
    new_input: Any = msgspec.UNSET,
    max_input_bytes: int | None = None,
    role: str | None = None,
) -> ActionResult:
    """Run finished stages again (every dependency of theirs must have completed).

    ``new_input`` replaces the input of the (single) stage, if someone of the person's ``role``
    may (see policies.inputs_editable; None: not a person's request). Raises NotFound,
    Conflict, Forbidden or InvalidRequest and then changes nothing.
    """
    input_text = None
    if new_input is not msgspec.UNSET:
        if len(stage_ids) != 1:
            raise InvalidRequest("input_needs_one_stage", "a new input is for one stage only")
        input_text = msgspec.json.encode(new_input).decode()
        if max_input_bytes is not None and len(input_text.encode()) > max_input_bytes:
            raise InvalidRequest(
                "input_too_large", f"the input is over the limit of {max_input_bytes} bytes"
            )
    async with pool.acquire() as connection, connection.transaction():
        await _lock_pipeline(connection, application_id, pipeline_id)
        targets = await _targets(connection, pipeline_id, stage_ids)
        if (
            input_text is not None
            and role is not None
            and not await inputs_editable(connection, application_id, role, stage_ids)
        ):
            raise Forbidden(
                "input_change_not_allowed",
                "an operator reruns a stage with its input as it was, unless an operator_input "
                "policy of its handler or pipeline allows a new one",
            )
        for target in targets:
            if target["status"] not in RERUNNABLE:
                raise Conflict(
                    "stage_not_finished",
                    f"stage {target['name']!r} is {target['status']}; only a finished stage "
                    "can run again",
                    stage=target["name"],
                    stageStatus=target["status"],
                )
            if target["unmet"]:
                raise Conflict(
                    "dependencies_not_completed",
                    f"stage {target['name']!r} needs {', '.join(target['unmet'])} to complete "
                    "first: rerun those",
                    stage=target["name"],
                    waitingFor=list(target["unmet"]),
                )
        await connection.execute(
            _RESET, stage_ids, pipeline_id, downstream, input_text is not None, input_text
        )
        outcome = await _reopen(connection, pipeline_id)
        for target in targets:
            await record(
                connection,
                actor,
                "stage.rerun",
                "stage",
                target["id"],
                {
                    "pipelineId": str(pipeline_id),
                    "stage": target["name"],
                    "downstream": downstream,
                    "newInput": input_text is not None,
                },
            )
    return ActionResult(pipeline_id, outcome)


async def skip_stages(
    pool: asyncpg.Pool,
    application_id: uuid.UUID,
    pipeline_id: uuid.UUID,
    stage_ids: list[uuid.UUID],
    *,
    actor: Actor,
    output: Any = None,
    role: str | None = None,
) -> ActionResult:
    """Mark stages skipped, so that what depends on them goes on; ``output`` stands in for
    theirs. Skipping a skipped stage again changes nothing; a completed one cannot be.

    An output is what the dependents run on, as an input is: someone of the person's
    ``role`` gives one only where they may give the stages a new input (None: not a
    person's request)."""
    async with pool.acquire() as connection, connection.transaction():
        await _lock_pipeline(connection, application_id, pipeline_id)
        targets = await _targets(connection, pipeline_id, stage_ids)
        if output is not None and role is not None:
            editable = await inputs_editable(connection, application_id, role, stage_ids)
            if set(stage_ids) - editable:
                raise Forbidden(
                    "input_change_not_allowed",
                    "an operator skips a stage without an output of their choosing, unless an "
                    "operator_input policy of its handler or pipeline allows one",
                )
        for target in targets:
            if target["status"] == "completed":
                raise Conflict(
                    "stage_completed",
                    f"stage {target['name']!r} has completed; rerun it instead",
                    stage=target["name"],
                )
        to_skip = [t["id"] for t in targets if t["status"] != "skipped"]
        if not to_skip:
            return ActionResult(pipeline_id, Outcome())
        skipped = await connection.fetch(
            _SKIP, to_skip, pipeline_id, msgspec.json.encode(output).decode()
        )
        outcome = await _reopen(connection, pipeline_id)
        for target in targets:
            if target["id"] in to_skip:
                await record(
                    connection,
                    actor,
                    "stage.skipped",
                    "stage",
                    target["id"],
                    {"pipelineId": str(pipeline_id), "stage": target["name"]},
                )
    finished = Outcome(finished_stages=tuple(row["id"] for row in skipped))
    return ActionResult(pipeline_id, outcome + finished)


async def failed_stages(pool: asyncpg.Pool, pipeline_id: uuid.UUID) -> list[uuid.UUID]:
    return [row["id"] for row in await pool.fetch(_FAILED_STAGES, pipeline_id)]


async def resume_pipeline(
    pool: asyncpg.Pool, application_id: uuid.UUID, pipeline_id: uuid.UUID, *, actor: Actor
) -> ActionResult:
    """Bring back a cancelled pipeline's cancelled stages (none of its stages failed)."""
    async with pool.acquire() as connection, connection.transaction():
        status = await _lock_pipeline(connection, application_id, pipeline_id)
        if status != "cancelled":
            raise Conflict(
                "nothing_to_rerun",
                f"the pipeline is {status} and has no failed stage to rerun",
                pipelineStatus=status,
            )
        outcome = await _reopen(connection, pipeline_id)
        await record(connection, actor, "pipeline.resumed", "pipeline", pipeline_id)
    return ActionResult(pipeline_id, outcome)


async def _lock_pipeline(
    connection: asyncpg.Connection, application_id: uuid.UUID, pipeline_id: uuid.UUID
) -> str:
    status = await connection.fetchval(_LOCK_PIPELINE, pipeline_id, application_id)
    if status is None:
        raise NotFound("pipeline_not_found", f"no pipeline {pipeline_id}")
    return str(status)


async def _targets(
    connection: asyncpg.Connection, pipeline_id: uuid.UUID, stage_ids: list[uuid.UUID]
) -> list[asyncpg.Record]:
    targets = await connection.fetch(_TARGETS, stage_ids, pipeline_id)
    missing = set(stage_ids) - {t["id"] for t in targets}
    if missing:
        raise NotFound("stage_not_found", f"no stage {sorted(missing)[0]} in this pipeline")
    return targets


async def _reopen(connection: asyncpg.Connection, pipeline_id: uuid.UUID) -> Outcome:
    """Reopen the pipeline: what it queued, and all its stages and itself as they are now."""
    await connection.execute(_REVIVE, pipeline_id)
    queued = tuple(
        QueuedStage.from_row(row) for row in await connection.fetch(_QUEUE_READY, pipeline_id)
    )
    await connection.execute(_REOPEN, pipeline_id)
    state = await connection.fetch(_STATE, pipeline_id)
    ids = {stage.stage_id for stage in queued}
    return Outcome(
        queued=queued,
        stages=tuple(
            StageChange(row["id"], pipeline_id, row["application_id"], row["status"])
            for row in state
            if row["id"] not in ids
        ),
        # Every pipeline has a stage: the first row names the pipeline's status too.
        pipelines=(
            PipelineChange(pipeline_id, state[0]["application_id"], state[0]["pipeline_status"]),
        ),
    )
