"""Workers: registration, heartbeats that keep leases alive, events and shutdown."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from controlplane.engine.jobpath.batching import GroupCommit
from controlplane.engine.outcome import Outcome, QueuedStage, WorkerChange
from controlplane.errors import NotFound
from controlplane.schemas import BootstrapRequest, WorkerEvent

_REGISTER = """
INSERT INTO workers (application_id, name, instance_id, version, host_name, pid, handlers,
                     metadata)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id
"""


@dataclass(frozen=True)
class Registered:
    worker_id: uuid.UUID
    # The worker, online.
    outcome: Outcome


async def register_worker(
    pool: asyncpg.Pool, application_id: uuid.UUID, request: BootstrapRequest
) -> Registered:
    worker_id = await pool.fetchval(
        _REGISTER,
        application_id,
        request.worker_name,
        request.instance_id,
        request.version,
        request.host_name,
        request.pid,
        request.handlers,
        request.metadata,
    )
    online = WorkerChange(worker_id, application_id, "online")
    return Registered(worker_id, Outcome(workers=(online,)))


@dataclass(frozen=True)
class Heartbeat:
    application_id: uuid.UUID
    worker_id: uuid.UUID
    state: str | None
    job_ids: list[uuid.UUID]
    metrics: dict[str, object] | None


@dataclass(frozen=True)
class Beaten:
    known_worker: bool
    cancel_job_ids: list[uuid.UUID]
    # The worker in its new state, when this heartbeat changed it (back from offline, say).
    outcome: Outcome


# `before` is the same row as the statement found it: its state is the one before this beat.
_TOUCH_WORKERS = """
UPDATE workers w SET
    last_heartbeat_at = now(),
    state = coalesce(h.state, CASE WHEN w.state = 'offline' THEN 'online' ELSE w.state END),
    metrics = coalesce(h.metrics, w.metrics)
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[])
     AS h(worker_id, application_id, state, metrics),
     workers before
WHERE w.id = h.worker_id AND w.application_id = h.application_id AND w.state <> 'stopped'
  AND before.id = w.id
RETURNING w.id, w.state, before.state AS state_before
"""

# Only jobs still running under the same job id are extended; every other job the worker
# names is one it must stop (cancelled, timed out, or its lease already lost).
_EXTEND_LEASES = """
UPDATE stages s SET lease_expires_at = now() + make_interval(secs => $3)
FROM unnest($1::uuid[], $2::uuid[]) AS j(job_id, application_id)
WHERE s.job_id = j.job_id AND s.application_id = j.application_id AND s.status = 'running'
RETURNING s.job_id
"""


class HeartbeatWriter:
    """Writes the heartbeats of all workers that arrive together in one transaction."""

    def __init__(self, pool: asyncpg.Pool, lease_seconds: float) -> None:
        self._pool = pool
        self._lease_seconds = lease_seconds
        self._batches: GroupCommit[Heartbeat, Beaten] = GroupCommit(self._write)

    async def beat(self, heartbeat: Heartbeat) -> Beaten:
        return await self._batches.submit(heartbeat)

    async def _write(self, beats: list[Heartbeat]) -> list[Beaten]:
        # A worker beating twice in one batch is written once (the last state wins).
        latest = {b.worker_id: b for b in beats}
        jobs = [(job_id, b.application_id) for b in beats for job_id in b.job_ids]
        async with self._pool.acquire() as connection, connection.transaction():
            touched = await connection.fetch(
                _TOUCH_WORKERS,
                list(latest),
                [b.application_id for b in latest.values()],
                [b.state for b in latest.values()],
                [b.metrics for b in latest.values()],
            )
            known = {row["id"] for row in touched}
            changed = {
                row["id"]: row["state"] for row in touched if row["state"] != row["state_before"]
            }
            alive = (
                {
                    row["job_id"]
                    for row in await connection.fetch(
                        _EXTEND_LEASES,
                        [j for j, _ in jobs],
                        [a for _, a in jobs],
                        self._lease_seconds,
                    )
                }
                if jobs
                else set()
            )
        return [
            Beaten(
                b.worker_id in known,
                [j for j in b.job_ids if j not in alive],
                _state_change(b, changed.get(b.worker_id)),
            )
            for b in beats
        ]


def _state_change(beat: Heartbeat, new_state: str | None) -> Outcome:
    if new_state is None:
        return Outcome()
    return Outcome(workers=(WorkerChange(beat.worker_id, beat.application_id, new_state),))


_OWNER = "SELECT application_id FROM workers WHERE id = $1"


class WorkerOwners:
    """Which application each worker belongs to, remembered (a worker never changes hands),
    so that a pull naming a worker costs a lookup only the first time.

    A key may only name workers of its own application: a worker id is not a secret, and
    with another application's id a key could make that worker hold (and, at its shutdown,
    requeue) jobs that are not its application's.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._owners: dict[uuid.UUID, uuid.UUID] = {}

    async def check(self, application_id: uuid.UUID, worker_id: uuid.UUID) -> None:
        """404 ``unknown_worker`` unless the worker is the application's."""
        owner = self._owners.get(worker_id)
        if owner is None:
            owner = await self._pool.fetchval(_OWNER, worker_id)
            if owner is not None:
                if len(self._owners) > 100_000:
                    self._owners.clear()
                self._owners[worker_id] = owner
        if owner != application_id:
            raise NotFound("unknown_worker", f"no worker {worker_id}; bootstrap again")


