"""Submitting, reading and cancelling pipelines."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec

from controlplane.engine.access.audit import Actor, record
from controlplane.engine.definitions.documents import checked_params, run_stages
from controlplane.engine.definitions.versions import runnable_version
from controlplane.engine.jobpath.dag import unorderable
from controlplane.engine.jobpath.policies import ActivePolicies, shape_stages
from controlplane.engine.jobpath.tracing import TraceParent
from controlplane.engine.outcome import (
    Outcome,
    PipelineChange,
    QueuedStage,
    StageChange,
)
from controlplane.errors import Conflict, InvalidRequest, NotFound
from controlplane.metrics import PIPELINES_SUBMITTED
from controlplane.sandbox import Sandbox
from controlplane.schemas import (
    PipelineSubmit,
    StageSpec,
)
from controlplane.statuses import PipelineStatus, StageStatus
from database.named import Named
from database.pool import json_texts


@dataclass(frozen=True)
class PlannedStage:
    id: uuid.UUID
    spec: StageSpec
    depends_on: list[str]


def plan_stages(stages: list[StageSpec], max_input_bytes: int) -> list[PlannedStage]:
    """Resolve dependencies and check the DAG; raises InvalidRequest, stores nothing."""
    names = [stage.name for stage in stages]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidRequest("duplicate_stage_name", f"two stages are named {name!r}")
        seen.add(name)
    planned = []
    for index, stage in enumerate(stages):
        if stage.depends_on is msgspec.UNSET or stage.depends_on is None:
            depends_on = [names[index - 1]] if index > 0 else []
        else:
            depends_on = list(dict.fromkeys(stage.depends_on))
        for dependency in depends_on:
            if dependency not in seen:
                raise InvalidRequest(
                    "unknown_dependency",
                    f"stage {stage.name!r} depends on {dependency!r}, which is not a stage here",
                )
            if dependency == stage.name:
                raise InvalidRequest("dependency_cycle", f"stage {stage.name!r} depends on itself")
        size = len(msgspec.json.encode(stage.input))
        if size > max_input_bytes:
            raise InvalidRequest(
                "input_too_large",
                f"the input of stage {stage.name!r} is {size} bytes; the limit is "
                f"{max_input_bytes}",
            )
        planned.append(PlannedStage(uuid.uuid4(), stage, depends_on))
    _check_acyclic(planned)
    return planned


def _check_acyclic(stages: list[PlannedStage]) -> None:
    waiting = unorderable({s.spec.name: s.depends_on for s in stages})
    if waiting:
        raise InvalidRequest(
            "dependency_cycle",
            "the stages " + ", ".join(sorted(waiting)) + " depend on each other in a cycle",
        )


def _request_hash(request: PipelineSubmit) -> bytes:
    return hashlib.sha256(msgspec.json.encode(request)).digest()


# The pipeline, its stages, their dependencies and the context in one statement: one round
# trip, all or nothing. With an idempotency key seen before, the pipeline insert yields no
# row, and so does every insert that joins on it.
_INSERT_PIPELINE = Named("""
WITH pipeline AS (
    INSERT INTO pipelines (id, application_id, name, keywords, idempotency_key,
                           idempotency_hash, definition_id, definition_version, params,
                           trace_id, parent_span_id)
    VALUES (:pipeline_id, :application_id, :name, :keywords, :idempotency_key,
            :idempotency_hash, :definition_id, :definition_version, :params,
            :trace_id, :parent_span_id)
    ON CONFLICT (application_id, idempotency_key) DO NOTHING
    RETURNING id, created_at
),
staged AS (
    INSERT INTO stages (
        id, pipeline_id, application_id, position, name, handler, status, queued_at, input,
        max_retries, retry_backoff, retry_backoff_seconds, retry_backoff_max_seconds,
        timeout_seconds, retry_on, trace_id
    )
    SELECT s.id, pipeline.id, :application_id, s.position, s.name, s.handler, s.status,
           CASE WHEN s.status = 'queued' THEN now() END, s.input::jsonb,
           s.max_retries, s.retry_backoff, s.retry_backoff_seconds,
           s.retry_backoff_max_seconds, s.timeout_seconds,
           CASE WHEN s.retry_on IS NOT NULL
                THEN ARRAY(SELECT jsonb_array_elements_text(s.retry_on::jsonb)) END,
           :trace_id
    FROM pipeline,
         unnest(:stage_ids::uuid[], :positions::int[], :names::text[], :handlers::text[],
                :statuses::text[], :inputs::text[], :max_retries::int[],
                :retry_backoffs::text[], :retry_backoff_seconds::float8[],
                :retry_backoff_max_seconds::float8[], :timeout_seconds::int[],
                :retry_on::text[])
         AS s(id, position, name, handler, status, input, max_retries, retry_backoff,
              retry_backoff_seconds, retry_backoff_max_seconds, timeout_seconds, retry_on)
),
linked AS (
    INSERT INTO stage_dependencies (stage_id, depends_on_id)
    SELECT d.stage_id, d.depends_on_id
    FROM pipeline, unnest(:dependents::uuid[], :dependencies::uuid[]) AS d(stage_id, depends_on_id)
),
remembered AS (
    INSERT INTO context_items (pipeline_id, key, value)
    SELECT pipeline.id, c.key, c.value::jsonb
    FROM pipeline, unnest(:context_keys::text[], :context_values::text[]) AS c(key, value)
)
SELECT created_at FROM pipeline
""")

_FIND_BY_IDEMPOTENCY_KEY = """
SELECT id, idempotency_hash FROM pipelines WHERE application_id = $1 AND idempotency_key = $2
"""


@dataclass(frozen=True)
class RunOf:
    """The definition version a pipeline is a run of, and the params it was given."""

    definition_id: uuid.UUID
    definition: str
    version: int
    params: dict[str, Any]


@dataclass(frozen=True)
class Stage:
    id: uuid.UUID
    name: str
    handler: str
    status: StageStatus
    attempt: int
    depends_on: list[str]
    max_retries: int
    timeout_seconds: int | None
    input: Any
    output: Any
    error: Any
    queued_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    retry_at: dt.datetime | None


@dataclass(frozen=True)
class Pipeline:
    """A pipeline with its stages and context (read models of its own for the dashboard's
    lists are in controlplane.engine.reads)."""

    id: uuid.UUID
    name: str
    status: PipelineStatus
    keywords: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    stages: list[Stage]
    context: dict[str, Any]
    # None for a pipeline submitted with its stages.
    run_of: RunOf | None
    # The W3C trace it belongs to (32 hex digits); None for pipelines older than traces.
    trace_id: str | None


@dataclass(frozen=True)
class Run:
    """What a submit asks to run: its own stages, or a definition's."""

    name: str
    stages: list[StageSpec]
    context: dict[str, Any]
    keywords: list[str]
    of: RunOf | None = None


