"""One contract for both brokers: RabbitMQ and the in-process one behave the same."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from controlplane.broker.base import MAX_REFS_PER_MESSAGE, Broker, JobRef


def refs(count: int) -> list[JobRef]:
    return [JobRef(uuid.uuid4(), 0) for _ in range(count)]


async def test_published_jobs_are_taken_in_order(broker: Broker) -> None:
    queue = broker.job_queue("app", "resize")
    published = refs(5)
    await broker.publish_jobs(queue, published)
    taken = await broker.take_jobs([queue], max_refs=10, wait_seconds=1)
    assert [ref for _, ref in taken.items] == published
    assert {name for name, _ in taken.items} == {queue}
    await taken.settle()
    again = await broker.take_jobs([queue], max_refs=10, wait_seconds=0.2)
    assert again.items == []


async def test_take_waits_until_a_job_is_published(broker: Broker) -> None:
    queue = broker.job_queue("app", "slow")
    await broker.take_jobs([queue], 1, 0)  # the queue exists and a consumer is set up
    ref = JobRef(uuid.uuid4(), 3)

    async def publish_later() -> None:
        await asyncio.sleep(0.3)
        await broker.publish_jobs(queue, [ref])

    publisher = asyncio.create_task(publish_later())
    started = time.monotonic()
    taken = await broker.take_jobs([queue], max_refs=1, wait_seconds=5)
    waited = time.monotonic() - started
    await publisher
    assert [r for _, r in taken.items] == [ref]
    assert 0.2 < waited < 4  # woke on the publish, not at the end of the wait
    await taken.settle()


async def test_take_returns_empty_when_the_wait_passes(broker: Broker) -> None:
    queue = broker.job_queue("app", "idle")
    started = time.monotonic()
    taken = await broker.take_jobs([queue], max_refs=5, wait_seconds=0.3)
    assert taken.items == []
    assert time.monotonic() - started >= 0.25


async def test_released_jobs_come_back(broker: Broker) -> None:
    queue = broker.job_queue("app", "flaky")
    published = refs(3)
    await broker.publish_jobs(queue, published)
    taken = await broker.take_jobs([queue], 10, 1)
    await taken.release()
    retaken = await broker.take_jobs([queue], 10, 2)
    assert sorted(r.stage_id for _, r in retaken.items) == sorted(r.stage_id for r in published)
    await retaken.settle()


async def test_unused_references_are_handed_back_on_settle(broker: Broker) -> None:
    queue = broker.job_queue("app", "batch")
    published = refs(MAX_REFS_PER_MESSAGE)  # one message holding many references
    await broker.publish_jobs(queue, published)
    taken = await broker.take_jobs([queue], max_refs=2, wait_seconds=1)
    assert len(taken.items) == MAX_REFS_PER_MESSAGE  # a message is taken whole
    await taken.settle(unused=taken.items[2:])
    rest = await broker.take_jobs([queue], max_refs=1000, wait_seconds=1)
    assert [r for _, r in rest.items] == published[2:]
    await rest.settle()


async def test_large_publishes_are_split_into_messages(broker: Broker) -> None:
    queue = broker.job_queue("app", "many")
    published = refs(MAX_REFS_PER_MESSAGE * 2 + 1)
    await broker.publish_jobs(queue, published)
    assert (await broker.queue_depths([queue]))[queue] == 3
    taken = await broker.take_jobs([queue], max_refs=1, wait_seconds=1)
    assert len(taken.items) == MAX_REFS_PER_MESSAGE
    await taken.release()


async def test_take_serves_several_queues_without_starving_one(broker: Broker) -> None:
    busy, quiet = broker.job_queue("app", "busy"), broker.job_queue("app", "quiet")
    await broker.take_jobs([busy, quiet], 1, 0)  # consumers are up before anything arrives
    await broker.publish_jobs(busy, refs(1))
    await broker.publish_jobs(busy, refs(1))
    await broker.publish_jobs(quiet, refs(1))
    await asyncio.sleep(0.2)  # all three delivered to this process
    taken = await broker.take_jobs([busy, quiet], max_refs=2, wait_seconds=1)
    assert sorted(name for name, _ in taken.items) == sorted([busy, quiet])
    await taken.settle()


async def test_a_job_goes_to_exactly_one_of_many_takers(broker: Broker) -> None:
    queue = broker.job_queue("app", "contended")
    await broker.take_jobs([queue], 1, 0)
    takers = [asyncio.create_task(broker.take_jobs([queue], 1, 1.5)) for _ in range(5)]
    await asyncio.sleep(0.1)
    published = refs(3)
    for ref in published:
        await broker.publish_jobs(queue, [ref])
    results = await asyncio.gather(*takers)
    seen = [ref for taken in results for _, ref in taken.items]
    assert sorted(r.stage_id for r in seen) == sorted(r.stage_id for r in published)
    for taken in results:
        await taken.settle()


async def test_results_are_consumed_in_batches_and_redelivered_when_released(
    broker: Broker,
) -> None:
    first, second = [uuid.uuid4(), uuid.uuid4()], [uuid.uuid4()]
    await broker.publish_results(first)
    await broker.publish_results(second)
    await asyncio.sleep(0.2)
    batches = broker.consume_results(max_batch=100)
    try:
        batch = await asyncio.wait_for(anext(batches), 5)
        assert batch.stage_ids == first + second  # all that was waiting, in one batch
        await batch.release()  # not applied: every id must come back
        seen: list[uuid.UUID] = []
        while len(seen) < 3:
            batch = await asyncio.wait_for(anext(batches), 5)
            seen.extend(batch.stage_ids)
            await batch.ack()
        assert sorted(seen) == sorted(first + second)
    finally:
        await batches.aclose()


async def test_updates_fan_out_to_every_subscriber(broker: Broker) -> None:
    streams = [broker.subscribe_updates(), broker.subscribe_updates()]
    pending = [asyncio.create_task(anext(stream)) for stream in streams]
    await asyncio.sleep(0.3)  # both subscriptions are bound before the publish
    await broker.publish_update(b'{"seq": 1}')
    received = await asyncio.wait_for(asyncio.gather(*pending), 5)
    assert received == [b'{"seq": 1}', b'{"seq": 1}']
    for stream in streams:
        await stream.aclose()


@pytest.mark.parametrize("count", [0, 1])
async def test_queue_depth_counts_waiting_messages(broker: Broker, count: int) -> None:
    queue = broker.job_queue("app", f"depth{count}")
    await broker.publish_jobs(queue, refs(count))
    assert (await broker.queue_depths([queue]))[queue] == count