_INSERT_EVENTS = """
INSERT INTO worker_events (worker_id, application_id, kind, message, data)
SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::jsonb[])
"""

_WORKER_EXISTS = "SELECT 1 FROM workers WHERE id = $1 AND application_id = $2"


async def record_events(
    pool: asyncpg.Pool,
    application_id: uuid.UUID,
    worker_id: uuid.UUID,
    events: list[WorkerEvent],
) -> None:
    async with pool.acquire() as connection, connection.transaction():
        if await connection.fetchval(_WORKER_EXISTS, worker_id, application_id) is None:
            raise NotFound("unknown_worker", f"no worker {worker_id}; bootstrap again")
        await connection.execute(
            _INSERT_EVENTS,
            worker_id,
            application_id,
            [e.kind for e in events],
            [e.message for e in events],
            [e.data for e in events],
        )


_STOP_WORKER = """
UPDATE workers SET state = 'stopped', stopped_at = now()
WHERE id = $1 AND application_id = $2
RETURNING id
"""

# Jobs the worker still held when it stopped go back to the queue at once rather than
# waiting out their lease; they count as lost leases, so a worker that keeps abandoning the
# same job cannot loop it forever.
_RELEASE_JOBS = """
UPDATE stages SET status = 'queued', queued_at = now(), published_at = NULL,
                  lease_expiries = lease_expiries + 1, lease_expires_at = NULL,
                  deadline_at = NULL
WHERE worker_id = $1 AND application_id = $2 AND status = 'running'
RETURNING id, pipeline_id, application_id, handler, attempt
"""


async def stop_worker(
    pool: asyncpg.Pool, application_id: uuid.UUID, worker_id: uuid.UUID, reason: str
) -> Outcome:
    """Mark the worker stopped; the stages it abandoned are queued again."""
    async with pool.acquire() as connection, connection.transaction():
        if await connection.fetchval(_STOP_WORKER, worker_id, application_id) is None:
            raise NotFound("unknown_worker", f"no worker {worker_id}")
        await connection.execute(
            _INSERT_EVENTS, worker_id, application_id, ["shutdown"], [reason], [{}]
        )
        released = await connection.fetch(_RELEASE_JOBS, worker_id, application_id)
    return Outcome(
        queued=tuple(QueuedStage.from_row(row) for row in released),
        workers=(WorkerChange(worker_id, application_id, "stopped"),),
    )
