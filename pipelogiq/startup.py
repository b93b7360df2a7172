"""What stops a start with one line: a port that is taken, and the database or the broker,
which may come up after us (a container orchestrator starts everything at once). Each of
those is tried with capped exponential backoff and a log line per try, up to
PIPELOGIQ_STARTUP_TIMEOUT_SECONDS; then the process stops with one line saying what it could
not reach."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from aiormq.exceptions import ProbableAuthenticationError

log = logging.getLogger(__name__)
T = TypeVar("T")

FIRST_DELAY = 0.5
MAX_DELAY = 10.0
# Connections the kernel holds for the server to accept (a burst of workers starting at once).
BACKLOG = 1024


class CannotStart(Exception):
    """The one line to stop with, exit status 1."""


class Unreachable(CannotStart):
    """The database or the broker never answered, or refused us."""


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


@contextlib.contextmanager
def listening(host: str, ports: Mapping[str, int]) -> Iterator[dict[str, socket.socket]]:
    """A listening socket for each of ``ports`` (keyed by the setting that chose it), made
    before anything else starts: a port in use stops the start with one line, before the
    embedded PostgreSQL starts or a first admin is made.

    The servers are handed these sockets rather than binding their own. Granian's own have
    SO_REUSEPORT, with which a second process on the same port starts without a word and takes
    every other connection. Each socket is closed at the end, unless a server took it over.
    """
    sockets: dict[str, socket.socket] = {}
    try:
        for setting, port in ports.items():
            taken = next((name for name in sockets if ports[name] == port), None)
            if taken is not None:
                raise CannotStart(f"{taken} and {setting} are both {port}: each needs its own port")
            sockets[setting] = _listen(host, port, setting)
        yield sockets
    finally:
        for listener in sockets.values():
            listener.close()


def _listen(host: str, port: int, setting: str) -> socket.socket:
    family, kind, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.socket(family, kind)
    try:
        if os.name == "posix":
            # Lets a restart bind while the last run's connections linger in TIME_WAIT; on
            # POSIX it never lets two sockets listen on one port (on Windows it would).
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(BACKLOG)
    except OSError as error:
        listener.close()
        if error.errno == errno.EADDRINUSE:
            raise CannotStart(
                f"port {port} ({setting}) on {host} is in use; "
                "stop what holds it or choose another port"
            ) from None
        raise CannotStart(
            f"cannot listen on port {port} ({setting}) on {host}: {error.strerror}"
        ) from None
    return listener
