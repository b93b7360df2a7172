"""/api/workers: the workers of your applications, live, with their jobs and events."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from controlplane.api.internal.schemas import (
    HeldJobView,
    WorkerDetail,
    WorkerEventPage,
    WorkerEventView,
    WorkerList,
    WorkerView,
)
from controlplane.api.internal.session import member_scope
from controlplane.engine.reads.worker_queries import (
    Liveness,
    WorkerRow,
    held_jobs,
    list_workers,
    worker_events,
)
from controlplane.errors import NotFound
from controlplane.schemas import MAX_ID
from controlplane.services import Services

_EVER = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _view(row: WorkerRow) -> WorkerView:
    return WorkerView(**vars(row))


async def _visible_worker(
    services: Services, request: Request[Any, Any, Any], worker_id: uuid.UUID
) -> WorkerRow:
    rows = await list_workers(
        services.pool,
        Liveness.of(services.settings),
        member=member_scope(request),
        worker_id=worker_id,
        seen_since=_EVER,
        limit=1,
    )
    if not rows:
        raise NotFound("worker_not_found", f"no worker {worker_id}")
    return rows[0]


class WorkerController(Controller):
    path = "/workers"
    tags = ["workers"]

    @get("/", summary="Workers of your applications: running ones, and those gone lately")
    async def list(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        application: Annotated[uuid.UUID | None, QueryParameter(name="application")] = None,
        gone_within_hours: Annotated[
            float,
            QueryParameter(
                name="goneWithinHours",
                ge=0,
                le=24 * 30,
                description="also list workers offline or stopped within this many hours",
            ),
        ] = 24,
    ) -> WorkerList:
        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=gone_within_hours)
        rows = await list_workers(
            services.pool,
            Liveness.of(services.settings),
            member=member_scope(request),
            application_id=application,
            seen_since=since,
        )
        return WorkerList([_view(row) for row in rows])

    @get("/{worker_id:uuid}", summary="A worker and the jobs it holds")
    async def read(
        self,
        worker_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> WorkerDetail:
        row = await _visible_worker(services, request, worker_id)
        jobs = await held_jobs(services.pool, worker_id)
        return WorkerDetail(_view(row), [HeldJobView(**vars(job)) for job in jobs])

    @get("/{worker_id:uuid}/events", summary="A worker's events, newest first")
    async def events(
        self,
        worker_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        before: Annotated[
            int | None, QueryParameter(ge=1, le=MAX_ID, description="an event id")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> WorkerEventPage:
        await _visible_worker(services, request, worker_id)
        rows = await worker_events(services.pool, worker_id, before=before, limit=limit)
        return WorkerEventPage(
            [WorkerEventView(r.id, r.kind, r.message, r.data, r.created_at) for r in rows],
            rows[-1].id if len(rows) == limit else None,
        )
