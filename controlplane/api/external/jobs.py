"""POST /jobs/pull, POST /jobs/ack, POST /logs."""

from __future__ import annotations

import asyncio
from contextlib import nullcontext
from typing import Any

import msgspec
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from controlplane.api.wire import wire
from controlplane.engine.access.applications import Application
from controlplane.engine.jobpath.jobs import Rejection, ack_jobs, append_logs, pull_jobs
from controlplane.input_limits import NUL_MESSAGE, holds_nul_escape, nul_path
from controlplane.schemas import (
    AckRequest,
    AckResponse,
    Job,
    JobResult,
    LogsRequest,
    LogsResponse,
    PullRequest,
    PullResponse,
)
from controlplane.services import Services


async def _give_up_when(
    request: Request[Any, Any, Any], stopping: asyncio.Event, give_up: asyncio.Event
) -> None:
    """Set ``give_up`` once the puller hangs up or this process starts to stop."""

    async def hang_up() -> None:
        # The body has been read, so the next ASGI message is the client disconnecting.
        if (await request.receive())["type"] != "http.disconnect":
            await asyncio.Event().wait()  # not a hang-up: only stopping ends the wait now

    waits = {asyncio.ensure_future(hang_up()), asyncio.ensure_future(stopping.wait())}
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        give_up.set()
    finally:
        for wait in waits:
            wait.cancel()


class JobController(Controller):
    tags = ["jobs"]
    opt = {"scope": "work"}

    @post(
        "/jobs/pull",
        status_code=200,
        summary="Long-poll for jobs of some handlers",
        opt={"errors": [404]},  # unknown_worker: a workerId not of this application
    )
    async def pull(
        self,
        data: JSONBody[PullRequest],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
        request: Request[Any, Any, Any],
    ) -> PullResponse:
        if data.worker_id is not None:
            await services.worker_owners.check(application.id, data.worker_id)
        queues = [services.broker.job_queue(application.name, h) for h in data.handlers]
        polls = request.app.state.limits.polls
        waiting = polls.waiting(request.state.key) if data.wait_seconds else nullcontext()
        with waiting:
            give_up = asyncio.Event()
            watching = asyncio.create_task(_give_up_when(request, services.stopping, give_up))
            try:
                pulled = await pull_jobs(
                    services.pool,
                    services.broker,
                    application_id=application.id,
                    queues=list(dict.fromkeys(queues)),
                    max_jobs=data.max_jobs,
                    wait_seconds=data.wait_seconds,
                    worker_id=data.worker_id,
                    lease_seconds=services.settings.lease_seconds,
                    give_up=give_up,
                    policies=await services.policies.of(application.id),
                )
            finally:
                watching.cancel()
        await services.effects.apply(pulled.outcome)
        return PullResponse(jobs=wire(pulled.jobs, list[Job]))

    @post(
        "/jobs/ack",
        status_code=200,
        summary="Report job results, in a batch",
        # A result holding NUL is refused alone, in `rejected`; the rest are applied.
        opt={"nul": "per_item"},
    )
    async def ack(
        self,
        data: JSONBody[AckRequest],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
        request: Request[Any, Any, Any],
    ) -> AckResponse:
        results, refused = data.results, []
        if holds_nul_escape(await request.body()):
            results, refused = _without_nul(results)
        limit = services.settings.max_input_bytes  # an output is a dependent's input
        acked = await ack_jobs(services.pool, application.id, results, refused, limit)
        # Accepted is durable already; the built-in worker hears of it in the background.
        await services.effects.apply(acked.outcome)
        return wire(acked, AckResponse)

    @post("/logs", status_code=200, summary="Append log lines of running jobs")
    async def logs(
        self,
        data: JSONBody[LogsRequest],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
    ) -> LogsResponse:
        return wire(await append_logs(services.pool, application.id, data.entries), LogsResponse)


def _without_nul(results: list[JobResult]) -> tuple[list[JobResult], list[Rejection]]:
    """The results the database can store, and the refusals of those holding NUL."""
    kept, refused = [], []
    for n, result in enumerate(results):
        where = nul_path(msgspec.to_builtins(result), f"results[{n}]")
        if where is None:
            kept.append(result)
        else:
            detail = f"{where}: {NUL_MESSAGE}"
            refused.append(Rejection(result.job_id, "invalid_result", "nul_character", detail))
    return kept, refused
