"""The core stage templates: run alone (JobEnvironment), and served by a worker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.system import URL, System, running, sdk_worker
from worker_sdk import AsyncClient, Worker
from worker_sdk.templates import describe, select
from worker_sdk.templates.core import MAX_BODY_BYTES, delay, http_request, transform
from worker_sdk.testing import JobEnvironment


class _Server(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = int(self.path.strip("/").split("/")[0] or 200)
        body = json.dumps({"path": self.path}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        # An endless answer: the template must stop reading it.
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        with contextlib.suppress(OSError):
            while True:
                self.wfile.write(b"x" * 65536)

    def do_POST(self) -> None:
        received = self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"got": json.loads(received), "auth": self.headers["Authorization"]})
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def closed_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_http_request_returns_the_answer(web: str) -> None:
    outcome = JobEnvironment().run(http_request, {"url": f"{web}/200/orders"})
    assert outcome.status == "completed"
    assert outcome.output["status"] == 200
    assert outcome.output["json"] == {"path": "/200/orders"}
    posted = JobEnvironment().run(
        http_request,
        {
            "url": web,
            "method": "POST",
            "json": {"n": 1},
            "headers": {"Authorization": "Bearer t"},
            "expectedStatus": [201],
        },
    )
    assert posted.output["json"] == {"got": {"n": 1}, "auth": "Bearer t"}


@pytest.mark.parametrize(
    ("url", "code", "retryable"),
    [
        ("{web}/503", "http_503", True),  # the server may recover: retried
        ("{web}/404", "http_404", False),  # asking again cannot help
        ("http://127.0.0.1:{port}/", "network_error", True),
    ],
)
def test_http_request_failures_say_whether_to_retry(
    web: str, url: str, code: str, retryable: bool
) -> None:
    outcome = JobEnvironment().run(
        http_request, {"url": url.format(web=web, port=closed_port()), "timeoutSeconds": 5}
    )
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.retryable) == (code, retryable)


def test_http_request_keeps_at_most_a_megabyte_of_an_answer(web: str) -> None:
    outcome = JobEnvironment().run(http_request, {"url": web, "method": "PUT"})
    assert outcome.status == "completed"
    assert outcome.output["truncated"] is True
    assert len(outcome.output["text"]) == MAX_BODY_BYTES


def test_http_request_refuses_a_bad_input() -> None:
    for bad in ({"url": "file:///etc/passwd"}, {"url": "http://x", "body": "a", "json": {}}):
        outcome = JobEnvironment().run(http_request, bad)
        assert outcome.status == "failed"
        assert outcome.error is not None
        assert (outcome.error.code, outcome.error.retryable) == ("invalid_input", False)


def test_delay_waits_and_refuses_a_negative_wait() -> None:
    assert JobEnvironment().run(delay, {"seconds": 0.05}).output == {"waitedSeconds": 0.05}
    refused = JobEnvironment().run(delay, {"seconds": -1})
    assert refused.error is not None
    assert refused.error.code == "invalid_input"


def test_transform_reads_dependencies_and_context_and_writes_context() -> None:
    env = JobEnvironment(
        dependencies={"fetch": {"rows": [{"eur": 10}, {"eur": 32}]}},
        context={"rate": 1.5},
    )
    outcome = env.run(
        transform,
        {
            "output": {
                "total": "=sum([deps.fetch.rows[0].eur, deps.fetch.rows[1].eur]) * context.rate",
                "label": "=upper(data.name)",
            },
            "context": {"lastTotal": "=42"},
            "data": {"name": "q3"},
        },
    )
    assert outcome.output == {"total": 63.0, "label": "Q3"}
    assert outcome.context_updates == {"lastTotal": 42}


def test_transform_fails_for_good_on_a_bad_expression() -> None:
    outcome = JobEnvironment().run(transform, {"output": "=open('/etc/passwd')"})
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.retryable) == ("invalid_expression", False)
    assert "no function 'open'" in outcome.error.message


def test_templates_are_chosen_by_group_or_name_pattern() -> None:
    assert [t.name for t in select(["core"])] == ["approval", "delay", "http.request", "transform"]
    assert [t.name for t in select(["http.*", "delay"])] == ["delay", "http.request"]
    with pytest.raises(LookupError, match=r"no template matches 'htp\.\*'"):
        select(["htp.*"])
    [described] = describe(["delay"])
    assert described["version"] == "1"
    assert described["inputSchema"]["$defs"]["Delay"]["required"] == ["seconds"]


def test_a_worker_serves_templates_and_says_which_versions() -> None:
    worker = Worker(URL, "key")
    assert worker.use_templates("core") == ["approval", "delay", "http.request", "transform"]
    assert worker.metadata["templates"] == {
        "approval": "1",
        "delay": "1",
        "http.request": "1",
        "transform": "1",
    }
    assert set(worker.handlers) == {"approval", "delay", "http.request", "transform"}
    with pytest.raises(ValueError, match="already registered"):
        worker.use_templates("delay")


async def test_a_pipeline_of_templates_runs_through_the_control_plane(system: System) -> None:
    system.start_builtin_worker()
    worker = sdk_worker(system)
    worker.use_templates("core")
    stages = [
        {"name": "price", "handler": "transform", "input": {"output": {"eur": "=20 + 1"}}},
        {"name": "pause", "handler": "delay", "input": {"seconds": 0.01}, "dependsOn": ["price"]},
        {
            "name": "double",
            "handler": "transform",
            "input": {"output": "=deps.price.eur * 2"},
            "dependsOn": ["price", "pause"],
        },
    ]
    async with (
        AsyncClient(URL, system.api_key, transport=system.transport) as client,
        running(worker),
    ):
        submitted = await client.create_pipeline({"name": "templated", "stages": stages})
        finished = await client.wait(submitted.id, timeout=20)
    assert finished.status == "completed"
    assert {s.name: s.output for s in finished.stages}["double"] == 42


async def test_the_external_api_lists_the_templates_online_workers_serve(system: System) -> None:
    worker = sdk_worker(system)
    worker.use_templates("delay", "transform")
    async with running(worker):
        for _ in range(100):
            served = (await system.client.get("/templates")).json()["templates"]
            if served:
                break
            await asyncio.sleep(0.05)
        assert served == [
            {"name": "delay", "version": "1", "workers": 1},
            {"name": "transform", "version": "1", "workers": 1},
        ]
    # Stopped, the worker serves nothing any more.
    assert (await system.client.get("/templates")).json() == {"templates": []}
