"""Searching the stage logs through the internal API: words, level, pipeline, handler, time,
paging, the live tail, and who sees which lines."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from controlplane.api.app import create_internal_app
from controlplane.engine.access.accounts import create_user
from controlplane.engine.access.applications import create_application
from tests.dashboard import PASSWORD, add_member, logged_in, services_for
from tests.system import System


async def run_with_logs(
    system: System, handler: str, lines: list[tuple[str, str]], **submit: Any
) -> str:
    """A one-stage pipeline whose job acks with these (level, message) lines."""
    pipeline = await system.submit([{"name": f"{handler}-stage", "handler": handler}], **submit)
    [job] = await system.pull_until(handler, 1)
    logs = [{"level": level, "message": message} for level, message in lines]
    answer = await system.ack({"jobId": job["jobId"], "status": "completed", "logs": logs})
    assert answer["accepted"] == [job["jobId"]]
    return str(pipeline["id"])


@pytest.fixture
async def logs(system: System) -> AsyncIterator[dict[str, Any]]:
    """Two pipelines of the system's application, one of another; an admin, and an operator
    who is a member of the first application only."""
    ids = {
        "load": await run_with_logs(
            system,
            "load",
            [
                ("info", "loading 120 rows from s3://bucket/orders.csv"),
                ("warning", "retrying: connection refused by db-1"),
                ("error", "gave up: connection refused by db-1 after 3 tries"),
            ],
            name="nightly",
        ),
        "clean": await run_with_logs(
            system,
            "clean",
            [("info", "dropped 4 duplicate rows"), ("debug", "connection pool: 3 idle")],
            name="cleanup",
        ),
    }
    other, other_key = await create_application(system.pool, "other-app")
    other_pipeline = await system.client.post(
        "/pipelines",
        json={"name": "theirs", "stages": [{"name": "s", "handler": "load"}]},
        headers={"X-API-Key": other_key},
    )
    jobs = await system.client.post(
        "/jobs/pull",
        json={"handlers": ["load"], "maxJobs": 1, "waitSeconds": 2},
        headers={"X-API-Key": other_key},
    )
    [job] = jobs.json()["jobs"]
    acked = await system.client.post(
        "/jobs/ack",
        json={
            "results": [
                {
                    "jobId": job["jobId"],
                    "status": "completed",
                    "logs": [{"level": "error", "message": "connection refused: a secret host"}],
                }
            ]
        },
        headers={"X-API-Key": other_key},
    )
    assert acked.status_code == 200
    ids["theirs"] = other_pipeline.json()["id"]
    await create_user(system.pool, "root@example.com", "Root", "admin", PASSWORD)
    await add_member(system.pool, system.application.id, "op@example.com", "operator")
    app = create_internal_app(services_for(system.pool, system.services.broker))
    clients = {who: await logged_in(app, f"{who}@example.com") for who in ("root", "op")}
    yield {"ids": ids, "other_id": str(other.id), **clients}
    for client in clients.values():
        await client.aclose()


async def search(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/logs", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def messages(client: httpx.AsyncClient, **params: Any) -> list[str]:
    return [item["message"] for item in (await search(client, **params))["items"]]


async def test_words_find_the_lines_newest_first_and_name_where_they_come_from(
    logs: dict[str, Any],
) -> None:
    admin = logs["root"]
    found = await search(admin, q="connection refused")
    assert [i["message"] for i in found["items"]] == [
        "connection refused: a secret host",
        "gave up: connection refused by db-1 after 3 tries",
        "retrying: connection refused by db-1",
    ]
    line = found["items"][1]
    assert line["pipelineId"] == logs["ids"]["load"]
    assert (line["pipelineName"], line["stageName"], line["handler"]) == (
        "nightly",
        "load-stage",
        "load",
    )
    assert (line["level"], line["attempt"]) == ("error", 1)
    assert found["nextBefore"] is None
    # Whole words, any case; a phrase in quotes; a word left out with a minus; "or".
    assert await messages(admin, q="ROWS") == [
        "dropped 4 duplicate rows",
        "loading 120 rows from s3://bucket/orders.csv",
    ]
    assert await messages(admin, q="row") == []
    assert await messages(admin, q='"refused by"') == [
        "gave up: connection refused by db-1 after 3 tries",
        "retrying: connection refused by db-1",
    ]
    assert await messages(admin, q="connection -refused") == ["connection pool: 3 idle"]
    assert await messages(admin, q="duplicate or idle") == [
        "connection pool: 3 idle",
        "dropped 4 duplicate rows",
    ]


async def test_filters_narrow_the_search(logs: dict[str, Any]) -> None:
    admin, ids = logs["root"], logs["ids"]
    assert await messages(admin, q="connection", level="error") == [
        "connection refused: a secret host",
        "gave up: connection refused by db-1 after 3 tries",
    ]
    assert await messages(admin, level=["warning", "debug"]) == [
        "connection pool: 3 idle",
        "retrying: connection refused by db-1",
    ]
    assert await messages(admin, pipelineId=ids["clean"]) == [
        "connection pool: 3 idle",
        "dropped 4 duplicate rows",
    ]
    assert len(await messages(admin, handler="load")) == 4
    assert await messages(admin, handler="load", application=logs["other_id"]) == [
        "connection refused: a secret host"
    ]
    now = dt.datetime.now(dt.UTC)
    assert len(await messages(admin, **{"from": (now - dt.timedelta(hours=1)).isoformat()})) == 6
    assert await messages(admin, to=(now - dt.timedelta(hours=1)).isoformat()) == []


async def test_a_member_finds_only_the_lines_of_their_applications(
    logs: dict[str, Any],
) -> None:
    operator = logs["op"]
    assert "connection refused: a secret host" not in await messages(operator, q="connection")
    assert await messages(operator, application=logs["other_id"]) == []
    assert await messages(operator, pipelineId=logs["ids"]["theirs"]) == []
    assert len(await messages(operator)) == 5


async def test_pages_go_back_and_the_tail_brings_what_came_since(
    system: System, logs: dict[str, Any]
) -> None:
    admin = logs["root"]
    first = await search(admin, limit=4)
    assert len(first["items"]) == 4
    rest = await search(admin, limit=4, before=first["nextBefore"])
    assert (len(rest["items"]), rest["nextBefore"]) == (2, None)
    every = [i["id"] for i in first["items"] + rest["items"]]
    assert every == sorted(every, reverse=True)
    # A live tail asks for what came after the newest line it has.
    newest = first["items"][0]["id"]
    assert (await search(admin, after=newest))["items"] == []
    await run_with_logs(system, "late", [("info", "a late line"), ("info", "and another")])
    tail = await search(admin, after=newest)
    assert [i["message"] for i in tail["items"]] == ["and another", "a late line"]
    assert await messages(admin, after=newest, q="another") == ["and another"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("q=%21%21%21", "invalid_search"),  # "!!!": no word to look for
        ("q=" + "-" * 40 + "timeout", "invalid_search"),  # a "not" of a "not" … 40 deep
        ("q=" + "x" * 501, "invalid_request"),
        ("level=fatal", "invalid_request"),
        ("limit=501", "invalid_request"),
        ("before=0", "invalid_request"),
        ("pipelineId=not-a-uuid", "invalid_request"),
        ("from=2026-12-04T10:00:00", "invalid_range"),  # no time zone
        ("from=2026-12-04T10:00:00Z&to=2026-12-04T09:00:00Z", "invalid_range"),
        ("from=0001-01-01T00:00:00%2B14:00", "invalid_range"),
    ],
)
async def test_a_bad_search_is_refused_with_its_reason(
    logs: dict[str, Any], query: str, code: str
) -> None:
    response = await logs["root"].get(f"/api/logs?{query}")
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code


async def test_hostile_words_are_only_words(logs: dict[str, Any]) -> None:
    admin = logs["root"]
    for words in ["'; DROP TABLE stage_logs; --", "a & b | !c <-> d", "(((", "\\", ":*", "é ü"]:
        response = await admin.get("/api/logs", params={"q": words})
        assert response.status_code in (200, 422), (words, response.text)
    assert len(await messages(admin)) == 6


async def test_walking_back_window_by_window_finds_what_one_window_finds(
    logs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from controlplane.engine.reads import log_search

    admin = logs["root"]
    searches: list[dict[str, Any]] = [
        {},
        {"q": "connection"},
        {"q": "refused", "limit": 2},
        {"level": "info", "handler": "load"},
        {"q": "rows", "before": (await search(admin))["items"][1]["id"]},
    ]
    at_once = [await search(admin, **params) for params in searches]
    monkeypatch.setattr(log_search, "FIRST_WINDOW", 1)  # windows of 1, 4, 16 … lines
    assert [await search(admin, **params) for params in searches] == at_once
