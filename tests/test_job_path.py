"""The job path end to end over raw HTTP: submit, pull, ack, advance, on both brokers."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from controlplane.engine.jobpath.advance import advance_stages
from controlplane.engine.outcome import PipelineChange
from tests.system import System


def stage_by_name(pipeline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {stage["name"]: stage for stage in pipeline["stages"]}


async def test_sequential_pipeline_runs_to_completion(system: System) -> None:
    system.start_builtin_worker()
    pipeline = await system.submit(
        [
            {"name": "one", "handler": "step", "input": {"n": 1}},
            {"name": "two", "handler": "step"},
            {"name": "three", "handler": "step"},
        ]
    )
    assert [s["status"] for s in pipeline["stages"]] == ["queued", "not_started", "not_started"]
    order: list[str] = []
    finished = False

    def run(job: dict[str, Any]) -> dict[str, Any]:
        order.append(job["stageName"])
        return {"status": "completed", "output": {"from": job["stageName"]}}

    async def watch() -> None:
        nonlocal finished
        await system.wait_for_pipeline(pipeline["id"], "completed")
        finished = True

    watcher = asyncio.create_task(watch())
    jobs = await system.run_jobs("step", run, until=lambda: finished)
    await watcher
    assert order == ["one", "two", "three"]
    assert jobs[1]["dependencies"] == {"one": {"from": "one"}}
    assert jobs[0]["input"] == {"n": 1}
    done = await system.pipeline(pipeline["id"])
    assert done["finishedAt"] is not None
    assert all(s["status"] == "completed" and s["attempt"] == 1 for s in done["stages"])


async def test_fan_out_and_fan_in_respect_dependencies(system: System) -> None:
    system.start_builtin_worker()
    pipeline = await system.submit(
        [
            {"name": "split", "handler": "work"},
            {"name": "left", "handler": "work", "dependsOn": ["split"]},
            {"name": "right", "handler": "work", "dependsOn": ["split"]},
            {"name": "join", "handler": "work", "dependsOn": ["left", "right"]},
        ]
    )
    first = await system.pull("work")
    assert [j["stageName"] for j in first] == ["split"]
    await system.ack({"jobId": first[0]["jobId"], "status": "completed", "output": 1})
    branches = await system.pull_until("work", 2)
    assert sorted(j["stageName"] for j in branches) == ["left", "right"]
    # The join must not be offered while one branch is still running.
    left = next(j for j in branches if j["stageName"] == "left")
    right = next(j for j in branches if j["stageName"] == "right")
    await system.ack({"jobId": left["jobId"], "status": "completed", "output": "L"})
    assert await system.pull("work", wait=0.5) == []
    await system.ack({"jobId": right["jobId"], "status": "completed", "output": "R"})
    join = await system.pull("work", wait=5)
    assert [j["stageName"] for j in join] == ["join"]
    assert join[0]["dependencies"] == {"left": "L", "right": "R"}
    await system.ack({"jobId": join[0]["jobId"], "status": "completed"})
    await system.wait_for_pipeline(pipeline["id"], "completed")


async def test_context_flows_from_submit_and_acks_to_later_stages(system: System) -> None:
    system.start_builtin_worker()
    await system.submit(
        [{"name": "a", "handler": "ctx"}, {"name": "b", "handler": "ctx"}],
        context={"tenant": "acme"},
    )
    [a] = await system.pull("ctx")
    assert a["context"] == {"tenant": "acme"}
    await system.ack(
        {"jobId": a["jobId"], "status": "completed", "context": {"rows": 10, "tenant": "acme2"}}
    )
    [b] = await system.pull("ctx", wait=5)
    assert b["context"] == {"tenant": "acme2", "rows": 10}


async def test_any_json_value_round_trips_as_input_output_and_context(system: System) -> None:
    # Lists are the tricky case: inside an array parameter they look like nested arrays.
    values = [[1, 2], "text", {"a": [1, [2]]}, 3.5, None, [], [[1], "x"]]
    stages = [
        {"name": f"s{i}", "handler": "json", "input": value, "dependsOn": []}
        for i, value in enumerate(values)
    ]
    pipeline = await system.submit(stages, context={"list": [1, 2], "nested": [[3]]})
    jobs = await system.pull_until("json", len(values))
    assert {j["stageName"]: j["input"] for j in jobs} == {
        f"s{i}": value for i, value in enumerate(values)
    }
    assert jobs[0]["context"] == {"list": [1, 2], "nested": [[3]]}
    answer = await system.ack(
        *(
            {
                "jobId": job["jobId"],
                "status": "completed",
                "output": job["input"],
                "context": {job["stageName"]: job["input"]},
            }
            for job in jobs
        )
    )
    assert len(answer["accepted"]) == len(values)
    stored = await system.pipeline(pipeline["id"])
    assert {s["name"]: s["output"] for s in stored["stages"]} == {
        f"s{i}": value for i, value in enumerate(values)
    }
    assert stored["context"] == {
        "list": [1, 2],
        "nested": [[3]],
        **{f"s{i}": value for i, value in enumerate(values)},
    }


async def test_retry_then_success(system: System) -> None:
    system.start_builtin_worker()
    pipeline = await system.submit(
        [
            {
                "name": "flaky",
                "handler": "flaky",
                "maxRetries": 2,
                "retryBackoffSeconds": 0.1,
                "retryBackoff": "fixed",
            }
        ]
    )
    [first] = await system.pull("flaky")
    answer = await system.ack(
        {"jobId": first["jobId"], "status": "failed", "error": {"message": "boom"}}
    )
    assert answer["accepted"] == [first["jobId"]]
    stage = (await system.pipeline(pipeline["id"]))["stages"][0]
    assert stage["status"] == "retry_scheduled"
    assert stage["error"]["message"] == "boom"
    [second] = await system.pull("flaky", wait=5)
    assert second["attempt"] == 2
    assert second["jobId"] != first["jobId"]
    await system.ack({"jobId": second["jobId"], "status": "completed", "output": "ok"})
    done = await system.wait_for_pipeline(pipeline["id"], "completed")
    assert done["stages"][0]["output"] == "ok"
    assert done["stages"][0]["error"] is None


async def test_exhausted_retries_fail_the_pipeline_and_cancel_the_rest(system: System) -> None:
    system.start_builtin_worker()
    pipeline = await system.submit(
        [
            {"name": "bad", "handler": "bad", "maxRetries": 1, "retryBackoffSeconds": 0.05},
            {"name": "parallel", "handler": "other", "dependsOn": []},
            {"name": "after", "handler": "bad", "dependsOn": ["bad"]},
        ]
    )
    for attempt in (1, 2):
        [job] = await system.pull("bad", wait=5)
        assert job["attempt"] == attempt
        await system.ack({"jobId": job["jobId"], "status": "failed", "error": {"message": "no"}})
    failed = await system.wait_for_pipeline(pipeline["id"], "failed")
    stages = stage_by_name(failed)
    assert stages["bad"]["status"] == "failed"
    assert stages["after"]["status"] == "cancelled"
    assert stages["parallel"]["status"] == "cancelled"  # queued, never started
    assert await system.pull("other", wait=0.3) == []


async def test_a_success_and_a_failure_advanced_together_queue_nothing(system: System) -> None:
    # One advance batch holds a completed stage and a sibling that failed for good: the
    # completed stage's dependent belongs to a failed pipeline and is cancelled, not queued.
    pipeline = await system.submit(
        [
            {"name": "ok", "handler": "work"},
            {"name": "bad", "handler": "work", "dependsOn": []},
            {"name": "after_ok", "handler": "work", "dependsOn": ["ok"]},
        ]
    )
    jobs = {j["stageName"]: j for j in await system.pull_until("work", 2)}
    await system.ack(
        {"jobId": jobs["ok"]["jobId"], "status": "completed"},
        {"jobId": jobs["bad"]["jobId"], "status": "failed", "error": {"message": "no"}},
    )
    advanced = await advance_stages(system.pool, [jobs["ok"]["stageId"], jobs["bad"]["stageId"]])
    assert advanced.stages == 2
    assert advanced.outcome.queued == ()
    assert advanced.outcome.pipelines == (
        PipelineChange(uuid.UUID(pipeline["id"]), system.application.id, "failed"),
    )
    stages = stage_by_name(await system.pipeline(pipeline["id"]))
    assert stages["after_ok"]["status"] == "cancelled"
    assert await system.pull("work", wait=0.3) == []
    # Delivered again, the same events change nothing.
    again = await advance_stages(system.pool, [jobs["ok"]["stageId"], jobs["bad"]["stageId"]])
    assert (again.stages, again.outcome.queued, again.outcome.pipelines) == (0, (), ())


async def test_terminal_errors_are_not_retried(system: System) -> None:
    system.start_builtin_worker()
    pipeline = await system.submit([{"name": "a", "handler": "strict", "maxRetries": 5}])
    [job] = await system.pull("strict")
    await system.ack(
        {
            "jobId": job["jobId"],
            "status": "failed",
            "error": {"message": "bad input", "code": "E1", "retryable": False},
        }
    )
    failed = await system.wait_for_pipeline(pipeline["id"], "failed")
    assert failed["stages"][0]["error"] == {"message": "bad input", "code": "E1"}


async def test_stale_and_duplicate_acks_change_nothing(system: System) -> None:
    pipeline = await system.submit([{"name": "a", "handler": "dup"}])
    [job] = await system.pull("dup")
    result = {"jobId": job["jobId"], "status": "completed", "output": "first"}
    twice = await system.ack(result, {**result, "output": "second"})
    assert twice["accepted"] == [job["jobId"]]
    assert twice["rejected"] == [{"jobId": job["jobId"], "reason": "duplicate"}]
    again = await system.ack({**result, "output": "third"})
    assert again == {
        "accepted": [],
        "rejected": [{"jobId": job["jobId"], "reason": "already_finished"}],
    }
    unknown = "00000000-0000-4000-8000-000000000000"
    stranger = await system.ack({"jobId": unknown, "status": "completed"})
    assert stranger["rejected"] == [{"jobId": unknown, "reason": "unknown_job"}]
    stage = (await system.pipeline(pipeline["id"]))["stages"][0]
    assert stage["output"] == "first"
    logs = await system.pool.fetchval("SELECT count(*) FROM stage_logs")
    assert logs == 0


async def test_ack_stores_logs_and_is_atomic_per_batch(system: System) -> None:
    await system.submit(
        [{"name": "a", "handler": "log"}, {"name": "b", "handler": "log", "dependsOn": []}]
    )
    jobs = await system.pull_until("log", 2)
    answer = await system.ack(
        *(
            {
                "jobId": j["jobId"],
                "status": "completed",
                "logs": [{"level": "info", "message": f"hello from {j['stageName']}"}],
            }
            for j in jobs
        )
    )
    assert sorted(answer["accepted"]) == sorted(j["jobId"] for j in jobs)
    rows = await system.pool.fetch("SELECT level, message FROM stage_logs ORDER BY message")
    assert [(r["level"], r["message"]) for r in rows] == [
        ("info", "hello from a"),
        ("info", "hello from b"),
    ]


async def test_a_job_is_handed_to_exactly_one_puller(system: System) -> None:
    await system.submit([{"name": f"s{i}", "handler": "race", "dependsOn": []} for i in range(20)])
    pulls = await asyncio.gather(*(system.pull("race", max_jobs=3, wait=1) for _ in range(10)))
    stage_ids = [job["stageId"] for jobs in pulls for job in jobs]
    assert len(stage_ids) == len(set(stage_ids))
    assert len(stage_ids) == 20


async def test_pull_honours_max_jobs_and_leaves_the_rest_queued(system: System) -> None:
    await system.submit([{"name": f"s{i}", "handler": "few", "dependsOn": []} for i in range(7)])
    first = await system.pull("few", max_jobs=3)
    assert len(first) == 3
    rest = await system.pull_until("few", 4)
    assert len(rest) == 4
    assert not {j["stageId"] for j in first} & {j["stageId"] for j in rest}


async def test_long_poll_answers_as_soon_as_a_job_arrives(system: System) -> None:
    await system.pull("later", wait=0)  # the queue exists and this process listens on it
    waiting = asyncio.create_task(system.pull("later", wait=10))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    started = asyncio.get_running_loop().time()
    await system.submit([{"name": "a", "handler": "later"}])
    jobs = await waiting
    assert [j["stageName"] for j in jobs] == ["a"]
    assert asyncio.get_running_loop().time() - started < 5


async def test_empty_long_poll_returns_after_the_wait(system: System) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await system.pull("nothing", wait=0.5) == []
    assert loop.time() - started >= 0.45


async def test_cancel_stops_queued_stages_and_tells_running_jobs(system: System) -> None:
    pipeline = await system.submit(
        [{"name": "long", "handler": "long"}, {"name": "next", "handler": "long"}]
    )
    [job] = await system.pull("long")
    boot = await system.client.post(
        "/workers/bootstrap", json={"workerName": "w", "handlers": ["long"]}
    )
    worker_id = boot.json()["workerId"]
    beat = await system.client.post(
        "/workers/heartbeat", json={"workerId": worker_id, "inFlightJobIds": [job["jobId"]]}
    )
    assert beat.json() == {"cancelJobIds": []}
    response = await system.client.post(f"/pipelines/{pipeline['id']}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert {s["status"] for s in response.json()["stages"]} == {"cancelled"}
    beat = await system.client.post(
        "/workers/heartbeat", json={"workerId": worker_id, "inFlightJobIds": [job["jobId"]]}
    )
    assert beat.json() == {"cancelJobIds": [job["jobId"]]}
    late = await system.ack({"jobId": job["jobId"], "status": "completed"})
    assert late["rejected"] == [{"jobId": job["jobId"], "reason": "cancelled"}]
    again = await system.client.post(f"/pipelines/{pipeline['id']}/cancel")
    assert again.status_code == 200


async def test_a_finished_pipeline_cannot_be_cancelled(system: System) -> None:
    system.start_builtin_worker()
    pipeline = await system.submit([{"name": "a", "handler": "quick"}])
    [job] = await system.pull("quick")
    await system.ack({"jobId": job["jobId"], "status": "completed"})
    await system.wait_for_pipeline(pipeline["id"], "completed")
    response = await system.client.post(f"/pipelines/{pipeline['id']}/cancel")
    assert response.status_code == 409
    assert response.json()["code"] == "pipeline_finished"


async def test_idempotency_key_returns_the_first_pipeline(system: System) -> None:
    body = {
        "name": "once",
        "stages": [{"name": "a", "handler": "idem"}],
        "idempotencyKey": "order-42",
    }
    first = await system.client.post("/pipelines", json=body)
    second = await system.client.post("/pipelines", json=body)
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json()["id"] == first.json()["id"]
    assert await system.pool.fetchval("SELECT count(*) FROM pipelines") == 1
    different = await system.client.post(
        "/pipelines", json={**body, "stages": [{"name": "b", "handler": "idem"}]}
    )
    assert different.status_code == 409
    assert different.json()["code"] == "idempotency_key_reused"
    jobs = await system.pull_until("idem", 1)
    assert len(jobs) == 1
    assert await system.pull("idem", wait=0.3) == []


async def test_one_batch_writing_a_key_twice_keeps_the_last_value(system: System) -> None:
    pipeline = await system.submit(
        [
            {"name": "a", "handler": "both", "dependsOn": []},
            {"name": "b", "handler": "both", "dependsOn": []},
        ]
    )
    jobs = await system.pull_until("both", 2)
    first, second = sorted(jobs, key=lambda j: j["stageName"])
    answer = await system.ack(
        {"jobId": first["jobId"], "status": "completed", "context": {"winner": "a", "a": 1}},
        {"jobId": second["jobId"], "status": "completed", "context": {"winner": "b"}},
    )
    assert len(answer["accepted"]) == 2
    context = (await system.pipeline(pipeline["id"]))["context"]
    assert context == {"winner": "b", "a": 1}


async def test_the_submit_answer_is_what_a_read_returns(rabbit_system: System) -> None:
    submitted = await rabbit_system.submit(
        [
            {"name": "a", "handler": "h", "input": {"n": [1, 2]}, "maxRetries": 3},
            {"name": "b", "handler": "h", "dependsOn": [], "timeoutSeconds": 60},
            {"name": "c", "handler": "h", "dependsOn": ["a", "b"]},
        ],
        context={"z": 1, "a": {"deep": True}},
        keywords=["nightly", "eu"],
    )
    assert submitted == await rabbit_system.pipeline(submitted["id"])
