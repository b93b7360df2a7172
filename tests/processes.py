"""Helpers for tests and the benchmark that run Pipelogiq as real processes."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx


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