async def resolve_run(
    pool: asyncpg.Pool,
    application_id: uuid.UUID,
    request: PipelineSubmit,
    sandbox: Sandbox | None = None,
) -> Run:
    """The stages a submit stands for; 422 for a request that is neither form, 404/409 for a
    definition that does not exist or has no such published version."""
    if request.definition is None:
        if request.name is None or request.stages is None:
            raise InvalidRequest(
                "stages_required", "give a name and stages, or a definition to run"
            )
        if request.version is not None or request.params:
            raise InvalidRequest(
                "definition_required", "version and params go with a definition to run"
            )
        return Run(request.name, request.stages, request.context, request.keywords)
    if request.stages is not None or request.name is not None:
        raise InvalidRequest(
            "definition_or_stages",
            "a run of a definition takes its name and stages from the definition",
        )
    version = await runnable_version(pool, application_id, request.definition, request.version)
    document = version.document()
    params = await checked_params(sandbox, document, request.params)
    return Run(
        name=document.name,
        stages=run_stages(document, params),
        context={**document.context, **request.context},
        keywords=list(dict.fromkeys([*document.keywords, *request.keywords])),
        of=RunOf(version.definition_id, version.name, version.version, params),
    )


@dataclass(frozen=True)
class Submitted:
    pipeline_id: uuid.UUID
    # The root stages queued and the pipeline started; nothing for an earlier submit's.
    outcome: Outcome
    # The new pipeline as stored; None when an idempotency key returned an earlier one.
    pipeline: Pipeline | None


