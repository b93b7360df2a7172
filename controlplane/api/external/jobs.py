"""POST /jobs/pull, POST /jobs/ack, POST /logs."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from controlplane.engine.applications import Application
from controlplane.engine.jobs import ack_jobs, announce_finished, append_logs, pull_jobs
from controlplane.schemas import (
    AckRequest,
    AckResponse,
    LogsRequest,
    LogsResponse,
    PullRequest,
    PullResponse,
)
from controlplane.services import Services


async def _watch_for_hang_up(request: Request[Any, Any, Any], hung_up: asyncio.Event) -> None:
    # The body has been read, so the next ASGI message is the client disconnecting.
    message = await request.receive()
    if message["type"] == "http.disconnect":
        hung_up.set()


class JobController(Controller):
    tags = ["jobs"]
    opt = {"scope": "work"}

    @post("/jobs/pull", status_code=200, summary="Long-poll for jobs of some handlers")
    async def pull(
        self,
        data: JSONBody[PullRequest],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
        request: Request[Any, Any, Any],
    ) -> PullResponse:
        queues = [services.broker.job_queue(application.name, h) for h in data.handlers]
        hung_up = asyncio.Event()
        watching = asyncio.create_task(_watch_for_hang_up(request, hung_up))
        try:
            jobs = await pull_jobs(
                services.pool,
                services.broker,
                application_id=application.id,
                queues=list(dict.fromkeys(queues)),
                max_jobs=data.max_jobs,
                wait_seconds=data.wait_seconds,
                worker_id=data.worker_id,
                lease_seconds=services.settings.lease_seconds,
                hung_up=hung_up,
                policies=await services.policies.of(application.id),
            )
        finally:
            watching.cancel()
        services.updates.stages_changed(
            (job.stage_id, job.pipeline_id, application.id, "running") for job in jobs
        )
        return PullResponse(jobs=jobs)

    @post("/jobs/ack", status_code=200, summary="Report job results, in a batch")
    async def ack(
        self,
        data: JSONBody[AckRequest],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
    ) -> AckResponse:
        outcome = await ack_jobs(services.pool, application.id, data.results)
        await announce_finished(services.broker, outcome.finished_stage_ids)
        services.updates.stages_changed(outcome.changed)
        return outcome.response

    @post("/logs", status_code=200, summary="Append log lines of running jobs")
    async def logs(
        self,
        data: JSONBody[LogsRequest],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
    ) -> LogsResponse:
        return await append_logs(services.pool, application.id, data.entries)
