"""The stage templates the pipeline builder offers: the SDK's catalog, kept fresh, and
GET /api/templates with the workers serving each one in the user's applications."""

from __future__ import annotations

import json

import httpx

from controlplane.api.app import create_internal_app
from controlplane.engine.access.accounts import create_user
from controlplane.engine.access.applications import create_application
from tests.dashboard import PASSWORD, add_member, logged_in, services_for
from tests.system import System
from worker_sdk.templates import SHIPPED, describe
from worker_sdk.templates.catalog import CATALOG


def test_the_catalog_describes_every_shipped_template_as_it_is() -> None:
    shipped = [name for names in SHIPPED.values() for name in names]
    written = json.loads(CATALOG.read_text())
    assert written == json.loads(json.dumps(describe(shipped))), (
        "worker_sdk/templates/catalog.json is stale: run just template-catalog"
    )


async def bootstrap(client: httpx.AsyncClient, key: str, templates: dict[str, str]) -> None:
    answer = await client.post(
        "/workers/bootstrap",
        json={"workerName": "w", "handlers": ["h"], "metadata": {"templates": templates}},
        headers={"X-API-Key": key},
    )
    assert answer.status_code == 200, answer.text


async def test_the_registry_offers_each_template_with_its_input_and_who_serves_it(
    system: System,
) -> None:
    _, other_key = await create_application(system.pool, "other-app")
    await bootstrap(system.client, system.api_key, {"delay": "1", "acme.fetch": "2"})
    await bootstrap(system.client, other_key, {"transform": "1", "acme.secret": "1"})
    await create_user(system.pool, "root@example.com", "Root", "admin", PASSWORD)
    await add_member(system.pool, system.application.id, "dev@example.com", "developer")
    app = create_internal_app(services_for(system.pool, system.services.broker))
    developer = await logged_in(app, "dev@example.com")
    admin = await logged_in(app, "root@example.com")
    try:
        mine = {t["name"]: t for t in (await developer.get("/api/templates")).json()["items"]}
        every = {t["name"]: t for t in (await admin.get("/api/templates")).json()["items"]}
    finally:
        await developer.aclose()
        await admin.aclose()
    delay = mine["delay"]
    assert (delay["group"], delay["workers"]) == ("core", 1)
    assert delay["inputSchema"]["$defs"]["Delay"]["required"] == ["seconds"]
    assert mine["dataset.sql"]["workers"] == 0  # shipped, served by nobody here
    # A template only a newer worker knows, of one's own application: named, not described.
    assert mine["acme.fetch"] == {
        "name": "acme.fetch",
        "group": None,
        "version": None,
        "summary": None,
        "inputSchema": None,
        "workers": 1,
    }
    # Another application's workers are not the member's to see.
    assert "acme.secret" not in mine
    assert mine["transform"]["workers"] == 0
    assert every["transform"]["workers"] == 1
    assert "acme.secret" in every
