"""Handing jobs to workers (pull) and recording what they report (ack, logs)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from controlplane.broker import Broker, JobRef, TakenJobs
from controlplane.engine.catalog import register as catalog
from controlplane.engine.jobpath.gates import admit
from controlplane.engine.jobpath.policies import ActivePolicies
from controlplane.engine.jobpath.tracing import job_traceparent
from controlplane.engine.outcome import Outcome, StageChange
from controlplane.metrics import (
    ACKS_REJECTED,
    DISPATCH_LATENCY,
    JOBS_ACKED,
    JOBS_PULLED,
    STAGE_DURATION,
)
from controlplane.outages import unavailable
from controlplane.schemas import (
    JobLogEntry,
    JobResult,
    LogEntry,
    RejectReason,
)
from controlplane.statuses import FINISHED
from database.named import Named
from database.pool import fetch_retrying, json_text, retry_on_deadlock

# queued -> running, and everything the worker needs, in one statement (one round trip).
# The attempt in the broker message must still be the stage's attempt: a duplicate or stale
# message matches no row and claims nothing.
_CLAIM = """
WITH claimed AS (
    UPDATE stages s SET
        status = 'running',
        attempt = s.attempt + 1,
        job_id = gen_random_uuid(),
        worker_id = $3,
        held_by = NULL,
        started_at = now(),
        finished_at = NULL,
        lease_expires_at = now() + make_interval(secs => $4),
        deadline_at = now() + make_interval(secs => s.timeout_seconds)
    FROM unnest($1::uuid[], $2::int[]) AS w(id, attempt)
    WHERE s.id = w.id AND s.attempt = w.attempt AND s.status = 'queued'
      AND s.application_id = $5
    RETURNING s.id, s.job_id, s.pipeline_id, s.handler, s.name, s.attempt, s.input,
              s.lease_expires_at, s.timeout_seconds, s.trace_id,
              extract(epoch FROM s.started_at - s.queued_at) AS waited
)
SELECT c.*,
       coalesce((SELECT jsonb_object_agg(p.name, p.output)
                 FROM stage_dependencies d JOIN stages p ON p.id = d.depends_on_id
                 WHERE d.stage_id = c.id), '{}') AS dependencies,
       coalesce((SELECT jsonb_object_agg(key, value)
                 FROM context_items WHERE pipeline_id = c.pipeline_id), '{}') AS context