async def submit_pipeline(
    pool: asyncpg.Pool,
    application_id: uuid.UUID,
    request: PipelineSubmit,
    max_input_bytes: int,
    policies: ActivePolicies | None = None,
    trace: TraceParent | None = None,
    sandbox: Sandbox | None = None,
) -> Submitted:
    """Store the pipeline and queue its root stages atomically, each stage's retries and
    timeout as the application's active ``policies`` say. The pipeline joins the caller's
    ``trace``, or starts a trace of its own. A run's params are checked in ``sandbox`` when
    they must be (see definitions.documents.checked_params).

    The caller applies the outcome after this returns (the commit must come first, or a
    worker could pull a stage that is not there yet).
    """
    request_hash = _request_hash(request) if request.idempotency_key else None
    # A run sent again (its answer lost, or a schedule's fire retried) finds its pipeline
    # even if its version has been archived since.
    if request.definition is not None and request.idempotency_key is not None:
        earlier = await pool.fetchrow(
            _FIND_BY_IDEMPOTENCY_KEY, application_id, request.idempotency_key
        )
        if earlier is not None:
            return _replayed(earlier, request, request_hash)
    run = await resolve_run(pool, application_id, request, sandbox)
    shaped = shape_stages(policies or ActivePolicies(), run.name, run.stages)
    planned = plan_stages([s.spec for s in shaped], max_input_bytes)
    ids = {stage.spec.name: stage.id for stage in planned}
    edges = [(s.id, ids[d]) for s in planned for d in s.depends_on]
    pipeline_id = uuid.uuid4()
    trace_id = trace.trace_id if trace else uuid.uuid4()
    try:
        created_at = await pool.fetchval(
            _INSERT_PIPELINE.sql,
            *_INSERT_PIPELINE.args(
                pipeline_id=pipeline_id,
                application_id=application_id,
                name=run.name,
                keywords=run.keywords,
                idempotency_key=request.idempotency_key,
                idempotency_hash=request_hash,
                definition_id=run.of.definition_id if run.of else None,
                definition_version=run.of.version if run.of else None,
                params=run.of.params if run.of else None,
                trace_id=trace_id,
                parent_span_id=trace.span_id if trace else None,
                stage_ids=[s.id for s in planned],
                positions=list(range(len(planned))),
                names=[s.spec.name for s in planned],
                handlers=[s.spec.handler for s in planned],
                statuses=[_initial_status(s) for s in planned],
                inputs=json_texts(s.spec.input for s in planned),
                max_retries=[s.spec.max_retries for s in planned],
                retry_backoffs=[s.spec.retry_backoff for s in planned],
                retry_backoff_seconds=[s.spec.retry_backoff_seconds for s in planned],
                retry_backoff_max_seconds=[s.spec.retry_backoff_max_seconds for s in planned],
                timeout_seconds=[s.spec.timeout_seconds for s in planned],
                retry_on=[_json_or_none(s.retry_on) for s in shaped],
                dependents=[stage_id for stage_id, _ in edges],
                dependencies=[depends_on_id for _, depends_on_id in edges],
                context_keys=list(run.context.keys()),
                context_values=json_texts(run.context.values()),
            ),
        )
    except asyncpg.ForeignKeyViolationError as error:
        if error.constraint_name != "pipelines_definition_id_fkey":
            raise
        # The definition was deleted since its version was read (it had no runs then).
        raise NotFound("definition_not_found", f"there is no {request.definition!r}") from None
    if created_at is None:
        return await _replay(pool, application_id, request, request_hash)
    PIPELINES_SUBMITTED.inc()
    queued = tuple(
        QueuedStage(s.id, application_id, s.spec.handler, 0, pipeline_id)
        for s in planned
        if not s.depends_on
    )
    started = (PipelineChange(pipeline_id, application_id, "running"),)
    pipeline = _as_stored(pipeline_id, run, planned, created_at, trace_id)
    return Submitted(pipeline_id, Outcome(queued=queued, pipelines=started), pipeline)


