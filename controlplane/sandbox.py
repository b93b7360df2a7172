"""CPU-heavy work on untrusted input, in child processes, bounded in time.

Reading a definition file of a megabyte takes a good part of a second of CPU, and checking a
run's params against a JSON Schema can take as long as the schema makes it (a regex that
backtracks, `uniqueItems` over thousands of objects, nested `anyOf`). On the event loop that
would stall every pull, ack and heartbeat of the process; in a thread it still does, since
the work holds the GIL for long stretches. So it runs in a child process: the loop only waits
for the answer, and work that takes too long is cut off by killing its child (a new one
starts for the next piece of work).

A few children serve a process, each one piece of work at a time; what waits for one is
bounded too, so that a flood of slow files is refused (503 ``busy``) rather than queued for
minutes behind each other.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

CHILDREN = 2
MAX_WAITING = 16
# A child stops after this long without work: it holds tens of megabytes for nothing.
IDLE_SECONDS = 60.0
# Starting a child (a new interpreter, its imports) is not the work's time.
START_SECONDS = 60.0


class TookTooLong(Exception):
    """The work ran past its time and was cut off."""


class Crashed(Exception):
    """The child process died doing the work (out of memory, say)."""


class Busy(Exception):
    """Every child is at work and too many pieces of work wait already."""


class Sandbox:
    def __init__(self, children: int = CHILDREN, max_waiting: int = MAX_WAITING) -> None:
        self._free: asyncio.Queue[_Child] = asyncio.Queue()
        for _ in range(children):
            self._free.put_nowait(_Child())
        self._children = children
        self._max_waiting = max_waiting
        self._waiting = 0

    async def run(self, seconds: float, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a child; :class:`TookTooLong` past ``seconds`` of its own
        work, :class:`Busy` when too much waits already."""
        if self._free.empty() and self._waiting >= self._max_waiting:
            raise Busy
        self._waiting += 1
        try:
            child = await self._free.get()
        finally:
            self._waiting -= 1
        try:
            return await child.run(seconds, function, *args)
        finally:
            self._free.put_nowait(child)

    async def close(self) -> None:
        children = []
        while len(children) < self._children:
            children.append(await self._free.get())
        for child in children:
            await child.close()
            self._free.put_nowait(child)


class _Child:
    """One child process, started at its first piece of work and kept for the next."""

    def __init__(self) -> None:
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._idle: asyncio.TimerHandle | None = None

    async def run(self, seconds: float, function: Callable[..., T], *args: Any) -> T:
        if self._idle is not None:
            self._idle.cancel()
        loop = asyncio.get_running_loop()
        try:
            pool = await self._started()
            future = loop.run_in_executor(pool, function, *args)
            return await asyncio.wait_for(future, seconds)
        except TimeoutError:
            self._kill()
            raise TookTooLong from None
        except BrokenProcessPool:
            self._kill()
            raise Crashed from None
        finally:
            self._idle = loop.call_later(IDLE_SECONDS, self._stop_idle)

    async def _started(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: a fork of a process running an event loop, threads and open
            # connections is not safe.
            context = multiprocessing.get_context("spawn")
            pool = concurrent.futures.ProcessPoolExecutor(
                1, mp_context=context, initializer=_die_with_parent
            )
            try:
                await asyncio.wait_for(
                    asyncio.get_running_loop().run_in_executor(pool, os.getpid), START_SECONDS
                )
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            self._pool = pool
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


def _die_with_parent() -> None:
    """In the child: be killed when the process that started it dies, even by SIGKILL (which
    gives it no chance to stop its children), rather than wait for work forever."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
