"""The CPU and memory figures a worker reports with its heartbeats."""

from __future__ import annotations

import os
import time

from worker_sdk.usage import ProcessUsage


def _burn(cpu_seconds: float) -> None:
    start = os.times()
    while (os.times().user + os.times().system) - (start.user + start.system) < cpu_seconds:
        sum(range(10_000))


def test_cpu_is_the_share_of_a_core_used_since_the_last_sample() -> None:
    usage = ProcessUsage()
    _burn(0.2)
    busy = usage.sample()["cpuPercent"]
    time.sleep(0.3)
    idle = usage.sample()["cpuPercent"]
    # Busy, this process used a good part of a core; asleep, next to nothing.
    assert busy > 15
    assert idle < busy
    assert idle < 15


def test_memory_is_what_the_process_holds() -> None:
    usage = ProcessUsage()
    before = usage.sample()["memoryBytes"]
    held = bytearray(64 * 1024 * 1024)
    held[::4096] = b"x" * len(held[::4096])  # touch every page so it is resident
    after = usage.sample()["memoryBytes"]
    assert after - before > 48 * 1024 * 1024
    del held
