"""Action policies: kept through the internal API, and each kind changes what the engine does."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from controlplane.api.app import create_internal_app
from tests.dashboard import Dashboard, add_member, logged_in, services_for
from tests.system import System


@pytest.fixture
async def users(system: System) -> AsyncIterator[dict[str, Dashboard]]:
    """A developer and an operator of the system's application."""
    await add_member(system.pool, system.application.id, "dev@example.com", "developer")
    await add_member(system.pool, system.application.id, "op@example.com", "operator")
    services = services_for(system.pool, system.services.broker)
    # The external API's policy cache: a change made here is seen there at once.
    services.policies = system.services.policies
    app = create_internal_app(services)
    clients = {who: await logged_in(app, f"{who}@example.com") for who in ("dev", "op")}
    yield {who: Dashboard(client) for who, client in clients.items()}
    for client in clients.values():
        await client.aclose()


async def add_policy(
    system: System, dev: Dashboard, kind: str, config: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    body = {
        "applicationId": str(system.application.id),
        "name": f"{kind}-policy",
        "kind": kind,
        "target": {"type": "handler", "name": "ops"},
        "config": config,
        **extra,
    }
    response = await dev.send("POST", "/api/policies", body)
    assert response.status_code == 201, response.text
    return response.json()


async def why(dev: Dashboard, pipeline_id: str) -> list[str]:
    detail = (await dev.get(f"/api/pipelines/{pipeline_id}")).json()
    return [w["code"] for w in detail["why"]]


async def test_a_retry_policy_retries_what_the_submit_did_not_ask_to(
    system: System, users: dict[str, Dashboard]
) -> None:
    await add_policy(
        system, users["dev"], "retry", {"maxRetries": 3, "backoffSeconds": 0, "retryOn": ["flaky"]}
    )
    pipeline = await system.submit(
        [{"name": "a", "handler": "ops"}, {"name": "b", "handler": "ops"}]
    )
    assert [s["maxRetries"] for s in pipeline["stages"]] == [3, 3]
    [job] = await system.pull("ops", wait=5)
    await system.ack(
        {
            "jobId": job["jobId"],
            "status": "failed",
            "error": {"message": "try again", "code": "flaky"},
        }
    )
    assert (await system.pipeline(pipeline["id"]))["stages"][0]["status"] == "retry_scheduled"
    await system.worker.queue_due_retries()
    [again] = await system.pull("ops", wait=5)
    # A code the policy does not retry fails the stage, retries left or not.
    await system.ack(
        {
            "jobId": again["jobId"],
            "status": "failed",
            "error": {"message": "bad input", "code": "invalid"},
        }
    )
    assert (await system.pipeline(pipeline["id"]))["stages"][0]["status"] == "failed"


async def test_a_timeout_policy_times_out_the_stage(
    system: System, users: dict[str, Dashboard]
) -> None:
    await add_policy(system, users["dev"], "timeout", {"seconds": 5})
    pipeline = await system.submit([{"name": "a", "handler": "ops", "timeoutSeconds": 600}])
    assert pipeline["stages"][0]["timeoutSeconds"] == 5
    await system.pull("ops", wait=5)
    await system.pool.execute("UPDATE stages SET deadline_at = now() - interval '1 second'")
    await system.worker.sweep_leases_and_timeouts()
    stage = (await system.pipeline(pipeline["id"]))["stages"][0]
    assert (stage["status"], stage["error"]["code"]) == ("failed", "timeout")


async def test_a_concurrency_limit_holds_back_what_is_over_it(
    system: System, users: dict[str, Dashboard]
) -> None:
    policy = await add_policy(system, users["dev"], "concurrency", {"limit": 1})
    pipelines = [await system.submit([{"name": "a", "handler": "ops"}]) for _ in range(3)]
    [first] = await system.pull("ops", max_jobs=10, wait=2)
    assert await system.pull("ops", wait=0.5) == []  # the other two are held, not in the queue
    held = [p["id"] for p in pipelines if p["id"] != first["pipelineId"]]
    assert await why(users["dev"], held[0]) == ["concurrency_limit"]
    await system.worker.release_held_stages()
    assert await system.pull("ops", wait=0.5) == []  # still no room
    await system.ack({"jobId": first["jobId"], "status": "completed"})
    await system.worker.release_held_stages()
    [second] = await system.pull("ops", max_jobs=10, wait=5)
    assert second["pipelineId"] in held
    # Pausing the policy lets everything go at once (through the relay).
    paused = await users["dev"].send("PATCH", f"/api/policies/{policy['id']}", {"status": "paused"})
    assert paused.json()["status"] == "paused"
    assert await system.pool.fetchval("SELECT count(*) FROM stages WHERE held_by IS NOT NULL") == 0


async def test_a_rate_limit_lets_through_its_burst_then_holds(
    system: System, users: dict[str, Dashboard]
) -> None:
    await add_policy(system, users["dev"], "rate_limit", {"limit": 2, "windowSeconds": 3600})
    for _ in range(4):
        await system.submit([{"name": "a", "handler": "ops"}])
    jobs = await system.pull("ops", max_jobs=10, wait=2)
    assert len(jobs) == 2
    for job in jobs:
        await system.ack({"jobId": job["jobId"], "status": "completed"})
    await system.worker.release_held_stages()
    assert await system.pull("ops", wait=0.5) == []  # finishing frees no tokens
    codes = await system.pool.fetch(
        "SELECT p.kind FROM stages s JOIN policies p ON p.id = s.held_by"
    )
    assert [row["kind"] for row in codes] == ["rate_limit", "rate_limit"]
    # A new config starts a fresh bucket.
    [policy] = (await users["dev"].get("/api/policies")).json()["items"]
    await users["dev"].send(
        "PATCH", f"/api/policies/{policy['id']}", {"config": {"limit": 5, "windowSeconds": 60}}
    )
    await system.worker.sweep_lost_messages()
    await system.pool.execute("UPDATE stages SET queued_at = queued_at - interval '1 hour'")
    await system.worker.sweep_lost_messages()
    assert len(await system.pull("ops", max_jobs=10, wait=5)) == 2


async def test_policies_are_validated_audited_and_only_developers_change_them(
    system: System, users: dict[str, Dashboard]
) -> None:
    dev, op = users["dev"], users["op"]
    base = {
        "applicationId": str(system.application.id),
        "name": "p",
        "kind": "concurrency",
        "target": {"type": "handler", "name": "ops"},
    }
    bad = await dev.send("POST", "/api/policies", {**base, "config": {"limit": 0}})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_policy_config")
    bad = await dev.send("POST", "/api/policies", {**base, "config": {"limit": 1, "x": 1}})
    assert bad.status_code == 422
    bad = await dev.send(
        "POST",
        "/api/policies",
        {**base, "target": {"type": "handler", "name": "a b"}, "config": {"limit": 1}},
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_policy_target")
    refused = await op.send("POST", "/api/policies", {**base, "config": {"limit": 1}})
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    created = await dev.send("POST", "/api/policies", {**base, "config": {"limit": 1}})
    assert created.status_code == 201
    policy_id = created.json()["id"]
    twin = await dev.send("POST", "/api/policies", {**base, "name": "q", "config": {"limit": 2}})
    assert (twin.status_code, twin.json()["code"]) == (409, "policy_target_taken")
    assert (await op.get("/api/policies")).json()["items"][0]["id"] == policy_id  # may read
    refused = await op.send("PATCH", f"/api/policies/{policy_id}", {"status": "paused"})
    assert refused.status_code == 403
    await dev.send("PATCH", f"/api/policies/{policy_id}", {"status": "paused"})
    await dev.send("PATCH", f"/api/policies/{policy_id}", {"config": {"limit": 3}})
    history = (await op.get(f"/api/policies/{policy_id}/history")).json()
    assert [(e["action"], e["details"]["status"], e["details"]["config"]) for e in history] == [
        ("policy.changed", "paused", {"limit": 3}),
        ("policy.changed", "paused", {"limit": 1}),
        ("policy.created", "active", {"limit": 1}),
    ]
    assert {e["actor"] for e in history} == {"dev@example.com"}
    gone = await dev.send("DELETE", f"/api/policies/{policy_id}")
    assert gone.status_code == 204
    missing = await dev.get(f"/api/policies/{policy_id}")
    assert (missing.status_code, missing.json()["code"]) == (404, "policy_not_found")
    elsewhere = await dev.send(
        "POST",
        "/api/policies",
        {**base, "applicationId": str(uuid.uuid4()), "config": {"limit": 1}},
    )
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (404, "application_not_found")
