"""`pipelogiq-worker` as a process, against a control plane of real processes.

SIGTERM drains; SIGKILL loses nothing; a control plane restart is survived.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import AMQP_URL, unique_prefix
from tests.processes import create_app, delete_application_queues, environment, process
from worker_sdk.templates import select

pytestmark = pytest.mark.slow
WORKER = [sys.executable, "-m", "worker_sdk.cli", "tests.sdk_worker_app:worker"]


@dataclass
class Plane:
    env: dict[str, str]
    base: str
    key: str
    marks: Path
    database_url: str

    def worker_env(self, **extra: str) -> dict[str, str]:
        return {
            **self.env,
            "PIPELOGIQ_URL": self.base,
            "PIPELOGIQ_API_KEY": self.key,
            "MARKS_DIR": str(self.marks),
            **extra,
        }

    def submit_sleep(self, seconds: float) -> str:
        stage = {"name": "nap", "handler": "sdk.sleep", "input": seconds}
        response = httpx.post(
            f"{self.base}/pipelines",
            json={"name": "sdk", "stages": [stage]},
            headers={"X-API-Key": self.key},
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def pipeline(self, pipeline_id: str) -> dict[str, Any]:
        response = httpx.get(
            f"{self.base}/pipelines/{pipeline_id}", headers={"X-API-Key": self.key}
        )
        return dict(response.json())

    def wait_finished(self, pipeline_id: str, within: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            pipeline = self.pipeline(pipeline_id)
            if pipeline["status"] != "running":
                return pipeline
            time.sleep(0.1)
        raise AssertionError(f"still running: {pipeline}")

    def wait_started(self, count: int = 1, within: float = 30) -> list[str]:
        """Pids of the workers that started the handler, once ``count`` starts happened."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            marks = sorted(self.marks.glob("started-*"), key=lambda p: p.stat().st_mtime)
            if len(marks) >= count:
                return [m.read_text() for m in marks]
            time.sleep(0.05)
        raise AssertionError("the handler never started")


@pytest.fixture
def plane_env(database_url: str) -> Iterator[dict[str, str]]:
    prefix = unique_prefix()
    env = environment(
        DATABASE_URL=database_url,
        AMQP_URL=AMQP_URL,
        PIPELOGIQ_AMQP_PREFIX=prefix,
        PIPELOGIQ_HEARTBEAT_INTERVAL_SECONDS="0.5",
        PIPELOGIQ_SWEEP_INTERVAL_SECONDS="0.5",
    )
    yield env
    # The template worker declares a queue for every core template it serves.
    core = [template.name for template in select(["core"])]
    delete_application_queues(database_url, AMQP_URL, prefix, ["sdk.sleep", *core])


@pytest.fixture
def plane(plane_env: dict[str, str], database_url: str, tmp_path: Path) -> Iterator[Plane]:
    base = f"http://127.0.0.1:{plane_env['PIPELOGIQ_EXTERNAL_PORT']}"
    with (
        process("api", env=plane_env, ready=f"{base}/readyz"),
        process("worker", env=plane_env),
    ):
        yield Plane(plane_env, base, create_app(plane_env), tmp_path, database_url)


def sdk_worker(plane: Plane, **extra: str) -> Any:
    return process("--log-level", "WARNING", env=plane.worker_env(**extra), command=WORKER)


def test_sigterm_lets_the_running_job_finish_then_exits(plane: Plane) -> None:
    with sdk_worker(plane) as worker:
        pipeline_id = plane.submit_sleep(1.5)
        plane.wait_started()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(20) == 0
        pipeline = plane.pipeline(pipeline_id)
    # Finished and acked before the process exited, not re-run later.
    assert pipeline["status"] == "completed"
    assert pipeline["stages"][0]["output"] == {"slept": 1.5, "pid": worker.pid}
    assert pipeline["stages"][0]["attempt"] == 1
    states = asyncio.run(_worker_states(plane.database_url))
    assert states == ["stopped"]  # it said goodbye, rather than going silent


async def _worker_states(database_url: str) -> list[str]:
    connection = await asyncpg.connect(database_url)
    try:
        return [r["state"] for r in await connection.fetch("SELECT state FROM workers")]
    finally:
        await connection.close()


