"""Schedules of pipeline definitions: keeping them, and firing them once per due time.

Firing is safe with any number of built-in workers: due schedules are locked with ``SKIP
LOCKED`` while one worker fires them, each run is submitted with an idempotency key made of
the schedule and the due time (a worker that dies mid-fire and is replaced starts the same
pipeline, not a second one), the fire record is unique per due time, and the next due time
is moved on by a statement guarded on the one just fired.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from controlplane.engine.access.audit import Actor, record
from controlplane.engine.definitions.documents import checked_params
from controlplane.engine.definitions.timing import Timing, plan_fire
from controlplane.engine.definitions.versions import Definition, runnable_version
from controlplane.errors import Conflict, NotFound, ProblemError
from controlplane.sandbox import Sandbox
from controlplane.schemas import PipelineSubmit, camel


@dataclass(frozen=True)
class ScheduleFields:
    """What a person sets on a schedule."""

    name: str
    version: int | None
    cron: str | None
    interval_seconds: int | None
    timezone: str
    params: dict[str, Any]
    catch_up: str
    status: str

    @property
    def timing(self) -> Timing:
        return Timing(self.cron, self.interval_seconds, self.timezone)

    @classmethod
    def of(cls, source: object) -> ScheduleFields:
        """The fields of anything that has them as attributes (a request, a schedule)."""
        return cls(**{f.name: getattr(source, f.name) for f in dataclasses.fields(cls)})

    def columns(self) -> tuple[Any, ...]:
        """In the order _INSERT and _UPDATE take them, after their ids."""
        return tuple(getattr(self, f.name) for f in dataclasses.fields(ScheduleFields))

    def details(self) -> dict[str, Any]:
        """For the audit log, named as on the wire."""
        return {camel(f.name): getattr(self, f.name) for f in dataclasses.fields(ScheduleFields)}


@dataclass(frozen=True)
class Schedule(ScheduleFields):
    id: uuid.UUID
    application_id: uuid.UUID
    definition_id: uuid.UUID
    definition: str
    next_fire_at: dt.datetime | None
    last_fired_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def fields(self) -> ScheduleFields:
        return ScheduleFields.of(self)

    def run_request(self, idempotency_key: str) -> PipelineSubmit:
        return PipelineSubmit(
            definition=self.definition,
            version=self.version,
            params=self.params,
            idempotency_key=idempotency_key,
        )


_COLUMNS = """
s.id, s.application_id, s.definition_id, d.name AS definition, s.name, s.version, s.cron,
s.interval_seconds, s.timezone, s.params, s.catch_up, s.status, s.next_fire_at,
s.last_fired_at, s.created_at, s.updated_at
"""

_BY_ID = f"""
SELECT {_COLUMNS} FROM schedules s JOIN definitions d ON d.id = s.definition_id WHERE s.id = $1
"""

# The list also carries each schedule's application and its last fire with the status of the
# run that fire started (NULL when none did, or retention removed it): one statement, the
# last fire found through schedule_fires_recent. Every filter is a parameter that may be NULL.
_LIST = f"""
SELECT {_COLUMNS}, a.name AS application_name,
       f.id AS fire_id, f.due_at AS fire_due_at, f.kind AS fire_kind, f.missed AS fire_missed,
       f.pipeline_id AS fire_pipeline_id, f.error AS fire_error, f.actor AS fire_actor,
       f.fired_at AS fire_fired_at, p.status AS fire_pipeline_status
FROM schedules s
JOIN definitions d ON d.id = s.definition_id
JOIN applications a ON a.id = s.application_id
LEFT JOIN LATERAL (
    SELECT * FROM schedule_fires sf WHERE sf.schedule_id = s.id ORDER BY sf.id DESC LIMIT 1
) f ON true
LEFT JOIN pipelines p ON p.id = f.pipeline_id
WHERE ($1::uuid IS NULL OR EXISTS (
          SELECT 1 FROM memberships m WHERE m.application_id = s.application_id
          AND m.user_id = $1))
  AND ($2::uuid IS NULL OR s.application_id = $2)
  AND ($3::uuid IS NULL OR s.definition_id = $3)
  AND ($4::text IS NULL OR s.status = $4)
  AND ($5::text IS NULL OR s.name ILIKE $5 OR d.name ILIKE $5)
