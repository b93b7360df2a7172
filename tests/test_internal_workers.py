"""Workers as the dashboard sees them: live state, held jobs, events, per membership."""

from __future__ import annotations

import uuid
from typing import Any

from controlplane.engine.access.applications import create_application
from tests.dashboard import Dashboard
from tests.system import System


async def bootstrap(system: System, name: str, key: str | None = None) -> str:
    headers = {"X-API-Key": key} if key else None
    response = await system.client.post(
        "/workers/bootstrap",
        json={"workerName": name, "handlers": ["w"], "hostName": "box", "pid": 42},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.json()["workerId"]


async def heartbeat(system: System, worker_id: str, **extra: Any) -> dict[str, Any]:
    response = await system.client.post("/workers/heartbeat", json={"workerId": worker_id, **extra})
    assert response.status_code == 200, response.text
    return response.json()


async def states(operator: Dashboard) -> dict[str, str]:
    response = await operator.get("/api/workers")
    assert response.status_code == 200, response.text
    return {w["name"]: w["state"] for w in response.json()["items"]}


async def age_heartbeat(system: System, worker_id: str, seconds: float) -> None:
    await system.pool.execute(
        "UPDATE workers SET last_heartbeat_at = now() - make_interval(secs => $2) WHERE id = $1",
        uuid.UUID(worker_id),
        seconds,
    )


async def test_each_worker_shows_its_live_state(system: System, operator: Dashboard) -> None:
    settings = system.services.settings
    ids = {name: await bootstrap(system, name) for name in ("fresh", "late", "silent", "leaving")}
    await age_heartbeat(system, ids["late"], 2.5 * settings.heartbeat_interval_seconds)
    await age_heartbeat(system, ids["silent"], settings.worker_offline_after_seconds + 1)
    await heartbeat(system, ids["leaving"], state="draining")
    assert await states(operator) == {
        "fresh": "online",
        "late": "degraded",
        "silent": "offline",
        "leaving": "draining",
    }
    stop = await system.client.post(
        "/workers/shutdown", json={"workerId": ids["leaving"], "reason": "deploy"}
    )
    assert stop.status_code == 200
    assert (await states(operator))["leaving"] == "stopped"
    # Gone long ago: listed only when asked for.
    await age_heartbeat(system, ids["leaving"], 30 * 3600)
    assert "leaving" not in await states(operator)
    listed = await operator.get("/api/workers?goneWithinHours=48")
    assert "leaving" in {w["name"] for w in listed.json()["items"]}


async def test_a_worker_s_jobs_metrics_and_events(system: System, operator: Dashboard) -> None:
    worker_id = await bootstrap(system, "busy")
    pipeline = await system.submit([{"name": "s", "handler": "w"}], name="work")
    [job] = await system.pull("w", wait=5, workerId=worker_id)
    await heartbeat(system, worker_id, inFlightJobIds=[job["jobId"]], metrics={"cpu": 0.5})
    events = await system.client.post(
        "/workers/events",
        json={"workerId": worker_id, "events": [{"kind": "started", "message": "hello"}]},
    )
    assert events.status_code == 200
    detail = (await operator.get(f"/api/workers/{worker_id}")).json()
    assert detail["worker"]["inFlightJobs"] == 1
    assert detail["worker"]["metrics"] == {"cpu": 0.5}
    assert (detail["worker"]["hostName"], detail["worker"]["pid"]) == ("box", 42)
    [held] = detail["jobs"]
    assert (held["jobId"], held["pipelineId"], held["pipelineName"], held["stageName"]) == (
        job["jobId"],
        pipeline["id"],
        "work",
        "s",
    )
    page = (await operator.get(f"/api/workers/{worker_id}/events")).json()
    assert [(e["kind"], e["message"]) for e in page["events"]] == [("started", "hello")]
    assert page["nextBefore"] is None


async def test_workers_of_other_applications_are_not_shown(
    system: System, operator: Dashboard
) -> None:
    _, other_key = await create_application(system.pool, "elsewhere")
    theirs = await bootstrap(system, "theirs", other_key)
    await bootstrap(system, "mine")
    assert await states(operator) == {"mine": "online"}
    hidden = await operator.get(f"/api/workers/{theirs}")
    assert (hidden.status_code, hidden.json()["code"]) == (404, "worker_not_found")
    hidden = await operator.get(f"/api/workers/{theirs}/events")
    assert hidden.status_code == 404


async def test_a_key_cannot_name_another_application_s_worker(
    rabbit_system: System,
) -> None:
    system = rabbit_system
    _, other_key = await create_application(system.pool, "intruder")
    mine = await bootstrap(system, "mine")
    theirs = {"X-API-Key": other_key}
    # The other application has a job of its own to pull...
    response = await system.client.post(
        "/pipelines", json={"name": "p", "stages": [{"name": "a", "handler": "w"}]}, headers=theirs
    )
    assert response.status_code == 201, response.text
    # ...but not as this application's worker: refused before anything is taken.
    pull = {"handlers": ["w"], "maxJobs": 1, "waitSeconds": 1, "workerId": mine}
    refused = await system.client.post("/jobs/pull", json=pull, headers=theirs)
    assert (refused.status_code, refused.json()["code"]) == (404, "unknown_worker")
    for path, body in [
        ("/workers/heartbeat", {"workerId": mine}),
        ("/workers/events", {"workerId": mine, "events": [{"kind": "x"}]}),
        ("/workers/shutdown", {"workerId": mine}),
    ]:
        response = await system.client.post(path, json=body, headers=theirs)
        assert (response.status_code, response.json()["code"]) == (404, "unknown_worker"), path
    # Its own worker takes the job; this application's worker holds nothing of it, and its
    # shutdown requeues nothing of the other application.
    own = await bootstrap(system, "own", other_key)
    pull["workerId"] = own
    taken = await system.client.post("/jobs/pull", json=pull, headers=theirs)
    [job] = taken.json()["jobs"]
    stopped = await system.client.post("/workers/shutdown", json={"workerId": mine})
    assert stopped.status_code == 200
    status = await system.pool.fetchval(
        "SELECT status FROM stages WHERE job_id = $1", uuid.UUID(job["jobId"])
    )
    assert status == "running"