def test_a_worker_killed_mid_job_loses_nothing(
    plane_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    # Short leases, so the killed worker's job comes back quickly.
    plane_env["PIPELOGIQ_LEASE_SECONDS"] = "2"
    base = f"http://127.0.0.1:{plane_env['PIPELOGIQ_EXTERNAL_PORT']}"
    with (
        process("api", env=plane_env, ready=f"{base}/readyz"),
        process("worker", env=plane_env),
    ):
        plane = Plane(plane_env, base, create_app(plane_env), tmp_path, database_url)
        with sdk_worker(plane) as doomed:
            pipeline_id = plane.submit_sleep(30)
            plane.wait_started()
            doomed.kill()
            doomed.wait()
        with sdk_worker(plane, GRACE_SECONDS="0") as survivor:
            # The job comes back after the lease expired, to the other worker.
            starts = plane.wait_started(count=2)
            assert starts == [str(doomed.pid), str(survivor.pid)]
            stage = plane.pipeline(pipeline_id)["stages"][0]
            assert (stage["status"], stage["attempt"]) == ("running", 2)


def test_results_made_while_the_api_is_down_arrive_after_it_restarts(
    plane_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    base = f"http://127.0.0.1:{plane_env['PIPELOGIQ_EXTERNAL_PORT']}"
    with process("worker", env=plane_env):
        with process("api", env=plane_env, ready=f"{base}/readyz") as api:
            plane = Plane(plane_env, base, create_app(plane_env), tmp_path, database_url)
            worker_cm = sdk_worker(plane)
            worker = worker_cm.__enter__()
            pipeline_id = plane.submit_sleep(1.0)
            plane.wait_started()
            api.send_signal(signal.SIGTERM)
            assert api.wait(20) == 0
        try:
            time.sleep(2.0)  # the handler finishes while the API is down; its ack fails
            assert worker.poll() is None  # the worker rides it out
            with process("api", env=plane_env, ready=f"{base}/readyz"):
                pipeline = plane.wait_finished(pipeline_id)
                assert pipeline["status"] == "completed"
                assert pipeline["stages"][0]["attempt"] == 1  # delivered, not re-run
                assert pipeline["stages"][0]["output"]["pid"] == worker.pid
        finally:
            worker_cm.__exit__(None, None, None)


def test_the_cli_refuses_what_is_not_a_worker() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "worker_sdk.cli", "tests.sdk_worker_app:MARKS"],
        capture_output=True,
        text=True,
        env={
            **environment(),
            "PIPELOGIQ_URL": "http://x",
            "PIPELOGIQ_API_KEY": "k",
            "MARKS_DIR": "/tmp",
        },
    )
    assert done.returncode != 0
    assert "not a worker_sdk.Worker" in done.stderr


CLI = [sys.executable, "-m", "worker_sdk.cli"]


def test_the_cli_serves_templates_with_no_code_of_yours(plane: Plane) -> None:
    stages = [
        {"name": "a", "handler": "transform", "input": {"output": {"n": "=6 * 7"}}},
        {"name": "b", "handler": "transform", "input": {"output": "=deps.a.n"}, "dependsOn": ["a"]},
    ]
    with process("--templates", "core", env=plane.worker_env(), command=CLI):
        response = httpx.post(
            f"{plane.base}/pipelines",
            json={"name": "templated", "stages": stages},
            headers={"X-API-Key": plane.key},
        )
        finished = plane.wait_finished(response.json()["id"])
    assert finished["status"] == "completed"
    assert finished["stages"][1]["output"] == 42


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--templates", "nope"], "no template matches 'nope'"),
        ([], "give a module:attribute worker, --templates, or both"),
    ],
)
def test_the_cli_says_what_is_missing(args: list[str], said: str) -> None:
    env = {**environment(), "PIPELOGIQ_API_KEY": "k"}
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env)
    assert done.returncode != 0
    assert said in done.stderr


def test_a_wrong_api_key_stops_the_cli_with_one_line_naming_the_fix(database_url: str) -> None:
    env = environment(DATABASE_URL=database_url)
    base = f"http://127.0.0.1:{env['PIPELOGIQ_EXTERNAL_PORT']}"
    with process("dev", env=env, ready=f"{base}/readyz"):
        wrong = {**env, "PIPELOGIQ_URL": base, "PIPELOGIQ_API_KEY": "plq_wrong"}
        done = subprocess.run(
            [*CLI, "--templates", "core", "--log-level", "WARNING"],
            capture_output=True,
            text=True,
            env=wrong,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"pipelogiq-worker: {base} refused the API key (the API key is not valid, or revoked "
        "or expired): use a key of the application, from `pipelogiq create-app NAME` or the "
        "dashboard's Applications and keys page (PIPELOGIQ_API_KEY for --templates)"
    ]
