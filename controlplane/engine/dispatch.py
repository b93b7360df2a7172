"""Publishing queued stages to their handler queues, and recording that it happened.

Called after every commit that queues stages (submit, advance, retries, lease expiry). If the
process dies before :meth:`Dispatcher.publish` records the publish, the relay sweep finds the
stage still unpublished and publishes it again; a duplicate message claims nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg

from controlplane.broker import Broker, JobRef
from controlplane.metrics import JOBS_PUBLISHED

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueuedStage:
    stage_id: uuid.UUID
    application_id: uuid.UUID
    handler: str
    attempt: int

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> QueuedStage:
        return cls(row["id"], row["application_id"], row["handler"], row["attempt"])


_APPLICATION_NAMES = "SELECT id, name FROM applications WHERE id = ANY($1::uuid[])"

_RECORD_PUBLISHED = """
UPDATE stages s SET published_at = now()
FROM unnest($1::uuid[], $2::int[]) AS p(id, attempt)
WHERE s.id = p.id AND s.attempt = p.attempt AND s.status = 'queued' AND s.published_at IS NULL
"""


class Dispatcher:
    def __init__(self, pool: asyncpg.Pool, broker: Broker) -> None:
        self._pool = pool
        self._broker = broker
        # Application names never change, so a name once read is good forever.
        self._names: dict[uuid.UUID, str] = {}

    async def queue_names(self, application_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
        missing = [i for i in set(application_ids) if i not in self._names]
        if missing:
            for row in await self._pool.fetch(_APPLICATION_NAMES, missing):
                self._names[row["id"]] = row["name"]
        return self._names

    async def publish(self, stages: Iterable[QueuedStage]) -> int:
        """Publish the stages; returns how many were confirmed by the broker and recorded.

        A broker failure is logged and swallowed: the stages stay unpublished in the database
        and the relay sweep tries again. The caller's transaction is already committed.
        """
        stages = list(stages)
        if not stages:
            return 0
        names = await self.queue_names(s.application_id for s in stages)
        by_queue: dict[str, list[QueuedStage]] = {}
        for stage in stages:
            queue = self._broker.job_queue(names[stage.application_id], stage.handler)
            by_queue.setdefault(queue, []).append(stage)
        confirmed: list[QueuedStage] = []
        for queue, group in by_queue.items():
            try:
                await self._broker.publish_jobs(
                    queue, [JobRef(s.stage_id, s.attempt) for s in group]
                )
            except Exception:
                log.warning("publish to %s failed; the relay will retry", queue, exc_info=True)
                continue
            confirmed.extend(group)
            JOBS_PUBLISHED.inc(len(group))
        if confirmed:
            await self._pool.execute(
                _RECORD_PUBLISHED,
                [s.stage_id for s in confirmed],
                [s.attempt for s in confirmed],
            )
        return len(confirmed)
