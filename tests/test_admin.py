"""What admins manage through the internal API: applications, API keys, users."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from controlplane.api.app import create_external_app, create_internal_app
from controlplane.engine.access.accounts import create_user
from tests.dashboard import PASSWORD, Dashboard, logged_in, services_for


@pytest.fixture
async def people(pool: asyncpg.Pool) -> AsyncIterator[dict[str, Dashboard]]:
    app = create_internal_app(services_for(pool))
    browsers: dict[str, Dashboard] = {}
    for role in ("admin", "developer", "operator"):
        await create_user(pool, f"{role}@example.com", role.title(), role, PASSWORD)
        browsers[role] = Dashboard(await logged_in(app, f"{role}@example.com"))
    yield browsers
    for dashboard in browsers.values():
        await dashboard.client.aclose()


def external(pool: asyncpg.Pool, key: str) -> httpx.AsyncClient:
    """A fresh external API process: it has not cached any key yet."""
    transport = httpx.ASGITransport(app=create_external_app(services_for(pool)))
    return httpx.AsyncClient(
        transport=transport, base_url="http://api.test", headers={"X-API-Key": key}
    )


async def test_admins_create_and_rename_applications_others_see_their_own(
    pool: asyncpg.Pool, people: dict[str, Dashboard]
) -> None:
    admin, developer = people["admin"], people["developer"]
    created = await admin.send("POST", "/api/applications", {"name": "billing"})
    assert created.status_code == 201, created.text
    app = created.json()
    assert app["displayName"] == "billing"
    renamed = await admin.send(
        "PATCH", f"/api/applications/{app['id']}", {"displayName": "Billing team"}
    )
    assert renamed.json()["displayName"] == "Billing team"
    assert renamed.json()["name"] == "billing"  # queue names never change
    assert [a["name"] for a in (await admin.get("/api/applications")).json()] == ["billing"]
    # Not a member: the developer sees nothing, and cannot create.
    assert (await developer.get("/api/applications")).json() == []
    assert (await developer.get(f"/api/applications/{app['id']}")).status_code == 404
    refused = await developer.send("POST", "/api/applications", {"name": "mine"})
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    await pool.execute(
        "INSERT INTO memberships (user_id, application_id) "
        "SELECT id, $1 FROM users WHERE email = 'developer@example.com'",
        app["id"],
    )
    assert [a["id"] for a in (await developer.get("/api/applications")).json()] == [app["id"]]
    duplicate = await admin.send("POST", "/api/applications", {"name": "billing"})
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "application_exists")
    bad = await admin.send("POST", "/api/applications", {"name": "Not OK!"})
    assert bad.status_code == 422


async def test_a_key_is_shown_once_and_does_only_what_its_scopes_allow(
    pool: asyncpg.Pool, people: dict[str, Dashboard]
) -> None:
    admin = people["admin"]
    app = (await admin.send("POST", "/api/applications", {"name": "readers"})).json()
    created = await admin.send(
        "POST", f"/api/applications/{app['id']}/keys", {"name": "dashboards", "scopes": ["read"]}
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert key.startswith(created.json()["details"]["prefix"])
    listed = (await admin.get(f"/api/applications/{app['id']}/keys")).json()
    assert [k["name"] for k in listed] == ["dashboards"]
    assert key not in str(listed)  # only the prefix, ever again
    assert listed[0]["lastUsedAt"] is None
    async with external(pool, key) as client:
        submit = await client.post(
            "/pipelines", json={"name": "x", "stages": [{"name": "a", "handler": "h"}]}
        )
        assert (submit.status_code, submit.json()["code"]) == (403, "insufficient_scope")
        pull = await client.post("/jobs/pull", json={"handlers": ["h"]})
        assert pull.status_code == 403
        missing = await client.get("/pipelines/00000000-0000-0000-0000-000000000000")
        assert missing.status_code == 404  # allowed to read; there is just nothing there
    used = (await admin.get(f"/api/applications/{app['id']}/keys")).json()[0]
    assert used["lastUsedAt"] is not None
    # Only admins manage keys.
    assert (await people["operator"].get(f"/api/applications/{app['id']}/keys")).status_code == 403


async def test_revoked_and_expired_keys_stop_working(
    pool: asyncpg.Pool, people: dict[str, Dashboard]
) -> None:
    admin = people["admin"]
    app = (await admin.send("POST", "/api/applications", {"name": "ops"})).json()
    keys_path = f"/api/applications/{app['id']}/keys"
    revoked = (await admin.send("POST", keys_path, {"name": "old"})).json()
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    expiring = (
        await admin.send("POST", keys_path, {"name": "temp", "expiresAt": soon.isoformat()})
    ).json()
    answer = await admin.send("POST", f"{keys_path}/{revoked['details']['id']}/revoke")
    assert answer.json()["revokedAt"] is not None
    await pool.execute(
        "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1",
        expiring["details"]["id"],
    )
    for key in (revoked["key"], expiring["key"]):
        async with external(pool, key) as client:
            response = await client.get("/pipelines/00000000-0000-0000-0000-000000000000")
            assert (response.status_code, response.json()["code"]) == (401, "invalid_api_key")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    refused = await admin.send("POST", keys_path, {"name": "x", "expiresAt": past.isoformat()})
    assert refused.status_code == 422


async def test_admins_manage_users_and_their_applications(
    pool: asyncpg.Pool, people: dict[str, Dashboard]
) -> None:
    admin = people["admin"]
    app = (await admin.send("POST", "/api/applications", {"name": "shared"})).json()
    new = {"email": "cy@example.com", "name": "Cy", "role": "operator", "password": PASSWORD}
    created = await admin.send("POST", "/api/users", new)
    assert created.status_code == 201, created.text
    cy = created.json()
    assert (cy["role"], cy["disabled"], cy["applicationIds"]) == ("operator", False, [])
    member = await admin.send(
        "PUT", f"/api/users/{cy['id']}/applications", {"applicationIds": [app["id"]]}
    )
    assert member.json()["applicationIds"] == [app["id"]]
    unknown = await admin.send(
        "PUT",
        f"/api/users/{cy['id']}/applications",
        {"applicationIds": ["00000000-0000-0000-0000-000000000000"]},
    )
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_application")
    promoted = await admin.send("PATCH", f"/api/users/{cy['id']}", {"role": "developer"})
    assert promoted.json()["role"] == "developer"
    emails = [u["email"] for u in (await admin.get("/api/users")).json()]
    assert emails == sorted(emails)
    assert "cy@example.com" in emails
    # Nobody but an admin sees or changes users.
    assert (await people["developer"].get("/api/users")).status_code == 403
    again = await admin.send("POST", "/api/users", new)
    assert (again.status_code, again.json()["code"]) == (409, "email_taken")


async def test_disabling_a_user_ends_their_session(
    pool: asyncpg.Pool, people: dict[str, Dashboard]
) -> None:
    operator = people["operator"]
    assert (await operator.get("/api/auth/me")).status_code == 200
    me = (await operator.get("/api/auth/me")).json()
    answer = await people["admin"].send("PATCH", f"/api/users/{me['id']}", {"disabled": True})
    assert answer.json()["disabled"] is True
    assert (await operator.get("/api/auth/me")).status_code == 401


async def test_the_last_admin_stays_an_enabled_admin(
    pool: asyncpg.Pool, people: dict[str, Dashboard]
) -> None:
    admin = people["admin"]
    me = (await admin.get("/api/auth/me")).json()
    for change in ({"role": "developer"}, {"disabled": True}):
        refused = await admin.send("PATCH", f"/api/users/{me['id']}", change)
        assert (refused.status_code, refused.json()["code"]) == (409, "last_admin")
    # With a second admin, the first may step down.
    other = (
        await admin.send(
            "POST",
            "/api/users",
            {
                "email": "dee@example.com",
                "name": "Dee",
                "role": "admin",
                "password": PASSWORD,
            },
        )
    ).json()
    assert other["role"] == "admin"
    stepped_down = await admin.send("PATCH", f"/api/users/{me['id']}", {"role": "developer"})
    assert stepped_down.json()["role"] == "developer"
    assert (await admin.get("/api/users")).status_code == 403  # no longer an admin, at once


async def test_every_change_is_in_the_audit_log_with_who_and_from_where(
    pool: asyncpg.Pool, people: dict[str, Dashboard]
) -> None:
    admin = people["admin"]
    app = (await admin.send("POST", "/api/applications", {"name": "audited"})).json()
    await admin.send("PATCH", f"/api/applications/{app['id']}", {"displayName": "Audited"})
    key = (await admin.send("POST", f"/api/applications/{app['id']}/keys", {"name": "k"})).json()
    await admin.send("POST", f"/api/applications/{app['id']}/keys/{key['details']['id']}/revoke")
    refused = await admin.send("POST", "/api/applications", {"name": "audited"})  # a 409
    assert refused.status_code == 409
    page = (await admin.get("/api/audit?limit=4")).json()
    assert [e["action"] for e in page["entries"]] == [
        "key.revoked",
        "key.created",
        "application.renamed",
        "application.created",
    ]  # newest first; the refused create left nothing
    first = page["entries"][-1]
    assert first["actor"] == "admin@example.com"
    assert first["client"] == "127.0.0.1"
    assert first["targetId"] == app["id"]
    assert key["key"] not in str(page)  # a key is never written down
    older = (await admin.get(f"/api/audit?before={page['nextBefore']}")).json()
    actions = [e["action"] for e in older["entries"]]
    assert actions[:1] == ["user.logged_in"]  # the fixture's logins, before all that
    assert "user.created" in actions
    assert older["nextBefore"] is None
    assert (await people["developer"].get("/api/audit")).status_code == 403
