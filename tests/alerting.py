"""Test doubles of alert receivers that are real servers: an HTTP receiver (webhooks, Slack)
on a local port, told how to answer, and the system with alerting switched on."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec
from aiohttp import web

from controlplane.api.app import create_internal_app
from controlplane.broker import Broker
from tests.dashboard import Dashboard, add_member, logged_in, services_for
from tests.processes import TEST_JWT_SECRET
from tests.system import System, running_system

SECRET = "whsec-0123456789abcdef"
# The receivers listen on loopback, which channels reach only when allowed.
ALLOW = ("127.0.0.0/8",)
SETTINGS: dict[str, Any] = {
    "jwt_secret": TEST_JWT_SECRET,
    "alerts_allow": ALLOW,
    "alert_interval_seconds": 0.2,
    "alert_send_timeout_seconds": 2.0,
    "public_url": "https://pipelogiq.example.com",
}


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return msgspec.json.decode(self.body)


@dataclass
class Receiver:
    """An HTTP server that records what it is sent and answers ``status`` (after ``hang``
    seconds); ``fail_first`` requests get 500."""

    url: str = ""
    status: int = 200
    hang: float = 0.0
    fail_first: int = 0
    received: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(Received(dict(request.headers), body))
        self.arrived.set()
        if self.hang:
            await asyncio.sleep(self.hang)
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=500)
        return web.Response(status=self.status, text="ok")

    async def wait_for(self, count: int, within: float = 15.0) -> list[Received]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while len(self.received) < count and loop.time() < deadline:
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), max(0.01, deadline - loop.time()))
        assert len(self.received) >= count, self.received
        return self.received

    def events(self) -> list[str]:
        return [r.json.get("event") for r in self.received]


@contextlib.asynccontextmanager
async def receiving(**options: Any) -> AsyncIterator[Receiver]:
    receiver = Receiver(**options)
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


def signed(secret: str, received: Received) -> bool:
    """Whether the body is signed as docs/alerts.md says a receiver checks it."""
    expected = "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.headers.get("X-Pipelogiq-Signature", ""))


@contextlib.asynccontextmanager
async def alerting_system(
    pool: asyncpg.Pool, broker: Broker, **settings: Any
) -> AsyncIterator[System]:
    """The system with its built-in worker running and alert rounds a few times a second."""
    async with running_system(pool, broker, **{**SETTINGS, **settings}) as system:
        system.start_builtin_worker()
        yield system


async def dashboards(system: System, **settings: Any) -> dict[str, Dashboard]:
    """A developer (dev), an operator (op) and an admin-less outsider's view of one internal
    API with the system's alert settings."""
    app = create_internal_app(
        services_for(system.pool, system.services.broker, **{**SETTINGS, **settings})
    )
    await add_member(system.pool, system.application.id, "dev@example.com", "developer")
    await add_member(system.pool, system.application.id, "op@example.com", "operator")
    return {
        "dev": Dashboard(await logged_in(app, "dev@example.com")),
        "op": Dashboard(await logged_in(app, "op@example.com")),
    }


async def add_webhook(dev: Dashboard, system: System, url: str, **extra: Any) -> dict[str, Any]:
    response = await dev.send(
        "POST",
        "/api/alert-channels",
        {
            "applicationId": str(system.application.id),
            "name": extra.pop("name", "hook"),
            "type": "webhook",
            "config": {"url": url, "secret": SECRET},
            **extra,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def add_rule(
    dev: Dashboard, system: System, condition: dict[str, Any], channels: list[str], **extra: Any
) -> dict[str, Any]:
    response = await dev.send(
        "POST",
        "/api/alert-rules",
        {
            "applicationId": str(system.application.id),
            "name": extra.pop("name", condition["type"].replace("_", "-")),
            "condition": condition,
            "channelIds": channels,
            **extra,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def alerts_of(who: Dashboard, query: str = "") -> list[dict[str, Any]]:
    response = await who.get(f"/api/alerts{query}")
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def wait_for_alerts(
    who: Dashboard, count: int, query: str = "", within: float = 15.0
) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        found = await alerts_of(who, query)
        if len(found) >= count or loop.time() > deadline:
            assert len(found) >= count, found
            return found
        await asyncio.sleep(0.1)


@dataclass
class MailServer:
    """A real SMTP server (aiosmtpd, in its own thread) that takes mail only after STARTTLS
    and a login, and keeps what it is sent."""

    port: int = 0
    messages: list[Any] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth: Any
    ) -> Any:
        from aiosmtpd.smtp import AuthResult

        self.logins.append((auth.login.decode(), auth.password.decode()))
        return AuthResult(success=(auth.login, auth.password) == (b"alerts", b"mail-pass-123"))


@contextlib.contextmanager
def mail_server(cert: Any, key: Any) -> Any:
    import socket
    import ssl

    from aiosmtpd.controller import Controller

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = MailServer(port)
    controller = Controller(
        server,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=server.authenticate,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
