"""Why a stage is not running: each reason the internal API gives, made to happen."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from controlplane.api.app import create_internal_app
from controlplane.engine.access.accounts import create_user
from tests.dashboard import PASSWORD, Dashboard, logged_in, services_for
from tests.system import System


@pytest.fixture
async def admin(system: System) -> AsyncIterator[Dashboard]:
    await create_user(system.pool, "root@example.com", "Root", "admin", PASSWORD)
    app = create_internal_app(services_for(system.pool, system.services.broker))
    client = await logged_in(app, "root@example.com")
    yield Dashboard(client)
    await client.aclose()


async def why(admin: Dashboard, pipeline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    detail = (await admin.get(f"/api/pipelines/{pipeline['id']}")).json()
    names = {s["id"]: s["name"] for s in detail["pipeline"]["stages"]}
    return {names[w["stageId"]]: w for w in detail["why"]}


async def bootstrap(system: System, handlers: list[str]) -> str:
    answer = await system.client.post(
        "/workers/bootstrap", json={"workerName": "w1", "handlers": handlers}
    )
    return answer.json()["workerId"]


async def test_each_reason_a_stage_is_not_running(system: System, admin: Dashboard) -> None:
    earlier = await system.submit([{"name": "x", "handler": "ops"}], name="earlier")
    pipeline = await system.submit(
        [
            {"name": "a", "handler": "ops", "maxRetries": 1, "retryBackoffSeconds": 60},
            {"name": "b", "handler": "ops", "dependsOn": ["a"]},
        ]
    )
    reasons = await why(admin, pipeline)
    assert reasons["a"]["code"] == "no_worker"
    assert reasons["a"]["message"] == "no online worker serves the handler 'ops'"
    assert (reasons["b"]["code"], reasons["b"]["details"]) == (
        "waiting_for_dependencies",
        {"stages": ["a"]},
    )

    worker_id = await bootstrap(system, ["ops"])
    reasons = await why(admin, pipeline)
    assert reasons["a"]["code"] == "waiting_in_queue"
    assert reasons["a"]["details"] == {"handler": "ops", "jobsAhead": 1, "workers": 1}
    assert (await why(admin, earlier))["x"]["code"] == "waiting_for_worker"

    jobs = await system.pull("ops", wait=5, workerId=worker_id)
    job = next(j for j in jobs if j["stageName"] == "a")
    assert (await why(admin, pipeline))["a"]["message"] == "attempt 1 is running on worker 'w1'"

    await system.ack({"jobId": job["jobId"], "status": "failed", "error": {"message": "flaky"}})
    reasons = await why(admin, pipeline)
    assert reasons["a"]["code"] == "retry_scheduled"
    assert reasons["a"]["details"]["retryAt"] is not None

    await system.pool.execute(
        "UPDATE stages SET retry_at = now() WHERE id = $1", uuid.UUID(job["stageId"])
    )
    await system.worker.queue_due_retries()
    [again] = await system.pull("ops", wait=5, workerId=worker_id)
    await system.ack(
        {
            "jobId": again["jobId"],
            "status": "failed",
            "error": {"message": "broken", "retryable": False},
        }
    )
    await system.worker.advance([uuid.UUID(again["stageId"])])
    reasons = await why(admin, pipeline)
    assert (reasons["a"]["code"], reasons["a"]["message"]) == (
        "failed",
        "failed after 2 attempt(s): broken",
    )
    assert (reasons["b"]["code"], reasons["b"]["details"]) == (
        "pipeline_failed",
        {"failedStages": ["a"]},
    )


async def test_a_draining_worker_takes_no_new_jobs(system: System, admin: Dashboard) -> None:
    pipeline = await system.submit([{"name": "a", "handler": "ops"}])
    worker_id = await bootstrap(system, ["ops"])
    await system.client.post(
        "/workers/heartbeat", json={"workerId": worker_id, "state": "draining"}
    )
    assert (await why(admin, pipeline))["a"]["code"] == "no_worker"
