"""Why a stage is where it is: a stable code and a sentence, for every stage not running.

Reads the pipeline as the API returns it, plus what only the rest of the system knows: which
online workers serve a handler, and how many jobs wait ahead of a queued one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from controlplane.engine.jobpath.pipelines import Pipeline, Stage
from controlplane.engine.reads.worker_queries import Liveness
from controlplane.statuses import BLOCKING, DONE_FOR_DEPENDENTS

# Workers that take new jobs for each handler: online, and heard from lately (draining ones
# finish what they hold but take nothing new).
_SERVING_WORKERS = """
SELECT h.handler, count(*) AS workers
FROM workers w CROSS JOIN LATERAL unnest(w.handlers) AS h(handler)
WHERE w.application_id = $1 AND w.state = 'online'
  AND w.last_heartbeat_at >= now() - make_interval(secs => $3)
  AND h.handler = ANY($2::text[])
GROUP BY h.handler
"""

# Jobs of the same handler queued before each stage (the stages_queued index answers it).
_AHEAD = """
SELECT s.id,
       (SELECT count(*) FROM stages q
        WHERE q.application_id = s.application_id AND q.handler = s.handler
          AND q.status = 'queued' AND q.queued_at IS NOT NULL
          AND q.queued_at < s.queued_at) AS ahead
FROM stages s WHERE s.id = ANY($1::uuid[])
"""

_HELD_BY = """
SELECT s.id, p.name, p.kind, p.config FROM stages s JOIN policies p ON p.id = s.held_by
WHERE s.id = ANY($1::uuid[]) AND s.held_by IS NOT NULL
"""

_RUNNING_ON = """
SELECT s.id, w.name FROM stages s JOIN workers w ON w.id = s.worker_id
WHERE s.id = ANY($1::uuid[])
"""


@dataclass(frozen=True)
class Diagnosis:
    stage_id: uuid.UUID
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


async def diagnose(
    pool: asyncpg.Pool, application_id: uuid.UUID, pipeline: Pipeline, liveness: Liveness
) -> list[Diagnosis]:
    """One diagnosis per stage, in the pipeline's order."""
    queued = [s for s in pipeline.stages if s.status == "queued"]
    running = [s.id for s in pipeline.stages if s.status == "running"]
    serving: dict[str, int] = {}
    ahead: dict[uuid.UUID, int] = {}
    workers: dict[uuid.UUID, str] = {}
    held: dict[uuid.UUID, asyncpg.Record] = {}
    if queued:
        held = {row["id"]: row for row in await pool.fetch(_HELD_BY, [s.id for s in queued])}
        rows = await pool.fetch(
            _SERVING_WORKERS,
            application_id,
            sorted({s.handler for s in queued}),
            liveness.offline_after_seconds,
        )
        serving = {row["handler"]: row["workers"] for row in rows}
        rows = await pool.fetch(_AHEAD, [s.id for s in queued])
        ahead = {row["id"]: row["ahead"] for row in rows}
    if running:
        workers = {row["id"]: row["name"] for row in await pool.fetch(_RUNNING_ON, running)}
    by_name = {s.name: s for s in pipeline.stages}
    return [
        _held(stage, held[stage.id])
        if stage.id in held
        else _diagnose(stage, pipeline, by_name, serving, ahead.get(stage.id, 0), workers)
        for stage in pipeline.stages
    ]


def _held(stage: Stage, policy: asyncpg.Record) -> Diagnosis:
    config = policy["config"]
    if policy["kind"] == "concurrency":
        limit = f"at most {config['limit']} running at once"
    else:
        limit = f"at most {config['limit']} started per {config['windowSeconds']:g} s"
    return Diagnosis(
        stage.id,
        "concurrency_limit" if policy["kind"] == "concurrency" else "rate_limit",
        f"held back by the policy {policy['name']!r}: {limit}",
        {"policy": policy["name"], "config": config},
    )


def _diagnose(
    stage: Stage,
    pipeline: Pipeline,
    by_name: dict[str, Stage],
    serving: dict[str, int],
    ahead: int,
    workers: dict[uuid.UUID, str],
) -> Diagnosis:
    status = stage.status
    if status == "running":
        worker = workers.get(stage.id)
        where = f" on worker {worker!r}" if worker else ""
        return Diagnosis(
            stage.id, "running", f"attempt {stage.attempt} is running{where}", {"worker": worker}
        )
    if status == "queued":
        return _queued(stage, serving, ahead)
    if status == "not_started":
        return _waiting(stage, pipeline, by_name)
    if status == "retry_scheduled":
        return Diagnosis(
            stage.id,
            "retry_scheduled",
            f"attempt {stage.attempt} failed; the retry is due at {_time(stage.retry_at)}",
            {"retryAt": _iso(stage.retry_at), "error": stage.error},
        )
    if status == "cancelled":
        if pipeline.status == "failed":
            failed = [s.name for s in pipeline.stages if s.status == "failed"]
            return Diagnosis(
                stage.id,
                "pipeline_failed",
                f"not run: the pipeline failed at {', '.join(failed)}",
                {"failedStages": failed},
            )
        return Diagnosis(stage.id, "pipeline_cancelled", "not run: the pipeline was cancelled")
    if status == "failed":
        message = (stage.error or {}).get("message") if isinstance(stage.error, dict) else None
        return Diagnosis(
            stage.id,
            "failed",
            f"failed after {stage.attempt} attempt(s): {message or 'no message'}",
            {"error": stage.error},
        )
    return Diagnosis(stage.id, status, f"the stage {status}")  # completed, skipped


def _queued(stage: Stage, serving: dict[str, int], ahead: int) -> Diagnosis:
    details = {"handler": stage.handler, "jobsAhead": ahead}
    if not serving.get(stage.handler):
        return Diagnosis(
            stage.id,
            "no_worker",
            f"no online worker serves the handler {stage.handler!r}",
            details,
        )
    workers = serving[stage.handler]
    details["workers"] = workers
    if ahead:
        return Diagnosis(
            stage.id,
            "waiting_in_queue",
            f"{ahead} job(s) of {stage.handler!r} are ahead of it; {workers} worker(s) serve it",
            details,
        )
    return Diagnosis(
        stage.id,
        "waiting_for_worker",
        f"next in the queue of {stage.handler!r}, for one of {workers} worker(s) to pull",
        details,
    )


def _waiting(stage: Stage, pipeline: Pipeline, by_name: dict[str, Stage]) -> Diagnosis:
    pending = [name for name in stage.depends_on if by_name[name].status not in DONE_FOR_DEPENDENTS]
    failed = [name for name in pending if by_name[name].status in BLOCKING]
    if failed:
        return Diagnosis(
            stage.id,
            "dependency_failed",
            f"cannot start: {', '.join(failed)} did not complete",
            {"stages": failed},
        )
    if pipeline.status == "cancelled":
        return Diagnosis(stage.id, "pipeline_cancelled", "not run: the pipeline was cancelled")
    return Diagnosis(
        stage.id,
        "waiting_for_dependencies",
        f"waiting for {', '.join(pending)}",
        {"stages": pending},
    )


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _time(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "an unknown time"
