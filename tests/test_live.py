"""/api/ws through granian: a session and this origin required, events scoped per user."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import AMQP_URL, unique_prefix
from tests.processes import create_app, delete_application_queues, environment, process, run

pytestmark = pytest.mark.slow
PASSWORD = "long enough password"


def log_in(internal: str, email: str) -> httpx.Cookies:
    response = httpx.post(f"{internal}/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.cookies


def cookie_header(cookies: httpx.Cookies) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


async def next_event(socket: Any, within: float = 5.0) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(socket.recv(), within)))


def test_live_updates(database_url: str) -> None:
    env = environment(DATABASE_URL=database_url)
    assert (
        run(
            "create-admin", "--email", "root@example.com", "--password", PASSWORD, env=env
        ).returncode
        == 0
    )
    external = f"http://127.0.0.1:{env['PIPELOGIQ_EXTERNAL_PORT']}"
    internal = f"http://127.0.0.1:{env['PIPELOGIQ_INTERNAL_PORT']}"
    ws_url = f"ws://127.0.0.1:{env['PIPELOGIQ_INTERNAL_PORT']}/api/ws"
    with process("dev", env=env, ready=f"{external}/readyz"):
        key = create_app(env)
        admin = log_in(internal, "root@example.com")
        # An operator who is a member of no application.
        created = httpx.post(
            f"{internal}/api/users",
            json={
                "email": "op@example.com",
                "name": "Op",
                "role": "operator",
                "password": PASSWORD,
            },
            cookies=admin,
            headers={"X-CSRF-Token": admin["plq_csrf"]},
        )
        assert created.status_code == 201, created.text
        outsider = log_in(internal, "op@example.com")
        asyncio.run(_watch(ws_url, internal, external, key, admin, outsider))


async def _watch(
    ws_url: str,
    internal: str,
    external: str,
    key: str,
    admin: httpx.Cookies,
    outsider: httpx.Cookies,
) -> None:
    # No session, or a foreign page: the handshake is refused.
    with pytest.raises(InvalidStatus):
        async with connect(ws_url):
            pass
    with pytest.raises(InvalidStatus):
        async with connect(
            ws_url,
            origin="http://evil.example",
            additional_headers={"Cookie": cookie_header(admin)},
        ):
            pass
    async with (
        connect(
            ws_url, origin=internal, additional_headers={"Cookie": cookie_header(admin)}
        ) as mine,
        connect(ws_url, additional_headers={"Cookie": cookie_header(outsider)}) as theirs,
    ):
        assert (await next_event(mine))["type"] == "hello"
        assert (await next_event(theirs))["type"] == "hello"
        async with httpx.AsyncClient(base_url=external, headers={"X-API-Key": key}) as api:
            submitted = await api.post(
                "/pipelines", json={"name": "live", "stages": [{"name": "a", "handler": "h"}]}
            )
            pipeline_id = submitted.json()["id"]
            stage_id = submitted.json()["stages"][0]["id"]
            worker = await api.post("/workers/bootstrap", json={"workerName": "w"})
            worker_id = worker.json()["workerId"]
            assert (await api.post(f"/pipelines/{pipeline_id}/cancel")).status_code == 200
        seen: dict[str, list[tuple[str, str]]] = {"pipeline": [], "stage": [], "worker": []}
        sequence = []
        while len(seen["pipeline"]) < 2 or not seen["worker"]:
            event = await next_event(mine)
            sequence.append(event["seq"])
            seen[event["type"]] += [
                (i["id"], i.get("status") or i["state"]) for i in event["items"]
            ]
        assert sequence == list(range(1, len(sequence) + 1))
        assert seen["pipeline"] == [(pipeline_id, "running"), (pipeline_id, "cancelled")]
        assert seen["stage"] == [(stage_id, "queued"), (stage_id, "cancelled")]
        assert seen["worker"] == [(worker_id, "online")]
        # The outsider sees no other application's events.
        with pytest.raises(TimeoutError):
            await next_event(theirs, within=1.0)


def _event(source: str, seq: int, *applications: str) -> bytes:
    items = [
        {"id": f"p{n}", "applicationId": a, "status": "completed"}
        for n, a in enumerate(applications)
    ]
    return json.dumps({"source": source, "seq": seq, "type": "pipeline", "items": items}).encode()


async def test_the_hub_passes_on_only_a_socket_s_applications_and_flags_gaps() -> None:
    from controlplane.api.internal.live import BACKLOG, LiveHub
    from controlplane.broker.memory import InMemoryBroker

    hub = LiveHub(InMemoryBroker())
    member, admin = hub.join({"a"}), hub.join(None)
    try:
        hub._dispatch(_event("s1", 1, "a", "b"))
        hub._dispatch(_event("s1", 2, "b"))
        assert [i["applicationId"] for i in member.queue.get_nowait()["items"]] == ["a"]
        assert member.queue.empty()  # the event about b alone was not for it
        assert admin.queue.qsize() == 2
        assert not member.resync
        hub._dispatch(_event("s2", 7, "a"))  # a new publisher: no gap yet
        hub._dispatch(_event("s1", 4, "a"))  # 3 went missing
        assert member.resync
        assert admin.resync
        member.resync = False
        for n in range(BACKLOG + 1):  # a socket that does not keep up
            hub._dispatch(_event("s3", n + 1, "a"))
        assert member.resync
    finally:
        hub.leave(member)
        hub.leave(admin)
        await hub.close()


def test_every_api_process_s_sockets_hear_changes_made_through_another(
    database_url: str,
) -> None:
    shared = {"DATABASE_URL": database_url, "AMQP_URL": AMQP_URL}
    shared["PIPELOGIQ_AMQP_PREFIX"] = unique_prefix()
    first, second = environment(**shared), environment(**shared)
    assert (
        run(
            "create-admin", "--email", "root@example.com", "--password", PASSWORD, env=first
        ).returncode
        == 0
    )
    key = create_app(first)
    internal = f"http://127.0.0.1:{first['PIPELOGIQ_INTERNAL_PORT']}"
    other_external = f"http://127.0.0.1:{second['PIPELOGIQ_EXTERNAL_PORT']}"
    try:
        with (
            process("api", env=first, ready=f"{internal}/readyz"),
            process("api", env=second, ready=f"{other_external}/readyz"),
        ):
            admin = log_in(internal, "root@example.com")
            ws_url = f"ws://127.0.0.1:{first['PIPELOGIQ_INTERNAL_PORT']}/api/ws"
            asyncio.run(_hear_the_other_process(ws_url, other_external, key, admin))
    finally:
        prefix = shared["PIPELOGIQ_AMQP_PREFIX"]
        delete_application_queues(database_url, AMQP_URL, prefix, ["h"])


async def _hear_the_other_process(
    ws_url: str, external: str, key: str, admin: httpx.Cookies
) -> None:
    async with connect(ws_url, additional_headers={"Cookie": cookie_header(admin)}) as socket:
        assert (await next_event(socket))["type"] == "hello"
        async with httpx.AsyncClient(base_url=external, headers={"X-API-Key": key}) as api:
            submitted = await api.post(
                "/pipelines", json={"name": "far", "stages": [{"name": "a", "handler": "h"}]}
            )
            pipeline_id = submitted.json()["id"]
            assert (await api.post(f"/pipelines/{pipeline_id}/cancel")).status_code == 200
        statuses = []
        while "cancelled" not in statuses:
            event = await next_event(socket)
            if event["type"] == "pipeline":
                statuses += [i["status"] for i in event["items"] if i["id"] == pipeline_id]
        assert statuses == ["running", "cancelled"]
