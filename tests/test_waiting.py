"""Waiting long polls: a message wakes one poll waiting on its queue, and a wake is never lost."""

from __future__ import annotations

import asyncio

from controlplane.broker.waiting import Waiting


async def _waiters(waiting: Waiting, queues: list[str], count: int) -> list[asyncio.Task[None]]:
    tasks = [asyncio.create_task(waiting.wait(queues, 5)) for _ in range(count)]
    await _settle()  # each is waiting now
    return tasks


async def _settle() -> None:
    """Let every task that can run, run (a wake takes a few turns of the loop to return)."""
    await asyncio.sleep(0.01)


async def test_a_message_wakes_one_poll_waiting_on_its_queue() -> None:
    waiting = Waiting()
    on_x = await _waiters(waiting, ["x"], 3)
    on_y = await _waiters(waiting, ["y"], 2)
    waiting.wake("x")
    await _settle()
    assert sum(task.done() for task in on_x) == 1
    assert not any(task.done() for task in on_y)
    waiting.wake("x", messages=2)
    await _settle()
    assert all(task.done() for task in on_x)
    assert not any(task.done() for task in on_y)
    for task in on_y:
        task.cancel()
    await asyncio.gather(*on_y, return_exceptions=True)


async def test_a_poll_on_several_queues_is_woken_by_any_of_them_once() -> None:
    waiting = Waiting()
    [both] = await _waiters(waiting, ["x", "y"], 1)
    [only_y] = await _waiters(waiting, ["y"], 1)
    waiting.wake("y")
    await _settle()
    assert both.done()
    assert not only_y.done()
    waiting.wake("x")  # `both` is gone: nobody else waits on x
    waiting.wake("y")
    await _settle()
    assert only_y.done()


async def test_a_woken_poll_that_is_cancelled_passes_the_wake_on() -> None:
    waiting = Waiting()
    first, second = await _waiters(waiting, ["x"], 2)
    waiting.wake("x")  # wakes `first`, which is cancelled before it can take the message
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    await _settle()
    assert second.done()
    assert not second.cancelled()


async def test_a_poll_that_times_out_leaves_nothing_behind() -> None:
    waiting = Waiting()
    await asyncio.gather(*(waiting.wait(["x", "y"], 0.01) for _ in range(50)))
    assert waiting._by_queue == {}  # no stale entry per expired poll
    [later] = await _waiters(waiting, ["x"], 1)
    waiting.wake("x")
    await _settle()
    assert later.done()
