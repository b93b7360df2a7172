"""The external API's contract: auth, validation, problem documents, tenancy, OpenAPI."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from controlplane.engine.access.applications import create_application
from tests.system import System

READY = {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


GOOD_STAGE = {"name": "a", "handler": "h"}


async def test_requests_without_a_key_are_refused(rabbit_system: System) -> None:
    client = rabbit_system.client
    for path, body in [
        ("/pipelines", {"name": "x", "stages": [GOOD_STAGE]}),
        ("/jobs/pull", {"handlers": ["h"]}),
        ("/jobs/ack", {"results": []}),
        ("/workers/bootstrap", {"workerName": "w"}),
    ]:
        response = await client.post(path, json=body, headers={"X-API-Key": ""})
        assert response.status_code == 401, path
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "missing_api_key"


async def test_a_wrong_key_is_refused_and_bearer_works(rabbit_system: System) -> None:
    client = rabbit_system.client
    wrong = await client.get(
        "/pipelines/00000000-0000-0000-0000-000000000000", headers={"X-API-Key": "plq_nope"}
    )
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "invalid_api_key"
    bearer = await client.post(
        "/pipelines",
        json={"name": "x", "stages": [GOOD_STAGE]},
        headers={"X-API-Key": "", "Authorization": f"Bearer {rabbit_system.api_key}"},
    )
    assert bearer.status_code == 201


async def test_a_revoked_key_stops_working(rabbit_system: System) -> None:
    _, key = await create_application(rabbit_system.pool, "revoked-app")
    client = rabbit_system.client
    headers = {"X-API-Key": key}
    first = await client.post("/jobs/pull", json={"handlers": ["h"]}, headers=headers)
    assert first.status_code == 200
    await rabbit_system.pool.execute("UPDATE api_keys SET revoked_at = now()")
    rabbit_system.services.keys._known.clear()  # as if the cache entry had aged out
    again = await client.post("/jobs/pull", json={"handlers": ["h"]}, headers=headers)
    assert again.status_code == 401


async def test_keys_are_stored_hashed(rabbit_system: System) -> None:
    stored = await rabbit_system.pool.fetch("SELECT prefix, key_hash FROM api_keys")
    assert len(stored) == 1
    assert rabbit_system.api_key.encode() not in stored[0]["key_hash"]
    assert rabbit_system.api_key.startswith(stored[0]["prefix"])
    assert len(stored[0]["prefix"]) < len(rabbit_system.api_key) / 3


async def test_another_application_s_pipeline_is_not_found(rabbit_system: System) -> None:
    pipeline = await rabbit_system.submit([GOOD_STAGE])
    _, other_key = await create_application(rabbit_system.pool, "other-app")
    headers = {"X-API-Key": other_key}
    client = rabbit_system.client
    read = await client.get(f"/pipelines/{pipeline['id']}", headers=headers)
    assert read.status_code == 404
    assert read.json()["code"] == "pipeline_not_found"
    cancel = await client.post(f"/pipelines/{pipeline['id']}/cancel", headers=headers)
    assert cancel.status_code == 404
    # Nor can its workers take or ack the first application's jobs.
    assert (await client.post("/jobs/pull", json={"handlers": ["h"]}, headers=headers)).json() == {
        "jobs": []
    }
    [job] = await rabbit_system.pull("h")
    stolen = await client.post(
        "/jobs/ack",
        json={"results": [{"jobId": job["jobId"], "status": "completed"}]},
        headers=headers,
    )
    assert stolen.json()["rejected"] == [{"jobId": job["jobId"], "reason": "unknown_job"}]


INVALID_PIPELINES: list[tuple[str, dict[str, Any], str, str]] = [
    ("empty stages", {"name": "x", "stages": []}, "invalid_request", "length >= 1"),
    ("no name", {"stages": [GOOD_STAGE]}, "stages_required", "name"),
    (
        "unknown dependency",
        {"name": "x", "stages": [{**GOOD_STAGE, "dependsOn": ["ghost"]}]},
        "unknown_dependency",
        "ghost",
    ),
    (
        "duplicate name",
        {"name": "x", "stages": [GOOD_STAGE, GOOD_STAGE]},
        "duplicate_stage_name",
        "'a'",
    ),
    (
        "cycle",
        {
            "name": "x",
            "stages": [
                {"name": "a", "handler": "h", "dependsOn": ["b"]},
                {"name": "b", "handler": "h", "dependsOn": ["a"]},
            ],
        },
        "dependency_cycle",
        "cycle",
    ),
    (
        "oversize input",
        {"name": "x", "stages": [{**GOOD_STAGE, "input": "x" * 2_000_000}]},
        "input_too_large",
        "limit",
    ),
    (
        "bad handler name",
        {"name": "x", "stages": [{"name": "a", "handler": "no spaces"}]},
        "invalid_request",
        "handler",
    ),
    (
        "unknown field",
        {"name": "x", "stages": [{**GOOD_STAGE, "dependOn": []}]},
        "invalid_request",
        "dependOn",
    ),
    (
        "bad backoff",
        {"name": "x", "stages": [{**GOOD_STAGE, "retryBackoff": "linear"}]},
        "invalid_request",
        "retryBackoff",
    ),
    (
        "negative retries",
        {"name": "x", "stages": [{**GOOD_STAGE, "maxRetries": -1}]},
        "invalid_request",
        "maxRetries",
    ),
    (
        "zero timeout",
        {"name": "x", "stages": [{**GOOD_STAGE, "timeoutSeconds": 0}]},
        "invalid_request",
        "timeoutSeconds",
    ),
]


@pytest.mark.parametrize(
    ("body", "code", "mentions"),
    [case[1:] for case in INVALID_PIPELINES],
    ids=[case[0] for case in INVALID_PIPELINES],
)
async def test_invalid_pipelines_are_refused_and_nothing_is_stored(
    rabbit_system: System, body: dict[str, Any], code: str, mentions: str
) -> None:
    response = await rabbit_system.client.post("/pipelines", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == code
    assert problem["status"] == 422
    assert mentions in problem["detail"] + str(problem.get("errors", ""))
    for table in ("pipelines", "stages", "stage_dependencies", "context_items"):
        assert await rabbit_system.pool.fetchval(f"SELECT count(*) FROM {table}") == 0


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/jobs/pull", {"handlers": []}, "handlers"),
        ("/jobs/pull", {"handlers": ["h"], "maxJobs": 101}, "maxJobs"),
        ("/jobs/pull", {"handlers": ["h"], "maxJobs": 0}, "maxJobs"),
        ("/jobs/pull", {"handlers": ["h"], "waitSeconds": 61}, "waitSeconds"),
        ("/jobs/ack", {"results": []}, "results"),
        (
            "/jobs/ack",
            {"results": [{"jobId": "not-a-uuid", "status": "completed"}]},
            "jobId",
        ),
        (
            "/jobs/ack",
            {"results": [{"jobId": "00000000-0000-0000-0000-000000000000", "status": "done"}]},
            "status",
        ),
        ("/workers/bootstrap", {"handlers": ["h"]}, "workerName"),
        ("/workers/heartbeat", {"workerId": "nope"}, "workerId"),
    ],
)
async def test_invalid_job_and_worker_requests_are_refused(
    rabbit_system: System, path: str, body: dict[str, Any], field: str
) -> None:
    response = await rabbit_system.client.post(path, json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "invalid_request"
    assert field in str(problem["errors"]) + problem["detail"]


async def test_malformed_json_is_a_400(rabbit_system: System) -> None:
    response = await rabbit_system.client.post(
        "/pipelines", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


async def test_health_version_and_metrics(rabbit_system: System) -> None:
    client = rabbit_system.client
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == READY
    assert (await client.get("/version")).json()["version"]
    await rabbit_system.submit([GOOD_STAGE])
    metrics = (await client.get("/metrics")).text
    assert "pipelogiq_pipelines_submitted_total" in metrics
    assert "pipelogiq_jobs_published_total" in metrics


async def test_readyz_fails_when_the_broker_is_gone(rabbit_system: System) -> None:
    await rabbit_system.services.broker.close()
    response = await rabbit_system.client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["code"] == "broker_unavailable"
    await rabbit_system.services.broker.start()  # for the fixture's clean-up


async def test_a_stopping_api_ends_long_polls_and_is_not_ready(rabbit_system: System) -> None:
    waiting = asyncio.create_task(rabbit_system.pull("idle", wait=20))
    await asyncio.sleep(0.3)  # the pull is waiting on the broker
    rabbit_system.services.stopping.set()
    try:
        # Answered (empty) long before its 20 s are up, so the process can stop.
        assert await asyncio.wait_for(waiting, 5) == []
        ready = await rabbit_system.client.get("/readyz")
        assert (ready.status_code, ready.json()["code"]) == (503, "stopping")
        # A job queued now stays in its queue for the next process to hand out.
        await rabbit_system.submit([{"name": "late", "handler": "idle"}])
        assert await rabbit_system.pull("idle", wait=0.5) == []
    finally:
        rabbit_system.services.stopping.clear()
    assert [job["stageName"] for job in await rabbit_system.pull("idle")] == ["late"]


async def test_openapi_lists_every_endpoint(rabbit_system: System) -> None:
    document = (await rabbit_system.client.get("/schema/openapi.json")).json()
    paths = set(document["paths"])
    assert {
        "/pipelines",
        "/pipelines/{pipeline_id}",
        "/pipelines/{pipeline_id}/cancel",
        "/jobs/pull",
        "/jobs/ack",
        "/logs",
        "/workers/bootstrap",
        "/workers/heartbeat",
        "/workers/events",
        "/workers/shutdown",
        "/healthz",
        "/readyz",
        "/version",
        "/metrics",
    } <= paths
    schemas = document["components"]["schemas"]
    assert "dependsOn" in schemas["StageSpec"]["properties"]


async def test_the_builtin_worker_answers_the_same_probes(rabbit_system: System) -> None:
    from pipelogiq.health_server import HealthServer
    from pipelogiq.startup import listening
    from tests.processes import free_port

    port = free_port()
    health = HealthServer(rabbit_system.services, "9.9.9")
    with listening("127.0.0.1", {"PIPELOGIQ_METRICS_PORT": port}) as sockets:
        health.start(sockets["PIPELOGIQ_METRICS_PORT"])
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            assert (await client.get("/version")).json() == {"version": "9.9.9"}
            assert (await client.get("/readyz")).json() == READY
            assert "pipelogiq_jobs_pulled_total" in (await client.get("/metrics")).text
            missing = await client.get("/nothing")
            assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
            assert missing.headers["content-type"] == "application/problem+json"
            rabbit_system.services.stopping.set()
            stopping = await client.get("/readyz")
            assert (stopping.status_code, stopping.json()["code"]) == (503, "stopping")
    finally:
        rabbit_system.services.stopping.clear()
        health.stop()
