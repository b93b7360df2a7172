"""The container files: the compose stack validates and holds every part, Prometheus's config
names every process, and the image's own healthcheck probes a real API.

No Docker engine runs here: `docker compose config` (or Debian's `docker-compose config`)
validates and resolves the file without one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import AMQP_URL
from tests.processes import environment, free_port, process

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose" / "docker-compose.yml"
DOCKERFILE = ROOT / "compose" / "Dockerfile"
PROMETHEUS_CONFIG = ROOT / "compose" / "prometheus.yml"
SECRET = "compose-test-secret-0123456789-abcdefghij"
PIPELOGIQ_SERVICES = ("api", "worker", "demo-app", "example-worker")


def compose_command() -> list[str]:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("needs `docker compose` or Debian's docker-compose: apt-get install docker-compose")


def compose_config(**env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PIPELOGIQ_")}
    return subprocess.run(
        [*compose_command(), "-f", str(COMPOSE), "config"],
        env={**environ, **env},
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    done = compose_config(PIPELOGIQ_JWT_SECRET=SECRET)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)["services"]


def test_the_stack_holds_every_part(services: dict[str, Any]) -> None:
    assert set(services) == {"postgres", "rabbitmq", "prometheus", *PIPELOGIQ_SERVICES}
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["rabbitmq"]["image"].endswith("-management")
    for name in PIPELOGIQ_SERVICES:
        assert services[name]["build"]["dockerfile"] == "compose/Dockerfile", name
    assert services["api"]["environment"]["PIPELOGIQ_JWT_SECRET"] == SECRET
    assert services["api"]["environment"]["DATABASE_URL"].startswith("postgresql://pipelogiq:")


def test_every_long_running_part_has_a_healthcheck_and_starts_in_order(
    services: dict[str, Any],
) -> None:
    for name in ("api", "worker"):
        probe = " ".join(services[name]["healthcheck"]["test"])
        assert "/healthz" in probe, name
        assert {k: v["condition"] for k, v in services[name]["depends_on"].items()} == {
            "postgres": "service_healthy",
            "rabbitmq": "service_healthy",
        }
    assert "/metrics" in " ".join(services["example-worker"]["healthcheck"]["test"])
    assert services["example-worker"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert services["postgres"]["healthcheck"]["test"][0] == "CMD-SHELL"
    assert "rabbitmq-diagnostics" in services["rabbitmq"]["healthcheck"]["test"]


def test_a_stop_waits_longer_than_the_processes_take(services: dict[str, Any]) -> None:
    # compose writes durations its own way ("20s" or 20000000000 ns).
    for name in ("api", "worker", "example-worker"):
        grace = services[name]["stop_grace_period"]
        seconds = int(grace.removesuffix("s")) if isinstance(grace, str) else grace / 1e9
        assert seconds > 10, name  # PIPELOGIQ_SHUTDOWN_TIMEOUT_SECONDS' default


def test_the_stack_refuses_to_start_without_a_jwt_secret() -> None:
    done = compose_config()
    assert done.returncode != 0
    assert "PIPELOGIQ_JWT_SECRET" in done.stderr


def test_prometheus_scrapes_every_process_of_the_stack(services: dict[str, Any]) -> None:
    checked = subprocess.run(
        ["promtool", "check", "config", str(PROMETHEUS_CONFIG)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    targets = {
        t for job in config["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    }
    worker_port = services["example-worker"]["environment"]["PIPELOGIQ_WORKER_METRICS_PORT"]
    assert targets == {
        "api:8080",  # one port per API process: both serve the same numbers
        "worker:9090",
        f"example-worker:{worker_port}",
        "rabbitmq:15692",
    }
    mounted = " ".join(str(v) for v in services["prometheus"]["volumes"])
    assert "prometheus.yml" in mounted
    # Its rules about Pipelogiq's own alerting are valid, mounted, and read the alert metrics.
    rules = PROMETHEUS_CONFIG.parent / "alert-rules.yml"
    checked = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True)
    assert checked.returncode == 0, checked
    assert "alert-rules.yml:/etc/prometheus/alert-rules.yml:ro" in mounted
    expressions = " ".join(
        rule["expr"]
        for group in yaml.safe_load(rules.read_text())["groups"]
        for rule in group["rules"]
    )
    assert "pipelogiq_alerts_firing" in expressions
    assert "pipelogiq_alert_deliveries_total" in expressions


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_image_is_built_in_stages_and_runs_unprivileged() -> None:
    steps = dockerfile_instructions()
    stages = [args for kind, args in steps if kind == "FROM"]
    assert len(stages) == 3
    assert stages[0].startswith("node:20")
    assert stages[0].endswith("AS dashboard")
    final = steps[max(i for i, (kind, _) in enumerate(steps) if kind == "FROM") :]
    [user] = [args for kind, args in final if kind == "USER"]
    assert user.split(":")[0] not in ("0", "root")
    assert ("ENTRYPOINT", '["pipelogiq"]') in final
    # The final stage copies only results: the built dashboard, never node_modules.
    copies = [args for kind, args in final if kind == "COPY"]
    assert "--from=dashboard /src/dashboard/dist /app/dashboard" in copies
    env = " ".join(args for kind, args in final if kind == "ENV")
    assert "PIPELOGIQ_DASHBOARD_DIR=/app/dashboard" in env
    assert "PIPELOGIQ_HOST=0.0.0.0" in env


@pytest.mark.slow
def test_the_image_healthcheck_probes_a_running_api(database_url: str) -> None:
    [healthcheck] = [args for kind, args in dockerfile_instructions() if kind == "HEALTHCHECK"]
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"]
    env = environment(DATABASE_URL=database_url, AMQP_URL=AMQP_URL)
    base = f"http://127.0.0.1:{env['PIPELOGIQ_EXTERNAL_PORT']}"
    with process("api", env=env, ready=f"{base}/readyz"):
        alive = {**os.environ, "HEALTHCHECK_PORT": env["PIPELOGIQ_INTERNAL_PORT"]}
        assert subprocess.run(command, env=alive, capture_output=True).returncode == 0
    nothing = {**os.environ, "HEALTHCHECK_PORT": str(free_port())}
    assert subprocess.run(command, env=nothing, capture_output=True).returncode != 0
