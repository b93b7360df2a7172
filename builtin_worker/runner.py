"""Runs the built-in worker's loops side by side until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable

from controlplane.broker import ResultBatch
from controlplane.engine.alerts import alerts
from controlplane.engine.alerts.evaluate import evaluate
from controlplane.engine.definitions import schedules
from controlplane.engine.jobpath import sweeps
from controlplane.engine.jobpath.advance import advance_stages
from controlplane.engine.jobpath.gates import release_held
from controlplane.engine.upkeep import retention, rollups, statistics
from controlplane.metrics import (
    ALERT_TRANSITIONS,
    ALERTS_FIRING,
    JOB_TIMEOUTS,
    JOBS_FAILED,
    JOBS_RETRIED,
    LEASE_EXPIRIES,
    QUEUE_DEPTH,
    RELAY_REPUBLISHED,
    SCHEDULE_FIRES,
    WORKERS_ONLINE,
)
from controlplane.notifications.round import Notifier
from controlplane.runs import start_run
from controlplane.services import Services

log = logging.getLogger(__name__)

SWEEP_LIMIT = 500
RESULT_BATCH = 500
RESULT_BATCHES_IN_FLIGHT = 4
QUEUE_DEPTH_INTERVAL_SECONDS = 15.0
RETENTION_INTERVAL_SECONDS = 300.0
STATISTICS_INTERVAL_SECONDS = 5.0
# Attempts that ended are folded into the insights' rollups this often (reads add the rest).
ROLLUP_INTERVAL_SECONDS = 2.0
# Notifications due (retries) are looked for this often, and at once when an alert changes.
DELIVERY_INTERVAL_SECONDS = 2.0


class BuiltinWorker:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._pool = services.pool
        self._settings = services.settings
        self._effects = services.effects
        self._rules_reported: set[str] = set()
        self.notifier = Notifier(
            self._pool,
            lambda: services.sealer,
            self._settings,
            self._effects.apply,
            failed=lambda error, what: self._failed(error, "%s; trying again later", what),
        )

    async def run(self) -> None:
        if not self.services.broker.durable:
            # The broker lost whatever it held when the last process stopped.
            await sweeps.forget_publishes(self._pool)
        loops = [
            self._consume_results(),
            self._every(self._settings.sweep_interval_seconds, self.sweep_leases_and_timeouts),
            self._every(self._settings.sweep_interval_seconds, self.release_held_stages),
            self._retry_loop(),
            self._every(self._settings.publish_grace_seconds / 2, self.sweep_lost_messages),
            self._every(5.0, self.sweep_workers),
            self._every(QUEUE_DEPTH_INTERVAL_SECONDS, self.report_queue_depths),
            self._schedule_loop(),
            self._every(RETENTION_INTERVAL_SECONDS, self.enforce_retention),
            self._every(STATISTICS_INTERVAL_SECONDS, self.refresh_statistics),
            self._every(ROLLUP_INTERVAL_SECONDS, self.fold_rollups),
            self._woken(
                self._effects.alerting.evaluate,
                self._settings.alert_interval_seconds,
                self.evaluate_alerts,
            ),
            self._woken(
                self._effects.alerting.deliver, DELIVERY_INTERVAL_SECONDS, self.deliver_alerts
            ),
        ]
        try:
            await asyncio.gather(*loops)
        finally:
            await self.notifier.stop()

    def _failed(self, error: BaseException, message: str, *args: object) -> None:
        """A loop's step failed: an outage is said once, anything else with its traceback.
        Either way the loop tries again."""
        self.services.outages.failed(error, log, message, *args)

    async def _every(self, seconds: float, step: Callable[[], Awaitable[object]]) -> None:
        while True:
            try:
                await step()
            except Exception as error:
                self._failed(error, "%s failed; trying again in %.1f s", step.__name__, seconds)
            await asyncio.sleep(seconds)

    async def _woken(
        self, event: asyncio.Event, seconds: float, step: Callable[[], Awaitable[object]]
    ) -> None:
        """Runs ``step`` every ``seconds``, and at once when ``event`` is set."""
        while True:
            event.clear()
            try:
                await step()
            except Exception as error:
                self._failed(error, "%s failed; trying again in %.1f s", step.__name__, seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), seconds)

    # -- results -----------------------------------------------------------------------

    async def _consume_results(self) -> None:
        # Batches are applied several at a time: while one waits on the database or for its
        # publish confirm, the next is already advancing. Advances of different batches may
        # touch one pipeline; their guarded statements make any interleaving safe.
        in_flight = asyncio.Semaphore(RESULT_BATCHES_IN_FLIGHT)
        applying: set[asyncio.Task[None]] = set()
        try:
            while True:
                try:
                    async for batch in self.services.broker.consume_results(RESULT_BATCH):
                        await in_flight.acquire()
                        task = asyncio.create_task(self._apply_results(batch))
                        applying.add(task)
                        task.add_done_callback(applying.discard)
                        task.add_done_callback(lambda _: in_flight.release())
                except Exception as error:
                    self._failed(error, "the result consumer stopped; restarting")
                    await asyncio.sleep(1)
        finally:
            # Stopping: no more batches are taken, and those being applied may finish (their
            # advance committed and its jobs published) within the bound. Any cut off is
            # delivered again, unacked, and advancing twice changes nothing.
            if applying:
                # Half the bound: the rest is for closing connections.
                await asyncio.wait(applying, timeout=self._settings.shutdown_timeout_seconds / 2)
            for task in applying:
                task.cancel()
            await asyncio.gather(*applying, return_exceptions=True)

    async def _apply_results(self, batch: ResultBatch) -> None:
        try:
            await self.advance(batch.stage_ids)
        except Exception as error:
            self._failed(error, "advancing %d stages failed", len(batch.stage_ids))
            await batch.release()
            await asyncio.sleep(1)
        else:
            await batch.ack()

    async def advance(self, stage_ids: list[uuid.UUID]) -> None:
        advanced = await advance_stages(self._pool, stage_ids)
        await self._effects.apply(advanced.outcome)

    # -- schedules ---------------------------------------------------------------------

    async def fire_schedules(self) -> list[schedules.Fired]:
        fired = await schedules.fire_due(self._pool, functools.partial(start_run, self.services))
        for fire in fired:
            SCHEDULE_FIRES.labels(fire.kind if fire.error is None else "failed").inc()
            if fire.error is not None:
                log.warning("schedule %s could not start a run: %s", fire.schedule_id, fire.error)
        return fired

    async def _schedule_loop(self) -> None:
        # Sleeps until the next due time, but at most a sweep interval: a schedule created
        # or changed by another process is seen within that.
        interval = self._settings.sweep_interval_seconds
        while True:
            try:
                wait = await schedules.seconds_until_due(self._pool)
                if wait == 0 and await self.fire_schedules():
                    continue
                # Due but fired by nobody here: another built-in worker holds them.
                wait = 0.05 if wait == 0 else wait
            except Exception as error:
                self._failed(error, "firing schedules failed; trying again in %.1f s", interval)
                wait = interval
            await asyncio.sleep(interval if wait is None else min(interval, wait))

    # -- sweeps ------------------------------------------------------------------------

    async def sweep_leases_and_timeouts(self) -> None:
        expired = await sweeps.expire_leases(
            self._pool, SWEEP_LIMIT, self._settings.max_lease_expiries
        )
        LEASE_EXPIRIES.inc(expired.count)
        JOBS_FAILED.labels("lease_expired").inc(len(expired.failed))
        await self._effects.apply(expired.outcome)
        timed_out = await sweeps.time_out_jobs(self._pool, SWEEP_LIMIT)
        JOB_TIMEOUTS.inc(timed_out.count)
        JOBS_FAILED.labels("timeout").inc(len(timed_out.failed))
        await self._effects.apply(timed_out.outcome)
        await self.advance(expired.failed + timed_out.failed)

    async def release_held_stages(self) -> None:
        """Publish stages a concurrency or rate limit held back, as their policies have room."""
        await self._effects.apply(await release_held(self._pool))

    async def queue_due_retries(self) -> None:
        due = await sweeps.queue_due_retries(self._pool, SWEEP_LIMIT)
        JOBS_RETRIED.inc(len(due.queued))
        await self._effects.apply(due)

    async def _retry_loop(self) -> None:
        # Sleeps until the next retry is due (at most one sweep interval), so a short backoff
        # is honoured closely without polling faster.
        while True:
            try:
                await self.queue_due_retries()
                wait = await sweeps.seconds_until_next_retry(self._pool)
            except Exception as error:
                self._failed(error, "queueing due retries failed")
                wait = None
            interval = self._settings.sweep_interval_seconds
            await asyncio.sleep(interval if wait is None else min(interval, max(wait, 0.01)))

    async def sweep_lost_messages(self) -> None:
        grace = self._settings.publish_grace_seconds
        unpublished = await sweeps.unpublished_stages(self._pool, SWEEP_LIMIT, grace)
        RELAY_REPUBLISHED.inc(await self._effects.apply(unpublished))
        unadvanced = await sweeps.unadvanced_stages(self._pool, SWEEP_LIMIT, grace)
        await self.advance(unadvanced)

    async def sweep_workers(self) -> None:
        gone = await sweeps.mark_workers_offline(
            self._pool, self._settings.worker_offline_after_seconds
        )
        await self._effects.apply(gone)
        WORKERS_ONLINE.set(await sweeps.count_workers_online(self._pool))

    async def enforce_retention(self) -> retention.Report | None:
        policy = retention.Retention.of(self._settings)
        done = await retention.run_round(self._pool, self.services.artifacts, policy)
        if done is None:
            log.debug("retention: another round is running; this one is skipped")
            return None
        deleted = done.counts()
        for problem in done.problems:
            log.warning("retention: %s", problem)
        if done.partitions_made or deleted:
            gone = "".join(f", {n} {kind}" for kind, n in deleted.items())
            log.info("retention: %d day partitions made%s", done.partitions_made, gone)
        return done

    async def fold_rollups(self) -> int:
        return await rollups.fold(self._pool)

    async def refresh_statistics(self) -> list[str]:
        return await statistics.refresh_outgrown(self._pool)

    # -- alerts ------------------------------------------------------------------------

    async def evaluate_alerts(self) -> None:
        outcome = await evaluate(self._pool)
        await self._effects.apply(outcome)
        for change in outcome.alerts:
            ALERT_TRANSITIONS.labels("opened" if change.status == "firing" else change.status).inc()
        firing = await alerts.open_by_rule(self._pool)
        for rule in {*firing, *self._rules_reported}:
            ALERTS_FIRING.labels(rule).set(firing.get(rule, 0))
        self._rules_reported = set(firing)

    async def deliver_alerts(self) -> None:
        await self.notifier.round()

    async def report_queue_depths(self) -> None:
        # First stages are published by the API processes, so the queues that online workers
        # pull from are added to the ones this process published to.
        broker = self.services.broker
        queues = self._effects.dispatcher.queues | {
            broker.job_queue(application, handler)
            for application, handler in await sweeps.handlers_of_online_workers(self._pool)
        }
        if not queues:
            return
        with contextlib.suppress(Exception):
            depths = await broker.queue_depths(sorted(queues))
            for queue, depth in depths.items():
                QUEUE_DEPTH.labels(queue).set(depth)
