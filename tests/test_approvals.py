"""The approval template and the approvals it waits on: opened by a job, decided by people
through the internal API, seen by the template; one approval per run of the stage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from controlplane.api.app import create_internal_app
from controlplane.engine.access.applications import create_application
from tests.dashboard import Dashboard, add_member, logged_in, services_for
from tests.system import URL, System, running, sdk_worker
from worker_sdk import AsyncClient
from worker_sdk.templates.core import approval
from worker_sdk.testing import JobEnvironment


@pytest.fixture
async def operator(system: System) -> AsyncIterator[Dashboard]:
    await add_member(system.pool, system.application.id, "op@example.com", "operator")
    app = create_internal_app(services_for(system.pool, system.services.broker))
    client = await logged_in(app, "op@example.com")
    yield Dashboard(client)
    await client.aclose()


async def pending(operator: Dashboard, count: int = 1) -> list[dict[str, Any]]:
    for _ in range(200):
        response = await operator.get("/api/approvals?status=pending")
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        if len(items) >= count:
            return items
        await asyncio.sleep(0.05)
    raise AssertionError("no approval is pending")


def waiting(deadline: float = 60, **extra: Any) -> dict[str, Any]:
    return {
        "name": "sign-off",
        "handler": "approval",
        "input": {
            "message": "Ship the November report?",
            "details": {"rows": 240},
            "deadlineSeconds": deadline,
            "pollSeconds": 0.1,
            **extra,
        },
    }


async def run_pipeline(
    system: System, stages: list[dict[str, Any]], decide: Any = None
) -> tuple[Any, list[dict[str, Any]]]:
    """Run the stages with an SDK worker serving the core templates; ``decide`` is awaited
    while the pipeline runs. Returns the pipeline once it has finished."""
    system.start_builtin_worker()
    worker = sdk_worker(system)
    worker.use_templates("core")
    async with (
        AsyncClient(URL, system.api_key, transport=system.transport) as client,
        running(worker),
    ):
        submitted = await client.create_pipeline({"name": "release", "stages": stages})
        if decide is not None:
            await decide()
        return await client.wait(submitted.id, timeout=30)


async def test_an_approved_stage_completes_and_the_pipeline_goes_on(
    system: System, operator: Dashboard
) -> None:
    after = {"name": "publish", "handler": "transform", "input": {"output": "=deps['sign-off']"}}

    async def approve() -> None:
        [item] = await pending(operator)
        assert item["message"] == "Ship the November report?"
        assert item["details"] == {"rows": 240}
        assert (item["pipelineName"], item["stageName"], item["status"]) == (
            "release",
            "sign-off",
            "pending",
        )
        answer = await operator.send(
            "POST", f"/api/approvals/{item['id']}/approve", {"comment": "numbers checked"}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "approved"
        again = await operator.send("POST", f"/api/approvals/{item['id']}/reject", {})
        assert (again.status_code, again.json()["code"]) == (409, "approval_decided")

    finished = await run_pipeline(system, [waiting(), after], approve)
    assert finished.status == "completed"
    output = finished.stage("sign-off").output
    assert output["approved"] is True
    assert (output["decidedBy"], output["comment"]) == ("op@example.com", "numbers checked")
    assert finished.stage("publish").output == output
    audit = await system.pool.fetch(
        "SELECT actor, action FROM audit_log WHERE target_type = 'approval'"
    )
    assert [(a["actor"], a["action"]) for a in audit] == [("op@example.com", "approval.approved")]
    # Its run is over: it is no longer pending anywhere.
    assert (await operator.get("/api/approvals?status=pending")).json()["items"] == []


async def test_a_rejected_stage_fails_for_good_with_the_reason(
    system: System, operator: Dashboard
) -> None:
    async def reject() -> None:
        [item] = await pending(operator)
        answer = await operator.send(
            "POST", f"/api/approvals/{item['id']}/reject", {"comment": "totals are off"}
        )
        assert answer.status_code == 200, answer.text

    finished = await run_pipeline(system, [{**waiting(), "maxRetries": 3}], reject)
    assert finished.status == "failed"
    error = finished.stage("sign-off").error
    assert error["code"] == "rejected"
    assert error["message"] == "rejected by op@example.com: totals are off"
    assert finished.stage("sign-off").attempt == 1  # not retried


async def test_past_the_deadline_it_is_rejected_by_default(
    system: System, operator: Dashboard
) -> None:
    finished = await run_pipeline(system, [waiting(deadline=0.3)])
    assert finished.status == "failed"
    assert finished.stage("sign-off").error["code"] == "approval_expired"
    [expired] = (await operator.get("/api/approvals?status=expired")).json()["items"]
    late = await operator.send("POST", f"/api/approvals/{expired['id']}/approve", {})
    assert (late.status_code, late.json()["code"]) == (409, "approval_expired")


async def test_past_the_deadline_it_is_approved_if_the_stage_says_so(system: System) -> None:
    finished = await run_pipeline(system, [waiting(deadline=0.3, onTimeout="approve")])
    assert finished.status == "completed"
    output = finished.stage("sign-off").output
    assert (output["approved"], output["expired"], output["decidedBy"]) == (True, True, None)


async def test_one_approval_per_run_of_the_stage(system: System, operator: Dashboard) -> None:
    pipeline = await system.submit([{**waiting(), "maxRetries": 0}])
    [first] = await system.pull("approval")
    opened = {"jobId": first["jobId"], "message": "ok?", "deadlineSeconds": 60}
    approval_id = (await system.client.post("/approvals", json=opened)).json()["id"]
    # The same job asking again gets the same approval.
    assert (await system.client.post("/approvals", json=opened)).json()["id"] == approval_id

    # The worker vanishes; the next job of the stage finds the approval, decided meanwhile.
    await system.pool.execute("UPDATE stages SET lease_expires_at = now() - interval '1 second'")
    await system.worker.sweep_leases_and_timeouts()
    await operator.send("POST", f"/api/approvals/{approval_id}/approve", {"comment": "go"})
    [second] = await system.pull("approval", wait=5)
    state = (
        await system.client.post("/approvals", json={**opened, "jobId": second["jobId"]})
    ).json()
    assert (state["id"], state["status"], state["comment"]) == (approval_id, "approved", "go")
    stale = await system.client.post("/approvals", json=opened)  # the vanished worker's job
    assert (stale.status_code, stale.json()["code"]) == (409, "job_not_running")
    await system.ack(
        {"jobId": second["jobId"], "status": "completed", "output": {"approved": True}}
    )

    # A rerun is a new run: it waits for a new decision.
    stage_id = pipeline["stages"][0]["id"]
    rerun = await operator.send(
        "POST", f"/api/pipelines/{pipeline['id']}/stages/{stage_id}/rerun", {}
    )
    assert rerun.status_code == 200, rerun.text
    [third] = await system.pull("approval", wait=5)
    fresh = (
        await system.client.post("/approvals", json={**opened, "jobId": third["jobId"]})
    ).json()
    assert (fresh["status"], fresh["id"] != approval_id) == ("pending", True)
    listed = (await operator.get(f"/api/approvals?pipeline={pipeline['id']}")).json()["items"]
    assert [(a["id"], a["status"]) for a in listed] == [
        (fresh["id"], "pending"),
        (approval_id, "approved"),
    ]


async def test_approvals_are_seen_only_in_their_application(
    system: System, operator: Dashboard
) -> None:
    _, other_key = await create_application(system.pool, "elsewhere")
    theirs = await system.client.post(
        "/pipelines",
        json={"name": "x", "stages": [waiting()]},
        headers={"X-API-Key": other_key},
    )
    assert theirs.status_code == 201
    headers = {"X-API-Key": other_key}
    [their_job] = (
        await system.client.post(
            "/jobs/pull", json={"handlers": ["approval"], "waitSeconds": 5}, headers=headers
        )
    ).json()["jobs"] or [None]
    assert their_job is not None
    opened = await system.client.post(
        "/approvals",
        json={"jobId": their_job["jobId"], "message": "theirs"},
        headers=headers,
    )
    their_id = opened.json()["id"]
    # Not the operator's application, nor the system's key's.
    assert (await operator.get("/api/approvals")).json()["items"] == []
    hidden = await operator.send("POST", f"/api/approvals/{their_id}/approve", {})
    assert (hidden.status_code, hidden.json()["code"]) == (404, "approval_not_found")
    foreign = await system.client.get(f"/approvals/{their_id}")
    assert (foreign.status_code, foreign.json()["code"]) == (404, "approval_not_found")
    # And a job of theirs cannot be opened with the system's key.
    wrong = await system.client.post(
        "/approvals", json={"jobId": their_job["jobId"], "message": "x"}
    )
    assert (wrong.status_code, wrong.json()["code"]) == (409, "job_not_running")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"message": ""}, "invalid_request"),
        ({"message": "x", "deadlineSeconds": 0}, "invalid_request"),
        ({"message": "x", "details": "y" * 70_000}, "details_too_large"),
        ({"message": "x", "surprise": 1}, "invalid_request"),
    ],
)
async def test_bad_approval_requests_are_refused(
    system: System, body: dict[str, Any], code: str
) -> None:
    await system.submit([waiting()])
    [job] = await system.pull("approval")
    answer = await system.client.post("/approvals", json={"jobId": job["jobId"], **body})
    assert (answer.status_code, answer.json()["code"]) == (422, code)
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert await system.pool.fetchval("SELECT count(*) FROM approvals") == 0


def test_without_a_control_plane_the_template_says_so() -> None:
    outcome = JobEnvironment().run(approval, {"message": "ok?"})
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.retryable) == ("no_control_plane", False)


async def test_an_approval_of_a_cancelled_pipeline_is_closed(
    system: System, operator: Dashboard
) -> None:
    pipeline = await system.submit([waiting()])
    [job] = await system.pull("approval")
    opened = await system.client.post("/approvals", json={"jobId": job["jobId"], "message": "?"})
    cancelled = await operator.send("POST", f"/api/pipelines/{pipeline['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    [item] = (await operator.get("/api/approvals")).json()["items"]
    assert (item["id"], item["status"]) == (opened.json()["id"], "closed")
    late = await operator.send("POST", f"/api/approvals/{item['id']}/approve", {})
    assert (late.status_code, late.json()["code"]) == (409, "approval_closed")


async def test_a_retried_job_waits_on_the_same_approval(system: System) -> None:
    system.start_builtin_worker()
    await system.submit(
        [{**waiting(), "maxRetries": 1, "retryBackoff": "fixed", "retryBackoffSeconds": 0}]
    )
    [first] = await system.pull("approval")
    opened = {"jobId": first["jobId"], "message": "ok?"}
    approval_id = (await system.client.post("/approvals", json=opened)).json()["id"]
    failure = {"message": "connection reset", "retryable": True}
    await system.ack({"jobId": first["jobId"], "status": "failed", "error": failure})
    [second] = await system.pull("approval", wait=5)
    assert second["attempt"] == 2
    again = await system.client.post("/approvals", json={**opened, "jobId": second["jobId"]})
    assert (again.json()["id"], again.json()["status"]) == (approval_id, "pending")
