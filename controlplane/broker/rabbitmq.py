"""The RabbitMQ broker (aio-pika).

- Job queues ``{application}.stage.{handler}`` are durable; messages are persistent and every
  publish waits for the publisher confirm.
- Pullers wait on the broker, never on the database: each process keeps one consumer per job
  queue that someone is pulling from, whose deliveries land in a local buffer that waiting
  pullers take from. A consumer nobody has pulled from for ``idle_seconds`` is cancelled and
  its buffered messages go back to the queue, so an idle process holds nothing.
- A delivery is acked as soon as its jobs are claimed in PostgreSQL, never held while a
  handler runs.
- Stage-finished events go through the durable ``stage.results`` queue; live updates through
  the transient fanout exchange ``stage.updated``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Sequence

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from controlplane.broker.base import (
    Broker,
    BrokerUnavailable,
    JobRef,
    ResultBatch,
    TakenJobs,
    chunk_refs,
    decode_ids,
    decode_refs,
    encode_ids,
    encode_refs,
)
from controlplane.broker.waiting import Waiting

log = logging.getLogger(__name__)


class RabbitMQBroker(Broker):
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "",
        queue_type: str = "classic",
        job_prefetch: int = 100,
        result_prefetch: int = 200,
        idle_seconds: float = 5.0,
    ) -> None:
        super().__init__(prefix)
        self._url = url
        self._queue_arguments = {"x-queue-type": queue_type}
        self._job_prefetch = job_prefetch
        self._result_prefetch = result_prefetch
        self._idle_seconds = idle_seconds
        self._connection: AbstractRobustConnection | None = None
        # Consumers get a connection of their own, as RabbitMQ advises: a connection the
        # broker blocks for publishing too fast (flow control, a memory or disk alarm) can
        # still deliver and take acks, so the queues keep draining.
        self._consume_connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._declared: set[str] = set()
        self._declare_lock = asyncio.Lock()
        self._consume_channel: AbstractChannel | None = None
        self._consumers: dict[str, _JobConsumer] = {}
        self._waiting = Waiting()
        self._updates: AbstractExchange | None = None
        self._janitor: asyncio.Task[None] | None = None
        # Channels of open consume_results / subscribe_updates streams, closed with the broker.
        self._stream_channels: set[AbstractChannel] = set()

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(self._url)
        self._consume_connection = await aio_pika.connect_robust(self._url)
        self._publish_channel = await self._connection.channel(publisher_confirms=True)
        self._consume_channel = await self._consume_connection.channel(publisher_confirms=False)
        await self._consume_channel.set_qos(prefetch_count=self._job_prefetch)
        updates_channel = await self._connection.channel(publisher_confirms=False)
        self._updates = await updates_channel.declare_exchange(
            self.updates_exchange, aio_pika.ExchangeType.FANOUT, durable=False
        )
        self._janitor = asyncio.create_task(self._cancel_idle_consumers())
        for connection in (self._connection, self._consume_connection):
            connection.close_callbacks.add(self._on_close)

    def _on_close(self, _: object, error: BaseException | None = None) -> None:
        if self._connection is not None:  # not closed by close(): lost
            self._connection_lost(error or BrokerUnavailable("the connection to RabbitMQ closed"))

    async def close(self) -> None:
        connections = (self._consume_connection, self._connection)
        self._connection = None  # from here on a closing connection is no loss
        if self._janitor:
            self._janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._janitor
        for consumer in list(self._consumers.values()):
            await consumer.stop()
        self._consumers.clear()
        for channel in list(self._stream_channels):
            with contextlib.suppress(Exception):
                await channel.close()
        for connection in connections:
            if connection is not None:
                await connection.close()
        self._consume_connection = None

    async def ping(self) -> None:
        self._connected()
        assert self._publish_channel is not None
        if self._publish_channel.is_closed:
            raise BrokerUnavailable("the RabbitMQ channel is closed")

    def _connected(self) -> None:
        """Raise at once while a connection is down: aio-pika would wait for it to come back,
        and a request waiting out an outage helps nobody (the caller answers 503, the relay
        and the sweeps catch up once RabbitMQ is back)."""
        for connection in (self._connection, self._consume_connection):
            if connection is None or connection.is_closed or not connection.connected.is_set():
                raise BrokerUnavailable("not connected to RabbitMQ")

    async def delete_queues(self, queues: Sequence[str]) -> None:
        """Delete queues (used by tests to clean up after themselves)."""
        assert self._connection is not None
        channel = await self._connection.channel()
        try:
            for name in queues:
                await channel.queue_delete(name)
                self._declared.discard(name)
        finally:
            await channel.close()

    async def _declare(self, name: str) -> AbstractQueue:
        assert self._publish_channel is not None
        queue = await self._publish_channel.declare_queue(
            name, durable=True, arguments=self._queue_arguments
        )
        self._declared.add(name)
        return queue

    async def _ensure_declared(self, name: str) -> None:
        if name not in self._declared:
            async with self._declare_lock:
                if name not in self._declared:
                    await self._declare(name)

    # -- jobs ---------------------------------------------------------------------------

    async def _publish(self, queue: str, body: bytes) -> None:
        assert self._publish_channel is not None
        await self._publish_channel.default_exchange.publish(
            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=queue,
        )

    async def publish_jobs(self, queue: str, refs: Sequence[JobRef]) -> None:
        if not refs:
            return
        self._connected()
        await self._ensure_declared(queue)
        # Confirms are pipelined: all chunks are in flight at once.
        await asyncio.gather(*(self._publish(queue, encode_refs(c)) for c in chunk_refs(refs)))

    async def take_jobs(
        self, queues: Sequence[str], max_refs: int, wait_seconds: float
    ) -> TakenJobs:
        self._connected()
        consumers = [await self._consumer(name) for name in queues]
        loop = asyncio.get_running_loop()
        for consumer in consumers:
            consumer.last_wanted = loop.time()
        taken = self._take_now(consumers, max_refs)
        if not taken and wait_seconds > 0:
            deadline = loop.time() + wait_seconds
            for consumer in consumers:
                consumer.waiters += 1
            try:
                while not (taken := self._take_now(consumers, max_refs)):
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    await self._waiting.wait(queues, remaining)
            finally:
                for consumer in consumers:
                    consumer.waiters -= 1
                    consumer.last_wanted = loop.time()
        return _TakenDeliveries(self, taken)

    def _take_now(
        self, consumers: list[_JobConsumer], max_refs: int
    ) -> list[tuple[str, AbstractIncomingMessage, list[JobRef]]]:
        taken: list[tuple[str, AbstractIncomingMessage, list[JobRef]]] = []
        count = 0
        while count < max_refs:
            progressed = False
            for consumer in consumers:
                if consumer.buffer and count < max_refs:
                    message = consumer.buffer.popleft()
                    refs = _decode_job_message(message)
                    taken.append((consumer.name, message, refs))
                    count += len(refs)
                    progressed = True
            if not progressed:
                break
        return taken

    async def _consumer(self, name: str) -> _JobConsumer:
        consumer = self._consumers.get(name)
        if consumer is None:
            await self._ensure_declared(name)
            consumer = self._consumers.get(name)
            if consumer is None:
                assert self._consume_channel is not None
                consumer = _JobConsumer(name, self._waiting)
                self._consumers[name] = consumer
                # Wanted from now, so that the idle janitor leaves it alone while it starts.
                consumer.last_wanted = asyncio.get_running_loop().time()
                await consumer.start(self._consume_channel, self._queue_arguments)
        consumer.last_wanted = asyncio.get_running_loop().time()
        return consumer

    async def _cancel_idle_consumers(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._idle_seconds / 2)
            now = loop.time()
            for name, consumer in list(self._consumers.items()):
                if consumer.waiters == 0 and now - consumer.last_wanted > self._idle_seconds:
                    del self._consumers[name]
                    await consumer.stop()

    # -- results ------------------------------------------------------------------------

    async def publish_results(self, stage_ids: Sequence[uuid.UUID]) -> None:
        if not stage_ids:
            return
        self._connected()
        await self._ensure_declared(self.results_queue)
        await self._publish(self.results_queue, encode_ids(list(stage_ids)))

    async def consume_results(self, max_batch: int) -> AsyncIterator[ResultBatch]:
        self._connected()
        assert self._consume_connection is not None
        channel = await self._consume_connection.channel()
        self._stream_channels.add(channel)
        await channel.set_qos(prefetch_count=self._result_prefetch)
        queue = await channel.declare_queue(
            self.results_queue, durable=True, arguments=self._queue_arguments
        )
        self._declared.add(self.results_queue)
        arrived: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        tag = await queue.consume(arrived.put, no_ack=False)
        try:
            while True:
                batch = _ResultDeliveries()
                batch.add(await arrived.get())
                while len(batch.stage_ids) < max_batch and not arrived.empty():
                    batch.add(arrived.get_nowait())
                yield batch
        finally:
            self._stream_channels.discard(channel)
            with contextlib.suppress(Exception):
                await queue.cancel(tag)
                await channel.close()

    # -- live updates -------------------------------------------------------------------

    async def publish_update(self, body: bytes) -> None:
        if self._updates is None:
            return
        try:
            self._connected()
            await self._updates.publish(
                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT),
                routing_key="",
                mandatory=False,  # nobody listening is normal, not an error
            )
        except Exception:  # best effort by design: the dashboard refetches on a gap
            log.debug("live update dropped", exc_info=True)

    async def subscribe_updates(self) -> AsyncIterator[bytes]:
        assert self._consume_connection is not None
        channel = await self._consume_connection.channel()
        self._stream_channels.add(channel)
        try:
            exchange = await channel.declare_exchange(
                self.updates_exchange, aio_pika.ExchangeType.FANOUT, durable=False
            )
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            await queue.bind(exchange)
            async with queue.iterator(no_ack=True) as messages:
                async for message in messages:
                    yield message.body
        finally:
            with contextlib.suppress(Exception):
                await channel.close()

    async def queue_depths(self, queues: Sequence[str]) -> dict[str, int]:
        self._connected()
        depths = {}
        for name in queues:
            declared = await self._declare(name)
            result = declared.declaration_result
            depths[name] = result.message_count or 0
        return depths


def _decode_job_message(message: AbstractIncomingMessage) -> list[JobRef]:
    try:
        return decode_refs(message.body)
    except Exception:
        # Not ours or corrupt: nothing can ever claim it, so keeping it would only block.
        log.warning("dropping an undecodable job message %r", message.body[:200])
        return []


class _JobConsumer:
    def __init__(self, name: str, waiting: Waiting) -> None:
        self.name = name
        self.buffer: deque[AbstractIncomingMessage] = deque()
        self.waiters = 0
        self.last_wanted = 0.0
        self._waiting = waiting
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._stopped = False

    async def start(self, channel: AbstractChannel, arguments: dict[str, str]) -> None:
        self._queue = await channel.declare_queue(self.name, durable=True, arguments=arguments)
        self._tag = await self._queue.consume(self._on_message, no_ack=False)
        if self._stopped:
            # Stopped while it was starting: stop() found no consumer to cancel then.
            await self._cancel()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        if self._stopped:
            # Sent by the broker before it took the cancel, and handled after stop() emptied
            # the buffer: hand it back, or it would sit unacknowledged on this channel,
            # invisible to every other consumer, until the channel closes.
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
            return
        self.buffer.append(message)
        self._waiting.wake(self.name)

    async def stop(self) -> None:
        self._stopped = True
        await self._cancel()

    async def _cancel(self) -> None:
        if self._queue is not None and self._tag is not None:
            tag, self._tag = self._tag, None
            try:
                await self._queue.cancel(tag)
            except Exception as error:
                # Its deliveries are nacked as they come (see _on_message) until the channel
                # closes; say so, for this is a consumer left on the broker.
                log.warning("could not cancel the consumer of %s: %r", self.name, error)
        while self.buffer:
            message = self.buffer.popleft()
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)


class _TakenDeliveries(TakenJobs):
    def __init__(
        self,
        broker: RabbitMQBroker,
        taken: list[tuple[str, AbstractIncomingMessage, list[JobRef]]],
    ) -> None:
        super().__init__([(name, ref) for name, _, refs in taken for ref in refs])
        self._broker = broker
        self._messages = [message for _, message, _ in taken]
        self._open = True

    async def settle(self, unused: Sequence[tuple[str, JobRef]] = ()) -> None:
        if not self._open:
            return
        self._open = False
        by_queue: dict[str, list[JobRef]] = {}
        for name, ref in unused:
            by_queue.setdefault(name, []).append(ref)
        # The remainder is confirmed before the originals are acked: a crash in between
        # duplicates references (harmless), it never loses one.
        for name, refs in by_queue.items():
            await self._broker.publish_jobs(name, refs)
        for message in self._messages:
            with contextlib.suppress(Exception):  # a dead channel redelivers on its own
                await message.ack()

    async def release(self) -> None:
        if not self._open:
            return
        self._open = False
        for message in self._messages:
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)


class _ResultDeliveries(ResultBatch):
    def __init__(self) -> None:
        super().__init__([])
        self._messages: list[AbstractIncomingMessage] = []

    def add(self, message: AbstractIncomingMessage) -> None:
        self._messages.append(message)
        try:
            self.stage_ids.extend(decode_ids(message.body))
        except Exception:
            # Acked with the batch: a message nobody can read would otherwise come back forever.
            log.warning("dropping an undecodable result message %r", message.body[:200])

    async def ack(self) -> None:
        for message in self._messages:
            with contextlib.suppress(Exception):
                await message.ack()

    async def release(self) -> None:
        for message in self._messages:
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
