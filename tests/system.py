"""A whole Pipelogiq in the test's event loop, with helpers that speak raw HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from builtin_worker import BuiltinWorker
from controlplane.api.app import create_external_app
from controlplane.broker import Broker
from controlplane.engine.access.applications import Application, create_application
from controlplane.services import Services
from controlplane.settings import Settings
from worker_sdk import Worker

# The external API of a System, as clients inside the test process address it.
URL = "http://pipelogiq.test"


@dataclass
class System:
    services: Services
    client: httpx.AsyncClient
    application: Application
    api_key: str
    worker: BuiltinWorker
    #: The external API in this process, for SDK clients and workers to talk to.
    transport: httpx.AsyncBaseTransport
    _background: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def pool(self) -> asyncpg.Pool:
        return self.services.pool

    async def submit(self, stages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/pipelines", json={"name": "test", "stages": stages, **extra}
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def pipeline(self, pipeline_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/pipelines/{pipeline_id}")
        assert response.status_code == 200, response.text
        return response.json()

    async def pull(
        self, *handlers: str, max_jobs: int = 10, wait: float = 2.0, **extra: Any
    ) -> list[dict[str, Any]]:
        response = await self.client.post(
            "/jobs/pull",
            json={"handlers": list(handlers), "maxJobs": max_jobs, "waitSeconds": wait, **extra},
        )
        assert response.status_code == 200, response.text
        return response.json()["jobs"]

    async def pull_until(self, handler: str, count: int) -> list[dict[str, Any]]:
        """At least ``count`` jobs of ``handler``: a submit's jobs are published just after its
        commit, so one pull may come back before the last of them is queued."""
        jobs: list[dict[str, Any]] = []
        for _ in range(20):
            jobs += await self.pull(handler, max_jobs=count - len(jobs), wait=1)
            if len(jobs) >= count:
                break
        return jobs

    async def ack(self, *results: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post("/jobs/ack", json={"results": list(results)})
        assert response.status_code == 200, response.text
        return response.json()

    async def served(self, template: str, within: float = 10.0) -> None:
        """Once an online worker of the application serves ``template`` (a worker started
        in the background bootstraps a moment later)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            listed = (await self.client.get("/templates")).json()["templates"]
            if template in {t["name"] for t in listed}:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"no online worker serves {template}")

    def start_builtin_worker(self) -> None:
        self.start(self.worker.run())

    def start(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run something in the background until the test ends."""
        task = asyncio.create_task(coroutine)
        self._background.append(task)
        return task

    async def stop_background(self) -> None:
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait_for_pipeline(
        self, pipeline_id: str, status: str, within: float = 10.0
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            pipeline = await self.pipeline(pipeline_id)
            if pipeline["status"] == status or loop.time() > deadline:
                assert pipeline["status"] == status, pipeline
                return pipeline
            await asyncio.sleep(0.05)

    async def run_jobs(
        self,
        handler: str,
        outcome: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        until: Callable[[], bool],
        within: float = 10.0,
    ) -> list[dict[str, Any]]:
        """A raw-HTTP worker: pull, run ``outcome`` on each job, ack; returns the jobs."""
        seen: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not until() and loop.time() < deadline:
            jobs = await self.pull(handler, wait=0.2)
            seen.extend(jobs)
            if jobs:
                await self.ack(*({"jobId": job["jobId"], **outcome(job)} for job in jobs))
        return seen


def completed(output: Any = None) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda job: {"status": "completed", "output": output}


# Services a test made beside its system's (an internal API's, say), by the pool they use:
# closed with the system, before the pool is, or their delayed work (the record of a publish)
# would wake in a later test with a closed pool and log an outage into that test's log.
_ALSO_OPEN: dict[int, list[Services]] = {}


def also_open(services: Services) -> Services:
    """``services``, to be closed with the system of its pool."""
    _ALSO_OPEN.setdefault(id(services.pool), []).append(services)
    return services


async def close_services(services: Services) -> None:
    await services.effects.close()
    await services.sandbox.close()
    await services.outages.close()


@contextlib.asynccontextmanager
async def running_system(
    pool: asyncpg.Pool, broker: Broker, **settings: Any
) -> AsyncIterator[System]:
    services = Services(Settings(**settings), pool, broker)
    application, key = await create_application(pool, f"app-{uuid.uuid4().hex[:8]}")
    transport = httpx.ASGITransport(app=create_external_app(services))
    async with httpx.AsyncClient(
        transport=transport, base_url=URL, headers={"X-API-Key": key}
    ) as client:
        system = System(services, client, application, key, BuiltinWorker(services), transport)
        try:
            yield system
        finally:
            await system.stop_background()
            for extra in _ALSO_OPEN.pop(id(pool), []):
                await close_services(extra)
            await close_services(services)


def sdk_worker(system: System, **options: Any) -> Worker:
    """An SDK worker of the system's application, quick to poll and to stop."""
    options.setdefault("poll_seconds", 0.5)
    options.setdefault("shutdown_grace_seconds", 2.0)
    return Worker(URL, system.api_key, transport=system.transport, **options)


@contextlib.asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[Worker]:
    """The worker running in the background for the block, then stopped and drained."""
    task = asyncio.create_task(worker.run_async(handle_signals=False))
    try:
        yield worker
    finally:
        worker.stop()
        await asyncio.wait_for(task, 30)


@contextlib.asynccontextmanager
async def longest_hold() -> AsyncIterator[list[float]]:
    """How long one piece of work held the loop while the block ran: ``[cpu, clock]`` (filled
    at exit), the most CPU time the loop's thread spent between two of its turns, and the
    longest gap between them by the clock.

    Work done on the loop shows in the CPU time, which a busy machine does not stretch (a CI
    run saw a 0.4 s gap by the clock with nothing on the loop); a blocking wait (on a child
    process, say) spends no CPU and shows only by the clock, so that bound is looser."""
    # The test process holds what hundreds of tests left behind: a full collection of that
    # heap takes a third of a second on the loop's thread (seen on CI), where an API process's
    # own heap takes milliseconds. Those objects are set aside from the collector meanwhile.
    gc.collect()
    gc.freeze()
    cpu: list[float] = []
    clock: list[float] = []
    last = [time.thread_time(), time.monotonic()]

    def tick() -> None:
        now = [time.thread_time(), time.monotonic()]
        cpu.append(now[0] - last[0])
        clock.append(now[1] - last[1] - 0.005)
        last[:] = now

    async def measure() -> None:
        while True:
            await asyncio.sleep(0.005)
            tick()

    watching = asyncio.create_task(measure())
    longest: list[float] = []
    try:
        yield longest
    finally:
        tick()  # the last stretch: the block may end before the watcher's next turn
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
        gc.unfreeze()
        longest += [max(cpu, default=0.0), max(clock, default=0.0)]
