"""Every role against every action of the internal API: allowed, or refused with 403.

All three users are members of the one application, so a refusal can only come from the
role. An allowed action may still be refused for other reasons (a 409 for a pipeline that
already finished, say): what is checked is that the role was let through.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from controlplane.api.app import create_internal_app
from tests.dashboard import PASSWORD, Dashboard, add_member, logged_in, services_for
from tests.system import System

ROLES = ("admin", "developer", "operator")
EVERYONE = set(ROLES)
ADMIN = {"admin"}
DEVELOPERS = {"admin", "developer"}


@pytest.fixture
async def world(system: System) -> AsyncIterator[dict[str, Any]]:
    users = {
        role: await add_member(system.pool, system.application.id, f"{role}@example.com", role)
        for role in ROLES
    }
    app = create_internal_app(services_for(system.pool, system.services.broker))
    clients = {role: await logged_in(app, f"{role}@example.com") for role in ROLES}
    pipeline = await system.submit([{"name": "a", "handler": "h"}])
    admin = Dashboard(clients["admin"])
    key = await admin.send("POST", f"/api/applications/{system.application.id}/keys", {"name": "k"})
    policy = await admin.send(
        "POST",
        "/api/policies",
        {
            "applicationId": str(system.application.id),
            "name": "p",
            "kind": "timeout",
            "target": {"type": "handler", "name": "h"},
            "config": {"seconds": 60},
        },
    )
    yield {
        "clients": {role: Dashboard(client) for role, client in clients.items()},
        "app": str(system.application.id),
        "pipeline": pipeline["id"],
        "stage": pipeline["stages"][0]["id"],
        "key": key.json()["details"]["id"],
        "policy": policy.json()["id"],
        "operator": str(users["operator"].id),
    }
    for client in clients.values():
        await client.aclose()


def actions(w: dict[str, Any]) -> list[tuple[str, str, Any, set[str]]]:
    """(method, path, body, the roles allowed)."""
    app, pipeline, stage, policy = w["app"], w["pipeline"], w["stage"], w["policy"]
    return [
        ("GET", "/api/applications", None, EVERYONE),
        ("POST", "/api/applications", {"name": "new-app"}, ADMIN),
        ("PATCH", f"/api/applications/{app}", {"displayName": "App"}, ADMIN),
        ("GET", f"/api/applications/{app}/keys", None, ADMIN),
        ("POST", f"/api/applications/{app}/keys", {"name": "another"}, ADMIN),
        ("POST", f"/api/applications/{app}/keys/{w['key']}/revoke", None, ADMIN),
        ("GET", "/api/users", None, ADMIN),
        (
            "POST",
            "/api/users",
            {"email": "x@example.com", "name": "X", "role": "operator", "password": PASSWORD},
            ADMIN,
        ),
        ("PATCH", f"/api/users/{w['operator']}", {"name": "Op"}, ADMIN),
        ("PUT", f"/api/users/{w['operator']}/applications", {"applicationIds": [app]}, ADMIN),
        ("POST", f"/api/users/{w['operator']}/password-reset", None, ADMIN),
        ("GET", "/api/audit", None, ADMIN),
        ("GET", "/api/retention/preview", None, ADMIN),
        ("POST", "/api/retention/run", None, ADMIN),
        ("GET", "/api/pipelines", None, EVERYONE),
        ("GET", f"/api/pipelines/{pipeline}", None, EVERYONE),
        ("GET", f"/api/pipelines/{pipeline}/stages/{stage}/logs", None, EVERYONE),
        ("POST", f"/api/pipelines/{pipeline}/stages/{stage}/skip", {}, EVERYONE),
        ("POST", f"/api/pipelines/{pipeline}/stages/{stage}/rerun", {}, EVERYONE),
        ("POST", f"/api/pipelines/{pipeline}/rerun", None, EVERYONE),
        ("POST", f"/api/pipelines/{pipeline}/cancel", None, EVERYONE),
        ("POST", "/api/pipelines/bulk", {"action": "cancel", "pipelineIds": [pipeline]}, EVERYONE),
        ("GET", "/api/workers", None, EVERYONE),
        ("GET", "/api/insights", None, EVERYONE),
        ("GET", "/api/policies", None, EVERYONE),
        ("GET", f"/api/policies/{policy}/history", None, EVERYONE),
        (
            "POST",
            "/api/policies",
            {
                "applicationId": app,
                "name": "q",
                "kind": "concurrency",
                "target": {"type": "pipeline", "name": "x"},
                "config": {"limit": 1},
            },
            DEVELOPERS,
        ),
        ("PATCH", f"/api/policies/{policy}", {"status": "paused"}, DEVELOPERS),
        ("DELETE", f"/api/policies/{policy}", None, DEVELOPERS),
    ]


@pytest.mark.parametrize("role", ["operator", "developer", "admin"])
async def test_each_role_may_do_what_it_may_and_nothing_else(
    world: dict[str, Any], role: str
) -> None:
    client = world["clients"][role]
    outcomes = []
    for method, path, body, _allowed in actions(world):
        response = await client.send(method, path, body)
        refused = response.status_code == 403
        if refused:
            assert response.json()["code"] == "forbidden", (method, path)
        assert response.status_code != 401, (method, path)
        outcomes.append((method, path, not refused))
    expected = [(method, path, role in allowed) for method, path, _, allowed in actions(world)]
    assert outcomes == expected
