"""A pipeline name's run history through the internal API: outcomes and run times over a
range from the rollups, and its latest runs with their stages' times."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from controlplane.api.app import create_internal_app
from controlplane.engine.access.accounts import create_user
from controlplane.engine.access.applications import create_application
from controlplane.engine.upkeep import rollups
from tests.dashboard import PASSWORD, add_member, logged_in, services_for
from tests.system import System


async def run(system: System, name: str, seconds: int, status: str) -> str:
    """A two-stage run of ``name`` that took ``seconds`` from creation to its finish."""
    pipeline = await system.submit(
        [{"name": "extract", "handler": "ex"}, {"name": "load", "handler": "ld"}], name=name
    )
    await system.pool.execute(
        "UPDATE pipelines SET created_at = now() - make_interval(secs => $2) WHERE id = $1",
        pipeline["id"],
        seconds,
    )
    [extract] = await system.pull_until("ex", 1)
    await system.ack({"jobId": extract["jobId"], "status": "completed"})
    await system.worker.advance([extract["stageId"]])
    [load] = await system.pull_until("ld", 1)
    result: dict[str, Any] = {"jobId": load["jobId"], "status": status}
    if status == "failed":
        result["error"] = {"message": "disk full", "retryable": False}
    await system.ack(result)
    await system.worker.advance([load["stageId"]])
    assert (await system.pipeline(pipeline["id"]))["status"] == status
    return str(pipeline["id"])


@pytest.fixture
async def history(system: System) -> AsyncIterator[dict[str, Any]]:
    ids = [
        await run(system, "nightly", 60, "completed"),
        await run(system, "nightly", 120, "failed"),
        await run(system, "nightly", 60, "completed"),
        await run(system, "hourly", 5, "completed"),
    ]
    await rollups.fold(system.pool)
    other, _ = await create_application(system.pool, "other-app")
    await create_user(system.pool, "root@example.com", "Root", "admin", PASSWORD)
    await add_member(system.pool, other.id, "stranger@example.com", "operator")
    app = create_internal_app(services_for(system.pool, system.services.broker))
    clients = {who: await logged_in(app, f"{who}@example.com") for who in ("root", "stranger")}
    yield {"ids": ids, "app": str(system.application.id), **clients}
    for client in clients.values():
        await client.aclose()


async def read(client: httpx.AsyncClient, **params: Any) -> httpx.Response:
    return await client.get("/api/insights/runs", params=params)


async def test_a_name_s_runs_their_outcomes_times_and_stages(history: dict[str, Any]) -> None:
    answer = await read(history["root"], application=history["app"], name="nightly", range="24h")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["completed"], body["failed"], body["cancelled"]) == (2, 1, 0)
    assert body["successRate"] == pytest.approx(2 / 3)
    # Run times from the duration buckets: within 5% of the exact ones.
    assert body["p50Seconds"] == pytest.approx(60, rel=0.06)
    assert body["p95Seconds"] == pytest.approx(120, rel=0.06)
    assert body["bucketSeconds"] == 3600
    [bucket] = body["series"]
    assert (bucket["completed"], bucket["failed"]) == (2, 1)
    # The latest runs, the last created first (the second was made to start earliest), the
    # other name's left out.
    latest = body["latest"]
    assert [r["id"] for r in latest] == [history["ids"][i] for i in (2, 0, 1)]
    assert [r["status"] for r in latest] == ["completed", "completed", "failed"]
    assert latest[2]["seconds"] == pytest.approx(120, abs=5)
    assert [(s["name"], s["handler"], s["attempts"], s["failed"]) for s in body["stages"]] == [
        ("extract", "ex", 3, 0),
        ("load", "ld", 3, 1),
    ]
    assert all(s["p50Seconds"] is not None for s in body["stages"])


async def test_a_range_s_buckets_and_an_unknown_name(history: dict[str, Any]) -> None:
    week = (await read(history["root"], application=history["app"], name="nightly")).json()
    assert week["bucketSeconds"] == 86_400
    assert sum(b["completed"] for b in week["series"]) == 2
    none = (await read(history["root"], application=history["app"], name="never")).json()
    assert (none["completed"], none["successRate"], none["latest"], none["stages"]) == (
        0,
        None,
        [],
        [],
    )


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"name": "nightly"}, 422, "invalid_request"),  # no application
        ({"name": "nightly", "range": "1y"}, 422, "invalid_request"),
        ({"name": ""}, 422, "invalid_request"),
        ({"name": "x" * 201}, 422, "invalid_request"),
    ],
)
async def test_a_bad_history_request_is_refused(
    history: dict[str, Any], params: dict[str, str], status: int, code: str
) -> None:
    if "name" in params and len(params) == 1 and params["name"] == "nightly":
        answer = await read(history["root"], **params)
    else:
        answer = await read(history["root"], application=history["app"], **params)
    assert (answer.status_code, answer.json()["code"]) == (status, code)


async def test_another_application_s_history_is_not_found(history: dict[str, Any]) -> None:
    answer = await read(history["stranger"], application=history["app"], name="nightly")
    assert (answer.status_code, answer.json()["code"]) == (404, "application_not_found")
