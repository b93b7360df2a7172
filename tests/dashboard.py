"""The internal API in the test's event loop, and browsers logged in to it."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
from litestar import Litestar

from controlplane.api.app import create_internal_app
from controlplane.broker import Broker
from controlplane.broker.memory import InMemoryBroker
from controlplane.engine.access.accounts import Role, User, create_user
from controlplane.services import Services
from controlplane.settings import Settings
from tests.processes import TEST_JWT_SECRET
from tests.system import also_open

if TYPE_CHECKING:
    from tests.system import System

PASSWORD = "correct horse battery"
BASE = "http://dashboard.test"


def services_for(pool: asyncpg.Pool, broker: Broker | None = None, **settings: Any) -> Services:
    """Services with a JWT secret, as the API process has them."""
    settings = {"jwt_secret": TEST_JWT_SECRET, **settings}
    return also_open(Services(Settings(**settings), pool, broker or InMemoryBroker()))


def browser(app: Litestar) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


async def logged_in(app: Litestar, email: str, password: str = PASSWORD) -> httpx.AsyncClient:
    client = browser(app)
    response = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return client


class Dashboard:
    """A logged-in user's browser, sending the CSRF token as the page would."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path)

    async def send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        headers = {"X-CSRF-Token": self.client.cookies["plq_csrf"]}
        return await self.client.request(method, path, json=body, headers=headers)


async def add_member(pool: asyncpg.Pool, application_id: uuid.UUID, email: str, role: Role) -> User:
    """A user with ``role`` (password PASSWORD) who is a member of the application."""
    user = await create_user(pool, email, email.split("@")[0], role, PASSWORD)
    await pool.execute(
        "INSERT INTO memberships (user_id, application_id) VALUES ($1, $2)",
        user.id,
        application_id,
    )
    return user


async def member_of(system: System, email: str, role: Role) -> Dashboard:
    """A browser logged in as a new member of the system's application with ``role``, on an
    internal API of the same process."""
    await add_member(system.pool, system.application.id, email, role)
    app = create_internal_app(services_for(system.pool, system.services.broker))
    return Dashboard(await logged_in(app, email))
