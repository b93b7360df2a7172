"""Operators' actions on stages: rerun (alone, downstream, new input), skip, resume, bulk.

Each runs through the internal API against the real engine; the built-in worker's advance is
called directly after each ack, so every step is deterministic.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg

from controlplane.engine.access.applications import create_application
from controlplane.engine.jobpath.advance import advance_stages
from tests.dashboard import Dashboard
from tests.system import System

CHAIN = [
    {"name": "a", "handler": "ops"},
    {"name": "b", "handler": "ops"},
    {"name": "c", "handler": "ops"},
]


async def finish(system: System, status: str = "completed", **extra: Any) -> dict[str, Any]:
    """Pull the one queued job, report ``status``, and advance: one step of the pipeline."""
    [job] = await system.pull("ops", wait=5)
    result = {"jobId": job["jobId"], "status": status, **extra}
    if status == "failed":
        result.setdefault("error", {"message": "boom", "retryable": False})
    answer = await system.ack(result)
    assert answer["accepted"] == [job["jobId"]], answer
    await system.worker.advance([uuid.UUID(job["stageId"])])
    return job


async def audited(system: System) -> list[asyncpg.Record]:
    """What the operator did, by the audit log."""
    return await system.pool.fetch(
        "SELECT action, details FROM audit_log WHERE target_type IN ('stage', 'pipeline') "
        "AND actor = 'op@example.com' ORDER BY id"
    )


def statuses(detail: dict[str, Any]) -> dict[str, str]:
    pipeline = detail.get("pipeline", detail)
    return {s["name"]: s["status"] for s in pipeline["stages"]}


def stage_id(detail: dict[str, Any], name: str) -> str:
    pipeline = detail.get("pipeline", detail)
    return next(s["id"] for s in pipeline["stages"] if s["name"] == name)


async def act(
    operator: Dashboard, pipeline: dict[str, Any], stage: str, action: str, **body: Any
) -> dict[str, Any]:
    path = f"/api/pipelines/{pipeline['id']}/stages/{stage_id(pipeline, stage)}/{action}"
    response = await operator.send("POST", path, body)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_rerun_failed_stage_runs_again_and_completes_the_pipeline(
    system: System, operator: Dashboard
) -> None:
    pipeline = await system.submit(CHAIN)
    await finish(system)
    await finish(system, "failed")
    failed = await system.pipeline(pipeline["id"])
    assert failed["status"] == "failed"
    assert statuses(failed) == {"a": "completed", "b": "failed", "c": "cancelled"}

    detail = await act(operator, pipeline, "b", "rerun")
    assert detail["pipeline"]["status"] == "running"
    assert statuses(detail) == {"a": "completed", "b": "queued", "c": "not_started"}
    rerun = await finish(system)
    assert (rerun["stageName"], rerun["attempt"]) == ("b", 2)
    assert rerun["dependencies"] == {"a": None}
    await finish(system)
    done = (await operator.get(f"/api/pipelines/{pipeline['id']}")).json()
    assert done["pipeline"]["status"] == "completed"
    b_attempts = [
        (a["attempt"], a["outcome"])
        for a in done["attempts"]
        if a["stageId"] == stage_id(done, "b")
    ]
    assert b_attempts == [(1, "failed"), (2, "completed")]
    [audit] = await audited(system)
    assert audit["action"] == "stage.rerun"
    assert audit["details"]["stage"] == "b"


async def test_a_rerun_may_bring_a_new_input(system: System, people: dict[str, Dashboard]) -> None:
    pipeline = await system.submit([{"name": "a", "handler": "ops", "input": {"n": 1}}])
    await finish(system, "failed")
    detail = (await people["ada"].get(f"/api/pipelines/{pipeline['id']}")).json()
    assert detail["inputEditable"] == [stage_id(pipeline, "a")]
    await act(people["ada"], pipeline, "a", "rerun", input={"n": 2})
    [job] = await system.pull("ops", wait=5)
    assert job["input"] == {"n": 2}


async def test_an_operator_changes_an_input_only_where_a_policy_allows_it(
    system: System, people: dict[str, Dashboard]
) -> None:
    # A stage's input is what its code runs on (a URL to fetch, a path to read): by default
    # an operator reruns a stage as it was.
    pipeline = await system.submit([{"name": "a", "handler": "ops", "input": {"n": 1}}])
    await finish(system, "failed")
    olga = people["olga"]
    detail = (await olga.get(f"/api/pipelines/{pipeline['id']}")).json()
    assert detail["inputEditable"] == []
    path = f"/api/pipelines/{pipeline['id']}/stages/{stage_id(pipeline, 'a')}/rerun"
    refused = await olga.send("POST", path, {"input": {"n": 2}})
    assert (refused.status_code, refused.json()["code"]) == (403, "input_change_not_allowed")
    after = await olga.get(f"/api/pipelines/{pipeline['id']}")
    assert statuses(after.json()) == {"a": "failed"}
    policy = {
        "applicationId": str(system.application.id),
        "name": "operators-may-fix-inputs",
        "kind": "operator_input",
        "target": {"type": "handler", "name": "ops"},
        "config": {},
    }
    created = await people["ada"].send("POST", "/api/policies", policy)
    assert created.status_code == 201, created.text
    detail = (await olga.get(f"/api/pipelines/{pipeline['id']}")).json()
    assert detail["inputEditable"] == [stage_id(pipeline, "a")]
    await act(olga, pipeline, "a", "rerun", input={"n": 2})
    [job] = await system.pull("ops", wait=5)
    assert job["input"] == {"n": 2}


async def test_rerun_alone_keeps_what_ran_after_and_downstream_runs_it_again(
    system: System, operator: Dashboard
) -> None:
    pipeline = await system.submit(CHAIN)
    for _ in CHAIN:
        await finish(system, output="first")
    alone = await act(operator, pipeline, "b", "rerun")
    assert statuses(alone) == {"a": "completed", "b": "queued", "c": "completed"}
    await finish(system, output="second")
    assert await system.pull("ops", wait=0.3) == []  # c keeps its result
    after_alone = await system.pipeline(pipeline["id"])
    assert after_alone["status"] == "completed"

    downstream = await act(operator, pipeline, "b", "rerun", downstream=True)
    assert statuses(downstream) == {"a": "completed", "b": "queued", "c": "not_started"}
    assert next(s for s in downstream["pipeline"]["stages"] if s["name"] == "c")["output"] is None
    job = await finish(system, output="third")
    assert job["stageName"] == "b"
    job = await finish(system, output="third")
    assert (job["stageName"], job["dependencies"]) == ("c", {"b": "third"})
    assert (await system.pipeline(pipeline["id"]))["status"] == "completed"


async def test_rerun_alone_makes_a_queued_dependent_wait_for_the_new_run(
    system: System, operator: Dashboard
) -> None:
    pipeline = await system.submit(CHAIN)
    await finish(system)
    await finish(system, output="old")
    assert statuses(await system.pipeline(pipeline["id"]))["c"] == "queued"
    rerun = await act(operator, pipeline, "b", "rerun")
    assert statuses(rerun) == {"a": "completed", "b": "queued", "c": "not_started"}
    job = await finish(system, output="new")
    assert job["stageName"] == "b"
    job = await finish(system)
    assert (job["stageName"], job["dependencies"]) == ("c", {"b": "new"})


async def test_what_cannot_be_rerun_is_refused_and_changes_nothing(
    system: System, operator: Dashboard
) -> None:
    pipeline = await system.submit(CHAIN)
    [running] = await system.pull("ops", wait=5)
    base = f"/api/pipelines/{pipeline['id']}/stages"
    answer = await operator.send("POST", f"{base}/{stage_id(pipeline, 'a')}/rerun", {})
    assert (answer.status_code, answer.json()["code"]) == (409, "stage_not_finished")
    # c waits for b, which has not completed.
    answer = await operator.send("POST", f"{base}/{stage_id(pipeline, 'c')}/rerun", {})
    assert (answer.status_code, answer.json()["code"]) == (409, "stage_not_finished")
    await system.ack(
        {
            "jobId": running["jobId"],
            "status": "failed",
            "error": {"message": "no", "retryable": False},
        }
    )
    await system.worker.advance([uuid.UUID(running["stageId"])])
    answer = await operator.send("POST", f"{base}/{stage_id(pipeline, 'c')}/rerun", {})
    assert (answer.status_code, answer.json()["code"]) == (409, "dependencies_not_completed")
    assert answer.json()["waitingFor"] == ["b"]
    answer = await operator.send("POST", f"{base}/{uuid.uuid4()}/rerun", {})
    assert (answer.status_code, answer.json()["code"]) == (404, "stage_not_found")
    answer = await operator.send("POST", f"{base}/{stage_id(pipeline, 'a')}/rerun", {"bad": 1})
    assert answer.status_code == 422
    unchanged = await system.pipeline(pipeline["id"])
    assert unchanged["status"] == "failed"
    assert statuses(unchanged) == {"a": "failed", "b": "cancelled", "c": "cancelled"}
    assert await audited(system) == []


async def test_a_skipped_stage_lets_the_pipeline_go_on(system: System, operator: Dashboard) -> None:
    # An operator stands in with an output where a policy lets operators choose inputs.
    await system.pool.execute(
        "INSERT INTO policies (application_id, name, kind, target_type, target, config) "
        "VALUES ($1, 'operators choose', 'operator_input', 'handler', 'ops', '{}')",
        system.application.id,
    )
    pipeline = await system.submit(CHAIN)
    await finish(system, "failed")
    skipped = await act(operator, pipeline, "a", "skip", output={"stand": "in"})
    assert skipped["pipeline"]["status"] == "running"
    assert statuses(skipped) == {"a": "skipped", "b": "queued", "c": "not_started"}
    job = await finish(system)
    assert (job["stageName"], job["dependencies"]) == ("b", {"a": {"stand": "in"}})
    await finish(system)
    assert (await system.pipeline(pipeline["id"]))["status"] == "completed"
    # Again: nothing changes. A completed stage cannot be skipped.
    again = await act(operator, pipeline, "a", "skip")
    assert statuses(again)["a"] == "skipped"
    path = f"/api/pipelines/{pipeline['id']}/stages/{stage_id(pipeline, 'b')}/skip"
    refused = await operator.send("POST", path, {})
    assert (refused.status_code, refused.json()["code"]) == (409, "stage_completed")
    assert [row["action"] for row in await audited(system)] == ["stage.skipped"]


async def test_skipping_the_last_stage_completes_the_pipeline(
    system: System, operator: Dashboard
) -> None:
    pipeline = await system.submit(CHAIN[:2])
    await finish(system)
    [job] = await system.pull("ops", wait=5)
    await act(operator, pipeline, "b", "skip")
    await system.worker.advance([uuid.UUID(job["stageId"])])
    assert (await system.pipeline(pipeline["id"]))["status"] == "completed"
    # The worker running b learns at its heartbeat that the job is no longer its to run.
    worker = await system.client.post(
        "/workers/bootstrap", json={"workerName": "w", "handlers": ["ops"]}
    )
    beat = await system.client.post(
        "/workers/heartbeat",
        json={"workerId": worker.json()["workerId"], "inFlightJobIds": [job["jobId"]]},
    )
    assert beat.json()["cancelJobIds"] == [job["jobId"]]
    late = await system.ack({"jobId": job["jobId"], "status": "completed"})
    assert late["rejected"] == [{"jobId": job["jobId"], "reason": "cancelled"}]


async def test_a_cancelled_pipeline_resumes_where_it_stopped(
    system: System, operator: Dashboard
) -> None:
    pipeline = await system.submit(CHAIN)
    await finish(system)
    cancelled = await operator.send("POST", f"/api/pipelines/{pipeline['id']}/cancel")
    assert cancelled.json()["pipeline"]["status"] == "cancelled"
    resumed = await operator.send("POST", f"/api/pipelines/{pipeline['id']}/rerun")
    assert resumed.status_code == 200, resumed.text
    assert statuses(resumed.json()) == {"a": "completed", "b": "queued", "c": "not_started"}
    await finish(system)
    await finish(system)
    assert (await system.pipeline(pipeline["id"]))["status"] == "completed"
    again = await operator.send("POST", f"/api/pipelines/{pipeline['id']}/rerun")
    assert (again.status_code, again.json()["code"]) == (409, "nothing_to_rerun")


async def test_bulk_actions_answer_for_each_pipeline(system: System, operator: Dashboard) -> None:
    running = await system.submit(CHAIN, name="running")
    finished = await system.submit(CHAIN[:1], name="finished")
    _, other_key = await create_application(system.pool, "elsewhere")
    theirs = await system.client.post(
        "/pipelines",
        json={"name": "theirs", "stages": CHAIN[:1]},
        headers={"X-API-Key": other_key},
    )
    [job] = await system.pull("ops", wait=5, max_jobs=1)
    first = running if job["pipelineId"] == running["id"] else finished
    second = finished if first is running else running
    await system.ack(
        {"jobId": job["jobId"], "status": "failed", "error": {"message": "no", "retryable": False}}
    )
    await system.worker.advance([uuid.UUID(job["stageId"])])
    ids = [first["id"], second["id"], theirs.json()["id"]]

    rerun = await operator.send(
        "POST", "/api/pipelines/bulk", {"action": "rerun", "pipelineIds": ids}
    )
    assert rerun.status_code == 200, rerun.text
    results = {r["pipelineId"]: r for r in rerun.json()["results"]}
    assert results[first["id"]] == {"pipelineId": first["id"], "ok": True, "status": "running"}
    assert (results[second["id"]]["ok"], results[second["id"]]["code"]) == (
        False,
        "nothing_to_rerun",
    )
    assert results[ids[2]]["code"] == "pipeline_not_found"  # not the operator's to see

    cancel = await operator.send(
        "POST", "/api/pipelines/bulk", {"action": "cancel", "pipelineIds": ids[:2]}
    )
    assert [r["status"] for r in cancel.json()["results"]] == ["cancelled", "cancelled"]
    bad = await operator.send(
        "POST", "/api/pipelines/bulk", {"action": "explode", "pipelineIds": ids}
    )
    assert bad.status_code == 422
    empty = await operator.send(
        "POST", "/api/pipelines/bulk", {"action": "cancel", "pipelineIds": []}
    )
    assert empty.status_code == 422


async def test_a_stage_s_logs_page_and_tail(system: System, operator: Dashboard) -> None:
    pipeline = await system.submit(CHAIN[:1])
    [job] = await system.pull("ops", wait=5)
    lines = [{"jobId": job["jobId"], "level": "info", "message": f"line {i}"} for i in range(5)]
    stored = await system.client.post("/logs", json={"entries": lines})
    assert stored.json()["accepted"] == 5
    path = f"/api/pipelines/{pipeline['id']}/stages/{stage_id(pipeline, 'a')}/logs"
    first = (await operator.get(f"{path}?limit=3")).json()
    assert [line["message"] for line in first["lines"]] == ["line 0", "line 1", "line 2"]
    rest = (await operator.get(f"{path}?after={first['nextAfter']}")).json()
    assert [line["message"] for line in rest["lines"]] == ["line 3", "line 4"]
    tail = (await operator.get(f"{path}?after={rest['nextAfter']}")).json()
    assert tail == {"lines": [], "nextAfter": rest["nextAfter"]}
    assert rest["lines"][0]["attempt"] == 1
    missing = await operator.get(f"/api/pipelines/{pipeline['id']}/stages/{uuid.uuid4()}/logs")
    assert (missing.status_code, missing.json()["code"]) == (404, "stage_not_found")


async def test_an_advance_that_read_before_a_rerun_leaves_the_rerun_alone(
    system: System, operator: Dashboard
) -> None:
    """The race the revisions are for, played out step by step on two connections.

    Fan-in: c waits for a and b. b's completion is advanced on a snapshot taken while a
    rerun of a (with downstream) holds c's row: the advance must not queue c, because a is
    running again.
    """
    pipeline = await system.submit(
        [
            {"name": "a", "handler": "ops"},
            {"name": "b", "handler": "ops", "dependsOn": []},
            {"name": "c", "handler": "ops", "dependsOn": ["a", "b"]},
        ]
    )
    jobs = await system.pull("ops", wait=5)
    by_name = {job["stageName"]: job for job in jobs}
    await system.ack({"jobId": by_name["a"]["jobId"], "status": "completed"})
    await system.worker.advance([uuid.UUID(by_name["a"]["stageId"])])
    await system.ack({"jobId": by_name["b"]["jobId"], "status": "completed"})
    # b is finished but not advanced yet. The rerun's transaction resets a and c and waits.
    rerun: asyncpg.Connection = await system.pool.acquire()
    try:
        transaction = rerun.transaction()
        await transaction.start()
        await rerun.execute(
            "UPDATE stages SET status = 'not_started', revision = revision + 1 "
            "WHERE pipeline_id = $1 AND name IN ('a', 'c')",
            uuid.UUID(pipeline["id"]),
        )
        advancing = asyncio.create_task(
            advance_stages(system.pool, [uuid.UUID(by_name["b"]["stageId"])])
        )
        await asyncio.sleep(0.5)  # the advance has its snapshot and waits for c's row lock
        assert not advancing.done()
        await transaction.commit()
    finally:
        await system.pool.release(rerun)
    advanced = await advancing
    assert advanced.outcome.queued == ()
    assert statuses(await system.pipeline(pipeline["id"]))["c"] == "not_started"


async def test_an_operator_skips_with_an_output_only_where_a_policy_allows_it(
    system: System, people: dict[str, Dashboard]
) -> None:
    # What a skipped stage stands in with is what its dependents run on.
    pipeline = await system.submit(CHAIN)
    await finish(system, "failed")
    path = f"/api/pipelines/{pipeline['id']}/stages/{stage_id(pipeline, 'a')}/skip"
    refused = await people["olga"].send("POST", path, {"output": {"uri": "/elsewhere"}})
    assert (refused.status_code, refused.json()["code"]) == (403, "input_change_not_allowed")
    assert (await people["olga"].send("POST", path, {})).status_code == 200  # as it stands
    await people["ada"].send("POST", path, {"output": {"uri": "/lake/ok"}})