ORDER BY s.name, a.name, s.id
"""


def _schedule(row: asyncpg.Record) -> Schedule:
    return Schedule(**dict(row))


async def read_schedule(pool: asyncpg.Pool, schedule_id: uuid.UUID) -> Schedule | None:
    row = await pool.fetchrow(_BY_ID, schedule_id)
    return None if row is None else _schedule(row)


@dataclass(frozen=True)
class ListedSchedule:
    schedule: Schedule
    application_name: str
    last_fire: LastFire | None


async def list_schedules(
    pool: asyncpg.Pool,
    *,
    member: uuid.UUID | None = None,
    application_id: uuid.UUID | None = None,
    definition_id: uuid.UUID | None = None,
    status: str | None = None,
    search: str | None = None,
) -> list[ListedSchedule]:
    """``member``: only the applications this user is a member of (None: all of them);
    ``search``: part of the schedule's name or its definition's."""
    pattern = None if search is None else f"%{_literal(search)}%"
    rows = await pool.fetch(_LIST, member, application_id, definition_id, status, pattern)
    return [_listed(row) for row in rows]


def _literal(text: str) -> str:
    """``text`` as a LIKE pattern that matches it alone: % and _ in a search stand for
    themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _listed(row: asyncpg.Record) -> ListedSchedule:
    values = dict(row)
    fire = {
        name.removeprefix("fire_"): values.pop(name)
        for name in list(values)
        if name.startswith("fire_")
    }
    application_name = values.pop("application_name")
    last_fire = None if fire["id"] is None else LastFire(**fire)
    return ListedSchedule(Schedule(**values), application_name, last_fire)


# -- keeping them -------------------------------------------------------------------------------

_INSERT = """
INSERT INTO schedules (application_id, definition_id, name, version, cron, interval_seconds,
                       timezone, params, catch_up, status, next_fire_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (application_id, name) DO NOTHING
RETURNING id
"""

_UPDATE = """
UPDATE schedules SET name = $2, version = $3, cron = $4, interval_seconds = $5, timezone = $6,
                     params = $7, catch_up = $8, status = $9, next_fire_at = $10,
                     updated_at = now()
WHERE id = $1
RETURNING id
"""

_DELETE = "DELETE FROM schedules WHERE id = $1 RETURNING id"


async def _checked(
    pool: asyncpg.Pool,
    sandbox: Sandbox,
    application_id: uuid.UUID,
    definition: str,
    fields: ScheduleFields,
) -> ScheduleFields:
    """The fields, if their timing is one and their params fit the version they run (with
    the params' defaults filled in); a problem otherwise."""
    fields.timing.check()
    version = await runnable_version(pool, application_id, definition, fields.version)
    params = await checked_params(sandbox, version.document(), fields.params)
    return dataclasses.replace(fields, params=params)


async def create_schedule(
    pool: asyncpg.Pool,
    sandbox: Sandbox,
    actor: Actor,
    definition: Definition,
    fields: ScheduleFields,
) -> Schedule:
    application_id, definition_id = definition.application_id, definition.id
    fields = await _checked(pool, sandbox, application_id, definition.name, fields)
    next_fire_at = _first_due(fields, await _now(pool))
    async with pool.acquire() as connection, connection.transaction():
        created = await connection.fetchval(
            _INSERT, application_id, definition_id, *fields.columns(), next_fire_at
        )
        if created is None:
            raise Conflict("schedule_exists", f"a schedule is already named {fields.name!r}")
        await record(connection, actor, "schedule.created", "schedule", created, fields.details())
        return _schedule(await connection.fetchrow(_BY_ID, created))


