"""CPU-heavy work on untrusted input, in a child process, bounded in time.

Reading a definition file of a megabyte takes a good part of a second of CPU. On the event
loop that would stall every pull, ack and heartbeat of the process; in a thread it still
does, since the parser holds the GIL for tens of milliseconds at a time. So it runs in a
child process: the loop only waits for the answer, and a file that takes too long is cut
off by killing the child (a new one starts for the next request).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# The child stops after this long without work: it holds tens of megabytes for nothing.
IDLE_SECONDS = 60.0


class TookTooLong(Exception):
    """The work ran past its time and was cut off."""


class Crashed(Exception):
    """The child process died doing the work (out of memory, say)."""


class Sandbox:
    """One child process, started at the first use and kept for the next."""

    def __init__(self) -> None:
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        # One piece of work at a time: its time bound counts its own work, not a queue.
        self._one_at_a_time = asyncio.Lock()
        self._idle: asyncio.TimerHandle | None = None

    async def run(self, seconds: float, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in the child; :class:`TookTooLong` past ``seconds``."""
        async with self._one_at_a_time:
            if self._idle is not None:
                self._idle.cancel()
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(self._started(), function, *args)
            try:
                return await asyncio.wait_for(future, seconds)
            except TimeoutError:
                self._kill()
                raise TookTooLong from None
            except BrokenProcessPool:
                self._kill()
                raise Crashed from None
            finally:
                self._idle = loop.call_later(IDLE_SECONDS, self._stop_idle)

    def _started(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: a fork of a process running an event loop, threads and open
            # connections is not safe.
            context = multiprocessing.get_context("spawn")
            self._pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=context)
        return self._pool

    def _kill(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # The executor has no way to stop work in progress: its process is killed.
        for process in list(getattr(pool, "_processes", {}).values()):
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def _stop_idle(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)

    async def close(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