def _json_or_none(value: Any) -> str | None:
    return None if value is None else msgspec.json.encode(value).decode()


def _initial_status(stage: PlannedStage) -> StageStatus:
    return "not_started" if stage.depends_on else "queued"


def _as_stored(
    pipeline_id: uuid.UUID,
    run: Run,
    planned: list[PlannedStage],
    created_at: dt.datetime,
    trace_id: uuid.UUID,
) -> Pipeline:
    """The stored pipeline, as a read would return it, without reading it back."""
    stages = [
        Stage(
            id=s.id,
            name=s.spec.name,
            handler=s.spec.handler,
            status=_initial_status(s),
            attempt=0,
            depends_on=s.depends_on,
            max_retries=s.spec.max_retries,
            timeout_seconds=s.spec.timeout_seconds,
            input=s.spec.input,
            output=None,
            error=None,
            queued_at=None if s.depends_on else created_at,
            started_at=None,
            finished_at=None,
            retry_at=None,
        )
        for s in planned
    ]
    return Pipeline(
        id=pipeline_id,
        name=run.name,
        status="running",
        keywords=run.keywords,
        created_at=created_at,
        updated_at=created_at,
        finished_at=None,
        stages=stages,
        context=dict(sorted(run.context.items())),
        run_of=run.of,
        trace_id=trace_id.hex,
    )


async def _replay(
    pool: asyncpg.Pool,
    application_id: uuid.UUID,
    request: PipelineSubmit,
    request_hash: bytes | None,
) -> Submitted:
    row = await pool.fetchrow(_FIND_BY_IDEMPOTENCY_KEY, application_id, request.idempotency_key)
    assert row is not None  # the insert conflicted on exactly this row
    return _replayed(row, request, request_hash)


def _replayed(
    row: asyncpg.Record, request: PipelineSubmit, request_hash: bytes | None
) -> Submitted:
    """The pipeline an earlier submit with this idempotency key made; 409 if that submit
    asked for something else."""
    if row["idempotency_hash"] != request_hash:
        raise Conflict(
            "idempotency_key_reused",
            f"idempotency key {request.idempotency_key!r} was already used for a different request",
        )
    return Submitted(row["id"], Outcome(), None)


_PIPELINE = """
SELECT p.id, p.name, p.status, p.keywords, p.created_at, p.updated_at, p.finished_at,
       p.definition_id, d.name AS definition, p.definition_version, p.params, p.trace_id
FROM pipelines p LEFT JOIN definitions d ON d.id = p.definition_id
WHERE p.id = $1 AND p.application_id = $2
"""

_STAGES = """
SELECT s.id, s.name, s.handler, s.status, s.attempt, s.max_retries, s.timeout_seconds,
       s.input, s.output, s.error, s.queued_at, s.started_at, s.finished_at, s.retry_at,
       coalesce(array(
           SELECT p.name FROM stage_dependencies d JOIN stages p ON p.id = d.depends_on_id
           WHERE d.stage_id = s.id ORDER BY p.position
       ), '{}') AS depends_on
FROM stages s WHERE s.pipeline_id = $1 ORDER BY s.position
"""

_CONTEXT = "SELECT key, value FROM context_items WHERE pipeline_id = $1 ORDER BY key"


