"""``python -m tests.bench_polls``: what one job costs an API process while many long polls wait.

Each worker keeps a poll open on the API, so a process may hold hundreds. With ``--polls N``
polls waiting (on other handlers' queues, or on the same one), one job at a time is published
and taken, through the broker in this process; it prints, per broker, the time from publish to
taken (p50) and the CPU this process spent per job.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid

from controlplane.broker import Broker, JobRef
from controlplane.broker.memory import InMemoryBroker
from controlplane.broker.rabbitmq import RabbitMQBroker
from tests.bench import AMQP_URL, cpu_seconds
from tests.processes import delete_queues

JOBS = 300


async def measure(kind: str, polls: int, same_queue: bool) -> tuple[float, float]:
    """(publish → taken p50 in ms, CPU ms per job)."""
    prefix = f"bench-polls-{uuid.uuid4().hex[:6]}."
    broker: Broker = (
        RabbitMQBroker(AMQP_URL, prefix=prefix) if kind == "rabbitmq" else InMemoryBroker(prefix)
    )
    await broker.start()
    measured = broker.job_queue("app", "measured")
    others = [broker.job_queue("app", f"other{n}") for n in range(polls)]
    taken_at: asyncio.Queue[float] = asyncio.Queue()
    stopping = asyncio.Event()

    async def poll(queue: str) -> None:
        while not stopping.is_set():
            taken = await broker.take_jobs([queue], 10, 1.0)
            if taken.items:
                taken_at.put_nowait(time.perf_counter())
            await taken.settle()

    waiting = [measured] * (polls + 1) if same_queue else [measured, *others]
    tasks = [asyncio.create_task(poll(queue)) for queue in waiting]
    try:
        await asyncio.sleep(1)  # every poll is waiting, every consumer started
        latencies = []
        cpu = cpu_seconds(os.getpid())
        for _ in range(JOBS):
            published = time.perf_counter()
            await broker.publish_jobs(measured, [JobRef(uuid.uuid4(), 0)])
            latencies.append((await taken_at.get() - published) * 1000)
            await asyncio.sleep(0.002)
        cpu = (cpu_seconds(os.getpid()) - cpu) * 1000 / JOBS
    finally:
        stopping.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await broker.close()
        if kind == "rabbitmq":
            names = [q.removeprefix(prefix) for q in {measured, *others}]
            await delete_queues(AMQP_URL, prefix, names)
    return statistics.median(latencies), cpu


async def main(polls: list[int]) -> None:
    print(f"{'broker':<10}{'polls waiting':>15}{'on':>12}{'taken p50':>12}{'CPU per job':>13}")
    for kind in ("rabbitmq", "memory"):
        for count in polls:
            for same_queue in (False, True):
                p50, cpu = await measure(kind, count, same_queue)
                where = "same queue" if same_queue else "others"
                print(f"{kind:<10}{count:>15}{where:>12}{p50:>10.2f}ms{cpu:>11.2f}ms")
    print("CPU per job: this process's, including the 2 ms pause between jobs' loop turns")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--polls", default="0,300", help="polls waiting, comma-separated")
    arguments = parser.parse_args()
    asyncio.run(main([int(n) for n in arguments.polls.split(",")]))
