"""A real Prometheus scrapes every process; promtool lints what each one exposes."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import asyncpg
import httpx
import pytest

from tests.conftest import AMQP_URL, unique_prefix
from tests.processes import (
    create_app,
    delete_application_queues,
    environment,
    free_port,
    process,
)
from tests.test_cli import drive_pipeline

pytestmark = pytest.mark.slow

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def scrape_config(targets: dict[str, str]) -> str:
    jobs = "".join(
        f"  - job_name: {name}\n    static_configs:\n      - targets: ['{target}']\n"
        for name, target in targets.items()
    )
    return f"global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{jobs}"


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


class _Hook(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@contextlib.contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[bytes]]]:
    """A webhook receiver in a thread of its own: its URL, and the bodies it was sent."""
    _Hook.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Hook.bodies
    finally:
        server.shutdown()


def _alert_on_failures(database_url: str, url: str) -> None:
    """A rule on failed pipelines sending to a webhook at ``url``, in the only application."""

    async def add() -> None:
        db = await asyncpg.connect(database_url)
        try:
            await db.execute(
                """
                WITH app AS (SELECT id FROM applications),
                channel AS (
                    INSERT INTO alert_channels (application_id, name, type, config)
                    SELECT id, 'hook', 'webhook', jsonb_build_object('url', $1::text) FROM app
                    RETURNING id, application_id
                )
                INSERT INTO alert_rules (application_id, name, condition, condition_type,
                                         channel_ids)
                SELECT application_id, 'failures', '{"type": "pipeline_failed"}',
                       'pipeline_failed', ARRAY[id] FROM channel
                """,
                url,
            )
        finally:
            await db.close()

    asyncio.run(add())


def fail_pipeline(base: str, key: str) -> None:
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as client:
        submitted = client.post(
            "/pipelines", json={"name": "breaks", "stages": [{"name": "a", "handler": "breaks"}]}
        )
        assert submitted.status_code == 201, submitted.text
        jobs: list[dict[str, Any]] = []
        while not jobs:
            jobs = client.post(
                "/jobs/pull", json={"handlers": ["breaks"], "waitSeconds": 1}
            ).json()["jobs"]
        failed = {"jobId": jobs[0]["jobId"], "status": "failed", "error": {"message": "no"}}
        assert client.post("/jobs/ack", json={"results": [failed]}).status_code == 200


def eventually(check: Any, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_prometheus_scrapes_every_process_and_the_numbers_add_up(
    database_url: str, tmp_path: Path
) -> None:
    assert Path(PROMETHEUS).exists(), "needs Debian's prometheus: apt-get install prometheus"
    prefix = unique_prefix()
    env = environment(
        DATABASE_URL=database_url,
        AMQP_URL=AMQP_URL,
        PIPELOGIQ_AMQP_PREFIX=prefix,
        PIPELOGIQ_ALERTS_ALLOW="127.0.0.0/8",
        PIPELOGIQ_ALERT_INTERVAL_SECONDS="0.5",
    )
    key = create_app(env)
    # One target per process: both API ports serve the same process's metrics.
    targets = {
        "api": f"127.0.0.1:{env['PIPELOGIQ_INTERNAL_PORT']}",
        "builtin-worker": f"127.0.0.1:{env['PIPELOGIQ_METRICS_PORT']}",
    }
    base = f"http://127.0.0.1:{env['PIPELOGIQ_EXTERNAL_PORT']}"
    config = tmp_path / "prometheus.yml"
    config.write_text(scrape_config(targets))
    checked = subprocess.run([PROMTOOL, "check", "config", str(config)], capture_output=True)
    assert checked.returncode == 0, checked
    web = f"127.0.0.1:{free_port()}"
    prometheus = f"http://{web}"
    try:
        with (
            webhook_receiver() as (hook, received),  # for the alert the test raises
            process("api", env=env, ready=f"{base}/readyz"),
            process("worker", env=env, ready=f"http://{targets['builtin-worker']}/metrics"),
        ):
            _alert_on_failures(database_url, hook)
            drive_pipeline(base, key)  # three stages, one after another
            fail_pipeline(base, key)  # and one that fails, which the rule alerts on
            for name, target in {**targets, "external": base.removeprefix("http://")}.items():
                exposed = httpx.get(f"http://{target}/metrics").text
                # promtool's lint: names, units, suffixes, help texts.
                lint = subprocess.run(
                    [PROMTOOL, "check", "metrics"], input=exposed, capture_output=True, text=True
                )
                assert (lint.returncode, lint.stdout + lint.stderr) == (0, ""), name
                # Every process watches how late its event loop runs.
                assert "pipelogiq_event_loop_lag_seconds_count " in exposed, name
            with process(
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address={web}",
                env=env,
                ready=f"{prometheus}/-/ready",
                command=[PROMETHEUS],
            ):

                def all_up() -> None:
                    up = {r["metric"]["job"]: r["value"][1] for r in query(prometheus, "up")}
                    assert up == dict.fromkeys(targets, "1")

                eventually(all_up)

                def totals() -> dict[str, str]:
                    summed = {
                        name: query(prometheus, f"sum({name})")
                        for name in (
                            "pipelogiq_pipelines_submitted_total",
                            "pipelogiq_jobs_published_total",
                            "pipelogiq_jobs_pulled_total",
                            "pipelogiq_jobs_acked_total",
                            "pipelogiq_stages_advanced_total",
                            "pipelogiq_dispatch_latency_seconds_count",
                        )
                    }
                    values = {n: r[0]["value"][1] if r else None for n, r in summed.items()}
                    assert values == {
                        "pipelogiq_pipelines_submitted_total": "2",
                        "pipelogiq_jobs_published_total": "4",
                        "pipelogiq_jobs_pulled_total": "4",
                        "pipelogiq_jobs_acked_total": "4",
                        "pipelogiq_stages_advanced_total": "4",
                        "pipelogiq_dispatch_latency_seconds_count": "4",
                    }
                    return values

                eventually(totals)
                # Requests are counted by route, never by raw path (one series per route).
                reads = query(
                    prometheus,
                    'pipelogiq_http_requests_total{app_name="external", method="GET"}',
                )
                assert [r["metric"]["path"] for r in reads] == ["/pipelines/{pipeline_id}"]
                [build] = query(prometheus, 'pipelogiq_build_info{job="builtin-worker"}')
                assert build["metric"]["version"]

                def alerted() -> None:
                    [firing] = query(prometheus, 'pipelogiq_alerts_firing{rule="failures"}')
                    assert firing["value"][1] == "1"
                    [sent] = query(
                        prometheus, 'pipelogiq_alert_deliveries_total{outcome="delivered"}'
                    )
                    assert (sent["metric"]["channel_type"], sent["value"][1]) == ("webhook", "1")

                eventually(alerted)
                assert len(received) == 1
    finally:
        delete_application_queues(database_url, AMQP_URL, prefix, ["cli"])