async def get_pipeline(
    pool: asyncpg.Pool, application_id: uuid.UUID, pipeline_id: uuid.UUID
) -> Pipeline:
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        pipeline = await connection.fetchrow(_PIPELINE, pipeline_id, application_id)
        if pipeline is None:
            raise NotFound("pipeline_not_found", f"no pipeline {pipeline_id}")
        stages = await connection.fetch(_STAGES, pipeline_id)
        context = await connection.fetch(_CONTEXT, pipeline_id)
    return Pipeline(
        id=pipeline["id"],
        name=pipeline["name"],
        status=pipeline["status"],
        keywords=pipeline["keywords"],
        created_at=pipeline["created_at"],
        updated_at=pipeline["updated_at"],
        finished_at=pipeline["finished_at"],
        stages=[Stage(**dict(row)) for row in stages],
        context={row["key"]: row["value"] for row in context},
        run_of=run_of(pipeline),
        trace_id=pipeline["trace_id"].hex if pipeline["trace_id"] else None,
    )


def run_of(row: asyncpg.Record) -> RunOf | None:
    """The definition version of a pipeline row (with definition_id, definition,
    definition_version and params), if it is a run of one."""
    if row["definition_id"] is None:
        return None
    return RunOf(
        row["definition_id"], row["definition"], row["definition_version"], row["params"] or {}
    )


_CANCEL_STAGES = """
UPDATE stages SET status = 'cancelled', finished_at = now(), advanced_at = now(),
                  lease_expires_at = NULL, deadline_at = NULL, retry_at = NULL
WHERE pipeline_id = $1 AND status IN ('not_started', 'queued', 'running', 'retry_scheduled')
"""

_CANCEL_PIPELINE = """
UPDATE pipelines SET status = 'cancelled', finished_at = now(), updated_at = now()
WHERE id = $1 AND application_id = $2 AND status = 'running'
RETURNING id
"""

_PIPELINE_STATUS = "SELECT status FROM pipelines WHERE id = $1 AND application_id = $2"


@dataclass(frozen=True)
class Cancelled:
    pipeline: Pipeline
    outcome: Outcome


async def cancel_pipeline(
    pool: asyncpg.Pool,
    application_id: uuid.UUID,
    pipeline_id: uuid.UUID,
    actor: Actor | None = None,
) -> Cancelled:
    """Cancel every unfinished stage; running jobs learn it from their next heartbeat.

    Returns the pipeline as it is now. Cancelling a cancelled pipeline again is a no-op; a
    pipeline that already completed or failed cannot be cancelled (409). With an ``actor``
    (a person), it is audited.
    """
    await _cancel(pool, application_id, pipeline_id, actor)
    pipeline = await get_pipeline(pool, application_id, pipeline_id)
    outcome = Outcome(
        stages=tuple(
            StageChange(s.id, pipeline.id, application_id, s.status) for s in pipeline.stages
        ),
        pipelines=(PipelineChange(pipeline.id, application_id, pipeline.status),),
        ended_pipelines=(pipeline.id,),
    )
    return Cancelled(pipeline, outcome)


async def _cancel(
    pool: asyncpg.Pool, application_id: uuid.UUID, pipeline_id: uuid.UUID, actor: Actor | None
) -> None:
    async with pool.acquire() as connection, connection.transaction():
        if await connection.fetchval(_CANCEL_PIPELINE, pipeline_id, application_id) is not None:
            await connection.execute(_CANCEL_STAGES, pipeline_id)
            if actor is not None:
                await record(connection, actor, "pipeline.cancelled", "pipeline", pipeline_id)
            return
        status = await connection.fetchval(_PIPELINE_STATUS, pipeline_id, application_id)
    if status is None:
        raise NotFound("pipeline_not_found", f"no pipeline {pipeline_id}")
    if status != "cancelled":
        raise Conflict("pipeline_finished", f"the pipeline already {status}", pipelineStatus=status)
