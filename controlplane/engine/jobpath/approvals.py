"""Approvals: a stage that waits for a person to approve or reject it, before a deadline.

The ``approval`` template, on a worker, opens an approval for its job and waits on it;
people decide through the internal API (and the dashboard); the template sees the decision
and ends the stage: completed if approved, failed for good if rejected or left past its
deadline.

An approval belongs to one run of its stage. If the worker vanishes (or the job fails and is
retried), the next job of the stage finds the same approval — decided meanwhile, or still
pending, with the same deadline. Once an attempt has ended any other way (completed, failed
for good, cancelled) after the approval was opened, that run is over: a pending approval
reads as ``closed``, and a rerun of the stage opens a new one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from controlplane.engine.access.audit import Actor, record
from controlplane.errors import Conflict, NotFound

# Stored: pending, approved, rejected. Derived when read: expired (pending past the
# deadline), closed (pending before its deadline, but the run of the stage it was for is
# over: the pipeline was cancelled, say).
Status = Literal["pending", "approved", "rejected", "expired", "closed"]
Decision = Literal["approved", "rejected"]


@dataclass(frozen=True)
class Approval:
    id: uuid.UUID
    application_id: uuid.UUID
    pipeline_id: uuid.UUID
    pipeline_name: str
    stage_id: uuid.UUID
    stage_name: str
    message: str
    details: Any
    deadline: dt.datetime
    status: Status
    decided_by: str | None
    comment: str | None
    decided_at: dt.datetime | None
    created_at: dt.datetime


# Whether the run of the stage an approval was opened for is over: the stage no longer waits,
# or an attempt ended after the approval was opened otherwise than by losing its lease or
# failing with a retry to follow (the next attempt waits on the same approval).
_CLOSED = """(
    s.status NOT IN ('queued', 'running', 'retry_scheduled')
    OR EXISTS (SELECT 1 FROM stage_attempts t
               WHERE t.stage_id = a.stage_id AND t.finished_at >= a.created_at
                 AND t.outcome <> 'lease_lost' AND NOT (t.outcome = 'failed' AND t.retried)))"""

_VIEW = f"""
SELECT a.id, a.application_id, a.pipeline_id, p.name AS pipeline_name, a.stage_id,
       s.name AS stage_name, a.message, a.details, a.deadline,
       CASE WHEN a.status <> 'pending' THEN a.status
            WHEN a.deadline <= now() THEN 'expired'
            WHEN {_CLOSED} THEN 'closed'
            ELSE 'pending' END AS status,
       a.decided_by_name AS decided_by, a.comment, a.decided_at, a.created_at
FROM approvals a
JOIN stages s ON s.id = a.stage_id
JOIN pipelines p ON p.id = a.pipeline_id
"""

# The stage running this job (locked, so that two calls of one job cannot both open one),
# the approval of its current run if there is one, and a new one otherwise.
_OPEN = f"""
WITH stage AS (
    SELECT id, pipeline_id, application_id, status FROM stages
    WHERE job_id = $1 AND application_id = $2 AND status = 'running'
    FOR UPDATE
), current AS (
    SELECT a.id FROM approvals a JOIN stage s ON s.id = a.stage_id
    WHERE NOT {_CLOSED}
    ORDER BY a.created_at DESC LIMIT 1
), opened AS (
    INSERT INTO approvals (application_id, pipeline_id, stage_id, message, details, deadline)
    SELECT application_id, pipeline_id, id, $3, $4, now() + make_interval(secs => $5)
    FROM stage WHERE NOT EXISTS (SELECT 1 FROM current)
    RETURNING id
)
SELECT coalesce((SELECT id FROM current), (SELECT id FROM opened)) AS id
"""


async def open_approval(
    pool: asyncpg.Pool,
    application_id: uuid.UUID,
    job_id: uuid.UUID,
    message: str,
    details: Any,
    deadline_seconds: float,
) -> Approval:
    """The approval of the current run of the job's stage, opened now if there is none."""
    async with pool.acquire() as connection, connection.transaction():
        approval_id = await connection.fetchval(
            _OPEN, job_id, application_id, message, details, deadline_seconds
        )
    if approval_id is None:
        raise Conflict("job_not_running", f"job {job_id} is not a running job of yours")
    approval = await read_approval(pool, approval_id)
    assert approval is not None
    return approval


async def read_approval(
    pool: asyncpg.Pool | asyncpg.Connection, approval_id: uuid.UUID
) -> Approval | None:
    row = await pool.fetchrow(_VIEW + "WHERE a.id = $1", approval_id)
    return Approval(**dict(row)) if row else None


_LIST = f"""
SELECT * FROM ({_VIEW}
    WHERE ($1::uuid IS NULL OR a.application_id IN (
              SELECT m.application_id FROM memberships m WHERE m.user_id = $1))
      AND ($2::uuid IS NULL OR a.application_id = $2)
      AND ($3::uuid IS NULL OR a.pipeline_id = $3)) AS approvals
WHERE $4::text[] IS NULL OR status = ANY($4)
ORDER BY created_at DESC
LIMIT $5
"""


async def list_approvals(
    pool: asyncpg.Pool,
    *,
    member: uuid.UUID | None,
    statuses: list[Status] | None = None,
    application_id: uuid.UUID | None = None,
    pipeline_id: uuid.UUID | None = None,
    limit: int = 100,
) -> list[Approval]:
    """Approvals, newest first, of the applications ``member`` belongs to (None: all)."""
    rows = await pool.fetch(_LIST, member, application_id, pipeline_id, statuses, limit)
    return [Approval(**dict(row)) for row in rows]


# Decided only while it is pending, before its deadline, and its run is not over.
_DECIDE = f"""
UPDATE approvals a SET status = $2, decided_by = $3, decided_by_name = $4, comment = $5,
                       decided_at = now()
FROM stages s
WHERE a.id = $1 AND s.id = a.stage_id AND a.status = 'pending' AND a.deadline > now()
  AND NOT {_CLOSED}
RETURNING a.id
"""


async def decide(
    pool: asyncpg.Pool,
    approval: Approval,
    decision: Decision,
    comment: str | None,
    actor: Actor,
) -> Approval:
    """Approve or reject; refused (409) once decided, expired or closed. Audited."""
    async with pool.acquire() as connection, connection.transaction():
        decided = await connection.fetchval(
            _DECIDE, approval.id, decision, actor.user_id, actor.name, comment
        )
        if decided is not None:
            action = "approval.approved" if decision == "approved" else "approval.rejected"
            details = {"pipelineId": str(approval.pipeline_id), "stage": approval.stage_name}
            await record(connection, actor, action, "approval", approval.id, details)
    now = await read_approval(pool, approval.id)
    if now is None:
        raise NotFound("approval_not_found", f"no approval {approval.id}")
    if decided is None:
        raise _refusal(now)
    return now


def _refusal(approval: Approval) -> Conflict:
    if approval.status in ("approved", "rejected"):
        return Conflict(
            "approval_decided",
            f"the approval was {approval.status} by {approval.decided_by} already",
        )
    if approval.status == "expired":
        return Conflict("approval_expired", "the approval's deadline has passed")
    return Conflict("approval_closed", "the stage is no longer waiting for this approval")
