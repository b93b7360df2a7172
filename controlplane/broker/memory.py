"""The in-process broker of the embedded run mode (``pipelogiq dev`` without AMQP_URL).

It lives in one event loop, so it serves only a single process that runs both the APIs and
the built-in worker. It keeps nothing across restarts (``durable = False``): the engine then
republishes every queued stage at start. It passes the same contract tests as RabbitMQ.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import AsyncIterator, Sequence

from controlplane.broker.base import Broker, JobRef, ResultBatch, TakenJobs, chunk_refs
from controlplane.broker.waiting import Waiting

_UPDATE_BACKLOG = 1000


class InMemoryBroker(Broker):
    durable = False

    def __init__(self, prefix: str = "") -> None:
        super().__init__(prefix)
        self._queues: dict[str, deque[list[JobRef]]] = {}
        self._waiting = Waiting()
        self._results: deque[list[uuid.UUID]] = deque()
        self._results_published = asyncio.Condition()
        self._subscribers: set[asyncio.Queue[bytes]] = set()

    async def ping(self) -> None:
        return None

    def _queue(self, name: str) -> deque[list[JobRef]]:
        return self._queues.setdefault(name, deque())

    async def publish_jobs(self, queue: str, refs: Sequence[JobRef]) -> None:
        if not refs:
            return
        messages = chunk_refs(refs)
        self._queue(queue).extend(messages)
        self._waiting.wake(queue, len(messages))

    def _take_now(self, queues: Sequence[str], max_refs: int) -> list[tuple[str, list[JobRef]]]:
        taken: list[tuple[str, list[JobRef]]] = []
        count = 0
        # Round-robin over the queues so one busy handler cannot starve the others.
        while count < max_refs:
            progressed = False
            for name in queues:
                messages = self._queues.get(name)
                if messages and count < max_refs:
                    message = messages.popleft()
                    taken.append((name, message))
                    count += len(message)
                    progressed = True
            if not progressed:
                break
        return taken

    async def take_jobs(
        self, queues: Sequence[str], max_refs: int, wait_seconds: float
    ) -> TakenJobs:
        taken = self._take_now(queues, max_refs)
        if not taken and wait_seconds > 0:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait_seconds
            while not (taken := self._take_now(queues, max_refs)):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                await self._waiting.wait(queues, remaining)
        return _TakenMessages(self, taken)

    async def publish_results(self, stage_ids: Sequence[uuid.UUID]) -> None:
        if not stage_ids:
            return
        self._results.append(list(stage_ids))
        async with self._results_published:
            self._results_published.notify_all()

    async def consume_results(self, max_batch: int) -> AsyncIterator[ResultBatch]:
        while True:
            async with self._results_published:
                await self._results_published.wait_for(lambda: bool(self._results))
            messages: list[list[uuid.UUID]] = []
            count = 0
            while self._results and count < max_batch:
                message = self._results.popleft()
                messages.append(message)
                count += len(message)
            yield _ResultMessages(self, messages)

    async def publish_update(self, body: bytes) -> None:
        for subscriber in list(self._subscribers):
            # A subscriber that falls behind loses updates; it will see the gap in the
            # sequence numbers and refetch, as with the real fanout exchange.
            with contextlib.suppress(asyncio.QueueFull):
                subscriber.put_nowait(body)

    async def subscribe_updates(self) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(_UPDATE_BACKLOG)
        self._subscribers.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers.discard(queue)

    async def queue_depths(self, queues: Sequence[str]) -> dict[str, int]:
        return {name: len(self._queues.get(name, ())) for name in queues}

    async def _requeue_front(self, messages: list[tuple[str, list[JobRef]]]) -> None:
        for name, message in reversed(messages):
            self._queue(name).appendleft(message)
        for name, _ in messages:
            self._waiting.wake(name)


class _TakenMessages(TakenJobs):
    def __init__(self, broker: InMemoryBroker, messages: list[tuple[str, list[JobRef]]]) -> None:
        super().__init__([(name, ref) for name, message in messages for ref in message])
        self._broker = broker
        self._messages = messages
        self._open = True

    async def settle(self, unused: Sequence[tuple[str, JobRef]] = ()) -> None:
        if not self._open:
            return
        self._open = False
        by_queue: dict[str, list[JobRef]] = {}
        for name, ref in unused:
            by_queue.setdefault(name, []).append(ref)
        for name, refs in by_queue.items():
            await self._broker.publish_jobs(name, refs)

    async def release(self) -> None:
        if self._open:
            self._open = False
            await self._broker._requeue_front(self._messages)


class _ResultMessages(ResultBatch):
    def __init__(self, broker: InMemoryBroker, messages: list[list[uuid.UUID]]) -> None:
        super().__init__([stage_id for message in messages for stage_id in message])
        self._broker = broker
        self._messages = messages

    async def ack(self) -> None:
        self._messages = []

    async def release(self) -> None:
        self._broker._results.extendleft(reversed(self._messages))
        self._messages = []
        async with self._broker._results_published:
            self._broker._results_published.notify_all()
