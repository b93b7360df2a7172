"""The worker: pulls jobs for its handlers, runs them, acks their outcomes, heartbeats.

One asyncio task per concern: the pull loop (long-polls for as many jobs as there are free
slots), the heartbeat loop (keeps leases alive and learns which jobs to stop), the ack loop
(sends finished results in batches and keeps them until the control plane has them: see
:mod:`worker_sdk.acks`), and one task per running job. A sync handler runs in a daemon thread
of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from worker_sdk import templates
from worker_sdk.acks import MAX_RESULTS_PER_ACK as MAX_RESULTS_PER_ACK  # where it was
from worker_sdk.acks import Acks
from worker_sdk.context import JobContext
from worker_sdk.errors import ApiError, Unavailable
from worker_sdk.handlers import Handler, HandlerFunction, Outcome
from worker_sdk.logs import log_context
from worker_sdk.metrics import WorkerMetrics
from worker_sdk.tracing import handler_span, set_outcome
from worker_sdk.transport import AsyncTransport, Backoff
from worker_sdk.usage import ProcessUsage
from worker_sdk.wire import BootstrapResponse, HeartbeatResponse, Job, JobResult, PullResponse

log = logging.getLogger("worker_sdk")

F = TypeVar("F", bound=HandlerFunction)

MAX_JOBS_PER_PULL = 100


@dataclass
class _Running:
    job: Job
    ctx: JobContext
    task: asyncio.Task[None] | None = None
    started: float = field(default_factory=time.monotonic)
    # Told by the control plane to stop (cancelled, timed out, or handed to another worker),
    # or abandoned at shutdown: its outcome is not acked.
    dropped: bool = False


@dataclass
class WorkerStats:
    completed: int = 0
    failed: int = 0
    dropped: int = 0
    rejected: int = 0
    # Results the control plane refused for good (their jobs were reported failed instead).
    refused: int = 0
    # Results given up on: set aside until their leases could have run out, or at shutdown.
    undelivered: int = 0
    started_at: float = field(default_factory=time.monotonic)


class Worker:
    """Runs handlers for jobs pulled from a Pipelogiq control plane::

    worker = Worker("http://127.0.0.1:8081", api_key, name="billing")

    @worker.handler("invoice.render")
    def render(ctx: JobContext, invoice: Invoice) -> dict:
        ctx.log.info("rendering %s", invoice.number)
        return {"pdf": ...}

    worker.run()  # until SIGINT or SIGTERM
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        name: str = "worker",
        concurrency: int = 10,
        poll_seconds: float = 20.0,
        shutdown_grace_seconds: float = 30.0,
        version: str | None = None,
        metadata: dict[str, Any] | None = None,
        metrics_port: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.url = url
        self.name = name
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.shutdown_grace_seconds = shutdown_grace_seconds
        self.version = version
        self.metadata = dict(metadata or {})
        self.metrics_port = metrics_port
        self.stats = WorkerStats()
        self._metrics: WorkerMetrics | None = None
        self.worker_id: str | None = None
        self._api_key = api_key
        self._http_transport = transport
        self._handlers: dict[str, Handler] = {}
        self._instance_id = str(uuid.uuid4())
        self._running: dict[str, _Running] = {}
        self._acks: Acks | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._abandon: asyncio.Event | None = None
        self._changed: asyncio.Event | None = None  # a slot freed or a result is ready
        self._heartbeat_interval = 10.0

    # -- registration --------------------------------------------------------------------

    def handler(self, name: str) -> Callable[[F], F]:
        """Register a function as the handler for jobs of ``name``."""

        def register(function: F) -> F:
            self.register(name, function)
            return function

        return register

    def register(self, name: str, function: HandlerFunction) -> None:
        if name in self._handlers:
            raise ValueError(f"a handler for {name!r} is already registered")
        self._handlers[name] = Handler.from_function(name, function)

    def use_templates(self, *patterns: str) -> list[str]:
        """Serve the stage templates that ``patterns`` name: groups (``"core"``) or name
        patterns (``"http.*"``). Returns their names; the control plane learns their versions
        at bootstrap, in ``metadata["templates"]``."""
        chosen = templates.select(patterns)
        for template in chosen:
            self.register(template.name, template.function)
            self.metadata.setdefault("templates", {})[template.name] = template.version
        return [template.name for template in chosen]

    @property
    def handlers(self) -> dict[str, Handler]:
        return dict(self._handlers)

    # -- running -------------------------------------------------------------------------

    def run(self) -> None:
        """Run until SIGINT or SIGTERM, then drain and return."""
        asyncio.run(self.run_async())

    def stop(self) -> None:
        """Ask a running worker to drain and stop; safe to call from any thread."""
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)

    async def run_async(self, *, handle_signals: bool = True) -> None:
        """Run inside the current event loop until :meth:`stop` or a signal."""
        if not self._handlers:
            raise RuntimeError("register at least one handler before running the worker")
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._abandon = asyncio.Event()
        self._changed = asyncio.Event()
        if self.metrics_port is not None:
            self._metrics = WorkerMetrics(lambda: len(self._running), self._unacked)
            self._metrics.serve(self.metrics_port)
        restore = self._install_signal_handlers() if handle_signals else []
        transport = AsyncTransport(
            self.url,
            self._api_key,
            timeout=self.poll_seconds + 15,
            transport=self._http_transport,
        )
        self._acks = Acks(transport, self.stats)
        try:
            if await self._bootstrap(transport):
                await self._work(transport)
        finally:
            for undo in restore:
                undo()
            await transport.close()
            if self._metrics is not None:
                self._metrics.close()

    async def _work(self, transport: AsyncTransport) -> None:
        assert self._stopping is not None
        assert self._acks is not None
        pulling = asyncio.create_task(self._pull_loop(transport))
        heartbeats = asyncio.create_task(self._heartbeat_loop(transport))
        acks = asyncio.create_task(self._acks.run())
        await self._stopping.wait()
        log.info("stopping: no more pulls; finishing %d running jobs", len(self._running))
        pulling.cancel()
        await asyncio.gather(pulling, return_exceptions=True)
        await self._drain()
        heartbeats.cancel()
        acks.cancel()
        await asyncio.gather(heartbeats, acks, return_exceptions=True)
        await self._acks.flush(seconds=10)
        with contextlib.suppress(Exception):
            await transport.call(
                "POST",
                "/workers/shutdown",
                dict,
                {"workerId": self.worker_id, "reason": "stopped"},
                retries=2,
            )
        log.info("stopped")

    def _install_signal_handlers(self) -> list[Callable[[], object]]:
        loop = asyncio.get_running_loop()
        installed: list[Callable[[], object]] = []

        def on_signal() -> None:
            assert self._stopping is not None
            assert self._abandon is not None
            if self._stopping.is_set():
                log.warning("second signal: abandoning the running jobs now")
                self._abandon.set()
            self._stopping.set()

        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, on_signal)
            except (NotImplementedError, RuntimeError, ValueError):
                continue  # not the main thread, or a platform without them
            installed.append(functools.partial(loop.remove_signal_handler, signum))
        return installed

    async def _bootstrap(self, transport: AsyncTransport) -> bool:
        """Register with the control plane, retrying until it answers; False if stopped."""
        body = {
            "workerName": self.name,
            "handlers": sorted(self._handlers),
            "instanceId": self._instance_id,
            "version": self.version,
            "hostName": socket.gethostname()[:200],
            "pid": os.getpid(),
            "metadata": self.metadata,
        }
        backoff = Backoff(cap=30.0)
        while not self._stopping_now():
            try:
                answer = await transport.call(
                    "POST", "/workers/bootstrap", BootstrapResponse, body, retries=0
                )
            except (Unavailable, httpx.TransportError) as error:
                delay = backoff.next_delay()
                log.warning("control plane unreachable (%s); again in %.1f s", error, delay)
                await self._sleep_unless_stopping(delay)
                continue
            self.worker_id = answer.worker_id
            self._heartbeat_interval = answer.heartbeat_interval_seconds
            if self._acks is not None:
                self._acks.lease_seconds = answer.lease_seconds
            log.info("worker %s registered as %s", self.name, self.worker_id)
            return True
        return False

    # -- pulling and running jobs ----------------------------------------------------------

    async def _pull_loop(self, transport: AsyncTransport) -> None:
        backoff = Backoff()
        while True:
            free = self.concurrency - len(self._running)
            if free <= 0:
                await self._wait_for_change()
                continue
            body = {
                "handlers": sorted(self._handlers),
                "maxJobs": min(free, MAX_JOBS_PER_PULL),
                "waitSeconds": self.poll_seconds,
                "workerId": self.worker_id,
            }
            try:
                answer = await transport.call("POST", "/jobs/pull", PullResponse, body, retries=0)
            except Exception as error:  # whatever went wrong, the worker keeps going
                delay = backoff.next_delay()
                log.warning("pull failed (%r); again in %.1f s", error, delay)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            for job in answer.jobs:
                self._start(job, transport)

    def _start(self, job: Job, transport: AsyncTransport) -> None:
        ctx = JobContext(
            job_id=job.job_id,
            stage_id=job.stage_id,
            pipeline_id=job.pipeline_id,
            handler=job.handler,
            stage_name=job.stage_name,
            attempt=job.attempt,
            context=job.context,
            dependencies=job.dependencies,
            lease_expires_at=job.lease_expires_at,
            timeout_seconds=job.timeout_seconds,
            traceparent=job.traceparent,
            control_plane=transport,
        )
        running = _Running(job, ctx)
        self._running[job.job_id] = running
        running.task = asyncio.create_task(self._execute(running))

    async def _execute(self, running: _Running) -> None:
        job, ctx = running.job, running.ctx
        handler = self._handlers.get(job.handler)
        outcome: Outcome | None
        try:
            if handler is None:  # only this worker's handlers are pulled; defensive
                outcome = Outcome.failed(RuntimeError(f"no handler for {job.handler!r}"))
            else:
                ids = {
                    "pipeline_id": job.pipeline_id,
                    "stage_id": job.stage_id,
                    "job_id": job.job_id,
                }
                with (
                    log_context(**ids, trace_id=ctx.trace_id, span_id=ctx.span_id),
                    handler_span(
                        job.handler, job.traceparent, {f"pipelogiq.{k}": v for k, v in ids.items()}
                    ) as span,
                ):
                    outcome = await self._outcome(handler, running)
                    if outcome is not None:
                        error = outcome.error.message if outcome.error else None
                        set_outcome(span, outcome.status, error)
        finally:
            del self._running[job.job_id]
            self._notify()
        if self._metrics is not None:
            kind = "dropped" if running.dropped or outcome is None else outcome.status
            self._metrics.finished(job.handler, kind, running.started)
        if running.dropped or outcome is None:
            self.stats.dropped += 1
            return
        if outcome.status == "completed":
            self.stats.completed += 1
        else:
            self.stats.failed += 1
        assert self._acks is not None
        self._acks.add(
            JobResult(
                job.job_id,
                outcome.status,
                outcome.output,
                outcome.error,
                ctx.log.finish(),
                ctx.context_updates,
                ctx.datasets,
            )
        )

    async def _outcome(self, handler: Handler, running: _Running) -> Outcome | None:
        try:
            return await handler.run(running.ctx, running.job.input, running.job.timeout_seconds)
        except asyncio.CancelledError:
            if running.dropped:
                return None
            raise

    def _drop(self, job_id: str, why: str) -> None:
        running = self._running.get(job_id)
        if running is None:
            return
        log.info("stopping job %s (%s)", job_id, why)
        running.dropped = True
        running.ctx.cancelled.set()
        if running.task is not None:
            running.task.cancel()

    async def _drain(self) -> None:
        """Let running jobs finish within the grace period; abandon what is left."""
        assert self._abandon is not None
        deadline = time.monotonic() + self.shutdown_grace_seconds
        while self._running and not self._abandon.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait_for_change(), remaining)
        for job_id in list(self._running):
            self._drop(job_id, "abandoned at shutdown; the control plane will run it again")
        tasks = [r.task for r in self._running.values() if r.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- heartbeats ------------------------------------------------------------------------

    async def _heartbeat_loop(self, transport: AsyncTransport) -> None:
        assert self._stopping is not None
        usage = ProcessUsage()
        while True:
            await asyncio.sleep(self._heartbeat_interval)
            body = {
                "workerId": self.worker_id,
                "state": "draining" if self._stopping.is_set() else "online",
                "inFlightJobIds": list(self._running),
                "metrics": {
                    "inFlight": len(self._running),
                    "concurrency": self.concurrency,
                    "completed": self.stats.completed,
                    "failed": self.stats.failed,
                    "unackedResults": self._unacked(),
                    **usage.sample(),
                },
            }
            try:
                answer = await transport.call(
                    "POST", "/workers/heartbeat", HeartbeatResponse, body, retries=0
                )
            except ApiError as error:
                if error.code == "unknown_worker":
                    log.warning("the control plane forgot this worker; registering again")
                    await self._bootstrap(transport)
                else:
                    log.warning("heartbeat refused: %s", error)
                continue
            except Exception as error:
                log.warning("heartbeat failed (%r)", error)
                continue
            for job_id in answer.cancel_job_ids:
                self._drop(job_id, "the control plane cancelled it")

    # -- small helpers ---------------------------------------------------------------------

    def _unacked(self) -> int:
        return 0 if self._acks is None else len(self._acks)

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def _wait_for_change(self) -> None:
        assert self._changed is not None
        await self._changed.wait()
        self._changed.clear()

    def _stopping_now(self) -> bool:
        return self._stopping is not None and self._stopping.is_set()

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
