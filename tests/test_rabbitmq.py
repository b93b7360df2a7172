"""RabbitMQ behaviour the broker contract cannot reach: consumers cancelled under traffic."""

from __future__ import annotations

import asyncio
import uuid

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
