import asyncio

import pytest

from controlplane.engine.jobpath.batching import GroupCommit


async def test_concurrent_submissions_share_flushes_and_get_their_own_results() -> None:
    flushed: list[list[int]] = []

    async def flush(items: list[int]) -> list[int]:
        flushed.append(items)
        await asyncio.sleep(0.01)
        return [item * 10 for item in items]

    batches = GroupCommit(flush)
    results = await asyncio.gather(*(batches.submit(i) for i in range(50)))
    assert results == [i * 10 for i in range(50)]
    assert flushed == [list(range(50))]  # all were waiting when the flush began


async def test_items_arriving_during_a_flush_go_in_the_next_one() -> None:
    flushed: list[list[int]] = []

    async def flush(items: list[int]) -> list[int]:
        flushed.append(items)
        await asyncio.sleep(0.02)
        return items

    batches = GroupCommit(flush)
    first = asyncio.create_task(batches.submit(0))
    await asyncio.sleep(0.005)  # the first flush is under way
    rest = await asyncio.gather(*(batches.submit(i) for i in range(1, 20)))
    assert await first == 0
    assert rest == list(range(1, 20))
    assert flushed == [[0], list(range(1, 20))]


async def test_a_failed_flush_fails_its_callers_and_the_next_batch_still_runs() -> None:
    calls = 0

    async def flush(items: list[str]) -> list[str]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        if calls == 1:
            raise RuntimeError("database down")
        return items

    batches = GroupCommit(flush)
    first = asyncio.create_task(batches.submit("a"))
    await asyncio.sleep(0)
    second = asyncio.create_task(batches.submit("b"))
    with pytest.raises(RuntimeError, match="database down"):
        await first
    assert await second == "b"


async def test_batches_are_capped() -> None:
    sizes: list[int] = []

    async def flush(items: list[int]) -> list[int]:
        sizes.append(len(items))
        await asyncio.sleep(0)
        return items

    batches = GroupCommit(flush, max_batch=10)
    await asyncio.gather(*(batches.submit(i) for i in range(35)))
    assert max(sizes) <= 10
    assert sum(sizes) == 35


async def test_with_concurrency_items_arriving_during_a_flush_start_another_at_once() -> None:
    flushed: list[list[int]] = []
    release = asyncio.Event()

    async def flush(items: list[int]) -> list[int]:
        flushed.append(items)
        await release.wait()
        return items

    batches = GroupCommit(flush, concurrency=2)
    first = asyncio.create_task(batches.submit(0))
    await asyncio.sleep(0.005)
    second = [asyncio.create_task(batches.submit(i)) for i in (1, 2)]
    await asyncio.sleep(0.005)
    # Two flushes are running; what comes now waits for one of them to finish.
    third = [asyncio.create_task(batches.submit(i)) for i in (3, 4)]
    await asyncio.sleep(0.005)
    assert flushed == [[0], [1, 2]]
    release.set()
    assert await asyncio.gather(first, *second, *third) == [0, 1, 2, 3, 4]
    assert flushed == [[0], [1, 2], [3, 4]]
