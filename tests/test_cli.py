"""The command line as a user runs it: real processes, real ports, raw HTTP."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import AMQP_URL, unique_prefix
from tests.processes import (
    create_app,
    delete_application_queues,
    environment,
    free_port,
    process,
    run,
)

pytestmark = pytest.mark.slow


READY = {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


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
        delete_application_queues(database_url, AMQP_URL, prefix, ["cli"])


def _run_separate_processes(env: dict[str, str]) -> None:
    key = create_app(env)
    base = f"http://127.0.0.1:{env['PIPELOGIQ_EXTERNAL_PORT']}"
    worker_env = {**env, "PIPELOGIQ_METRICS_PORT": str(free_port())}
    metrics_url = f"http://127.0.0.1:{env['PIPELOGIQ_METRICS_PORT']}/metrics"
    second_metrics_url = f"http://127.0.0.1:{worker_env['PIPELOGIQ_METRICS_PORT']}/metrics"
    # A worker serves metrics once it is connected, so waiting for them waits for both to be up.
    with (
        process("api", env=env, ready=f"{base}/readyz"),
        process("worker", env=env, ready=metrics_url),
        process("worker", env=worker_env, ready=second_metrics_url),
    ):
        pipeline = drive_pipeline(base, key)
        assert [s["attempt"] for s in pipeline["stages"]] == [1, 1, 1]
        metrics = httpx.get(metrics_url).text + httpx.get(second_metrics_url).text
        assert "pipelogiq_stages_advanced_total" in metrics
        internal = f"http://127.0.0.1:{env['PIPELOGIQ_INTERNAL_PORT']}"
        assert httpx.get(f"{internal}/healthz").json() == {"status": "ok"}
        # The built-in worker answers the same probes on its metrics port.
        worker = metrics_url.removesuffix("/metrics")
        assert httpx.get(f"{worker}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{worker}/readyz").json() == READY


def test_sigterm_answers_long_polls_and_stops_within_the_bound(database_url: str) -> None:
    prefix = unique_prefix()
    env = environment(DATABASE_URL=database_url, AMQP_URL=AMQP_URL, PIPELOGIQ_AMQP_PREFIX=prefix)
    key = create_app(env)
    base = f"http://127.0.0.1:{env['PIPELOGIQ_EXTERNAL_PORT']}"
    metrics = f"http://127.0.0.1:{env['PIPELOGIQ_METRICS_PORT']}/metrics"
    try:
        with (
            process("api", env=env, ready=f"{base}/readyz") as api,
            process("worker", env=env, ready=metrics) as worker,
            ThreadPoolExecutor(1) as pool,
        ):
            body = {"handlers": ["cli"], "maxJobs": 10, "waitSeconds": 60}
            poll = pool.submit(
                httpx.post, f"{base}/jobs/pull", json=body, headers={"X-API-Key": key}, timeout=90
            )
            time.sleep(0.5)  # the pull is waiting
            for stopping in (api, worker):
                stopping.send_signal(signal.SIGTERM)
            # Well inside PIPELOGIQ_SHUTDOWN_TIMEOUT_SECONDS (10): nothing waits out its bound.
            assert api.wait(8) == 0
            assert worker.wait(8) == 0
            answer = poll.result(timeout=5)
            output = (api.stdout.read() if api.stdout else "") + (
                worker.stdout.read() if worker.stdout else ""
            )
        assert (answer.status_code, answer.json()) == (200, {"jobs": []})
        assert "Traceback" not in output, output
        assert "cutting them off" not in output, output
    finally:
        delete_application_queues(database_url, AMQP_URL, prefix, ["cli"])


def test_json_logs_are_one_object_per_line_with_the_ids(database_url: str) -> None:
    env = environment(
        DATABASE_URL=database_url,
        PIPELOGIQ_LOG_FORMAT="json",
        PIPELOGIQ_LOG_LEVEL="DEBUG",
        PIPELOGIQ_LEASE_SECONDS="1",
        PIPELOGIQ_SWEEP_INTERVAL_SECONDS="0.2",
    )
    base = f"http://127.0.0.1:{env['PIPELOGIQ_EXTERNAL_PORT']}"
    with process("dev", env=env, ready=f"{base}/readyz") as dev:
        key = create_app(env)
        headers = {"X-API-Key": key}
        stages = [{"name": "lost", "handler": "json"}]
        submitted = httpx.post(
            f"{base}/pipelines", json={"name": "j", "stages": stages}, headers=headers
        ).json()
        pull = {"handlers": ["json"], "maxJobs": 1, "waitSeconds": 5}
        [job] = httpx.post(f"{base}/jobs/pull", json=pull, headers=headers).json()["jobs"]
        time.sleep(2.5)  # its worker never heartbeats: the lease expires, and is logged
        dev.send_signal(signal.SIGTERM)
        assert dev.wait(30) == 0
        output = dev.stdout.read() if dev.stdout else ""
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line["message"].startswith("pipelogiq is running") for line in lines)
    # The warnings are the admin banner and the lease: Granian's notice that embedding is
    # experimental, at every start of each server, is not one.
    warned = [line["message"] for line in lines if line["level"] == "WARNING"]
    assert [message.split(" ")[0] for message in warned] == ["an", "lease"], warned
    [expired] = [line for line in lines if "lease expired" in line["message"]]
    assert (expired["pipeline_id"], expired["job_id"], expired["trace_id"]) == (
        submitted["id"],
        job["jobId"],
        submitted["traceId"],
    )


def test_dev_runs_everything_embedded(tmp_path: Path) -> None:
    env = environment(PIPELOGIQ_DATA_DIR=str(tmp_path / "data"))
    del env["PIPELOGIQ_JWT_SECRET"]  # dev makes its own
    base = f"http://127.0.0.1:{env['PIPELOGIQ_EXTERNAL_PORT']}"
    internal = f"http://127.0.0.1:{env['PIPELOGIQ_INTERNAL_PORT']}"
    for start in ("first", "second"):
        with process("dev", env=env, ready=f"{base}/readyz") as dev:
            if start == "first":
                key = create_app(env)  # a second process on the same embedded database
                pipeline = drive_pipeline(base, key)
                assert pipeline["status"] == "completed"
            dev.send_signal(signal.SIGTERM)
            assert dev.wait(30) == 0
            output = dev.stdout.read() if dev.stdout else ""
        # The first start makes an admin and shows its password, once.
        shown = re.findall(r"admin@localhost / (\S+)", output)
        if start == "first":
            assert len(shown) == 1
            password = shown[0]
        else:
            assert shown == []
    assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists()
    assert oct((tmp_path / "data" / "jwt-secret").stat().st_mode)[-3:] == "600"
    with process("dev", env=env, ready=f"{base}/readyz"):
        login = httpx.post(
            f"{internal}/api/auth/login", json={"email": "admin@localhost", "password": password}
        )
    assert login.status_code == 200, login.text
    assert login.json()["user"]["role"] == "admin"
    # It was printed: it serves only to choose the admin's own.
    assert login.json()["user"]["mustChangePassword"] is True


def test_the_api_refuses_to_start_without_a_jwt_secret(database_url: str) -> None:
    env = environment(DATABASE_URL=database_url, AMQP_URL=AMQP_URL)
    del env["PIPELOGIQ_JWT_SECRET"]
    done = run("api", env=env)
    assert done.returncode == 2
    assert "PIPELOGIQ_JWT_SECRET" in done.stderr
    weak = run("api", env={**env, "PIPELOGIQ_JWT_SECRET": "secret"})
    assert weak.returncode == 2
    assert "(hidden)" in weak.stderr  # a secret is never printed, even a bad one
    assert "secret" not in weak.stderr.replace("SECRET", "").replace("secrets", "")


def test_create_admin_makes_a_user_who_can_log_in(database_url: str) -> None:
    env = environment(DATABASE_URL=database_url)
    done = run(
        "create-admin", "--email", "ops@example.com", "--password", "long enough pass", env=env
    )
    assert done.returncode == 0, done.stderr
    assert "created admin ops@example.com" in done.stdout
    again = run("create-admin", "--email", "OPS@example.com", "--password", "x" * 12, env=env)
    assert again.returncode == 1
    assert "exists already" in again.stderr
    short = run("create-admin", "--email", "b@example.com", "--password", "short", env=env)
    assert short.returncode == 1
    assert "12 characters" in short.stderr


def test_a_long_poll_whose_client_hung_up_claims_nothing(database_url: str) -> None:
    # Served by granian, as in production: the disconnect must reach the waiting pull.
    env = environment(DATABASE_URL=database_url)
    port = int(env["PIPELOGIQ_EXTERNAL_PORT"])
    base = f"http://127.0.0.1:{port}"
    with process("dev", env=env, ready=f"{base}/readyz"):
        key = create_app(env)
        body = b'{"handlers": ["gone"], "maxJobs": 10, "waitSeconds": 20}'
        with socket.create_connection(("127.0.0.1", port)) as hung_up:
            hung_up.sendall(
                b"POST /jobs/pull HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"X-API-Key: {key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            time.sleep(0.5)  # the pull is waiting
        time.sleep(0.5)  # and its client has gone
        headers = {"X-API-Key": key}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            stage = {"name": "a", "handler": "gone"}
            submitted = client.post("/pipelines", json={"name": "g", "stages": [stage]})
            assert submitted.status_code == 201
            pulled = client.post(
                "/jobs/pull", json={"handlers": ["gone"], "maxJobs": 10, "waitSeconds": 5}
            ).json()["jobs"]
    # Without the hang-up check the dead pull would have claimed it, for a lease's length.
    assert [(job["stageName"], job["attempt"]) for job in pulled] == [("a", 1)]


IN_USE = re.compile(
    r"pipelogiq: port (\d+) \((PIPELOGIQ_\w+_PORT)\) on 127\.0\.0\.1 is in use; "
    r"stop what holds it or choose another port"
)


def refused_port(done: subprocess.CompletedProcess[str]) -> tuple[int, str]:
    """The port and setting a refused start named, in its one line and nothing else."""
    assert done.returncode == 1, done.stdout + done.stderr
    [line] = done.stderr.splitlines()
    match = IN_USE.fullmatch(line)
    assert match, line
    assert "Traceback" not in done.stdout + done.stderr
    assert "pipelogiq is running" not in done.stdout + done.stderr
    return int(match[1]), match[2]


def test_a_second_dev_on_the_same_ports_is_refused(tmp_path: Path) -> None:
    env = environment(PIPELOGIQ_DATA_DIR=str(tmp_path / "data"))
    internal = f"http://127.0.0.1:{env['PIPELOGIQ_INTERNAL_PORT']}"
    with process("dev", env=env, ready=f"{internal}/readyz"):
        second = run("dev", env=env)
        # Not started beside the first, sharing its ports (SO_REUSEPORT) and its database.
        assert refused_port(second) == (
            int(env["PIPELOGIQ_EXTERNAL_PORT"]),
            "PIPELOGIQ_EXTERNAL_PORT",
        )
        assert httpx.get(f"{internal}/healthz").status_code == 200


@pytest.mark.parametrize(
    "setting", ["PIPELOGIQ_INTERNAL_PORT", "PIPELOGIQ_EXTERNAL_PORT", "PIPELOGIQ_METRICS_PORT"]
)
def test_a_port_another_program_holds_is_refused_before_anything_starts(
    tmp_path: Path, setting: str
) -> None:
    env = environment(PIPELOGIQ_DATA_DIR=str(tmp_path / "data"))
    with socket.create_server(("127.0.0.1", int(env[setting]))):
        done = run("dev", env=env)
    assert refused_port(done) == (int(env[setting]), setting)
    assert not (tmp_path / "data").exists()  # no embedded PostgreSQL, no secret, no admin


def test_two_settings_on_one_port_are_refused(tmp_path: Path) -> None:
    env = environment(PIPELOGIQ_DATA_DIR=str(tmp_path / "data"))
    env["PIPELOGIQ_INTERNAL_PORT"] = env["PIPELOGIQ_EXTERNAL_PORT"]
    done = run("dev", env=env)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"pipelogiq: PIPELOGIQ_EXTERNAL_PORT and PIPELOGIQ_INTERNAL_PORT are both "
        f"{env['PIPELOGIQ_EXTERNAL_PORT']}: each needs its own port"
    ]


def test_a_first_start_refused_keeps_the_admin_password_for_the_next(tmp_path: Path) -> None:
    env = environment(PIPELOGIQ_DATA_DIR=str(tmp_path / "data"))
    with socket.create_server(("127.0.0.1", int(env["PIPELOGIQ_METRICS_PORT"]))):
        refused = run("dev", env=env)
    refused_port(refused)
    assert "admin@localhost" not in refused.stdout + refused.stderr
    internal = f"http://127.0.0.1:{env['PIPELOGIQ_INTERNAL_PORT']}"
    with process("dev", env=env, ready=f"{internal}/readyz") as dev:
        assert dev.stdout is not None
        output = ""
        while "admin@localhost / " not in output and (line := dev.stdout.readline()):
            output += line
        # Shown once the start succeeded, after the line saying so.
        [password] = re.findall(r"admin@localhost / (\S+)", output)
        assert output.index("pipelogiq is running") < output.index(password)
        login = httpx.post(
            f"{internal}/api/auth/login", json={"email": "admin@localhost", "password": password}
        )
    assert login.status_code == 200, login.text
