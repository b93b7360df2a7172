"""Waiting at start for the database and the broker, which may come up after us (a
container orchestrator starts everything at once). Each is tried with capped exponential
backoff and a log line per try, up to PIPELOGIQ_STARTUP_TIMEOUT_SECONDS; then the process
stops with one line saying what it could not reach."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from aiormq.exceptions import ProbableAuthenticationError

log = logging.getLogger(__name__)
T = TypeVar("T")

FIRST_DELAY = 0.5
MAX_DELAY = 10.0


class Unreachable(Exception):
    """The one line to stop with."""


def without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _worth_waiting(error: BaseException) -> bool:
    """Down or still starting: worth another try. A wrong password or a missing database
    will not fix itself, so it stops the start at once."""
    if isinstance(error, ProbableAuthenticationError):  # RabbitMQ refused the login
        return False
    if isinstance(error, asyncpg.CannotConnectNowError | asyncpg.TooManyConnectionsError):
        return True
    if isinstance(error, asyncpg.PostgresError | asyncpg.InterfaceError):
        return False
    # Refused, reset, timed out: aio-pika's connection errors are OSErrors too.
    return isinstance(error, OSError | TimeoutError)


async def when_reachable(
    what: str,
    url: str,
    attempt: Callable[[], Awaitable[T]],
    *,
    timeout_seconds: float,
    after_failure: Callable[[], Awaitable[object]] | None = None,
) -> T:
    """``attempt()`` once ``what`` at ``url`` answers; raises :class:`Unreachable` after
    ``timeout_seconds`` of trying, or at once for an error that waiting cannot fix."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout_seconds
    delay = FIRST_DELAY
    shown = without_password(url)
    while True:
        try:
            return await attempt()
        except Exception as error:
            if after_failure is not None:
                await after_failure()
            reason = f"{type(error).__name__}: {error}".strip()
            if not _worth_waiting(error):
                raise Unreachable(f"{what} at {shown} refused the connection: {reason}") from error
            wait = random.uniform(delay / 2, delay)
            if loop.time() + wait > give_up:
                raise Unreachable(
                    f"{what} at {shown} was not reachable within {timeout_seconds:g} s: {reason}"
                ) from error
            log.warning(
                "waiting for %s at %s (%s); trying again in %.1f s", what, shown, reason, wait
            )
            await asyncio.sleep(wait)
            delay = min(delay * 2, MAX_DELAY)
