"""POST /jobs/pull, POST /jobs/ack, POST /logs."""

from __future__ import annotations

from litestar import Controller, post
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


class JobController(Controller):
    tags = ["jobs"]

    @post("/jobs/pull", status_code=200, summary="Long-poll for jobs of some handlers")
    async def pull(
        self,
        data: JSONBody[PullRequest],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
    ) -> PullResponse:
        queues = [services.broker.job_queue(application.name, h) for h in data.handlers]
        jobs = await pull_jobs(
            services.pool,
            services.broker,
            application_id=application.id,
            queues=list(dict.fromkeys(queues)),
            max_jobs=data.max_jobs,
            wait_seconds=data.wait_seconds,
            worker_id=data.worker_id,
            lease_seconds=services.settings.lease_seconds,
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
        return outcome.response

    @post("/logs", status_code=200, summary="Append log lines of running jobs")
    async def logs(
        self,
        data: JSONBody[LogsRequest],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
    ) -> LogsResponse:
        return await append_logs(services.pool, application.id, data.entries)