async def change_schedule(
    pool: asyncpg.Pool,
    sandbox: Sandbox,
    actor: Actor,
    schedule: Schedule,
    changes: Mapping[str, Any],
) -> Schedule:
    """Change the fields named in ``changes``. A schedule has a cron or an interval: giving
    one drops the other."""
    given = dict(changes)
    if "cron" in given:
        given.setdefault("interval_seconds", None)
    elif "interval_seconds" in given:
        given["cron"] = None
    fields = dataclasses.replace(schedule.fields, **given)
    fields = await _checked(pool, sandbox, schedule.application_id, schedule.definition, fields)
    return await _store(pool, actor, schedule, fields, "schedule.changed")


async def set_schedule_status(
    pool: asyncpg.Pool, actor: Actor, schedule: Schedule, status: str
) -> Schedule:
    """Pause or resume a schedule (nothing else is checked: a schedule whose version was
    archived since can still be paused)."""
    if schedule.status == status:
        return schedule
    action = "schedule.paused" if status == "paused" else "schedule.resumed"
    return await _store(
        pool, actor, schedule, dataclasses.replace(schedule.fields, status=status), action
    )


async def _store(
    pool: asyncpg.Pool, actor: Actor, schedule: Schedule, fields: ScheduleFields, action: str
) -> Schedule:
    """Store ``fields``; a change of timing, or a resume, counts due times from now (what
    was due while paused is not run)."""
    same_timing = fields.timing == schedule.timing and fields.status == schedule.status
    next_fire_at = (
        schedule.next_fire_at
        if same_timing and schedule.next_fire_at is not None
        else _first_due(fields, await _now(pool))
    )
    async with pool.acquire() as connection, connection.transaction():
        changed = await connection.fetchval(_UPDATE, schedule.id, *fields.columns(), next_fire_at)
        if changed is None:
            raise NotFound("schedule_not_found", f"no schedule {schedule.id}")
        await record(connection, actor, action, "schedule", schedule.id, fields.details())
        return _schedule(await connection.fetchrow(_BY_ID, schedule.id))


async def delete_schedule(pool: asyncpg.Pool, actor: Actor, schedule: Schedule) -> None:
    async with pool.acquire() as connection, connection.transaction():
        if await connection.fetchval(_DELETE, schedule.id) is None:
            raise NotFound("schedule_not_found", f"no schedule {schedule.id}")
        await record(connection, actor, "schedule.deleted", "schedule", schedule.id)


def _first_due(fields: ScheduleFields, now: dt.datetime) -> dt.datetime | None:
    return fields.timing.next_after(now) if fields.status == "active" else None


async def _now(pool: asyncpg.Pool) -> dt.datetime:
    # The database's clock, as everywhere: due times compare with it.
    now: dt.datetime = await pool.fetchval("SELECT now()")
    return now


# -- firing -----------------------------------------------------------------------------------

# Starts a run; returns the pipeline's id. Raises a ProblemError when the run cannot start.
Start = Callable[[uuid.UUID, PipelineSubmit], Awaitable[uuid.UUID]]

_NEXT_DUE = """
SELECT extract(epoch FROM min(next_fire_at) - now()) FROM schedules WHERE status = 'active'
"""

_LOCK_DUE = f"""
SELECT {_COLUMNS} FROM schedules s JOIN definitions d ON d.id = s.definition_id
WHERE s.status = 'active' AND s.next_fire_at <= now()
ORDER BY s.next_fire_at
LIMIT $1
FOR UPDATE OF s SKIP LOCKED
"""

_RECORD_FIRE = """
INSERT INTO schedule_fires (schedule_id, due_at, kind, missed, pipeline_id, error, actor)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (schedule_id, due_at) WHERE kind <> 'manual' DO NOTHING
"""

_MOVE_ON = """
UPDATE schedules SET next_fire_at = $3, last_fired_at = now()
WHERE id = $1 AND next_fire_at = $2 AND status = 'active'
"""


