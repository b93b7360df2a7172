"""Starting before the database or the broker: processes wait for them, with backoff and a
log line per try, and stop with one clear line when they never come."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Iterator

import asyncpg
import pytest

from pipelogiq import startup
from pipelogiq.startup import Unreachable, when_reachable, without_password
from tests.processes import environment, free_port, process, run, wait_ready

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(startup, "FIRST_DELAY", 0.05)


async def test_it_waits_until_the_service_answers(caplog: pytest.LogCaptureFixture) -> None:
    tries = 0

    async def connect() -> str:
        nonlocal tries
        tries += 1
        if tries < 3:
            raise ConnectionRefusedError(111, "Connection refused")
        return "connected"

    with caplog.at_level(logging.WARNING, logger="pipelogiq.startup"):
        got = await when_reachable(
            "the database", "postgresql://app:s3cret@db:5432/plq", connect, timeout_seconds=10
        )
    assert (got, tries) == ("connected", 3)
    waits = [r.getMessage() for r in caplog.records]
    assert len(waits) == 2
    assert waits[0].startswith("waiting for the database at postgresql://app:***@db:5432/plq")
    assert "s3cret" not in " ".join(waits)


async def test_it_gives_up_after_the_timeout_with_one_line() -> None:
    async def refuse() -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    with pytest.raises(Unreachable) as stopped:
        await when_reachable("the broker", AMQP_URL, refuse, timeout_seconds=0.3)
    assert str(stopped.value).startswith(
        "the broker at amqp://guest:***@127.0.0.1:5672/ was not reachable within 0.3 s"
    )


async def test_an_error_that_waiting_cannot_fix_stops_at_once() -> None:
    tries = 0

    async def wrong_password() -> None:
        nonlocal tries
        tries += 1
        raise asyncpg.InvalidPasswordError("password authentication failed for user app")

    with pytest.raises(Unreachable) as stopped:
        await when_reachable(
            "the database", "postgresql://app@db/x", wrong_password, timeout_seconds=30
        )
    assert tries == 1
    assert "refused the connection: InvalidPasswordError" in str(stopped.value)


def test_a_password_is_never_shown() -> None:
    assert without_password("amqp://u:p@h:5672/v") == "amqp://u:***@h:5672/v"
    assert without_password("postgresql://u@h/d") == "postgresql://u@h/d"


# -- whole processes ------------------------------------------------------------------------------


@pytest.fixture
def late_postgres() -> Iterator[int]:
    """A port that refuses connections for two seconds, then forwards them to the real
    PostgreSQL: a database that comes up after the process that needs it."""
    port = free_port()
    stop = threading.Event()

    def pipe(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                target.sendall(chunk)
        # shutdown, not only close: the other direction's thread is blocked reading target.
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        if stop.wait(2.0):
            return
        with socket.socket() as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", port))
            listener.listen()
            listener.settimeout(0.2)
            while not stop.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                upstream = socket.create_connection(("127.0.0.1", 5432))
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    stop.set()
    thread.join(5)


@pytest.mark.slow
def test_the_api_waits_for_a_database_that_comes_up_later(
    database_url: str, late_postgres: int
) -> None:
    late = database_url.replace("127.0.0.1:5432", f"127.0.0.1:{late_postgres}")
    assert late != database_url
    env = environment(DATABASE_URL=late, AMQP_URL=AMQP_URL, PIPELOGIQ_AMQP_PREFIX="startup-test.")
    with process("api", env=env) as api:
        wait_ready(f"http://127.0.0.1:{env['PIPELOGIQ_EXTERNAL_PORT']}/readyz", api, within=30)
        api.send_signal(signal.SIGTERM)
        output = api.communicate(timeout=30)[0]
    assert "waiting for the database at" in output
    assert "pipelogiq is running" in output


@pytest.mark.slow
def test_a_database_that_never_comes_stops_the_start_with_one_line() -> None:
    nowhere = f"postgresql://app:s3cret@127.0.0.1:{free_port()}/pipelogiq"
    env = environment(
        DATABASE_URL=nowhere, AMQP_URL=AMQP_URL, PIPELOGIQ_STARTUP_TIMEOUT_SECONDS="2"
    )
    done = run("api", env=env)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("pipelogiq: the database at postgresql://app:***@127.0.0.1:")
    assert "was not reachable within 2 s" in last
    assert done.stderr.count("waiting for the database") >= 2  # tried again, with backoff
    assert "s3cret" not in done.stderr


async def test_a_wrong_broker_password_stops_at_once() -> None:
    from controlplane.broker.rabbitmq import RabbitMQBroker

    broker = RabbitMQBroker("amqp://guest:not-the-password@127.0.0.1:5672/")
    with pytest.raises(Unreachable) as stopped:
        await when_reachable(
            "the broker",
            "amqp://guest:x@127.0.0.1:5672/",
            broker.start,
            timeout_seconds=30,
            after_failure=broker.close,
        )
    assert "refused the connection: ProbableAuthenticationError" in str(stopped.value)


@pytest.mark.slow
def test_a_broker_that_never_comes_stops_the_start_with_one_line(database_url: str) -> None:
    nowhere = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    env = environment(
        DATABASE_URL=database_url, AMQP_URL=nowhere, PIPELOGIQ_STARTUP_TIMEOUT_SECONDS="2"
    )
    done = run("worker", env=env)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("pipelogiq: the broker at amqp://guest:***@127.0.0.1:")
    assert "was not reachable within 2 s" in last
    assert "waiting for the broker" in done.stderr


async def test_nothing_is_tried_after_the_first_success() -> None:
    calls = 0

    async def ok() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        return 7

    assert await when_reachable("x", "postgresql://h/d", ok, timeout_seconds=1) == 7
    assert calls == 1
