"""Starting and stopping the parts of a process: database, broker, HTTP servers, worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
from litestar import Litestar

from controlplane.broker import Broker
from controlplane.broker.memory import InMemoryBroker
from controlplane.broker.rabbitmq import RabbitMQBroker
from controlplane.errors import Conflict
from controlplane.loop_lag import loop_lag_watched
from controlplane.services import Services
from controlplane.settings import Settings, SettingsError
from database.embedded import start_embedded_postgres
from database.migrator import migrate
from database.pool import create_pool
from pipelogiq.startup import BACKLOG, CannotStart, when_reachable

log = logging.getLogger("pipelogiq")


def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    log.info("DATABASE_URL is not set: using the embedded PostgreSQL in %s", settings.data_dir)
    return start_embedded_postgres(settings.data_dir)


def make_broker(settings: Settings, *, allow_in_process: bool) -> Broker:
    if settings.amqp_url:
        return RabbitMQBroker(
            settings.amqp_url, prefix=settings.amqp_prefix, queue_type=settings.amqp_queue_type
        )
    if not allow_in_process:
        raise SettingsError(
            "AMQP_URL is not set: only `pipelogiq dev` can run without RabbitMQ (its in-process "
            "broker serves a single process)"
        )
    log.info("AMQP_URL is not set: using the in-process broker")
    return InMemoryBroker(prefix=settings.amqp_prefix)


def jwt_secret(settings: Settings, *, dev: bool) -> str:
    """The secret that signs session tokens.

    ``pipelogiq dev`` makes one at its first start and keeps it in the data dir, so sessions
    survive restarts; any other API process must be given a strong one.
    """
    if settings.jwt_secret is not None:
        return settings.jwt_secret
    if not dev:
        raise SettingsError(
            "PIPELOGIQ_JWT_SECRET is not set: the API needs a secret of 32 or more random "
            "characters to sign sessions (python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(48))')"
        )
    path = settings.data_dir / "jwt-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


async def first_admin(pool: asyncpg.Pool) -> None:
    """On a first start with no user at all, make an admin and show its password once."""
    from controlplane.engine.access.accounts import count_users, create_user

    if await count_users(pool) > 0:
        return
    password = secrets.token_urlsafe(12)
    try:
        user = await create_user(
            pool,
            "admin@localhost",
            "Administrator",
            "admin",
            password,
            must_change_password=True,  # it was printed: the log may be read by others
        )
    except Conflict:  # another process made it first
        return
    # Through the log, so that JSON logs stay one object per line; `dev` runs on a laptop,
    # where the log is the console.
    log.warning(
        "an admin was created for this first start: %s / %s (shown only this once, and "
        "good only for choosing your own at the first login; `pipelogiq create-admin` makes "
        "more)",
        user.email,
        password,
    )


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings, *, allow_in_process_broker: bool = False, pool_size: int = 10
) -> AsyncIterator[Services]:
    broker = make_broker(settings, allow_in_process=allow_in_process_broker)
    dsn = database_url(settings)
    timeout = settings.startup_timeout_seconds
    await when_reachable("the database", dsn, lambda: migrate(dsn), timeout_seconds=timeout)
    pool = await create_pool(dsn, max_size=pool_size)
    try:
        await when_reachable(
            "the broker",
            settings.amqp_url or "in-process",
            broker.start,
            timeout_seconds=timeout,
            after_failure=broker.close,
        )
        services = Services(settings, pool, broker)
        try:
            async with loop_lag_watched():
                yield services
        finally:
            await services.effects.close()
            await services.outages.close()
            await services.sandbox.close()
            await broker.close()
    finally:
        await pool.close()


class _WithoutEmbedNotice(logging.Filter):
    """Drops Granian's "Embedded server is experimental!", logged as a warning at every start
    of every server: embedding is how these processes serve, not news to their operators."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Embedded server is experimental!"


# Granian's own lines go through the root logger (and so the process's format); its start and
# stop narration, twice per server, is left out.
GRANIAN_LOGGING = {
    "filters": {"without_embed_notice": {"()": _WithoutEmbedNotice}},
    "loggers": {
        "_granian": {"propagate": True, "filters": ["without_embed_notice"]},
        "granian.access": {"propagate": True},
    },
}


REQUESTS_IN_FLIGHT = 4096


async def serve(
    app: Litestar, listener: socket.socket, stopping: asyncio.Event, started: asyncio.Event
) -> None:
    """Serve an app with Granian inside this event loop on ``listener`` (which it takes over)
    until ``stopping`` is set; ``started`` is set once the app's startup hooks have run."""
    from granian.constants import Interfaces
    from granian.log import LogLevels

    app.on_startup.append(started.set)
    host, port = listener.getsockname()[:2]
    server = _granian_on(listener)(
        app,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        backlog=BACKLOG,
        # Requests served at once: Granian's default (its backlog, 128) is soon reached by
        # workers' long polls, each waiting up to a minute, and then every other request of
        # the process (acks, heartbeats, probes) waits behind them. A long poll costs a few
        # kilobytes while it waits; one key holds at most MAX_POLLS_PER_KEY of these.
        backpressure=REQUESTS_IN_FLIGHT,
        log_access=False,
        log_level=LogLevels.warning,
        log_dictconfig=GRANIAN_LOGGING,
    )
    task = asyncio.create_task(server.serve())
    stop = asyncio.create_task(stopping.wait())
    await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        server.stop()
    await task


def _granian_on(listener: socket.socket) -> type[Any]:
    """Granian's embedded server, serving ``listener`` instead of a socket of its own.

    Granian binds with SO_REUSEPORT (see :func:`pipelogiq.startup.listening`); this hands
    it our socket the way it hands its own to its workers. That is Granian's internal
    interface (as of 2.8): tests/test_cli.py catches a change, a second start on the same
    port being refused no more.
    """
    from granian._granian import SocketHolder
    from granian.server.embed import Server

    class OnListener(Server):
        def _init_shared_socket(self) -> None:
            fd = listener.detach()  # Granian closes it when it stops
            # Its constructor differs by platform, as in Granian's src/net.rs.
            self._ssp = None
            if sys.platform in ("linux", "freebsd"):
                self._shd = SocketHolder(fd, False, self.backlog)
            elif sys.platform == "win32":
                self._shd = SocketHolder(fd)
            else:
                self._shd = SocketHolder(fd, False)
            self._sfd = fd

    return OnListener


async def run_until_signal(
    *parts: Callable[[asyncio.Event], Awaitable[None]],
    stopping: asyncio.Event,
    within_seconds: float,
) -> None:
    """Run every part until SIGINT or SIGTERM sets ``stopping``, then let each stop cleanly.

    A part that has not finished ``within_seconds`` of the signal is cancelled. A part that
    ends before the signal stops the others, and the process with status 1.
    """
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    tasks = [asyncio.create_task(part(stopping)) for part in parts]
    waiter = asyncio.create_task(stopping.wait())
    done, _ = await asyncio.wait({waiter, *tasks}, return_when=asyncio.FIRST_COMPLETED)
    failed = not stopping.is_set()  # a part ended on its own: the process cannot go on
    stopping.set()
    for task in done:
        if task is not waiter and task.exception():
            log.error("stopping: a part of the process failed", exc_info=task.exception())
    _, late = await asyncio.wait(tasks, timeout=within_seconds)
    if late:
        log.warning(
            "stopping: %d part(s) still busy after %.0f s; cutting them off",
            len(late),
            within_seconds,
        )
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if failed:
        raise CannotStart("a part of the process stopped on its own (see the log above)")
