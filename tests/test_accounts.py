"""Logging in to the internal API: sessions in cookies, throttling, CSRF, logout, refresh."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from controlplane.api.app import create_internal_app
from controlplane.engine.access.accounts import (
    FREE_FAILURES_PER_ACCOUNT_AND_CLIENT,
    FREE_FAILURES_PER_CLIENT,
    create_user,
)
from tests.dashboard import BASE, PASSWORD, browser, services_for

LOOPBACK = ("127.0.0.0/8",)


async def internal_client(pool: asyncpg.Pool, **settings: Any) -> httpx.AsyncClient:
    return browser(create_internal_app(services_for(pool, **settings)))


@pytest.fixture
async def api(pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    await create_user(pool, "ada@example.com", "Ada", "developer", PASSWORD)
    async with await internal_client(pool) as client:
        yield client


async def login(client: httpx.AsyncClient, email: str = "ada@example.com", **kw: Any) -> Any:
    return await client.post(
        "/api/auth/login", json={"email": email, "password": kw.pop("password", PASSWORD)}, **kw
    )


async def with_only(
    client: httpx.AsyncClient, method: str, path: str, cookie: str, value: str
) -> httpx.Response:
    """A request carrying only this cookie, as someone holding a copy of it would send."""
    async with httpx.AsyncClient(transport=client._transport, base_url=BASE) as other:
        return await other.request(method, path, headers={"Cookie": f"{cookie}={value}"})


def csrf(client: httpx.AsyncClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies["plq_csrf"]}


async def test_login_sets_the_session_cookies_and_me_answers(api: httpx.AsyncClient) -> None:
    response = await login(api, "ADA@example.com")  # emails match whatever their case
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["email"] == "ada@example.com"
    assert body["user"]["role"] == "developer"
    assert body["csrfToken"] == api.cookies["plq_csrf"]
    cookies = {c.split("=", 1)[0]: c.lower() for c in response.headers.get_list("set-cookie")}
    assert "httponly" in cookies["plq_access"]
    assert "samesite=strict" in cookies["plq_access"]
    assert "path=/api;" in cookies["plq_access"]
    assert "path=/api/auth" in cookies["plq_refresh"]
    assert "httponly" not in cookies["plq_csrf"]  # the page reads it
    assert "secure" not in cookies["plq_access"]  # plain HTTP here
    me = await api.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json()["name"] == "Ada"


async def test_cookies_are_secure_over_https(pool: asyncpg.Pool, api: httpx.AsyncClient) -> None:
    # Only a trusted proxy is believed when it says the client came over HTTPS.
    response = await login(api, headers={"X-Forwarded-Proto": "https"})
    assert not any("secure" in c.lower() for c in response.headers.get_list("set-cookie"))
    async with await internal_client(pool, trusted_proxies=LOOPBACK) as behind_a_proxy:
        response = await login(behind_a_proxy, headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    assert all("secure" in c.lower() for c in response.headers.get_list("set-cookie"))


async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(
    api: httpx.AsyncClient,
) -> None:
    wrong = await login(api, password="not the password")
    unknown = await login(api, "nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["code"] == "invalid_credentials"
    assert (await api.get("/api/auth/me")).json()["code"] == "not_authenticated"


async def test_failed_logins_are_throttled_per_account_and_client(
    api: httpx.AsyncClient,
) -> None:
    for _ in range(FREE_FAILURES_PER_ACCOUNT_AND_CLIENT + 1):
        assert (await login(api, password="guess")).status_code == 401
    throttled = await login(api)  # even the right password waits now
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "login_throttled"
    assert int(throttled.headers["Retry-After"]) >= 1
    # From another address, the same account logs in: the lock is this client's.
    elsewhere = httpx.ASGITransport(app=api._transport.app, client=("192.0.2.1", 1))  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=elsewhere, base_url=BASE) as other:
        assert (await login(other)).status_code == 200
    await asyncio.sleep(1.1)  # the first lock is one second; then it doubles
    assert (await login(api)).status_code == 200


async def test_failed_logins_are_throttled_per_client(api: httpx.AsyncClient) -> None:
    # One client trying many accounts is locked out, whichever account it tries next.
    for n in range(FREE_FAILURES_PER_CLIENT + 1):
        assert (await login(api, f"user{n}@example.com")).status_code == 401
    assert (await login(api)).status_code == 429


async def test_failed_logins_made_at_once_are_counted_one_by_one(
    api: httpx.AsyncClient,
) -> None:
    # Forty wrong passwords at once: each is counted before it is checked, so only the free
    # failures (and the one that locks) are checked at all; the rest wait for the lock.
    answers = await asyncio.gather(*(login(api, password="guess") for _ in range(40)))
    checked = [a for a in answers if a.status_code == 401]
    throttled = [a for a in answers if a.status_code == 429]
    assert len(checked) + len(throttled) == 40
    # The first lock lasts one second: a slow machine may let one or two more through.
    assert FREE_FAILURES_PER_ACCOUNT_AND_CLIENT + 1 <= len(checked) <= 9, len(checked)


async def test_an_attacker_elsewhere_cannot_lock_a_person_out(pool: asyncpg.Pool) -> None:
    await create_user(pool, "root@example.com", "Root", "admin", PASSWORD)
    async with await internal_client(pool, trusted_proxies=LOOPBACK) as proxy:
        attacker = {"X-Forwarded-For": "203.0.113.9"}
        for _ in range(FREE_FAILURES_PER_ACCOUNT_AND_CLIENT + 1):
            answer = await login(proxy, "root@example.com", password="guess", headers=attacker)
            assert answer.status_code == 401
        locked = await login(proxy, "root@example.com", headers=attacker)
        assert locked.status_code == 429
        # The admin, from their own address, logs in.
        admin = {"X-Forwarded-For": "198.51.100.7"}
        assert (await login(proxy, "root@example.com", headers=admin)).status_code == 200


async def test_a_forwarded_address_is_believed_only_from_a_trusted_proxy(
    pool: asyncpg.Pool, api: httpx.AsyncClient
) -> None:
    # From an untrusted peer, a new X-Forwarded-For per attempt does not dodge the throttle.
    for n in range(FREE_FAILURES_PER_ACCOUNT_AND_CLIENT + 1):
        spoofed = {"X-Forwarded-For": f"203.0.113.{n}"}
        assert (await login(api, password="guess", headers=spoofed)).status_code == 401
    spoofed = {"X-Forwarded-For": "203.0.113.200"}
    assert (await login(api, password="guess", headers=spoofed)).status_code == 429
    # Through a trusted proxy, the client is the nearest address it does not trust.
    async with await internal_client(pool, trusted_proxies=LOOPBACK) as proxy:
        chain = {"X-Forwarded-For": "198.51.100.1, 203.0.113.250, 127.0.0.1"}
        assert (await login(proxy, headers=chain)).status_code == 200
    client = await pool.fetchval("SELECT client FROM sessions ORDER BY created_at DESC LIMIT 1")
    assert client == "203.0.113.250"


async def test_logout_ends_the_session_at_once(pool: asyncpg.Pool, api: httpx.AsyncClient) -> None:
    await login(api)
    stolen_access = api.cookies["plq_access"]
    response = await api.post("/api/auth/logout", headers=csrf(api))
    assert response.status_code == 204
    assert "plq_access" not in api.cookies
    # The access token is still within its expiry, but its session is revoked.
    again = await with_only(api, "GET", "/api/auth/me", "plq_access", stolen_access)
    assert again.status_code == 401
    assert again.json()["code"] == "session_expired"


async def test_refresh_rotates_and_a_reused_refresh_token_ends_the_session(
    api: httpx.AsyncClient,
) -> None:
    await login(api)
    old_refresh = api.cookies["plq_refresh"]
    refreshed = await api.post("/api/auth/refresh")
    assert refreshed.status_code == 200
    assert api.cookies["plq_refresh"] != old_refresh
    assert (await api.get("/api/auth/me")).status_code == 200
    # The old token again: it was copied. The whole session ends, the new token with it.
    replay = await with_only(api, "POST", "/api/auth/refresh", "plq_refresh", old_refresh)
    assert replay.status_code == 401
    assert (await api.get("/api/auth/me")).json()["code"] == "session_expired"


async def test_an_expired_access_token_asks_for_a_refresh(pool: asyncpg.Pool) -> None:
    await create_user(pool, "bo@example.com", "Bo", "operator", PASSWORD)
    # Long enough that the refreshed token cannot also run out on a busy machine before it is used.
    async with await internal_client(pool, access_token_seconds=3) as client:
        await login(client, "bo@example.com")
        token = client.cookies["plq_access"]
        await asyncio.sleep(4.1)
        # A browser drops the cookie when it expires; one that still sends it is told why.
        expired = await with_only(client, "GET", "/api/auth/me", "plq_access", token)
        assert expired.json()["code"] == "token_expired"
        assert (await client.post("/api/auth/refresh")).status_code == 200
        assert (await client.get("/api/auth/me")).status_code == 200


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "no CSRF token"),
        ({"X-CSRF-Token": "forged"}, "a wrong CSRF token"),
        ({"Origin": "http://evil.example"}, "another origin"),
        ({"Sec-Fetch-Site": "cross-site"}, "a cross-site fetch"),
    ],
)
async def test_unsafe_requests_need_csrf_proof(
    api: httpx.AsyncClient, headers: dict[str, str], why: str
) -> None:
    await login(api)
    if "Origin" in headers or "Sec-Fetch-Site" in headers:
        headers = {**csrf(api), **headers}  # the right token does not help from elsewhere
    response = await api.post("/api/auth/logout", headers=headers)
    assert response.status_code == 403, why
    assert response.json()["code"] == "csrf_failed"
    assert (await api.get("/api/auth/me")).status_code == 200  # still logged in


async def test_a_cross_site_login_is_refused(api: httpx.AsyncClient) -> None:
    response = await login(api, headers={"Origin": "http://evil.example"})
    assert response.status_code == 403


async def test_a_same_origin_browser_request_passes(api: httpx.AsyncClient) -> None:
    await login(api, headers={"Origin": BASE, "Sec-Fetch-Site": "same-origin"})
    headers = {**csrf(api), "Origin": BASE}
    assert (await api.post("/api/auth/logout", headers=headers)).status_code == 204


async def test_a_disabled_user_is_logged_out(pool: asyncpg.Pool, api: httpx.AsyncClient) -> None:
    await login(api)
    await pool.execute("UPDATE users SET disabled = true")
    assert (await api.get("/api/auth/me")).status_code == 401
    assert (await login(api)).status_code == 401


async def test_a_stranger_s_large_login_body_is_not_read(api: httpx.AsyncClient) -> None:
    # Anyone may send a login: its body is refused past 16 KiB, as it arrives, rather than read
    # and scanned to the API's 10 MiB.
    padding = " " * (16 * 1024)
    body = f'{{"email": "ada@example.com", "password": "{PASSWORD}"}}{padding}'
    response = await api.post(
        "/api/auth/login", content=body, headers={"content-type": "application/json"}
    )
    assert (response.status_code, response.json()["code"]) == (413, "request_too_large")
    assert (await login(api)).status_code == 200  # a login of its size passes


# -- one's password and sessions ------------------------------------------------------------

NEW_PASSWORD = "a-new-and-long-enough-password"


async def test_changing_one_s_password_ends_every_other_session_of_theirs(
    pool: asyncpg.Pool, api: httpx.AsyncClient
) -> None:
    assert (await login(api)).status_code == 200
    async with await internal_client(pool) as laptop:
        assert (await login(laptop)).status_code == 200
        change = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
        answer = await api.post("/api/auth/password", json=change, headers=csrf(api))
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"sessionsEnded": 1}
        # The other browser is logged out at once; this one goes on.
        assert (await laptop.get("/api/auth/me")).status_code == 401
        assert (await api.get("/api/auth/me")).status_code == 200
    # The old password opens nothing any more, the new one does.
    async with await internal_client(pool) as other:
        assert (await login(other)).status_code == 401
        assert (await login(other, password=NEW_PASSWORD)).status_code == 200
    audited = await pool.fetchrow(
        "SELECT actor, details ->> 'sessionsEnded' AS ended FROM audit_log "
        "WHERE action = 'user.password_changed'"
    )
    assert (audited["actor"], audited["ended"]) == ("ada@example.com", "1")


@pytest.mark.parametrize(
    ("current", "new", "status", "code"),
    [
        ("not-the-password", NEW_PASSWORD, 403, "wrong_password"),
        (PASSWORD, "short", 422, "weak_password"),
        (PASSWORD, PASSWORD, 422, "same_password"),
        (PASSWORD, "x" * 1025, 422, "invalid_request"),
    ],
)
async def test_a_password_change_is_refused_with_its_reason_and_changes_nothing(
    pool: asyncpg.Pool, api: httpx.AsyncClient, current: str, new: str, status: int, code: str
) -> None:
    assert (await login(api)).status_code == 200
    change = {"currentPassword": current, "newPassword": new}
    answer = await api.post("/api/auth/password", json=change, headers=csrf(api))
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code
    async with await internal_client(pool) as other:
        assert (await login(other)).status_code == 200  # the password is as it was


async def test_guessing_the_current_password_is_throttled(api: httpx.AsyncClient) -> None:
    assert (await login(api)).status_code == 200
    change = {"currentPassword": "guess", "newPassword": NEW_PASSWORD}
    codes = [
        (await api.post("/api/auth/password", json=change, headers=csrf(api))).json()["code"]
        for _ in range(7)
    ]
    assert codes[:5] == ["wrong_password"] * 5
    assert codes[-1] == "password_throttled"
    # Even the right one waits out the lock: a guess that lands is not told apart.
    right = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    throttled = await api.post("/api/auth/password", json=right, headers=csrf(api))
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1


async def test_one_lists_and_ends_one_s_own_sessions_only(
    pool: asyncpg.Pool, api: httpx.AsyncClient
) -> None:
    await create_user(pool, "bob@example.com", "Bob", "operator", PASSWORD)
    assert (await login(api)).status_code == 200
    async with (
        await internal_client(pool) as laptop,
        await internal_client(pool) as bob,
    ):
        assert (await login(laptop, headers={"User-Agent": "laptop"})).status_code == 200
        assert (await login(bob, "bob@example.com")).status_code == 200
        listed = (await api.get("/api/auth/sessions")).json()["items"]
        assert len(listed) == 2
        [here] = [s for s in listed if s["current"]]
        [there] = [s for s in listed if not s["current"]]
        assert there["userAgent"] == "laptop"
        # Bob's session is not Ada's to see or end.
        [bobs] = (await bob.get("/api/auth/sessions")).json()["items"]
        refused = await api.delete(f"/api/auth/sessions/{bobs['id']}", headers=csrf(api))
        assert (refused.status_code, refused.json()["code"]) == (404, "session_not_found")
        assert (await bob.get("/api/auth/me")).status_code == 200
        # Ending the laptop's logs it out; ending this one is a logout.
        ended = await api.delete(f"/api/auth/sessions/{there['id']}", headers=csrf(api))
        assert ended.status_code == 204
        assert (await laptop.get("/api/auth/me")).status_code == 401
        assert [s["id"] for s in (await api.get("/api/auth/sessions")).json()["items"]] == [
            here["id"]
        ]
        again = await api.delete(f"/api/auth/sessions/{there['id']}", headers=csrf(api))
        assert again.status_code == 404
        assert (
            await api.delete(f"/api/auth/sessions/{here['id']}", headers=csrf(api))
        ).status_code == 204
        assert (await api.get("/api/auth/me")).status_code == 401


async def test_a_password_chosen_for_someone_serves_only_to_choose_their_own(
    pool: asyncpg.Pool, api: httpx.AsyncClient
) -> None:
    await create_user(
        pool, "new@example.com", "New", "developer", PASSWORD, must_change_password=True
    )
    response = await login(api, "new@example.com")
    assert response.status_code == 200
    assert response.json()["user"]["mustChangePassword"] is True
    # Who one is and the sessions one has are answered; anything else is refused until then.
    assert (await api.get("/api/auth/me")).json()["mustChangePassword"] is True
    assert (await api.get("/api/auth/sessions")).status_code == 200
    for method, path in [("GET", "/api/pipelines"), ("GET", "/api/applications")]:
        refused = await api.request(method, path, headers=csrf(api))
        assert (refused.status_code, refused.json()["code"]) == (403, "password_change_required")
    change = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    assert (await api.post("/api/auth/password", json=change, headers=csrf(api))).is_success
    assert (await api.get("/api/auth/me")).json()["mustChangePassword"] is False
    assert (await api.get("/api/pipelines")).status_code == 200


async def test_the_first_start_s_admin_must_choose_a_password(pool: asyncpg.Pool) -> None:
    from pipelogiq.runtime import first_admin

    await first_admin(pool)
    assert await pool.fetchval(
        "SELECT must_change_password FROM users WHERE email = 'admin@localhost'"
    )


@contextlib.asynccontextmanager
async def admin_of(pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    await create_user(pool, "root@example.com", "Root", "admin", PASSWORD)
    async with await internal_client(pool, public_url="https://plq.example.com/") as client:
        assert (await login(client, "root@example.com")).status_code == 200
        yield client


async def test_an_admin_s_reset_link_sets_a_new_password_once(
    pool: asyncpg.Pool, api: httpx.AsyncClient
) -> None:
    assert (await login(api)).status_code == 200  # Ada, logged in before the reset
    ada = await pool.fetchval("SELECT id FROM users WHERE email = 'ada@example.com'")
    async with admin_of(pool) as admin:
        first = await admin.post(f"/api/users/{ada}/password-reset", headers=csrf(admin))
        assert first.status_code == 201, first.text
        made = await admin.post(f"/api/users/{ada}/password-reset", headers=csrf(admin))
        link = made.json()
    assert link["path"] == f"/reset-password#token={link['token']}"
    assert link["url"] == f"https://plq.example.com{link['path']}"
    # The old password works until the link is used.
    async with await internal_client(pool) as other:
        assert (await login(other)).status_code == 200
    async with await internal_client(pool) as stranger:
        # The first link was replaced by the second.
        stale = {"token": first.json()["token"], "newPassword": NEW_PASSWORD}
        refused = await stranger.post("/api/auth/password-reset", json=stale)
        assert (refused.status_code, refused.json()["code"]) == (422, "reset_link_invalid")
        use = {"token": link["token"], "newPassword": NEW_PASSWORD}
        done = await stranger.post("/api/auth/password-reset", json=use)
        assert done.status_code == 200, done.text
        assert done.json() == {"email": "ada@example.com"}
        again = await stranger.post(
            "/api/auth/password-reset", json={**use, "newPassword": "yet-another-password"}
        )
        assert (again.status_code, again.json()["code"]) == (422, "reset_link_invalid")
    # Every session Ada had ended; only the new password opens a new one.
    assert (await api.get("/api/auth/me")).status_code == 401
    async with await internal_client(pool) as other:
        assert (await login(other)).status_code == 401
        assert (await login(other, password=NEW_PASSWORD)).status_code == 200
    actions = await pool.fetch(
        "SELECT action, actor FROM audit_log WHERE action LIKE 'user.password_reset%' ORDER BY at"
    )
    assert [(r["action"], r["actor"]) for r in actions] == [
        ("user.password_reset_issued", "root@example.com"),
        ("user.password_reset_issued", "root@example.com"),
        ("user.password_reset", "ada@example.com"),
    ]


async def test_a_reset_link_is_dead_once_expired_or_its_user_disabled(
    pool: asyncpg.Pool, api: httpx.AsyncClient
) -> None:
    ada = await pool.fetchval("SELECT id FROM users WHERE email = 'ada@example.com'")
    async with admin_of(pool) as admin:
        link = (await admin.post(f"/api/users/{ada}/password-reset", headers=csrf(admin))).json()
        use = {"token": link["token"], "newPassword": NEW_PASSWORD}
        await pool.execute("UPDATE users SET disabled = true WHERE id = $1", ada)
        refused = await api.post("/api/auth/password-reset", json=use)
        assert (refused.status_code, refused.json()["code"]) == (422, "reset_link_invalid")
        await pool.execute("UPDATE users SET disabled = false WHERE id = $1", ada)
        await pool.execute("UPDATE password_resets SET expires_at = now() - interval '1 second'")
        refused = await api.post("/api/auth/password-reset", json=use)
        assert (refused.status_code, refused.json()["code"]) == (422, "reset_link_invalid")
        # A weak password is refused before the link is spent.
        await pool.execute("UPDATE password_resets SET expires_at = now() + interval '1 hour'")
        weak = await api.post("/api/auth/password-reset", json={**use, "newPassword": "short"})
        assert (weak.status_code, weak.json()["code"]) == (422, "weak_password")
        assert (await api.post("/api/auth/password-reset", json=use)).status_code == 200
        # Unknown users, and people who are not admins, get no link.
        unknown = await admin.post(
            "/api/users/00000000-0000-0000-0000-000000000000/password-reset", headers=csrf(admin)
        )
        assert (unknown.status_code, unknown.json()["code"]) == (404, "user_not_found")
        # Not for oneself: that takes the current password.
        root = await pool.fetchval("SELECT id FROM users WHERE email = 'root@example.com'")
        own = await admin.post(f"/api/users/{root}/password-reset", headers=csrf(admin))
        assert (own.status_code, own.json()["code"]) == (403, "reset_own_password")
    assert (await login(api, password=NEW_PASSWORD)).status_code == 200
    own = await api.post(f"/api/users/{ada}/password-reset", headers=csrf(api))
    assert (own.status_code, own.json()["code"]) == (403, "forbidden")


async def test_an_admin_may_make_a_user_choose_their_password(pool: asyncpg.Pool) -> None:
    async with admin_of(pool) as admin:
        made = await admin.post(
            "/api/users",
            headers=csrf(admin),
            json={
                "email": "temp@example.com",
                "name": "Temp",
                "role": "operator",
                "password": PASSWORD,
                "mustChangePassword": True,
            },
        )
        assert made.status_code == 201, made.text
        assert made.json()["mustChangePassword"] is True
    async with await internal_client(pool) as temp:
        assert (await login(temp, "temp@example.com")).json()["user"]["mustChangePassword"]
