"""Scale-out: two API processes and two built-in workers on one database and one RabbitMQ,
under load from raw-HTTP workers that pull from one API and ack through the other. No job is
lost, none is run twice by the engine's choice, and the replicas' metrics add up."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

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

pytestmark = pytest.mark.slow

PIPELINES = 150
STAGES = 3
PULLERS = 6


def replica(env: dict[str, str]) -> dict[str, str]:
    """The same installation, on ports of its own."""
    return {
        **env,
        "PIPELOGIQ_EXTERNAL_PORT": str(free_port()),
        "PIPELOGIQ_INTERNAL_PORT": str(free_port()),
        "PIPELOGIQ_METRICS_PORT": str(free_port()),
    }


def metric(text: str, name: str) -> float:
    """The sum of a metric's samples (over all its labels) in one scrape."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def pull_and_ack(
    pull_from: str, ack_to: str, key: str, done: threading.Event, seen: list[dict[str, Any]]
) -> None:
    headers = {"X-API-Key": key}
    body = {"handlers": ["scale"], "maxJobs": 20, "waitSeconds": 1}
    with httpx.Client(headers=headers, timeout=30) as client:
        while not done.is_set():
            jobs = client.post(f"{pull_from}/jobs/pull", json=body).json()["jobs"]
            if not jobs:
                continue
            seen.extend(jobs)
            results = [{"jobId": j["jobId"], "status": "completed", "output": 1} for j in jobs]
            answer = client.post(f"{ack_to}/jobs/ack", json={"results": results}).json()
            assert answer["rejected"] == [], answer


async def statuses(database_url: str) -> tuple[Counter[str], Counter[int], int]:
    connection = await asyncpg.connect(database_url)
    try:
        pipelines = Counter(
            r["status"] for r in await connection.fetch("SELECT status FROM pipelines")
        )
        attempts = Counter(
            r["attempt"] for r in await connection.fetch("SELECT attempt FROM stages")
        )
        history = await connection.fetchval("SELECT count(*) FROM stage_attempts")
    finally:
        await connection.close()
    return pipelines, attempts, history


def test_two_apis_and_two_builtin_workers_lose_nothing_and_add_up(database_url: str) -> None:
    prefix = unique_prefix()
    first = environment(DATABASE_URL=database_url, AMQP_URL=AMQP_URL, PIPELOGIQ_AMQP_PREFIX=prefix)
    second = replica(first)
    key = create_app(first)
    apis = [f"http://127.0.0.1:{env['PIPELOGIQ_EXTERNAL_PORT']}" for env in (first, second)]
    scrape = [
        f"http://127.0.0.1:{env[port]}/metrics"
        for env in (first, second)
        for port in ("PIPELOGIQ_INTERNAL_PORT", "PIPELOGIQ_METRICS_PORT")
    ]
    try:
        with (
            process("api", env=first, ready=f"{apis[0]}/readyz"),
            process("api", env=second, ready=f"{apis[1]}/readyz"),
            process("worker", env=first, ready=scrape[1]),
            process("worker", env=second, ready=scrape[3]),
            ThreadPoolExecutor(PULLERS + 4) as pool,
        ):
            done = threading.Event()
            seen: list[dict[str, Any]] = []
            pullers = [
                pool.submit(pull_and_ack, apis[i % 2], apis[(i + 1) % 2], key, done, seen)
                for i in range(PULLERS)
            ]
            stages = [{"name": f"s{i}", "handler": "scale"} for i in range(STAGES)]

            def submit(i: int) -> str:
                answer = httpx.post(
                    f"{apis[i % 2]}/pipelines",
                    json={"name": f"load-{i}", "stages": stages},
                    headers={"X-API-Key": key},
                    timeout=30,
                )
                assert answer.status_code == 201, answer.text
                return answer.json()["id"]

            submitted = list(pool.map(submit, range(PIPELINES)))
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                finished, _, _ = asyncio.run(statuses(database_url))
                if finished["completed"] == PIPELINES:
                    break
                time.sleep(0.5)
            done.set()
            for puller in pullers:
                puller.result(timeout=30)
            # Counters are written as transitions commit; give the last scrape a moment.
            time.sleep(0.5)
            scraped = [httpx.get(url).text for url in scrape]
        pipelines, attempts, history = asyncio.run(statuses(database_url))
    finally:
        delete_application_queues(database_url, AMQP_URL, prefix, ["scale"])

    total = PIPELINES * STAGES
    # Nothing lost: every pipeline completed, every stage ran once.
    assert len(set(submitted)) == PIPELINES
    assert pipelines == {"completed": PIPELINES}
    assert attempts == {1: total}
    assert history == total
    # None run twice: each stage was handed out once, as one job.
    assert len(seen) == total
    assert len({job["stageId"] for job in seen}) == total
    assert len({job["jobId"] for job in seen}) == total

    # The replicas' counters add up to what happened; each replica did its share.
    api_one, worker_one, api_two, worker_two = scraped

    def both(name: str, first_text: str, second_text: str) -> tuple[float, float]:
        return metric(first_text, name), metric(second_text, name)

    submitted_by = both("pipelogiq_pipelines_submitted_total", api_one, api_two)
    pulled_by = both("pipelogiq_jobs_pulled_total", api_one, api_two)
    acked_by = both("pipelogiq_jobs_acked_total", api_one, api_two)
    advanced_by = both("pipelogiq_stages_advanced_total", worker_one, worker_two)
    assert sum(submitted_by) == PIPELINES
    assert sum(pulled_by) == total
    assert sum(acked_by) == total
    assert sum(advanced_by) == total
    assert min(submitted_by) > 0
    assert min(pulled_by) > 0
    assert min(advanced_by) > 0  # both built-in workers consumed results
    published = sum(metric(text, "pipelogiq_jobs_published_total") for text in scraped)
    republished = sum(metric(text, "pipelogiq_relay_republished_total") for text in scraped)
    assert published == total + republished
