"""The ``pipelogiq`` command line."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import logging
import socket
import sys
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from controlplane.settings import EventLoop, Settings, SettingsError
from worker_sdk.logs import configure_logging

log = logging.getLogger("pipelogiq")

Part = Callable[[asyncio.Event], Awaitable[None]]

INTERNAL, EXTERNAL, METRICS = (
    "PIPELOGIQ_INTERNAL_PORT",
    "PIPELOGIQ_EXTERNAL_PORT",
    "PIPELOGIQ_METRICS_PORT",
)


def _api_parts(
    services: object, sockets: dict[str, socket.socket], started: list[asyncio.Event]
) -> list[Part]:
    from controlplane.api.app import create_external_app, create_internal_app
    from controlplane.services import Services
    from pipelogiq.runtime import serve

    assert isinstance(services, Services)
    external, internal = create_external_app(services), create_internal_app(services)
    external_started, internal_started = asyncio.Event(), asyncio.Event()
    started += [external_started, internal_started]
    return [
        lambda stop: serve(external, sockets[EXTERNAL], stop, external_started),
        lambda stop: serve(internal, sockets[INTERNAL], stop, internal_started),
    ]


def _worker_parts(
    services: object, sockets: dict[str, socket.socket], started: list[asyncio.Event]
) -> list[Part]:
    from builtin_worker import BuiltinWorker
    from controlplane.services import Services
    from controlplane.version import package_version
    from pipelogiq.health_server import HealthServer

    assert isinstance(services, Services)
    worker = BuiltinWorker(services)
    health_started = asyncio.Event()
    started.append(health_started)

    async def run(stopping: asyncio.Event) -> None:
        task = asyncio.create_task(worker.run())
        await stopping.wait()
        task.cancel()  # its loops stop taking work and finish what they hold
        await asyncio.gather(task, return_exceptions=True)

    async def serve_health(stopping: asyncio.Event) -> None:
        health = HealthServer(services, package_version())
        health.start(sockets[METRICS])
        health_started.set()
        try:
            await stopping.wait()
        finally:
            health.stop()

    return [run, serve_health]


def _announce(
    services: object, where: list[str], started: list[asyncio.Event], *, first_admin: bool
) -> Part:
    """Says the process is running once every server is and then, on a first start of
    `pipelogiq dev`, makes the admin and shows its password: shown earlier, it would sit above
    the error of a start that failed, and be lost with it."""
    from controlplane.services import Services
    from pipelogiq.runtime import first_admin as make_first_admin

    assert isinstance(services, Services)

    async def announce(stopping: asyncio.Event) -> None:
        everything = asyncio.gather(*(event.wait() for event in started))
        stop = asyncio.ensure_future(stopping.wait())
        await asyncio.wait({everything, stop}, return_when=asyncio.FIRST_COMPLETED)
        if not stopping.is_set():
            log.info("pipelogiq is running: %s", ", ".join(where))
            if first_admin:
                await make_first_admin(services.pool)
        everything.cancel()
        await stop

    return announce


async def _run(settings: Settings, *, api: bool, worker: bool, in_process: bool) -> None:
    from controlplane.metrics import BUILD
    from controlplane.version import package_version
    from pipelogiq.runtime import jwt_secret, open_services, run_until_signal
    from pipelogiq.startup import listening

    BUILD.info({"version": package_version()})
    ports: dict[str, int] = {}
    where: list[str] = []
    if api:
        ports |= {EXTERNAL: settings.external_port, INTERNAL: settings.internal_port}
        where.append(f"external API http://{settings.host}:{settings.external_port}")
        where.append(f"dashboard and internal API http://{settings.host}:{settings.internal_port}")
    if worker:
        ports[METRICS] = settings.metrics_port
        where.append(f"worker metrics http://{settings.host}:{settings.metrics_port}/metrics")
    # Every port first: one in use stops the start before anything else is started.
    with listening(settings.host, ports) as sockets:
        if api:
            secret = jwt_secret(settings, dev=in_process)
            settings = dataclasses.replace(settings, jwt_secret=secret)
        async with open_services(settings, allow_in_process_broker=in_process) as services:
            started: list[asyncio.Event] = []
            parts: list[Part] = []
            if api:
                parts += _api_parts(services, sockets, started)
            if worker:
                parts += _worker_parts(services, sockets, started)
            parts.append(_announce(services, where, started, first_admin=in_process))
            await run_until_signal(
                *parts, stopping=services.stopping, within_seconds=settings.shutdown_timeout_seconds
            )


async def _migrate(settings: Settings) -> None:
    from database.migrator import migrate
    from pipelogiq.runtime import database_url

    applied = await migrate(database_url(settings))
    print(
        f"applied {len(applied)} migration(s)"
        + "".join(f"\n  {m.version:04d}_{m.name}" for m in applied)
    )


async def _create_app(settings: Settings, name: str) -> None:
    from controlplane.engine.access.applications import create_application
    from database.migrator import migrate
    from database.pool import create_pool
    from pipelogiq.runtime import database_url

    dsn = database_url(settings)
    await migrate(dsn)
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        application, key = await create_application(pool, name)
    finally:
        await pool.close()
    print(f"created application {application.name} ({application.id})")
    print("its API key follows; it is shown only this once:")
    print(key)


async def _create_admin(settings: Settings, email: str, name: str, password: str | None) -> None:
    from controlplane.engine.access.accounts import check_new_password, create_user
    from database.migrator import migrate
    from database.pool import create_pool
    from pipelogiq.runtime import database_url

    if password is None:
        password = getpass.getpass("password (12 characters or more): ")
        check_new_password(password)
        if getpass.getpass("again: ") != password:
            raise SettingsError("the two passwords differ")
    dsn = database_url(settings)
    await migrate(dsn)
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        user = await create_user(pool, email, name, "admin", password)
    finally:
        await pool.close()
    print(f"created admin {user.email} ({user.id})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pipelogiq", description="Pipelogiq, a control plane for data pipelines."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "dev",
        help="everything in one process (embedded Postgres and in-process broker "
        "unless DATABASE_URL / AMQP_URL are set)",
    )
    commands.add_parser("api", help="the external and internal HTTP APIs")
    commands.add_parser("worker", help="the built-in worker (results, relay, watchdog)")
    commands.add_parser("migrate", help="apply database migrations and exit")
    create = commands.add_parser("create-app", help="create an application and an API key")
    create.add_argument("name", help="a-z, 0-9, _ and -; used in queue names")
    admin = commands.add_parser("create-admin", help="create a user with the admin role")
    admin.add_argument("--email", required=True)
    admin.add_argument("--name", default="Administrator")
    admin.add_argument("--password", help="asked for at a prompt when not given")
    return parser


def run_event_loop(choice: EventLoop, coroutine: Coroutine[Any, Any, None]) -> None:
    """Run the process's coroutine on uvloop where chosen or, with ``auto``, installed.

    An API process spends much of its time in the event loop's own plumbing (socket reads
    and writes, callbacks woken from Granian's threads); uvloop does that in C.
    """
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":  # checked with the settings; only a broken install gets here
                raise
        else:
            uvloop.run(coroutine)
            return
    asyncio.run(coroutine)


# This module and controlplane.settings import nothing beyond the base install (the SDK's
# dependencies), so that without the [server] extra the command can say so.
OWN_PACKAGES = {"pipelogiq", "controlplane", "builtin_worker", "database", "worker_sdk"}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import pipelogiq.runtime  # noqa: F401  (imports what every command needs)
        from controlplane.outages import quiet_drivers
        from pipelogiq.startup import CannotStart
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] in OWN_PACKAGES:
            raise  # a broken install or a bug, not a missing extra
        print(
            "pipelogiq: the server commands need the server extra: "
            f"pip install 'pipelogiq[server]' ({error})",
            file=sys.stderr,
        )
        return 2
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"pipelogiq: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    quiet_drivers()
    # The embedded PostgreSQL narrates every start and exit at INFO; only its problems matter.
    logging.getLogger("pgserver").setLevel(max(logging.WARNING, logging.root.level))
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    try:
        if args.command == "dev":
            coroutine = _run(settings, api=True, worker=True, in_process=True)
        elif args.command == "api":
            coroutine = _run(settings, api=True, worker=False, in_process=False)
        elif args.command == "worker":
            coroutine = _run(settings, api=False, worker=True, in_process=False)
        elif args.command == "migrate":
            coroutine = _migrate(settings)
        elif args.command == "create-admin":
            coroutine = _create_admin(settings, args.email, args.name, args.password)
        else:
            coroutine = _create_app(settings, args.name)
        run_event_loop(settings.event_loop, coroutine)
    except SettingsError as error:
        print(f"pipelogiq: {error}", file=sys.stderr)
        return 2
    except CannotStart as error:
        print(f"pipelogiq: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        from controlplane.errors import ProblemError

        if isinstance(error, ProblemError):
            print(f"pipelogiq: {error.detail}", file=sys.stderr)
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
