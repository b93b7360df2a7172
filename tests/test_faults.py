"""Crashes, lost messages, duplicates and concurrency: nothing is lost or applied twice.

Time-driven sweeps are made due by moving the database's timestamps back, so the tests do
not wait for real leases to run out.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import msgspec

from builtin_worker import BuiltinWorker
from controlplane.broker import JobRef
from controlplane.effects.dispatch import RECORD_DELAY_SECONDS
from controlplane.engine.jobpath.pipelines import submit_pipeline
from controlplane.metrics import QUEUE_DEPTH
from controlplane.schemas import PipelineSubmit
from tests.system import System


async def expire_leases(system: System) -> None:
    await system.pool.execute(
        "UPDATE stages SET lease_expires_at = now() - interval '1 second' WHERE status = 'running'"
    )


async def test_a_vanished_worker_s_job_is_dispatched_again(system: System) -> None:
    pipeline = await system.submit([{"name": "a", "handler": "lost", "maxRetries": 0}])
    [job] = await system.pull("lost")
    await expire_leases(system)
    await system.worker.sweep_leases_and_timeouts()
    late = await system.ack({"jobId": job["jobId"], "status": "completed", "output": "late"})
    assert late["rejected"] == [{"jobId": job["jobId"], "reason": "lease_lost"}]
    [again] = await system.pull("lost", wait=5)
    assert again["stageId"] == job["stageId"]
    assert again["attempt"] == 2
    # Another worker holds the stage now; the old job is still known as one that lost it.
    later = await system.ack({"jobId": job["jobId"], "status": "completed", "output": "late"})
    assert later["rejected"] == [{"jobId": job["jobId"], "reason": "lease_lost"}]
    await system.ack({"jobId": again["jobId"], "status": "completed", "output": "on time"})
    stage = (await system.pipeline(pipeline["id"]))["stages"][0]
    assert stage["status"] == "completed"
    assert stage["output"] == "on time"
    # A lost lease is not a failure of the handler: no retry was spent.
    assert await system.pool.fetchval("SELECT failures FROM stages") == 0
    attempts = await system.pool.fetch(
        "SELECT attempt, job_id, outcome FROM stage_attempts ORDER BY attempt"
    )
    assert [(a["attempt"], str(a["job_id"]), a["outcome"]) for a in attempts] == [
        (1, job["jobId"], "lease_lost"),
        (2, again["jobId"], "completed"),
    ]


async def test_a_stage_that_keeps_losing_its_lease_fails_in_the_end(
    rabbit_system: System,
) -> None:
    system = rabbit_system
    limit = system.services.settings.max_lease_expiries
    system.start_builtin_worker()
    pipeline = await system.submit([{"name": "a", "handler": "cursed"}])
    for _ in range(limit + 1):
        jobs = await system.pull("cursed", wait=5)
        assert len(jobs) == 1
        await expire_leases(system)
        await system.worker.sweep_leases_and_timeouts()
    failed = await system.wait_for_pipeline(pipeline["id"], "failed")
    assert failed["stages"][0]["error"]["code"] == "lease_expired"
    assert await system.pull("cursed", wait=0.3) == []


async def test_heartbeats_keep_a_lease_alive(rabbit_system: System) -> None:
    system = rabbit_system
    await system.submit([{"name": "a", "handler": "slow"}])
    boot = await system.client.post("/workers/bootstrap", json={"workerName": "w"})
    worker_id = boot.json()["workerId"]
    [job] = await system.pull("slow", workerId=worker_id)
    await system.pool.execute("UPDATE stages SET lease_expires_at = now() + interval '1 second'")
    beat = await system.client.post(
        "/workers/heartbeat", json={"workerId": worker_id, "inFlightJobIds": [job["jobId"]]}
    )
    assert beat.json() == {"cancelJobIds": []}
    remaining = await system.pool.fetchval(
        "SELECT extract(epoch FROM lease_expires_at - now()) FROM stages"
    )
    assert remaining > system.services.settings.lease_seconds - 5
    seen = await system.pool.fetchval("SELECT last_heartbeat_at > started_at FROM workers")
    assert seen is True


async def test_concurrent_heartbeats_are_written_in_one_transaction(
    rabbit_system: System,
) -> None:
    system = rabbit_system
    ids = []
    for n in range(20):
        boot = await system.client.post("/workers/bootstrap", json={"workerName": f"w{n}"})
        ids.append(boot.json()["workerId"])
    before = await system.pool.fetchval(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    )
    beats = await asyncio.gather(
        *(system.client.post("/workers/heartbeat", json={"workerId": i}) for i in ids)
    )
    after = await system.pool.fetchval(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    )
    assert all(b.status_code == 200 for b in beats)
    # Twenty heartbeats, far fewer commits: they were grouped (the first one alone, the
    # rest together while it ran). The statistics lag a little, so allow some slack.
    assert after - before < 10


async def test_a_heartbeat_from_an_unknown_worker_asks_it_to_bootstrap(system: System) -> None:
    response = await system.client.post("/workers/heartbeat", json={"workerId": str(uuid.uuid4())})
    assert response.status_code == 404
    assert response.json()["code"] == "unknown_worker"


async def test_a_job_past_its_timeout_fails_and_is_retried(rabbit_system: System) -> None:
    system = rabbit_system
    system.start_builtin_worker()
    pipeline = await system.submit(
        [
            {
                "name": "a",
                "handler": "sleepy",
                "timeoutSeconds": 30,
                "maxRetries": 1,
                "retryBackoffSeconds": 0.05,
            }
        ]
    )
    [job] = await system.pull("sleepy")
    assert job["timeoutSeconds"] == 30
    await system.pool.execute("UPDATE stages SET deadline_at = now() - interval '1 second'")
    await system.worker.sweep_leases_and_timeouts()
    stage = (await system.pipeline(pipeline["id"]))["stages"][0]
    assert stage["status"] in ("retry_scheduled", "queued")
    assert stage["error"]["code"] == "timeout"
    [again] = await system.pull("sleepy", wait=5)
    assert again["attempt"] == 2
    await system.pool.execute("UPDATE stages SET deadline_at = now() - interval '1 second'")
    await system.worker.sweep_leases_and_timeouts()
    failed = await system.wait_for_pipeline(pipeline["id"], "failed")
    assert failed["stages"][0]["error"]["code"] == "timeout"


async def test_a_publish_lost_after_commit_is_recovered_by_the_relay(system: System) -> None:
    # The API process "dies" between its commit and its publish: the pipeline is stored
    # with its first stage queued, but nothing reached the broker.
    submitted = await submit_pipeline(
        system.pool,
        system.application.id,
        msgspec.convert(
            {"name": "crashy", "stages": [{"name": "a", "handler": "relay"}]}, PipelineSubmit
        ),
        1000,
    )
    assert submitted.outcome.queued
    assert await system.pull("relay", wait=0.3) == []
    await system.pool.execute("UPDATE stages SET queued_at = now() - interval '1 hour'")
    await system.worker.sweep_lost_messages()
    # The relay's publish is recorded (soon after; here at once), so it is not sent again.
    await system.services.effects.dispatcher.record_publishes()
    published = await system.pool.fetchval("SELECT published_at IS NOT NULL FROM stages")
    assert published is True
    [job] = await system.pull("relay", wait=5)
    assert job["pipelineId"] == str(submitted.pipeline_id)


async def test_a_publish_is_recorded_in_the_background_and_at_stop(system: System) -> None:
    recorded = "SELECT count(*) FROM stages WHERE published_at IS NOT NULL"
    await system.submit([{"name": "a", "handler": "rec"}])
    for _ in range(50):  # the record follows on its own, a moment after the confirm
        if await system.pool.fetchval(recorded) == 1:
            break
        await asyncio.sleep(0.05)
    waited = await system.pool.fetchval(
        "SELECT extract(epoch FROM published_at - queued_at) FROM stages"
    )
    assert waited >= RECORD_DELAY_SECONDS
    # A stopping process records what is still waiting before it goes.
    await system.submit([{"name": "b", "handler": "rec"}])
    await system.services.effects.dispatcher.close()
    assert await system.pool.fetchval(recorded) == 2


async def test_a_lost_result_event_is_recovered_by_the_sweep(rabbit_system: System) -> None:
    system = rabbit_system  # no result consumer runs: every event is "lost"
    pipeline = await system.submit([{"name": "a", "handler": "ev"}, {"name": "b", "handler": "ev"}])
    [a] = await system.pull("ev")
    await system.ack({"jobId": a["jobId"], "status": "completed"})
    assert await system.pull("ev", wait=0.3) == []
    await system.pool.execute("UPDATE stages SET finished_at = now() - interval '1 hour'")
    await system.worker.sweep_lost_messages()
    [b] = await system.pull("ev", wait=5)
    assert b["stageName"] == "b"
    assert (await system.pipeline(pipeline["id"]))["status"] == "running"


async def test_duplicate_messages_claim_once(system: System) -> None:
    await system.submit([{"name": "a", "handler": "twice"}])
    stage_id = await system.pool.fetchval("SELECT id FROM stages")
    queue = system.services.broker.job_queue(system.application.name, "twice")
    await system.services.broker.publish_jobs(queue, [JobRef(stage_id, 0)] * 3)
    jobs = await system.pull("twice", max_jobs=10, wait=1)
    jobs += await system.pull("twice", max_jobs=10, wait=0.5)
    assert len(jobs) == 1
    assert await system.pool.fetchval("SELECT attempt FROM stages") == 1


async def test_duplicate_result_events_advance_once(rabbit_system: System) -> None:
    system = rabbit_system
    pipeline = await system.submit(
        [{"name": "a", "handler": "adv"}, {"name": "b", "handler": "adv"}]
    )
    [a] = await system.pull("adv")
    await system.ack({"jobId": a["jobId"], "status": "completed"})
    stage_id = uuid.UUID(a["stageId"])
    await asyncio.gather(*(system.worker.advance([stage_id]) for _ in range(3)))
    jobs = await system.pull("adv", max_jobs=10, wait=1)
    jobs += await system.pull("adv", max_jobs=10, wait=0.5)
    assert [j["stageName"] for j in jobs] == ["b"]
    assert (await system.pipeline(pipeline["id"]))["stages"][1]["attempt"] == 1


async def test_two_builtin_workers_make_no_double_transition(rabbit_system: System) -> None:
    system = rabbit_system
    second = BuiltinWorker(system.services)
    system.start_builtin_worker()
    system._background.append(asyncio.create_task(second.run()))
    pipelines = [
        await system.submit(
            [
                {"name": "a", "handler": "pair"},
                {"name": "b", "handler": "pair"},
                {"name": "c", "handler": "pair"},
            ]
        )
        for _ in range(15)
    ]
    await system.pool.execute(
        "UPDATE stages SET published_at = NULL, queued_at = now() - interval '1 hour'"
        " WHERE status = 'queued'"
    )
    # Both sweep the same lost publishes at once; duplicates must not double-claim.
    await asyncio.gather(system.worker.sweep_lost_messages(), second.sweep_lost_messages())
    done = 0

    async def count() -> None:
        nonlocal done
        for p in pipelines:
            await system.wait_for_pipeline(p["id"], "completed", within=30)
            done += 1

    watcher = asyncio.create_task(count())
    jobs = await system.run_jobs(
        "pair", lambda job: {"status": "completed"}, until=lambda: done == 15, within=40
    )
    await watcher
    assert len(jobs) == 45
    assert len({j["stageId"] for j in jobs}) == 45
    attempts = await system.pool.fetch("SELECT DISTINCT attempt FROM stages")
    assert [r["attempt"] for r in attempts] == [1]


async def test_shutdown_requeues_the_jobs_a_worker_still_held(system: System) -> None:
    boot = await system.client.post("/workers/bootstrap", json={"workerName": "w"})
    worker_id = boot.json()["workerId"]
    await system.submit([{"name": "a", "handler": "bye"}])
    [job] = await system.pull("bye", workerId=worker_id)
    response = await system.client.post(
        "/workers/shutdown", json={"workerId": worker_id, "reason": "deploy"}
    )
    assert response.status_code == 200
    [again] = await system.pull("bye", wait=5)
    assert again["stageId"] == job["stageId"]
    state = await system.pool.fetchval("SELECT state FROM workers")
    assert state == "stopped"
    kinds = await system.pool.fetch("SELECT kind, message FROM worker_events")
    assert [(r["kind"], r["message"]) for r in kinds] == [("shutdown", "deploy")]


async def test_silent_workers_are_marked_offline(rabbit_system: System) -> None:
    system = rabbit_system
    await system.client.post("/workers/bootstrap", json={"workerName": "quiet"})
    await system.client.post("/workers/bootstrap", json={"workerName": "chatty"})
    await system.pool.execute(
        "UPDATE workers SET last_heartbeat_at = now() - interval '1 hour' WHERE name = 'quiet'"
    )
    await system.worker.sweep_workers()
    states = dict(await system.pool.fetch("SELECT name, state FROM workers"))
    assert states == {"quiet": "offline", "chatty": "online"}


async def test_logs_and_events_endpoints(rabbit_system: System) -> None:
    system = rabbit_system
    await system.submit([{"name": "a", "handler": "chatty"}])
    [job] = await system.pull("chatty")
    ghost = str(uuid.uuid4())
    response = await system.client.post(
        "/logs",
        json={
            "entries": [
                {"jobId": job["jobId"], "level": "info", "message": "step 1"},
                {"jobId": job["jobId"], "level": "warning", "message": "step 2"},
                {"jobId": ghost, "level": "info", "message": "lost"},
            ]
        },
    )
    assert response.json() == {"accepted": 2, "unknownJobIds": [ghost]}
    lines = await system.pool.fetch("SELECT level, message FROM stage_logs ORDER BY id")
    assert [tuple(r) for r in lines] == [("info", "step 1"), ("warning", "step 2")]
    boot = await system.client.post("/workers/bootstrap", json={"workerName": "w"})
    events = await system.client.post(
        "/workers/events",
        json={
            "workerId": boot.json()["workerId"],
            "events": [{"kind": "started", "data": {"slots": 4}}],
        },
    )
    assert events.json() == {"accepted": 1}
    row = await system.pool.fetchrow("SELECT kind, data FROM worker_events")
    assert (row["kind"], row["data"]) == ("started", {"slots": 4})


async def test_queue_depths_cover_the_queues_online_workers_pull_from(
    rabbit_system: System,
) -> None:
    system = rabbit_system
    await system.client.post("/workers/bootstrap", json={"workerName": "w", "handlers": ["deep"]})
    await system.submit([{"name": f"s{i}", "handler": "deep", "dependsOn": []} for i in range(3)])
    await system.worker.report_queue_depths()
    queue = system.services.broker.job_queue(system.application.name, "deep")
    # One submit publishes its three roots as one message.
    assert QUEUE_DEPTH.labels(queue)._value.get() == 1


async def test_a_stopping_builtin_worker_finishes_the_advance_it_holds(
    rabbit_system: System,
) -> None:
    system = rabbit_system
    pipeline = await system.submit(
        [{"name": "a", "handler": "stop"}, {"name": "b", "handler": "stop", "dependsOn": ["a"]}]
    )
    [a] = await system.pull("stop")
    await system.ack({"jobId": a["jobId"], "status": "completed"})
    b_id = (await system.pipeline(pipeline["id"]))["stages"][1]["id"]
    async with system.pool.acquire() as blocker, blocker.transaction():
        # The advance that queues b now waits on this lock, mid-transaction.
        await blocker.execute("SELECT 1 FROM stages WHERE id = $1 FOR UPDATE", uuid.UUID(b_id))
        running = asyncio.create_task(system.worker.run())
        await _until_blocked(system.pool)
        running.cancel()  # what SIGTERM does
        await asyncio.sleep(0.3)
    # Its lock gone, the advance commits and publishes instead of being cut off.
    await asyncio.gather(running, return_exceptions=True)
    assert [job["stageName"] for job in await system.pull("stop", wait=2)] == ["b"]


async def _until_blocked(pool: asyncpg.Pool) -> None:
    for _ in range(100):
        if await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"
        ):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the advance never reached the lock")
