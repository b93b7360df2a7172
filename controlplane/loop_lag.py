"""How late the event loop runs what is due: the sign of a request holding the loop.

A task asks to wake every :data:`INTERVAL_SECONDS`; how much later than asked it wakes is the
time something else held the loop. Every process (APIs and built-in worker) records it in
``pipelogiq_event_loop_lag_seconds``; a request that parses, hashes or decodes too much on the
loop shows up there before it shows up as slow pulls and acks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from prometheus_client import Gauge, Histogram

INTERVAL_SECONDS = 0.05

LOOP_LAG = Histogram(
    "pipelogiq_event_loop_lag_seconds",
    "How much later than due the event loop woke a timer: time something held the loop.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LOOP_LAG_MAX = Gauge(
    "pipelogiq_event_loop_lag_max_seconds",
    "The longest event loop lag seen since the process started.",
)


async def watch_loop_lag(interval: float = INTERVAL_SECONDS) -> None:
    loop = asyncio.get_running_loop()
    worst = 0.0
    while True:
        due = loop.time() + interval
        await asyncio.sleep(interval)
        lag = max(0.0, loop.time() - due)
        LOOP_LAG.observe(lag)
        if lag > worst:
            worst = lag
            LOOP_LAG_MAX.set(lag)


@contextlib.asynccontextmanager
async def loop_lag_watched() -> AsyncIterator[None]:
    watching = asyncio.create_task(watch_loop_lag())
    try:
        yield
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
