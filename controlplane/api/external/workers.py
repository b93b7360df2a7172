"""POST /workers/bootstrap, /workers/heartbeat, /workers/events, /workers/shutdown."""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from controlplane.engine.applications import Application
from controlplane.engine.dispatch import QueuedStage
from controlplane.engine.workers import Heartbeat, record_events, register_worker, stop_worker
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
        worker_id = await register_worker(services.pool, application.id, data)
        services.updates.workers_changed([(worker_id, application.id, "online")])
        settings = services.settings
        return BootstrapResponse(
            worker_id=worker_id,
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
        outcome = await services.heartbeats.beat(
            Heartbeat(
                application.id, data.worker_id, data.state, data.in_flight_job_ids, data.metrics
            )
        )
        if not outcome.known_worker:
            raise NotFound("unknown_worker", f"no running worker {data.worker_id}; bootstrap again")
        if outcome.new_state is not None:
            services.updates.workers_changed([(data.worker_id, application.id, outcome.new_state)])
        return HeartbeatResponse(cancel_job_ids=outcome.cancel_job_ids)

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
        released = await stop_worker(services.pool, application.id, data.worker_id, data.reason)
        services.updates.workers_changed([(data.worker_id, application.id, "stopped")])
        await services.dispatcher.publish(QueuedStage.from_row(row) for row in released)
        return Accepted(accepted=1)
