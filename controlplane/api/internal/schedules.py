"""/api/schedules: runs of pipeline definitions at cron times or intervals.

Everyone sees the schedules of the applications they see, pauses and resumes them, and runs
one now; developers and admins create, change and delete them. Each change is audited.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from controlplane.api.internal.audit import entry_view
from controlplane.api.internal.schemas import (
    AuditEntryView,
    ScheduleChange,
    ScheduleCreate,
    ScheduleDetail,
    ScheduleFireView,
    ScheduleLastFire,
    ScheduleList,
    ScheduleListItem,
    ScheduleView,
)
from controlplane.api.internal.session import actor_of, member_scope, requires, visible
from controlplane.engine.access.audit import read_trail
from controlplane.engine.definitions.schedules import (
    ListedSchedule,
    Schedule,
    ScheduleFields,
    change_schedule,
    create_schedule,
    delete_schedule,
    list_schedules,
    read_schedule,
    recent_fires,
    run_now,
    set_schedule_status,
)
from controlplane.engine.definitions.versions import read_definition
from controlplane.errors import NotFound
from controlplane.runs import start_run
from controlplane.services import Services

_WRITERS = [requires("admin", "developer")]
NEXT_RUNS = 5


def schedule_view(schedule: Schedule) -> ScheduleView:
    upcoming = (
        list(itertools.islice(schedule.timing.after(schedule.next_fire_at), NEXT_RUNS - 1))
        if schedule.next_fire_at is not None
        else []
    )
    next_runs = [schedule.next_fire_at, *upcoming] if schedule.next_fire_at else []
    return ScheduleView(**dataclasses.asdict(schedule), next_runs=next_runs)


def _list_item(listed: ListedSchedule) -> ScheduleListItem:
    fire = listed.last_fire
    return ScheduleListItem(
        **msgspec.structs.asdict(schedule_view(listed.schedule)),
        application_name=listed.application_name,
        last_fire=None if fire is None else ScheduleLastFire(**vars(fire)),
    )


async def _visible_schedule(
    services: Services, request: Request[Any, Any, Any], schedule_id: uuid.UUID
) -> Schedule:
    schedule = await read_schedule(services.pool, schedule_id)
    return await visible(
        request, schedule, NotFound("schedule_not_found", f"no schedule {schedule_id}")
    )


class ScheduleController(Controller):
    path = "/schedules"
    tags = ["schedules"]

    @get("/", summary="Schedules of your applications, each with its last fire")
    async def list(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        application: Annotated[uuid.UUID | None, QueryParameter(name="application")] = None,
        definition: Annotated[uuid.UUID | None, QueryParameter(name="definition")] = None,
        status: Annotated[Literal["active", "paused"] | None, QueryParameter(name="status")] = None,
        search: Annotated[
            str | None,
            QueryParameter(
                name="search",
                max_length=200,
                description="part of the schedule's name or of its definition's",
            ),
        ] = None,
    ) -> ScheduleList:
        found = await list_schedules(
            services.pool,
            member=member_scope(request),
            application_id=application,
            definition_id=definition,
            status=status,
            search=search or None,
        )
        return ScheduleList([_list_item(listed) for listed in found])

    @post(
        "/",
        guards=_WRITERS,
        summary="Schedule runs of a definition",
        opt={"errors": [404, 409]},
    )
    async def create(
        self,
        data: JSONBody[ScheduleCreate],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> ScheduleView:
        definition = await read_definition(services.pool, data.definition_id)
        not_found = NotFound("definition_not_found", f"no definition {data.definition_id}")
        definition = await visible(request, definition, not_found)
        schedule = await create_schedule(
            services.pool,
            services.sandbox,
            actor_of(request),
            definition,
            ScheduleFields.of(data),
        )
        return schedule_view(schedule)

    @get("/{schedule_id:uuid}", summary="A schedule and its recent fires")
    async def read(
        self,
        schedule_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> ScheduleDetail:
        schedule = await _visible_schedule(services, request, schedule_id)
        fires = await recent_fires(services.pool, schedule.id)
        return ScheduleDetail(schedule_view(schedule), [ScheduleFireView(**vars(f)) for f in fires])

    @patch(
        "/{schedule_id:uuid}",
        guards=_WRITERS,
        summary="Change a schedule",
        opt={"errors": [409]},
    )
    async def change(
        self,
        schedule_id: FromPath[uuid.UUID],
        data: JSONBody[ScheduleChange],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> ScheduleView:
        schedule = await _visible_schedule(services, request, schedule_id)
        given = {
            f.name: getattr(data, f.name)
            for f in msgspec.structs.fields(data)
            if getattr(data, f.name) is not msgspec.UNSET
        }
        changed = await change_schedule(
            services.pool, services.sandbox, actor_of(request), schedule, given
        )
        return schedule_view(changed)

    @post("/{schedule_id:uuid}/pause", status_code=200, summary="Stop firing until resumed")
    async def pause(
        self,
        schedule_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> ScheduleView:
        return await _set_status(services, request, schedule_id, "paused")

    @post(
        "/{schedule_id:uuid}/resume",
        status_code=200,
        summary="Fire again, from the next due time (what fell due while paused does not run)",
    )
    async def resume(
        self,
        schedule_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> ScheduleView:
        return await _set_status(services, request, schedule_id, "active")

    @post(
        "/{schedule_id:uuid}/run",
        status_code=200,
        summary="Start a run now, with the schedule's params (recorded as a manual fire)",
        opt={"errors": [409]},
    )
    async def run(
        self,
        schedule_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> ScheduleFireView:
        schedule = await _visible_schedule(services, request, schedule_id)

        start = functools.partial(start_run, services)
        fire = await run_now(services.pool, start, actor_of(request), schedule)
        return ScheduleFireView(**vars(fire))

    @delete("/{schedule_id:uuid}", guards=_WRITERS, summary="Delete a schedule")
    async def remove(
        self,
        schedule_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> None:
        schedule = await _visible_schedule(services, request, schedule_id)
        await delete_schedule(services.pool, actor_of(request), schedule)

    @get("/{schedule_id:uuid}/history", summary="Every change to a schedule, newest first")
    async def history(
        self,
        schedule_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> list[AuditEntryView]:
        schedule = await _visible_schedule(services, request, schedule_id)
        return [entry_view(e) for e in await read_trail(services.pool, "schedule", schedule.id)]


async def _set_status(
    services: Services, request: Request[Any, Any, Any], schedule_id: uuid.UUID, status: str
) -> ScheduleView:
    schedule = await _visible_schedule(services, request, schedule_id)
    changed = await set_schedule_status(services.pool, actor_of(request), schedule, status)
    return schedule_view(changed)
