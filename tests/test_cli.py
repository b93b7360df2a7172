"""The command line as a user runs it: real processes, real ports, raw HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import AMQP_URL, unique_prefix
from tests.processes import delete_queues, free_port, wait_ready

PIPELOGIQ = [sys.executable, "-m", "controlplane.cli"]
pytestmark = pytest.mark.slow


def environment(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "AMQP_URL")}
    env.update(
        PIPELOGIQ_INTERNAL_PORT=str(free_port()),
        PIPELOGIQ_EXTERNAL_PORT=str(free_port()),
        PIPELOGIQ_METRICS_PORT=str(free_port()),
    )
    env.update(values)
    return env


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PIPELOGIQ, *args], env=env, capture_output=True, text=True, timeout=120)


@contextmanager
def process(*args: str, env: dict[str, str], ready: str | None = None) -> Iterator[Any]:
    proc = subprocess.Popen(
        [*PIPELOGIQ, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
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


def drive_pipeline(base: str, key: str, stages: int = 3) -> dict[str, Any]:
    """Submit a pipeline and run it with a raw-HTTP worker until it completes."""
    headers = {"X-API-Key": key}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        submitted = client.post(
            "/pipelines",
            json={
                "name": "cli",
                "stages": [{"name": f"s{i}", "handler": "cli"} for i in range(stages)],
            },
        )
        assert submitted.status_code == 201, submitted.text
        pipeline_id = submitted.json()["id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            jobs = client.post(
                "/jobs/pull", json={"handlers": ["cli"], "maxJobs": 10, "waitSeconds": 1}
            ).json()["jobs"]
            if jobs:
                client.post(
                    "/jobs/ack",
                    json={"results": [{"jobId": j["jobId"], "status": "completed"} for j in jobs]},
                )
            pipeline = client.get(f"/pipelines/{pipeline_id}").json()
            if pipeline["status"] == "completed":
                return pipeline
        raise AssertionError(f"pipeline did not complete: {pipeline}")


def test_a_malformed_setting_stops_the_start_with_one_line() -> None:
    done = run("dev", env=environment(PIPELOGIQ_EXTERNAL_PORT="eighty"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "PIPELOGIQ_EXTERNAL_PORT" in lines[0]


def test_the_api_alone_needs_rabbitmq(database_url: str) -> None:
    done = run("api", env=environment(DATABASE_URL=database_url))
    assert done.returncode == 2
    assert "AMQP_URL" in done.stderr


def test_migrate_reports_what_it_applied(database_url: str) -> None:
    done = run("migrate", env=environment(DATABASE_URL=database_url))
    assert done.returncode == 0, done.stderr
    assert "applied 0 migration(s)" in done.stdout  # the template was already migrated


def test_separate_api_and_two_workers_on_rabbitmq(database_url: str) -> None:
    prefix = unique_prefix()
    env = environment(DATABASE_URL=database_url, AMQP_URL=AMQP_URL, PIPELOGIQ_AMQP_PREFIX=prefix)
    try:
        _run_separate_processes(env)
    finally:
        application = asyncio.run(_only_application(database_url))
        asyncio.run(delete_queues(AMQP_URL, prefix, [f"{application}.stage.cli", "stage.results"]))


async def _only_application(database_url: str) -> str:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval("SELECT name FROM applications")
    finally:
        await connection.close()


def _run_separate_processes(env: dict[str, str]) -> None:
    key = create_app(env)
    base = f"http://127.0.0.1:{env['PIPELOGIQ_EXTERNAL_PORT']}"
    worker_env = {**env, "PIPELOGIQ_METRICS_PORT": str(free_port())}
    with (
        process("api", env=env, ready=f"{base}/readyz"),
        process("worker", env=env),
        process("worker", env=worker_env),
    ):
        pipeline = drive_pipeline(base, key)
        assert [s["attempt"] for s in pipeline["stages"]] == [1, 1, 1]
        metrics = httpx.get(f"http://127.0.0.1:{env['PIPELOGIQ_METRICS_PORT']}/metrics").text
        assert "pipelogiq_stages_advanced_total" in metrics
        internal = f"http://127.0.0.1:{env['PIPELOGIQ_INTERNAL_PORT']}"
        assert httpx.get(f"{internal}/healthz").json() == {"status": "ok"}


def test_dev_runs_everything_embedded(tmp_path: Path) -> None:
    env = environment(PIPELOGIQ_DATA_DIR=str(tmp_path / "data"))
    base = f"http://127.0.0.1:{env['PIPELOGIQ_EXTERNAL_PORT']}"
    with process("dev", env=env, ready=f"{base}/readyz") as dev:
        key = create_app(env)  # a second process on the same embedded database
        pipeline = drive_pipeline(base, key)
        assert pipeline["status"] == "completed"
        dev.send_signal(signal.SIGTERM)
        assert dev.wait(30) == 0
    assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists()
