"""Group commit: many concurrent callers, few round trips.

Each caller submits one item and awaits its own result. Up to ``concurrency`` flushes run at
once; items that arrive while that many are running wait and go together in the next one.
So an idle system adds no delay, and batches grow with load.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class GroupCommit(Generic[In, Out]):
    def __init__(
        self,
        flush: Callable[[list[In]], Awaitable[list[Out]]],
        max_batch: int = 500,
        concurrency: int = 1,
    ) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._concurrency = concurrency
        self._pending: list[tuple[In, asyncio.Future[Out]]] = []
        self._running = 0
        # A flusher has been started and has not taken its batch yet: items arriving now
        # will be in that batch, so no other flusher is needed for them.
        self._starting = False
        self._flushers: set[asyncio.Task[None]] = set()

    async def submit(self, item: In) -> Out:
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._start_flusher()
        return await future

    def _start_flusher(self) -> None:
        if self._pending and not self._starting and self._running < self._concurrency:
            self._running += 1
            self._starting = True
            task = asyncio.create_task(self._run())
            self._flushers.add(task)
            task.add_done_callback(self._flushers.discard)

    async def _run(self) -> None:
        try:
            while self._pending:
                self._starting = False
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                self._start_flusher()  # for what was left over the cap
                await self._flush_batch(batch)
        finally:
            self._running -= 1
            self._start_flusher()

    async def _flush_batch(self, batch: list[tuple[In, asyncio.Future[Out]]]) -> None:
        try:
            results = await self._flush([item for item, _ in batch])
        except Exception as error:
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
