"""Long polls waiting for messages, by queue.

A message wakes one poll waiting on its queue, not every waiting poll: an API process holds a
poll open for each worker that waits, and waking them all for each message cost work, and
delay before the one that could take it ran, in proportion to how many waited. With 300 polls
waiting on other queues, a job through RabbitMQ cost 9.0 ms of CPU and was taken after 6.4 ms
(p50); now 1.0 and 0.9 ms, about as with none waiting (``python -m tests.bench_polls``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence


class Waiting:
    def __init__(self) -> None:
        self._by_queue: dict[str, deque[asyncio.Future[None]]] = {}

    async def wait(self, queues: Sequence[str], seconds: float) -> None:
        """Until a message arrives on one of ``queues`` or ``seconds`` pass (then look again:
        another taker may have been first)."""
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()
        for queue in queues:
            self._by_queue.setdefault(queue, deque()).append(woken)
        timer = loop.call_later(seconds, _wake, woken)
        try:
            await woken
        except asyncio.CancelledError:
            if not woken.cancelled():
                # Woken, but gone before taking anything (the puller hung up): the message
                # would wait for the next poll, though others are waiting now.
                for queue in queues:
                    self.wake(queue)
            raise
        finally:
            timer.cancel()
            for queue in queues:
                waiting = self._by_queue.get(queue)
                if waiting is None:
                    continue
                with contextlib.suppress(ValueError):  # popped by wake() already
                    waiting.remove(woken)
                if not waiting:
                    del self._by_queue[queue]

    def wake(self, queue: str, messages: int = 1) -> None:
        """``messages`` arrived on ``queue``: wake as many polls waiting on it."""
        waiting = self._by_queue.get(queue)
        while waiting and messages > 0:
            if _wake(waiting.popleft()):
                messages -= 1


def _wake(woken: asyncio.Future[None]) -> bool:
    if woken.done():  # timed out, or woken through another of its queues
        return False
    woken.set_result(None)
    return True
