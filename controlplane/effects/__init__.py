"""What follows a commit: the one place where an engine change's :class:`Outcome` is applied.

The engine changes state in a transaction and returns what it did; the APIs, the built-in
worker and the schedules all hand that to :meth:`Effects.apply`, and nothing else publishes,
announces or exports. Each effect is best effort here and found again if lost:

- publish queued stages (``dispatch``): if lost, the relay sweep publishes them;
- announce finished stages on ``stage.results`` (``announcements``): if lost, the
  unadvanced sweep advances them;
- live updates (``live_updates``): if lost, dashboards refetch on the gap in sequence;
- spans of ended jobs and pipelines (``traces``): if lost, a gap in a trace;
- alerts (``alerting``): wakes the built-in worker's alert rounds; if lost, the next round
  (every few seconds) finds the same.
"""

from __future__ import annotations

from controlplane.effects.alerting import AlertWakeups
from controlplane.effects.announcements import ResultAnnouncer
from controlplane.effects.dispatch import Dispatcher
from controlplane.effects.live_updates import UpdatePublisher
from controlplane.effects.traces import TraceExport
from controlplane.engine.outcome import Outcome, StageChange

__all__ = ["Effects", "Outcome"]


class Effects:
    def __init__(
        self,
        dispatcher: Dispatcher,
        announcer: ResultAnnouncer,
        updates: UpdatePublisher,
        traces: TraceExport | None,
    ) -> None:
        self.dispatcher = dispatcher
        self.announcer = announcer
        self.updates = updates
        self.traces = traces
        self.alerting = AlertWakeups()

    async def apply(self, outcome: Outcome) -> int:
        """Apply what a committed change did; returns how many of its publishes the broker
        confirmed. Only the publish is awaited (a submit answers once its first jobs are on
        their queues); the rest is queued and sent in the background."""
        if not outcome:
            return 0
        updates = self.updates
        updates.stages_changed(
            StageChange(s.stage_id, s.pipeline_id, s.application_id, "queued")
            for s in outcome.queued
        )
        updates.stages_changed(outcome.stages)
        updates.pipelines_changed(outcome.pipelines)
        updates.workers_changed(outcome.workers)
        updates.alerts_changed(outcome.alerts + outcome.notified)
        self.alerting.consider(outcome)
        self.announcer.announce(outcome.finished_stages)
        if self.traces is not None:
            self.traces.jobs_finished(outcome.ended_jobs)
            self.traces.pipelines_finished(outcome.ended_pipelines)
        return await self.dispatcher.publish(outcome.queued + outcome.republished)

    async def close(self) -> None:
        """Send and record what is still waiting; called as the process stops."""
        await self.dispatcher.close()
        await self.announcer.close()
        await self.updates.close()
        if self.traces is not None:
            await self.traces.close()