FROM claimed c
"""


async def pull_jobs(
    pool: asyncpg.Pool,
    broker: Broker,
    *,
    application_id: uuid.UUID,
    queues: Sequence[str],
    max_jobs: int,
    wait_seconds: float,
    worker_id: uuid.UUID | None,
    lease_seconds: float,
    give_up: asyncio.Event | None = None,
    policies: ActivePolicies | None = None,
) -> Pulled:
    """Long-poll the handler queues and claim up to ``max_jobs`` stages.

    Waits on the broker, never on the database. A reference that claims nothing (a
    duplicate, or a stage cancelled meanwhile, or held back by a concurrency or rate limit
    of ``policies``) is dropped and the wait goes on. Once ``give_up`` is set (the puller hung
    up, or this process is stopping) the wait ends and nothing more is claimed: jobs claimed
    for nobody would wait out their lease before anyone else could run them.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        remaining = max(0.0, deadline - loop.time())
        taken = await _take_unless_given_up(broker, queues, max_jobs, remaining, give_up)
        if taken is None or not taken.items:
            return Pulled([], Outcome())
        jobs = await _claim_taken(
            pool, taken, application_id, max_jobs, worker_id, lease_seconds, policies
        )
        if jobs or loop.time() >= deadline:
            running = (
                StageChange(j.stage_id, j.pipeline_id, application_id, "running") for j in jobs
            )
            return Pulled(jobs, Outcome(stages=tuple(running)))


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job handed to a worker: what it runs, on what, until when."""

    job_id: uuid.UUID
    stage_id: uuid.UUID
    pipeline_id: uuid.UUID
    handler: str
    stage_name: str
    attempt: int
    input: Any
    context: dict[str, Any]
    dependencies: dict[str, Any]
    lease_expires_at: dt.datetime
    timeout_seconds: int | None
    # W3C trace context: this job as a span of its pipeline's trace.
    traceparent: str | None


@dataclass(frozen=True)
class Pulled:
    jobs: list[ClaimedJob]
    # The stages claimed, now running.
    outcome: Outcome


async def _take_unless_given_up(
    broker: Broker,
    queues: Sequence[str],
    max_jobs: int,
    wait_seconds: float,
    give_up: asyncio.Event | None,
) -> TakenJobs | None:
    if give_up is None:
        return await broker.take_jobs(queues, max_jobs, wait_seconds)
    take = asyncio.create_task(broker.take_jobs(queues, max_jobs, wait_seconds))
    giving_up = asyncio.create_task(give_up.wait())
    try:
        await asyncio.wait({take, giving_up}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        giving_up.cancel()
        if not take.done():  # still waiting, so it holds nothing yet
            take.cancel()
    await asyncio.wait({take})  # a cancelled task is done only once it has run its cancel
    if take.cancelled():
        return None
    taken = take.result()
    if give_up.is_set():
        await taken.release()
        return None
    return taken


async def _claim_taken(
    pool: asyncpg.Pool,
    taken: TakenJobs,
    application_id: uuid.UUID,
    max_jobs: int,
    worker_id: uuid.UUID | None,
    lease_seconds: float,
    policies: ActivePolicies | None,
) -> list[ClaimedJob]:
    wanted, unused = taken.items[:max_jobs], taken.items[max_jobs:]
    # Rows are locked in ascending id order by every batch statement: no lock cycles.
    refs = sorted((ref for _, ref in wanted), key=lambda ref: ref.stage_id)
    claim = (worker_id, lease_seconds, application_id)
    try:
        if policies is not None and policies.gates:
            claimed = await retry_on_deadlock(
                lambda: _claim_gated(pool, refs, application_id, policies, claim)
            )
        else:
            claimed = await fetch_retrying(
                pool, _CLAIM, [r.stage_id for r in refs], [r.attempt for r in refs], *claim
            )
    except (asyncpg.PostgresError, OSError) as error:
        await taken.release()
        raise unavailable("database") from error
    # Postgres holds the claim now, so the broker can forget the messages at once: no
    # delivery stays open while a handler runs.
    await taken.settle(unused)
    JOBS_PULLED.inc(len(claimed))
    for row in claimed:
        if row["waited"] is not None:
            DISPATCH_LATENCY.observe(float(row["waited"]))
    return [
        ClaimedJob(
            job_id=row["job_id"],
            stage_id=row["id"],
            pipeline_id=row["pipeline_id"],
            handler=row["handler"],
            stage_name=row["name"],
            attempt=row["attempt"],
            input=row["input"],
            context=row["context"],
            dependencies=row["dependencies"],
            lease_expires_at=row["lease_expires_at"],
            timeout_seconds=row["timeout_seconds"],
            traceparent=job_traceparent(row["trace_id"], row["job_id"]),
        )
        for row in claimed
    ]


# running -> completed | retry_scheduled | failed for every result of the batch, with the
# logs and context updates of the results it accepted: one statement, so one round trip and
# all or nothing. A result counts only where its job is still the stage's current one; retry
# and backoff are decided right here.
_ACK = Named("""
WITH acked AS (
    UPDATE stages s SET
        status = CASE
            WHEN r.status = 'completed' THEN 'completed'
            WHEN pipelogiq_may_retry(s.failures, s.max_retries, s.retry_on, r.retryable, r.code)
                THEN 'retry_scheduled'
            ELSE 'failed' END,
        output = CASE WHEN r.status = 'completed' THEN r.output::jsonb END,
        error = CASE WHEN r.status = 'failed' THEN r.error END,
        failures = s.failures + (r.status = 'failed')::int,
        retry_at = CASE
            WHEN r.status = 'failed'
                 AND pipelogiq_may_retry(s.failures, s.max_retries, s.retry_on, r.retryable, r.code)
            THEN now() + pipelogiq_retry_delay(s.retry_backoff, s.retry_backoff_seconds,
                                               s.retry_backoff_max_seconds, s.failures + 1)
            END,
        finished_at = now(),
        lease_expires_at = NULL,
        deadline_at = NULL
    FROM unnest(:job_ids::uuid[], :statuses::text[], :outputs::text[], :errors::jsonb[],
                :retryable::boolean[], :codes::text[])
         AS r(job_id, status, output, error, retryable, code)
    WHERE s.job_id = r.job_id AND s.status = 'running' AND s.application_id = :application_id
    RETURNING s.id, s.job_id, s.pipeline_id, s.application_id, s.handler, s.status, s.attempt,
              extract(epoch FROM s.finished_at - s.started_at) AS ran
),
logged AS (
    INSERT INTO stage_logs (stage_id, pipeline_id, application_id, handler, job_id, attempt,
                            level, message)
    SELECT a.id, a.pipeline_id, a.application_id, a.handler, a.job_id, a.attempt, l.level,
           l.message
    FROM unnest(:log_job_ids::uuid[], :log_levels::text[], :log_messages::text[])
         WITH ORDINALITY AS l(job_id, level, message, n)
    JOIN acked a ON a.job_id = l.job_id
    ORDER BY l.n
),
remembered AS (
    -- One row per (pipeline, key): the last result of the batch wins, as if the results had
    -- come one by one. The order is fixed, so concurrent acks lock rows in the same order.
    INSERT INTO context_items (pipeline_id, key, value, stage_id)
    SELECT DISTINCT ON (a.pipeline_id, c.key) a.pipeline_id, c.key, c.value::jsonb, a.id
    FROM unnest(:context_job_ids::uuid[], :context_keys::text[], :context_values::text[])
         WITH ORDINALITY AS c(job_id, key, value, n)
    JOIN acked a ON a.job_id = c.job_id
    ORDER BY a.pipeline_id, c.key, c.n DESC
    ON CONFLICT (pipeline_id, key) DO UPDATE
    SET value = excluded.value, stage_id = excluded.stage_id, updated_at = now()
)
SELECT * FROM acked
""")

# What became of jobs whose results were refused: how their attempt ended, if it did, else
# where their stage stands now (an attempt's record comes first, as the more precise).
_REJECTION_CAUSES = """
SELECT job_id, outcome AS cause, 1 AS rank FROM stage_attempts
WHERE job_id = ANY($1::uuid[]) AND application_id = $2
UNION ALL
SELECT job_id, status, 2 FROM stages WHERE job_id = ANY($1::uuid[]) AND application_id = $2
ORDER BY rank
"""


@dataclass(frozen=True, slots=True)
class Rejection:
    """A result not recorded, and why. For ``invalid_result``: what was wrong with it
    (``code``) and where (``detail``); such a result is refused for good."""

    job_id: uuid.UUID
    reason: RejectReason
    code: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Acked:
    # The job ids whose results are recorded, in the order they came.
    accepted: list[uuid.UUID]
    rejected: list[Rejection]
    # The stages that moved; those finished are announced; the jobs accepted ended.
    outcome: Outcome


async def ack_jobs(
    pool: asyncpg.Pool,
    application_id: uuid.UUID,
    results: list[JobResult],
    refused: Sequence[Rejection] = (),
    max_output_bytes: int | None = None,
) -> Acked:
    """Record a batch of results atomically; accepted means committed. ``refused``: results
    of the batch already refused at the edge, answered among the rejected. A result whose
    output (or context, all its values together) is over ``max_output_bytes`` of JSON is
    refused alone: every dependent job carries its dependencies' outputs, so one huge output
    would be copied into each.
    """
    unique: dict[uuid.UUID, JobResult] = {}
    duplicates: list[uuid.UUID] = []
    # Each output and context value as JSON text, encoded once: measured, then stored.
    outputs: dict[uuid.UUID, str] = {}
    contexts: dict[uuid.UUID, dict[str, str]] = {}
    too_large: list[Rejection] = []
    for result in results:
        if result.job_id in unique:
            duplicates.append(result.job_id)
            continue
        output = json_text(result.output if result.status == "completed" else None)
        context = {key: json_text(value) for key, value in result.context.items()}
        over = _over_the_limit(result, output, context, max_output_bytes)
        if over is not None:
            too_large.append(over)
            continue
        unique[result.job_id] = result
        outputs[result.job_id] = output
        contexts[result.job_id] = context
    # Rows are updated in job id order (a fixed lock order); logs and context keep the order
    # of the request, which decides which value of a key written twice wins.
    batch = sorted(unique.values(), key=lambda r: r.job_id)
    in_order = list(unique.values())
    logs = [(r.job_id, entry) for r in in_order for entry in r.logs]
    context = [(r.job_id, key, text) for r in in_order for key, text in contexts[r.job_id].items()]
    updated = (
        await _record_results(pool, application_id, batch, outputs, logs, context, in_order)
        if batch
        else []
    )
    accepted = {row["job_id"] for row in updated}
    rejected_ids = [j for j in unique if j not in accepted]
    rejected = await _explain_rejections(pool, application_id, rejected_ids)
    rejected += [Rejection(j, "duplicate") for j in duplicates]
    rejected += too_large
    rejected += refused
    for row in updated:
        JOBS_ACKED.labels(row["status"]).inc()
        if row["ran"] is not None:
            STAGE_DURATION.observe(float(row["ran"]))
    for item in rejected:
        ACKS_REJECTED.labels(item.reason).inc()
    accepted_in_order = [r.job_id for r in in_order if r.job_id in accepted]
    outcome = Outcome(
        stages=tuple(
            StageChange(r["id"], r["pipeline_id"], application_id, r["status"]) for r in updated
        ),
        finished_stages=tuple(row["id"] for row in updated if row["status"] in FINISHED),
        ended_jobs=tuple(accepted_in_order),
    )
    return Acked(accepted_in_order, rejected, outcome)


async def _record_results(
    pool: asyncpg.Pool,
    application_id: uuid.UUID,
    batch: list[JobResult],
    outputs: dict[uuid.UUID, str],
    logs: list[tuple[uuid.UUID, LogEntry]],
    context: list[tuple[uuid.UUID, str, str]],
    in_order: list[JobResult],
) -> list[asyncpg.Record]:
    args = _ACK.args(
        application_id=application_id,
        job_ids=[r.job_id for r in batch],
        statuses=[r.status for r in batch],
        outputs=[outputs[r.job_id] for r in batch],
        errors=[_error_document(r) for r in batch],
        retryable=[r.error.retryable if r.error else True for r in batch],
        codes=[r.error.code if r.error else None for r in batch],
        log_job_ids=[job_id for job_id, _ in logs],
        log_levels=[entry.level for _, entry in logs],
        log_messages=[entry.message for _, entry in logs],
        context_job_ids=[job_id for job_id, _, _ in context],
        context_keys=[key for _, key, _ in context],
        context_values=[text for _, _, text in context],
    )
    # In the order the results came: the last report of a dataset names it.
    datasets = catalog.reported(in_order)
    if not datasets:
        return await fetch_retrying(pool, _ACK.sql, *args)

    async def record_and_register() -> list[asyncpg.Record]:
        # The catalog gains a version exactly when the result reporting it is recorded.
        async with pool.acquire() as connection, connection.transaction():
            updated: list[asyncpg.Record] = await connection.fetch(_ACK.sql, *args)
            accepted = [row["job_id"] for row in updated]
            await catalog.register(connection, application_id, accepted, datasets)
            return updated

    return await retry_on_deadlock(record_and_register)


def _over_the_limit(
    result: JobResult, output: str, context: dict[str, str], limit: int | None
) -> Rejection | None:
    """The refusal of a result too large to store and hand on, if it is."""
    if limit is None:
        return None
    if len(output) > limit:  # characters: at least as many bytes
        detail = f"the output is {len(output):,} characters of JSON; the limit is {limit:,} bytes"
        return Rejection(result.job_id, "invalid_result", "output_too_large", detail)
    context_size = sum(len(text) for text in context.values())
    if context_size > limit:
        detail = (
            f"the context values are {context_size:,} characters of JSON; the limit is {limit:,}"
        )
        return Rejection(result.job_id, "invalid_result", "context_too_large", detail)
    return None


async def _explain_rejections(
    pool: asyncpg.Pool, application_id: uuid.UUID, job_ids: list[uuid.UUID]
) -> list[Rejection]:
    if not job_ids:
        return []
    causes: dict[uuid.UUID, str] = {}
    for row in await pool.fetch(_REJECTION_CAUSES, job_ids, application_id):
        causes.setdefault(row["job_id"], row["cause"])
    return [Rejection(j, _rejection_reason(causes.get(j))) for j in job_ids]


async def _claim_gated(
    pool: asyncpg.Pool,
    refs: list[JobRef],
    application_id: uuid.UUID,
    policies: ActivePolicies,
    claim: tuple[object, ...],
) -> list[asyncpg.Record]:
    """Claim what the application's concurrency and rate limits let through; hold the
    rest. One transaction: a limit is never exceeded by claims racing each other."""
    attempts = {r.stage_id: r.attempt for r in refs}
    async with pool.acquire() as connection, connection.transaction():
        admitted = await admit(connection, application_id, policies, list(attempts))
        return await connection.fetch(_CLAIM, admitted, [attempts[s] for s in admitted], *claim)


def _error_document(result: JobResult) -> dict[str, object] | None:
    if result.status != "failed":
        return None
    if result.error is None:
        return {"message": "the handler failed without a message", "code": None}
    return {"message": result.error.message, "code": result.error.code}


def _rejection_reason(cause: str | None) -> RejectReason:
    """``cause``: an attempt's outcome, or its stage's status."""
    if cause is None:
        return "unknown_job"
    if cause in ("cancelled", "not_started"):  # not_started: an operator reran the stage
        return "cancelled"
    if cause in ("lease_lost", "queued", "running"):
        return "lease_lost"
    return "already_finished"


_INSERT_JOB_LOGS = """
INSERT INTO stage_logs (stage_id, pipeline_id, application_id, handler, job_id, attempt, level,
                        message)
SELECT s.id, s.pipeline_id, s.application_id, s.handler, s.job_id, s.attempt, e.level, e.message
FROM unnest($2::uuid[], $3::text[], $4::text[]) WITH ORDINALITY AS e(job_id, level, message, n)
JOIN stages s ON s.job_id = e.job_id AND s.application_id = $1
ORDER BY e.n
RETURNING job_id
"""


@dataclass(frozen=True)
class Appended:
    accepted: int
    # Jobs named that are not running jobs of the application, each once.
    unknown_job_ids: list[uuid.UUID]


async def append_logs(
    pool: asyncpg.Pool, application_id: uuid.UUID, entries: list[JobLogEntry]
) -> Appended:
    """Store log lines a job sends while it runs (its ack may carry more)."""
    stored = await pool.fetch(
        _INSERT_JOB_LOGS,
        application_id,
        [e.job_id for e in entries],
        [e.level for e in entries],
        [e.message for e in entries],
    )
    known = {row["job_id"] for row in stored}
    unknown = list(dict.fromkeys(e.job_id for e in entries if e.job_id not in known))
    return Appended(len(stored), unknown)
