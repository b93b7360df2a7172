"""POST /workers/bootstrap, /workers/heartbeat, /workers/events, /workers/shutdown."""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from controlplane.engine.access.applications import Application
from controlplane.engine.jobpath.workers import (
    Heartbeat,
    record_events,
    register_worker,
    stop_worker,
)
from controlplane.errors import NotFound
from controlplane.input_limits import check_report_size
from controlplane.schemas import (
    Accepted,
    BootstrapRequest,
    BootstrapResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    ShutdownRequest,
    WorkerEventsRequest,
)
from controlplane.services import Services


class WorkerController(Controller):
    path = "/workers"
    tags = ["workers"]
    opt = {"scope": "work"}

    @post("/bootstrap", status_code=200, summary="Register a worker process")
    async def bootstrap(
        self,
        data: JSONBody[BootstrapRequest],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
    ) -> BootstrapResponse:
        check_report_size(data.metadata, "metadata")
        registered = await register_worker(services.pool, application.id, data)
        await services.effects.apply(registered.outcome)
        settings = services.settings
        return BootstrapResponse(
            worker_id=registered.worker_id,
            heartbeat_interval_seconds=settings.heartbeat_interval_seconds,
            offline_after_seconds=settings.worker_offline_after_seconds,
            lease_seconds=settings.lease_seconds,
        )

    @post(
        "/heartbeat",
        status_code=200,
        summary="Keep leases alive; learn of cancelled jobs",
        opt={"errors": [404]},
    )
    async def heartbeat(
        self,
        data: JSONBody[HeartbeatRequest],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
    ) -> HeartbeatResponse:
        check_report_size(data.metrics, "metrics")
        beaten = await services.heartbeats.beat(
            Heartbeat(
                application.id, data.worker_id, data.state, data.in_flight_job_ids, data.metrics
            )
        )
        if not beaten.known_worker:
            raise NotFound("unknown_worker", f"no running worker {data.worker_id}; bootstrap again")
        await services.effects.apply(beaten.outcome)
        return HeartbeatResponse(cancel_job_ids=beaten.cancel_job_ids)

    @post("/events", status_code=200, summary="Record worker events", opt={"errors": [404]})
    async def events(
        self,
        data: JSONBody[WorkerEventsRequest],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
    ) -> Accepted:
        for event in data.events:
            check_report_size(event.data, "an event's data")
        await record_events(services.pool, application.id, data.worker_id, data.events)
        return Accepted(accepted=len(data.events))

    @post(
        "/shutdown",
        status_code=200,
        summary="A worker stops; its held jobs are requeued",
        opt={"errors": [404]},
    )
    async def shutdown(
        self,
        data: JSONBody[ShutdownRequest],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
    ) -> Accepted:
        stopped = await stop_worker(services.pool, application.id, data.worker_id, data.reason)
        await services.effects.apply(stopped)
        return Accepted(accepted=1)
