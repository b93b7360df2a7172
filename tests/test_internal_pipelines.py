"""Finding, reading and cancelling pipelines through the internal API, per membership."""

from __future__ import annotations

import datetime as dt
import typing
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from controlplane.api.app import create_internal_app
from controlplane.api.internal.pipelines import Sort
from controlplane.engine.access.accounts import create_user
from controlplane.engine.access.applications import create_application
from controlplane.engine.reads.pipeline_queries import SORTS
from tests.dashboard import PASSWORD, add_member, logged_in, services_for
from tests.system import System


@pytest.fixture
async def setup(system: System) -> AsyncIterator[dict[str, Any]]:
    """Application A (the system's) with two pipelines, B with one; an admin, and an
    operator who is a member of A only."""
    other, other_key = await create_application(system.pool, "other-app")
    ids = {}
    stages = [{"name": "s", "handler": "h"}]
    ids["alpha-1"] = (await system.submit(stages, name="alpha-1", keywords=["eu"]))["id"]
    ids["alpha-2"] = (await system.submit(stages, name="alpha-2"))["id"]
    response = await system.client.post(
        "/pipelines",
        json={"name": "beta-1", "stages": [{"name": "s", "handler": "h"}]},
        headers={"X-API-Key": other_key},
    )
    ids["beta-1"] = response.json()["id"]
    await create_user(system.pool, "root@example.com", "Root", "admin", PASSWORD)
    await add_member(system.pool, system.application.id, "op@example.com", "operator")
    app = create_internal_app(services_for(system.pool, system.services.broker))
    clients = {who: await logged_in(app, f"{who}@example.com") for who in ("root", "op")}
    yield {
        "ids": ids,
        "other_id": str(other.id),
        "admin": clients["root"],
        "operator": clients["op"],
        "names": {"a": system.application.name, "b": other.name},
    }
    for client in clients.values():
        await client.aclose()


async def names(client: httpx.AsyncClient, query: str = "", **params: Any) -> list[str]:
    response = await client.get(f"/api/pipelines?{query}", params=params or None)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


async def test_each_user_finds_the_pipelines_of_their_applications(setup: dict[str, Any]) -> None:
    admin, operator = setup["admin"], setup["operator"]
    assert await names(admin) == ["beta-1", "alpha-2", "alpha-1"]  # newest first
    assert await names(operator) == ["alpha-2", "alpha-1"]
    assert await names(operator, "search=alpha-2") == ["alpha-2"]
    assert await names(operator, "search=eu") == ["alpha-1"]  # a whole keyword
    assert await names(admin, f"search={setup['ids']['beta-1']}") == ["beta-1"]
    assert await names(admin, "sort=name") == ["alpha-1", "alpha-2", "beta-1"]
    assert await names(admin, "status=running&status=failed") == ["beta-1", "alpha-2", "alpha-1"]
    assert await names(admin, "status=completed") == []
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).isoformat()
    assert await names(admin, createdFrom=later) == []
    assert await names(admin, createdTo=later, application=setup["other_id"]) == ["beta-1"]
    assert await names(operator, application=setup["other_id"]) == []  # not a member
    first = (await admin.get("/api/pipelines?limit=2&sort=name")).json()
    assert [i["name"] for i in first["items"]] == ["alpha-1", "alpha-2"]
    assert first["hasMore"] is True
    rest = (await admin.get("/api/pipelines?limit=2&offset=2&sort=name")).json()
    assert ([i["name"] for i in rest["items"]], rest["hasMore"]) == (["beta-1"], False)
    item = first["items"][0]
    assert item["applicationName"] == setup["names"]["a"]
    assert item["stageCounts"] == {"queued": 1}
    bad = await admin.get("/api/pipelines?sort=sideways")
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_request")


async def test_a_pipeline_of_another_application_is_not_found(setup: dict[str, Any]) -> None:
    operator, ids = setup["operator"], setup["ids"]
    mine = await operator.get(f"/api/pipelines/{ids['alpha-1']}")
    assert mine.status_code == 200
    assert mine.json()["pipeline"]["name"] == "alpha-1"
    assert mine.json()["applicationName"] == setup["names"]["a"]
    theirs = await operator.get(f"/api/pipelines/{ids['beta-1']}")
    assert (theirs.status_code, theirs.json()["code"]) == (404, "pipeline_not_found")
    headers = {"X-CSRF-Token": operator.cookies["plq_csrf"]}
    cancel = await operator.post(f"/api/pipelines/{ids['beta-1']}/cancel", headers=headers)
    assert cancel.status_code == 404


async def test_an_operator_cancels_a_pipeline_and_it_is_audited(setup: dict[str, Any]) -> None:
    operator, admin, ids = setup["operator"], setup["admin"], setup["ids"]
    headers = {"X-CSRF-Token": operator.cookies["plq_csrf"]}
    cancelled = await operator.post(f"/api/pipelines/{ids['alpha-2']}/cancel", headers=headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["pipeline"]["status"] == "cancelled"
    audit = (await admin.get("/api/audit?limit=1")).json()["entries"][0]
    assert (audit["action"], audit["actor"], audit["targetId"]) == (
        "pipeline.cancelled",
        "op@example.com",
        ids["alpha-2"],
    )


def test_every_sort_the_api_offers_has_an_order() -> None:
    assert set(typing.get_args(Sort)) == set(SORTS)
