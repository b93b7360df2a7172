"""What the worker process uses of its machine, reported with each heartbeat.

Standard library only, so the SDK stays light: CPU from the process's own CPU time between two
samples, memory from the resident set size Linux reports in /proc (elsewhere the peak size,
which is the best the `resource` module knows).
"""

from __future__ import annotations

import os
import sys
import time

try:
    import resource
except ImportError:  # Windows: no memory figure unless /proc exists, which it does not.
    resource = None  # type: ignore[assignment]


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _resident_bytes() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    if resource is None:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Kilobytes on Linux, bytes on macOS.
    return peak if sys.platform == "darwin" else peak * 1024


class ProcessUsage:
    """CPU (in % of one core, since the previous sample) and resident memory, in bytes."""

    def __init__(self) -> None:
        self._at = time.monotonic()
        self._cpu = _cpu_seconds()

    def sample(self) -> dict[str, float]:
        now, cpu = time.monotonic(), _cpu_seconds()
        elapsed = now - self._at
        figures: dict[str, float] = {}
        if elapsed > 0:
            figures["cpuPercent"] = round(100 * (cpu - self._cpu) / elapsed, 1)
        self._at, self._cpu = now, cpu
        memory = _resident_bytes()
        if memory is not None:
            figures["memoryBytes"] = memory
        return figures