async def seconds_until_due(pool: asyncpg.Pool) -> float | None:
    """Until the next schedule is due (0 if one is), or None if none is active."""
    seconds = await pool.fetchval(_NEXT_DUE)
    return None if seconds is None else max(0.0, float(seconds))


@dataclass(frozen=True)
class Fired:
    schedule_id: uuid.UUID
    due_at: dt.datetime
    kind: str
    pipeline_id: uuid.UUID | None
    error: str | None


async def fire_due(pool: asyncpg.Pool, start: Start, limit: int = 50) -> list[Fired]:
    """Fire the schedules that are due, each once per due time; returns what was fired."""
    fired = []
    async with pool.acquire() as connection, connection.transaction():
        now: dt.datetime = await connection.fetchval("SELECT now()")
        for row in await connection.fetch(_LOCK_DUE, limit):
            schedule = _schedule(row)
            assert schedule.next_fire_at is not None
            plan = plan_fire(schedule.timing, schedule.next_fire_at, now, schedule.catch_up)
            pipeline_id, error = None, None
            if plan.run_for is not None:
                key = f"schedule-{schedule.id}-{plan.run_for.isoformat()}"
                pipeline_id, error = await _start(start, schedule, key)
            await connection.execute(
                _RECORD_FIRE,
                schedule.id,
                plan.recorded,
                plan.kind,
                plan.missed,
                pipeline_id,
                error,
                None,
            )
            await connection.execute(
                _MOVE_ON, schedule.id, schedule.next_fire_at, plan.next_fire_at
            )
            fired.append(Fired(schedule.id, plan.recorded, plan.kind, pipeline_id, error))
    return fired


async def _start(
    start: Start, schedule: Schedule, idempotency_key: str
) -> tuple[uuid.UUID | None, str | None]:
    try:
        return await start(schedule.application_id, schedule.run_request(idempotency_key)), None
    except ProblemError as problem:
        # Recorded and moved past: a schedule whose version was archived, or whose params
        # no longer fit a new version, must not fire again every second.
        return None, f"{problem.code}: {problem.detail}"


_RECORD_MANUAL = """
INSERT INTO schedule_fires (schedule_id, due_at, kind, pipeline_id, error, actor)
VALUES ($1, now(), 'manual', $2, $3, $4)
RETURNING id, due_at, kind, missed, pipeline_id, error, actor, fired_at
"""


async def run_now(pool: asyncpg.Pool, start: Start, actor: Actor, schedule: Schedule) -> Fire:
    """A run with the schedule's params, now, besides its due times; recorded as ``manual``."""
    key = f"schedule-{schedule.id}-manual-{uuid.uuid4()}"
    pipeline_id, error = await _start(start, schedule, key)
    async with pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(_RECORD_MANUAL, schedule.id, pipeline_id, error, actor.name)
        await record(
            connection,
            actor,
            "schedule.run",
            "schedule",
            schedule.id,
            {"pipeline": str(pipeline_id) if pipeline_id else None, "error": error},
        )
    return Fire(**dict(row))


@dataclass(frozen=True)
class Fire:
    id: int
    due_at: dt.datetime
    kind: str
    missed: int
    pipeline_id: uuid.UUID | None
    error: str | None
    actor: str | None
    fired_at: dt.datetime


_FIRES = """
SELECT id, due_at, kind, missed, pipeline_id, error, actor, fired_at FROM schedule_fires
WHERE schedule_id = $1 ORDER BY id DESC LIMIT $2
"""


async def recent_fires(pool: asyncpg.Pool, schedule_id: uuid.UUID, limit: int = 50) -> list[Fire]:
    return [Fire(**dict(row)) for row in await pool.fetch(_FIRES, schedule_id, limit)]


@dataclass(frozen=True)
class LastFire(Fire):
    # The status of the run it started, now.
    pipeline_status: str | None
