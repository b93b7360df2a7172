"""Telling an outage of the database or the broker from a bug, and saying so once.

While PostgreSQL or RabbitMQ restarts, every request and every loop that needs it fails. Those
failures are not bugs: the APIs answer 503 with ``database_unavailable`` or
``broker_unavailable`` (and ``Retry-After``), and the process logs one line when the outage
starts and one when it ends, instead of a traceback per failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Literal

import asyncpg

from controlplane.broker.base import BrokerUnavailable
from controlplane.errors import Unavailable

log = logging.getLogger("pipelogiq.outages")

Dependency = Literal["database", "broker"]

# Where a failure was raised tells which dependency it is about: asyncpg's errors of the
# connection class (and OSError from its sockets) are the database's; aio-pika's and aiormq's
# are the broker's.
_BROKER_MODULES = ("aio_pika", "aiormq", "pamqp", "controlplane.broker")
_DATABASE_MODULES = ("asyncpg", "database.pool")

# SQLSTATE classes of an unreachable or restarting server: 08 connection exception, 57
# operator intervention (shutdown, cannot connect now), 53300 too many connections.
_DATABASE_STATES = ("08", "57", "53300")

PROBE_INTERVAL_SECONDS = 1.0
# How long a client should wait before trying again, sent as Retry-After with the 503.
RETRY_AFTER_SECONDS = 1.0


def unavailable(dependency: Dependency) -> Unavailable:
    """The 503 a request gets while ``dependency`` cannot be reached."""
    return Unavailable(
        f"{dependency}_unavailable",
        f"the {dependency} cannot be reached just now; try again shortly",
        retry_after=RETRY_AFTER_SECONDS,
    )


def outage_of(error: BaseException) -> Dependency | None:
    """Which dependency ``error`` shows to be unreachable, or None if it is something else."""
    for cause in _chain(error):
        if isinstance(cause, BrokerUnavailable):
            return "broker"
        if isinstance(cause, asyncpg.PostgresError):
            state = getattr(cause, "sqlstate", "") or ""
            if state.startswith(_DATABASE_STATES):
                return "database"
            return None  # the database answered: a query failed, not an outage
        if isinstance(cause, asyncpg.InterfaceError) and "closed" in str(cause):
            return "database"
        if isinstance(cause, OSError | EOFError | asyncio.TimeoutError) or _is_amqp(cause):
            return _raised_by(cause)
    return None


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _is_amqp(error: BaseException) -> bool:
    return type(error).__module__.startswith(_BROKER_MODULES)


def _raised_by(error: BaseException) -> Dependency | None:
    if _is_amqp(error):
        return "broker"
    modules = [
        frame.f_globals.get("__name__", "") for frame, _ in traceback.walk_tb(error.__traceback__)
    ]
    for module in reversed(modules):  # the innermost frame of ours or a driver's decides
        if module.startswith(_BROKER_MODULES):
            return "broker"
        if module.startswith(_DATABASE_MODULES):
            return "database"
    return None


def log_with_traceback(
    error: BaseException, logger: logging.Logger, message: str, *args: object
) -> None:
    """How a failure is reported where no outage tracker is at hand."""
    logger.warning(message, *args, exc_info=error)


_DRIVERS = ("asyncpg", "aio_pika", "aiormq")


class DriverNoise(logging.Filter):
    """The database and broker drivers report every lost connection and every attempt to
    reconnect, many with a traceback; the outage log says it once. Their other records pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(_DRIVERS):
            return True
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and outage_of(error) is not None:
            return False
        message = record.getMessage().lower()
        return not any(word in message for word in ("connect", "closed"))


def quiet_drivers() -> None:
    """Keep the drivers' connection noise out of the process's log (see DriverNoise)."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(DriverNoise())


class Outages:
    """One line when a dependency becomes unreachable, one when it is back.

    ``down`` is called by whatever saw the failure; a probe then checks every second until
    the dependency answers again. Cheap to call many times: only the first call of an
    outage logs.
    """

    def __init__(self, probes: dict[Dependency, Callable[[], Awaitable[object]]]) -> None:
        self._probes = probes
        self._since: dict[Dependency, float] = {}
        self._watching: set[asyncio.Task[None]] = set()

    def is_down(self, dependency: Dependency) -> bool:
        return dependency in self._since

    def failed(
        self, error: BaseException, logger: logging.Logger, message: str, *args: object
    ) -> None:
        """What to do with a failure of a loop or a background task: an outage is said once
        (here); anything else is logged, with its traceback."""
        dependency = outage_of(error)
        if dependency is not None:
            self.down(dependency, error)
        else:
            log_with_traceback(error, logger, message, *args)

    def down(self, dependency: Dependency, error: BaseException) -> None:
        if dependency in self._since:
            return
        self._since[dependency] = time.monotonic()
        log.warning("the %s is unavailable (%s); retrying until it answers", dependency, error)
        watch = asyncio.get_running_loop().create_task(self._until_back(dependency))
        self._watching.add(watch)
        watch.add_done_callback(self._watching.discard)

    async def _until_back(self, dependency: Dependency) -> None:
        probe = self._probes[dependency]
        while True:
            await asyncio.sleep(PROBE_INTERVAL_SECONDS)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(probe(), timeout=5)
                break
        lasted = time.monotonic() - self._since.pop(dependency)
        log.warning("the %s is available again, after %.1f s", dependency, lasted)

    async def close(self) -> None:
        for watch in self._watching:
            watch.cancel()
        await asyncio.gather(*self._watching, return_exceptions=True)
