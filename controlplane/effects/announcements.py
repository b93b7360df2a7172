"""Announcing finished stages on ``stage.results``, in the background.

An ack is durable once its statement commits; the event only has the built-in worker advance
the pipeline now rather than at its unadvanced sweep. So the ack answers at once and the
event follows: stage ids announced while publishes await their confirms gather and go out
together, one message for many acks under load and no added delay when idle. An event lost
on the way (a broker error, or this process dying first) is caught up by that sweep after
the publish grace period.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable

from controlplane.broker import Broker
from controlplane.outages import Outages, log_with_traceback

log = logging.getLogger(__name__)

# Publishes that may await their confirms at once, as for job publishes.
ANNOUNCEMENTS_IN_FLIGHT = 4
MAX_STAGES_PER_MESSAGE = 1000
# Acks do not wait for their announcements, so while the broker takes no publishes (an alarm,
# a hung connection) what waits is bounded: beyond this the oldest are dropped, for the
# unadvanced sweep to find.
MAX_WAITING = 100_000


class ResultAnnouncer:
    def __init__(
        self,
        broker: Broker,
        in_flight: int = ANNOUNCEMENTS_IN_FLIGHT,
        max_stages: int = MAX_STAGES_PER_MESSAGE,
        max_waiting: int = MAX_WAITING,
        outages: Outages | None = None,
    ) -> None:
        self._failed = outages.failed if outages is not None else log_with_traceback
        self._broker = broker
        self._in_flight = in_flight
        self._max_stages = max_stages
        self._max_waiting = max_waiting
        self._pending: list[uuid.UUID] = []
        self._sending: set[asyncio.Task[None]] = set()

    def announce(self, stage_ids: Iterable[uuid.UUID]) -> None:
        """Queue the stages' event and return; it goes out as soon as a publish is free."""
        self._pending.extend(stage_ids)
        self._send_some()
        excess = len(self._pending) - self._max_waiting
        if excess > 0:
            del self._pending[:excess]
            log.warning(
                "dropped %d finished stages' announcements: the broker takes no publishes; "
                "the unadvanced sweep will advance them",
                excess,
            )

    async def close(self, within_seconds: float = 10.0) -> None:
        """Send what is waiting and wait for every confirm (a clean stop loses nothing), for
        at most ``within_seconds``: a broker that takes no publishes must not hold up a stop;
        what is left then is the unadvanced sweep's."""
        try:
            async with asyncio.timeout(within_seconds):
                while self._sending or self._pending:
                    self._send_some()
                    await asyncio.wait(set(self._sending))
        except TimeoutError:
            left = len(self._pending)
            for task in self._sending:
                task.cancel()
            self._pending.clear()
            log.warning("stopping: %d finished stages' announcements not sent", left)

    def _send_some(self) -> None:
        while self._pending and len(self._sending) < self._in_flight:
            batch = self._pending[: self._max_stages]
            del self._pending[: len(batch)]
            task = asyncio.create_task(self._send(batch))
            self._sending.add(task)
            task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self._send_some()  # what gathered while every publish was in flight

    async def _send(self, stage_ids: list[uuid.UUID]) -> None:
        try:
            await self._broker.publish_results(stage_ids)
        except Exception as error:  # the unadvanced sweep advances them
            self._failed(error, log, "could not announce %d finished stages", len(stage_ids))
