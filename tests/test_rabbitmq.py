"""RabbitMQ behaviour the broker contract cannot reach: consumers cancelled under traffic,
publishing blocked by a resource alarm."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator

from controlplane.broker.base import JobRef
from controlplane.broker.rabbitmq import RabbitMQBroker
from tests.conftest import AMQP_URL, unique_prefix
from tests.processes import delete_queues


async def test_jobs_delivered_to_a_consumer_being_cancelled_are_not_stranded() -> None:
    # Idle consumers are cancelled every few milliseconds, so deliveries keep arriving at
    # consumers that are stopping. Each must come back to the queue: one left unacknowledged
    # on the channel would be invisible to every puller for as long as the process lives.
    prefix = unique_prefix()
    broker = RabbitMQBroker(AMQP_URL, prefix=prefix, idle_seconds=0.01)
    await broker.start()
    queue = broker.job_queue("app", "churn")
    published: set[JobRef] = set()
    taken: set[JobRef] = set()
    try:
        for _ in range(200):
            ref = JobRef(uuid.uuid4(), 0)
            published.add(ref)
            await asyncio.sleep(0.012)  # the idle canceller runs around the publish
            await broker.publish_jobs(queue, [ref])
            batch = await broker.take_jobs([queue], max_refs=10, wait_seconds=0.5)
            taken.update(r for _, r in batch.items)
            await batch.settle()
        broker._idle_seconds = 3600  # the churn is over: what is left must be there to take
        for _ in range(3):
            batch = await broker.take_jobs([queue], max_refs=100, wait_seconds=0.5)
            taken.update(r for _, r in batch.items)
            await batch.settle()
    finally:
        # Deleted once the broker is closed: a consumer still starting would declare it again.
        await broker.close()
        await delete_queues(AMQP_URL, prefix, ["app.stage.churn"])
    assert taken == published


def _rabbitmqctl(*args: str) -> str:
    done = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@contextlib.asynccontextmanager
async def memory_alarm() -> AsyncIterator[None]:
    """RabbitMQ's memory alarm, raised on this machine's server for the block's length: it
    stops reading from every connection that publishes. Put back as it was afterwards."""
    was = await asyncio.to_thread(
        _rabbitmqctl, "eval", "vm_memory_monitor:get_vm_memory_high_watermark()."
    )
    restore = was.strip("{}").replace(",", " ").split()  # "0.4" or "{absolute,N}"
    await asyncio.to_thread(_rabbitmqctl, "set_vm_memory_high_watermark", "0.000001")
    try:
        yield
    finally:
        await asyncio.to_thread(_rabbitmqctl, "set_vm_memory_high_watermark", *restore)


async def test_jobs_are_taken_and_acked_while_an_alarm_blocks_publishing() -> None:
    # A connection that publishes during an alarm is blocked whole. Consumers on it could not
    # start or ack, so pulls would stop and the queues could not drain; they have a
    # connection of their own.
    prefix = unique_prefix()
    broker = RabbitMQBroker(AMQP_URL, prefix=prefix)
    await broker.start()
    queue = broker.job_queue("app", "alarm")
    before, during = JobRef(uuid.uuid4(), 0), JobRef(uuid.uuid4(), 0)
    try:
        await broker.publish_jobs(queue, [before])
        async with memory_alarm():
            publishing = asyncio.create_task(broker.publish_jobs(queue, [during]))
            await asyncio.sleep(1)
            assert not publishing.done()  # held by the alarm: no confirm comes
            batch = await asyncio.wait_for(broker.take_jobs([queue], 10, 5), 10)
            assert [ref for _, ref in batch.items] == [before]
            await asyncio.wait_for(batch.settle(), 5)
        await asyncio.wait_for(publishing, 30)  # sent once the alarm clears
        batch = await broker.take_jobs([queue], 10, 5)
        assert [ref for _, ref in batch.items] == [during]  # the first was acked: not again
        await batch.settle()
    finally:
        await broker.close()
        await delete_queues(AMQP_URL, prefix, ["app.stage.alarm"])
