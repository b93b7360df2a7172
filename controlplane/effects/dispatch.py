"""Publishing queued stages to their handler queues, and recording that it happened.

Called by :class:`controlplane.effects.Effects` after every commit that queues stages
(submit, advance, retries, lease expiry). If the process dies before
:meth:`Dispatcher.publish` records the publish, the relay sweep finds the stage still
unpublished and publishes it again; a duplicate message claims nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterable

import asyncpg

from controlplane.broker import Broker, JobRef
from controlplane.engine.jobpath.batching import GroupCommit
from controlplane.engine.outcome import QueuedStage
from controlplane.metrics import JOBS_PUBLISHED
from controlplane.outages import Outages, log_with_traceback
from database.pool import fetch_retrying

log = logging.getLogger(__name__)


# Publishes are recorded a moment after their confirm, many together. By then most of those
# stages have been claimed, and a claimed stage needs no record (the relay looks only at
# queued ones), so the record usually changes no row and commits nothing; recorded at once,
# it was a commit per publish and the submit's answer waited for it.
RECORD_DELAY_SECONDS = 0.25
MAX_RECORDS_PER_STATEMENT = 1000

# Publishes to one queue that may await their confirms at once. More than one keeps a publish
# from waiting out another's confirm at moderate load; under heavy load, what arrives while
# all are in flight goes out together in one message.
PUBLISHES_IN_FLIGHT = 4

_APPLICATION_NAMES = "SELECT id, name FROM applications WHERE id = ANY($1::uuid[])"

# Never waits for a row lock: a row locked now is being claimed (queued -> running), and
# then its publish needs no record. Were the claim to roll back, the relay publishes the
# stage again after the grace period, and the duplicate claims nothing. Not waiting is what
# keeps this statement out of lock cycles with the claims.
_RECORD_PUBLISHED = """
UPDATE stages s SET published_at = now()
WHERE s.id IN (
    SELECT t.id FROM stages t
    JOIN unnest($1::uuid[], $2::int[]) AS p(id, attempt) ON t.id = p.id AND t.attempt = p.attempt
    WHERE t.status = 'queued' AND t.published_at IS NULL
    FOR UPDATE OF t SKIP LOCKED
)
"""


class Dispatcher:
    """Publishes queued stages, coalescing concurrent publishes to the same queue.

    While publishes to a queue wait for their confirms, the stages that other requests queue
    for it gather and go out together: one message for many requests under load, and no
    added delay when idle. Publishes are recorded in the background, ``record_delay`` after
    their confirm (keep it well under the relay's grace period).
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        broker: Broker,
        record_delay: float = RECORD_DELAY_SECONDS,
        outages: Outages | None = None,
    ) -> None:
        # A failed publish or record is caught up by the relay: during an outage of the
        # broker or the database it is said once, not once per publish.
        self._failed = outages.failed if outages is not None else log_with_traceback
        self._pool = pool
        self._broker = broker
        # Application names never change, so a name once read is good forever.
        self._names: dict[uuid.UUID, str] = {}
        self._queues: dict[str, GroupCommit[list[QueuedStage], bool]] = {}
        self._record_delay = record_delay
        self._unrecorded: list[QueuedStage] = []
        self._recording: asyncio.Task[None] | None = None

    @property
    def queues(self) -> set[str]:
        """The job queues this process has published to."""
        return set(self._queues)

    async def queue_names(self, application_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
        missing = [i for i in set(application_ids) if i not in self._names]
        if missing:
            for row in await self._pool.fetch(_APPLICATION_NAMES, missing):
                self._names[row["id"]] = row["name"]
        return self._names

    async def publish(self, stages: Iterable[QueuedStage]) -> int:
        """Publish the stages; returns how many the broker confirmed (recorded soon after).

        A broker failure is logged and swallowed: the stages stay unpublished in the database
        and the relay sweep tries again. The caller's transaction is already committed; if
        this process dies before the record, the relay publishes a duplicate, which claims
        nothing.
        """
        stages = list(stages)
        if not stages:
            return 0
        names = await self.queue_names(s.application_id for s in stages)
        by_queue: dict[str, list[QueuedStage]] = {}
        for stage in stages:
            queue = self._broker.job_queue(names[stage.application_id], stage.handler)
            by_queue.setdefault(queue, []).append(stage)
        confirmed = await asyncio.gather(
            *(self._publisher(queue).submit(group) for queue, group in by_queue.items()),
            return_exceptions=True,
        )
        published = [
            stage
            for group, ok in zip(by_queue.values(), confirmed, strict=True)
            if ok is True
            for stage in group
        ]
        if published:
            self._unrecorded.extend(published)
            if self._recording is None or self._recording.done():
                self._recording = asyncio.create_task(self._record_after_delay())
        return len(published)

    async def record_publishes(self) -> None:
        """Record now the publishes still waiting for their record."""
        while self._unrecorded:
            batch = self._unrecorded[:MAX_RECORDS_PER_STATEMENT]
            del self._unrecorded[: len(batch)]
            await self._record(batch)

    async def close(self) -> None:
        """Record what is waiting, so that a clean stop leaves the relay nothing to redo."""
        if self._recording is not None:
            self._recording.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recording
        await self.record_publishes()

    async def _record_after_delay(self) -> None:
        await asyncio.sleep(self._record_delay)
        await self.record_publishes()

    def _publisher(self, queue: str) -> GroupCommit[list[QueuedStage], bool]:
        publisher = self._queues.get(queue)
        if publisher is None:

            async def flush(groups: list[list[QueuedStage]]) -> list[bool]:
                return await self._publish_to(queue, groups)

            publisher = self._queues[queue] = GroupCommit(
                flush, max_batch=100, concurrency=PUBLISHES_IN_FLIGHT
            )
        return publisher

    async def _publish_to(self, queue: str, groups: list[list[QueuedStage]]) -> list[bool]:
        stages = [stage for group in groups for stage in group]  # in the order they came
        try:
            await self._broker.publish_jobs(queue, [JobRef(s.stage_id, s.attempt) for s in stages])
        except Exception as error:
            self._failed(error, log, "publish to %s failed; the relay will retry", queue)
            return [False] * len(groups)
        JOBS_PUBLISHED.inc(len(stages))
        return [True] * len(groups)

    async def _record(self, stages: list[QueuedStage]) -> None:
        try:
            await fetch_retrying(
                self._pool,
                _RECORD_PUBLISHED,
                [s.stage_id for s in stages],
                [s.attempt for s in stages],
            )
        except Exception as error:
            # Published but not recorded: the relay will publish a duplicate, which claims
            # nothing.
            self._failed(error, log, "recording %d publishes failed", len(stages))
