"""Helpers for tests and the benchmark that run Pipelogiq as real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import httpx

PIPELOGIQ = [sys.executable, "-m", "pipelogiq.cli"]
TEST_JWT_SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen[str] | None = None, within: float = 90) -> None:
    """Wait until ``url`` answers 200; fail early if ``process`` exits meanwhile."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"the process exited before {url} was ready: {output}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} never became ready")


async def delete_queues(amqp_url: str, prefix: str, names: list[str]) -> None:
    """Delete the queues that processes under ``prefix`` declared; RabbitMQ keeps them."""
    from controlplane.broker.rabbitmq import RabbitMQBroker

    broker = RabbitMQBroker(amqp_url, prefix=prefix)
    await broker.start()
    try:
        await broker.delete_queues([prefix + name for name in names])
    finally:
        await broker.close()


def delete_application_queues(
    database_url: str, amqp_url: str, prefix: str, handlers: list[str]
) -> None:
    """Delete the queues of the database's one application (for ``handlers``) and its results
    queue, which processes under ``prefix`` declared; nothing if no application was made."""

    async def delete() -> None:
        connection = await asyncpg.connect(database_url)
        try:
            application = await connection.fetchval("SELECT name FROM applications")
        finally:
            await connection.close()
        if application is not None:
            names = [f"{application}.stage.{handler}" for handler in handlers]
            await delete_queues(amqp_url, prefix, [*names, "stage.results"])

    asyncio.run(delete())


def environment(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "AMQP_URL")}
    env.update(
        PIPELOGIQ_INTERNAL_PORT=str(free_port()),
        PIPELOGIQ_EXTERNAL_PORT=str(free_port()),
        PIPELOGIQ_METRICS_PORT=str(free_port()),
        PIPELOGIQ_JWT_SECRET=TEST_JWT_SECRET,
    )
    env.update(values)
    return env


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PIPELOGIQ, *args], env=env, capture_output=True, text=True, timeout=120)


@contextmanager
def process(
    *args: str, env: dict[str, str], ready: str | None = None, command: list[str] = PIPELOGIQ
) -> Iterator[subprocess.Popen[str]]:
    """A running process (``pipelogiq ARGS`` unless another command is given), stopped after."""
    proc = subprocess.Popen(
        [*command, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        if ready:
            wait_ready(ready, proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def create_app(env: dict[str, str]) -> str:
    done = run("create-app", f"cli-{uuid.uuid4().hex[:8]}", env=env)
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip().splitlines()[-1]
    assert key.startswith("plq_")
    return key
