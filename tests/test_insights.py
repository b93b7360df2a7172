"""Insights computed from real attempts: rates, durations, hotspots, queues, scoping."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest

from controlplane.api.app import create_internal_app
from controlplane.engine.access.accounts import create_user
from controlplane.engine.access.applications import create_application
from controlplane.engine.upkeep import rollups
from database.pool import create_pool
from tests.dashboard import PASSWORD, Dashboard, logged_in, services_for
from tests.system import System


@pytest.fixture
async def users(system: System) -> AsyncIterator[dict[str, Dashboard]]:
    await create_user(system.pool, "root@example.com", "Root", "admin", PASSWORD)
    await create_user(system.pool, "dev@example.com", "Dev", "developer", PASSWORD)  # no apps
    app = create_internal_app(services_for(system.pool, system.services.broker))
    clients = {who: await logged_in(app, f"{who}@example.com") for who in ("root", "dev")}
    yield {who: Dashboard(client) for who, client in clients.items()}
    for client in clients.values():
        await client.aclose()


async def yesterday(user: Dashboard) -> httpx.Response:
    """The insights of a range that ended a day ago."""
    now = dt.datetime.now(dt.UTC)
    return await user.client.get(
        "/api/insights",
        params={
            "from": (now - dt.timedelta(days=2)).isoformat(),
            "to": (now - dt.timedelta(days=1)).isoformat(),
        },
    )


async def test_figures_per_stage_hotspots_and_queues(
    system: System, users: dict[str, Dashboard]
) -> None:
    # Four runs of "resize": three complete, one fails and is retried, then completes.
    for _ in range(3):
        await system.submit([{"name": "resize", "handler": "img", "maxRetries": 1}])
    jobs = await system.pull("img", wait=5)
    assert len(jobs) == 3
    await system.ack(
        {"jobId": jobs[0]["jobId"], "status": "completed"},
        {"jobId": jobs[1]["jobId"], "status": "completed"},
        {
            "jobId": jobs[2]["jobId"],
            "status": "failed",
            "error": {"message": "disk full", "code": "enospc"},
        },
    )
    # Durations of 1, 2 and 10 seconds for the three attempts that ended.
    for seconds, job in zip((1, 2, 10), jobs, strict=True):
        await system.pool.execute(
            "UPDATE stage_attempts SET started_at = finished_at - make_interval(secs => $2) "
            "WHERE job_id = $1::uuid",
            job["jobId"],
            seconds,
        )
    await system.submit([{"name": "resize", "handler": "img"}])  # waits in the queue

    answer = await users["root"].get("/api/insights")
    assert answer.status_code == 200, answer.text
    insights = answer.json()
    [figures] = insights["stages"]
    assert (figures["handler"], figures["stageName"]) == ("img", "resize")
    assert (figures["attempts"], figures["completed"], figures["failed"]) == (3, 2, 1)
    assert figures["failedForGood"] == 0  # it was retried
    assert figures["successRate"] == pytest.approx(2 / 3)
    assert figures["retryRate"] == pytest.approx(1 / 3)
    # Quantiles are read from duration buckets 10% wide: within 5% of a duration seen.
    assert figures["p50Seconds"] == pytest.approx(2, rel=0.05)
    assert figures["p95Seconds"] == pytest.approx(10, rel=0.1)
    assert figures["throughputPerMinute"] == pytest.approx(2 / 60)
    [hotspot] = insights["hotspots"]
    assert (hotspot["code"], hotspot["message"], hotspot["occurrences"]) == (
        "enospc",
        "disk full",
        1,
    )
    assert sum(b["completed"] for b in insights["series"]) == 2
    assert sum(b["failed"] for b in insights["series"]) == 1
    [queue] = insights["queues"]
    assert (queue["handler"], queue["depth"]) == ("img", 1)
    assert queue["oldestAgeSeconds"] >= 0

    # A range before any of it holds nothing; the queues are of now.
    past = await yesterday(users["root"])
    assert past.json()["stages"] == []
    assert past.json()["hotspots"] == []
    assert len(past.json()["queues"]) == 1


async def test_pipelines_counted_by_status(system: System, users: dict[str, Dashboard]) -> None:
    system.start_builtin_worker()
    submitted = [await system.submit([{"name": "s", "handler": "h"}]) for _ in range(5)]
    jobs = {job["pipelineId"]: job for job in await system.pull_until("h", 5)}
    [done1, done2, broken, cancelled, _still_running] = [p["id"] for p in submitted]
    await system.ack(
        {"jobId": jobs[done1]["jobId"], "status": "completed"},
        {"jobId": jobs[done2]["jobId"], "status": "completed"},
        {"jobId": jobs[broken]["jobId"], "status": "failed", "error": {"message": "no"}},
    )
    cancel = await users["root"].send("POST", f"/api/pipelines/{cancelled}/cancel")
    assert cancel.status_code == 200
    for pipeline_id, status in [(done1, "completed"), (done2, "completed"), (broken, "failed")]:
        await system.wait_for_pipeline(pipeline_id, status)

    counts = (await users["root"].get("/api/insights")).json()["pipelines"]
    assert counts == {"running": 1, "completed": 2, "failed": 1, "cancelled": 1}
    # Running is counted now, whatever the range; the others by when they finished.
    earlier = await yesterday(users["root"])
    assert earlier.json()["pipelines"] == {
        "running": 1,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
    }


async def test_only_the_user_s_applications_count(
    system: System, users: dict[str, Dashboard]
) -> None:
    _, other_key = await create_application(system.pool, "elsewhere")
    await system.client.post(
        "/pipelines",
        json={"name": "p", "stages": [{"name": "s", "handler": "h"}]},
        headers={"X-API-Key": other_key},
    )
    assert len((await users["root"].get("/api/insights")).json()["queues"]) == 1
    mine = (await users["dev"].get("/api/insights")).json()
    assert (mine["stages"], mine["queues"]) == ([], [])
    assert set(mine["pipelines"].values()) == {0}


async def test_a_bad_range_is_refused(users: dict[str, Dashboard]) -> None:
    now = dt.datetime.now(dt.UTC)
    for start, end in [
        (now, now - dt.timedelta(hours=1)),
        (now - dt.timedelta(days=40), now),
    ]:
        answer = await users["root"].client.get(
            "/api/insights", params={"from": start.isoformat(), "to": end.isoformat()}
        )
        assert (answer.status_code, answer.json()["code"]) == (422, "invalid_range")


async def test_insights_read_the_same_before_and_after_the_attempts_are_folded(
    system: System, users: dict[str, Dashboard], database_url: str
) -> None:
    system.start_builtin_worker()  # it finishes the pipelines (and folds as it goes)
    for n in range(6):
        await system.submit([{"name": "resize", "handler": "img"}], name=f"p{n % 2}")
    jobs = await system.pull_until("img", 6)
    await system.ack(
        *(
            {
                "jobId": j["jobId"],
                "status": "completed" if i % 3 else "failed",
                "error": None if i % 3 else {"message": "disk full", "code": "enospc"},
            }
            for i, j in enumerate(jobs)
        )
    )
    for seconds, job in zip((1, 2, 3, 4, 5, 60), jobs, strict=True):
        await system.pool.execute(
            "UPDATE stage_attempts SET started_at = finished_at - make_interval(secs => $2) "
            "WHERE job_id = $1::uuid",
            job["jobId"],
            seconds,
        )
    await _until_finished(system, 6)
    now = dt.datetime.now(dt.UTC)
    hour = {
        "from": (now - dt.timedelta(hours=3)).isoformat(),
        "to": (now + dt.timedelta(minutes=5)).isoformat(),
    }
    # Three hours hold at least one whole hour: read from the hour's rollup once folded,
    # while the chart's 3-minute buckets are still counted by the minute.
    unfolded = (await users["root"].client.get("/api/insights", params=hour)).json()
    # Two built-in workers fold at once: each attempt is folded once.
    other_pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        await asyncio.gather(rollups.fold(system.pool), rollups.fold(other_pool))
    finally:
        await other_pool.close()
    assert (
        await system.pool.fetchval(
            "SELECT sum(attempts) FROM attempt_rollups WHERE grain = 'minute'"
        )
        == 6
    )
    assert (
        await system.pool.fetchval("SELECT sum(attempts) FROM attempt_rollups WHERE grain = 'hour'")
        == 6
    )
    assert (
        await system.pool.fetchval("SELECT sum(n) FROM duration_rollups WHERE grain = 'hour'") == 6
    )
    folded = (await users["root"].client.get("/api/insights", params=hour)).json()
    for key in ("stages", "hotspots", "series", "pipelines"):
        assert folded[key] == unfolded[key], key
    [figures] = folded["stages"]
    assert (figures["attempts"], figures["completed"], figures["failed"]) == (6, 4, 2)
    assert figures["p50Seconds"] == pytest.approx(3, rel=0.1)
    [hotspot] = folded["hotspots"]
    assert hotspot["occurrences"] == 2
    # A range of days reads the hourly rollups between its edges: the same figures.
    week = await users["root"].client.get(
        "/api/insights",
        params={
            "from": (now - dt.timedelta(days=7)).isoformat(),
            "to": (now + dt.timedelta(hours=2)).isoformat(),
        },
    )
    [weekly] = week.json()["stages"]
    assert (weekly["attempts"], weekly["completed"], weekly["failed"]) == (6, 4, 2)
    assert weekly["p50Seconds"] == figures["p50Seconds"]
    # Nothing new: the next fold has nothing to add.
    assert await rollups.fold(system.pool) == 0


async def _until_finished(system: System, count: int) -> None:
    for _ in range(200):
        finished = await system.pool.fetchval(
            "SELECT count(*) FROM pipelines WHERE finished_at IS NOT NULL"
        )
        if finished == count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the pipelines did not finish")
