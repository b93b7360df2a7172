"""The core stage templates: run alone (JobEnvironment), and served by a worker."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.certificates import self_signed
from tests.system import URL, System, running, sdk_worker
from worker_sdk import AsyncClient, Worker
from worker_sdk.errors import TerminalError
from worker_sdk.templates import describe, network, select
from worker_sdk.templates.core import MAX_BODY_BYTES, delay, http_request, transform
from worker_sdk.testing import JobEnvironment


class _Server(BaseHTTPRequestHandler):
    # Every request's Host header, in order: a refused request never reaches the server.
    hosts: list[str] = []

    def do_GET(self) -> None:
        _Server.hosts.append(self.headers["Host"])
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


@pytest.fixture
def local(web: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The test server, with loopback allowed as a worker's setting allows it."""
    monkeypatch.setenv("PIPELOGIQ_HTTP_ALLOW", "127.0.0.1")
    return web


def closed_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_http_request_returns_the_answer(local: str) -> None:
    outcome = JobEnvironment().run(http_request, {"url": f"{local}/200/orders"})
    assert outcome.status == "completed"
    assert outcome.output["status"] == 200
    assert outcome.output["json"] == {"path": "/200/orders"}
    posted = JobEnvironment().run(
        http_request,
        {
            "url": local,
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
    local: str, url: str, code: str, retryable: bool
) -> None:
    outcome = JobEnvironment().run(
        http_request, {"url": url.format(web=local, port=closed_port()), "timeoutSeconds": 5}
    )
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.retryable) == (code, retryable)


def test_http_request_keeps_at_most_a_megabyte_of_an_answer(local: str) -> None:
    outcome = JobEnvironment().run(http_request, {"url": local, "method": "PUT"})
    assert outcome.status == "completed"
    assert outcome.output["truncated"] is True
    assert len(outcome.output["text"]) == MAX_BODY_BYTES


@pytest.mark.parametrize(
    "url",
    [
        "{web}/200",  # the test server itself, on 127.0.0.1
        "http://localhost:{port}/",  # a name that resolves to loopback
        "http://2130706433:{port}/",  # 127.0.0.1 spelt as one number
        "http://0x7f.1:{port}/",  # ...in hexadecimal, short
        "http://017700000001:{port}/",  # ...in octal
        "http://anyone@127.0.0.1:{port}/",  # userinfo does not hide the host
        "http://[::1]:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",  # IPv4-mapped IPv6
        "http://0.0.0.0:{port}/",
        "http://169.254.169.254/latest/meta-data/",  # the cloud's metadata service
        "http://[fd00:ec2::254]/latest/meta-data/",  # ...and its IPv6 address on AWS
        "http://[fe80::1]/",
        "http://10.0.0.1/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",  # carriers' NAT
        "http://224.0.0.1/",  # multicast
        "http://240.0.0.1/",  # reserved
        "http://[2002:a9fe:a9fe::1]/",  # 6to4 of 169.254.169.254
        "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
    ],
)
def test_http_request_refuses_loopback_private_and_metadata_addresses(web: str, url: str) -> None:
    port = web.rsplit(":", 1)[1]
    before = len(_Server.hosts)
    outcome = JobEnvironment().run(http_request, {"url": url.format(web=web, port=port)})
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.retryable) == ("address_not_allowed", False)
    assert "PIPELOGIQ_HTTP_ALLOW" in outcome.error.message
    assert len(_Server.hosts) == before  # refused before connecting


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
        ("::ffff:8.8.8.8", None),  # judged by the IPv4 address inside
        ("64:ff9b::808:808", None),
        ("2002:808:808::1", None),
        ("127.0.0.2", "a loopback"),
        ("169.254.169.254", "a link-local"),
        ("fd00:ec2::254", "a private"),
        ("::ffff:169.254.169.254", "a link-local"),
        ("64:ff9b::7f00:1", "a loopback"),
        ("2002:c0a8:0101::1", "a private"),
        ("100.100.100.200", "a shared (CGNAT)"),  # Alibaba Cloud's metadata service
        ("198.18.0.1", "a private"),
        ("ff02::1", "a multicast"),
        ("::", "an unspecified"),
    ],
)
def test_which_addresses_are_refused(address: str, kind: str | None) -> None:
    assert network.refusal(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    "allowed", ["127.0.0.1", "127.0.0.0/8", "localhost", "LOCALHOST.", "10.0.0.0/8, localhost"]
)
def test_http_request_reaches_what_the_allow_list_allows(
    web: str, allowed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = web.rsplit(":", 1)[1]
    spec = {"url": f"http://localhost:{port}/200/a"}
    refused = JobEnvironment().run(http_request, spec)
    assert refused.error is not None
    assert refused.error.code == "address_not_allowed"
    monkeypatch.setenv("PIPELOGIQ_HTTP_ALLOW", allowed)
    outcome = JobEnvironment().run(http_request, spec)
    assert outcome.status == "completed", outcome.error
    assert outcome.output["json"] == {"path": "/200/a"}
    # Connected to the address checked, but the server still hears the name it was asked by.
    assert _Server.hosts[-1] == f"localhost:{port}"


def test_http_request_allow_list_in_code_and_its_mistakes(
    web: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(network, "_allowed_in_code", [])
    monkeypatch.delenv("PIPELOGIQ_HTTP_ALLOW", raising=False)
    refused = JobEnvironment().run(http_request, {"url": f"{web}/200"})
    assert refused.error is not None
    assert refused.error.code == "address_not_allowed"
    network.allow("127.0.0.1/32")
    assert JobEnvironment().run(http_request, {"url": f"{web}/200"}).status == "completed"
    with pytest.raises(TerminalError, match="neither a host name nor an address"):
        network.allow("127.0.0.1/33")
    monkeypatch.setenv("PIPELOGIQ_HTTP_ALLOW", "10.0.0.0/40")
    outcome = JobEnvironment().run(http_request, {"url": f"{web}/200"})
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.retryable) == ("invalid_setting", False)


def test_http_request_connects_to_the_address_it_checked(
    web: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A name whose DNS answer changes after the check (DNS rebinding): the allowed 127.0.0.1
    # at first, then 127.0.0.2, where nothing listens and which the allow-list leaves out.
    answers = ["127.0.0.1", "127.0.0.2", "127.0.0.2"]
    real = socket.getaddrinfo

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return real(answers.pop(0) if host == "rebinding.test" else host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setenv("PIPELOGIQ_HTTP_ALLOW", "127.0.0.1")
    port = web.rsplit(":", 1)[1]
    url = f"http://rebinding.test:{port}/200"
    first = JobEnvironment().run(http_request, {"url": url})
    # Resolved once, by the check, and connected to that address: a second lookup would have
    # sent it to 127.0.0.2 (and failed to connect).
    assert first.status == "completed", first.error
    assert answers == ["127.0.0.2", "127.0.0.2"]
    assert _Server.hosts[-1] == f"rebinding.test:{port}"
    second = JobEnvironment().run(http_request, {"url": url})
    assert second.error is not None
    assert second.error.code == "address_not_allowed"
    assert "rebinding.test (127.0.0.2) is a loopback address" in second.error.message


def test_https_to_a_pinned_address_still_checks_the_name_s_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server whose certificate names localhost only, trusted by the worker (SSL_CERT_FILE).
    cert, key = self_signed(tmp_path, "localhost")
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _socket, server_name, _context: names.append(server_name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    url = f"https://localhost:{server.server_address[1]}/200/tls"
    try:
        refused = JobEnvironment().run(http_request, {"url": url})
        assert refused.error is not None
        assert refused.error.code == "address_not_allowed"
        monkeypatch.setenv("PIPELOGIQ_HTTP_ALLOW", "localhost")
        outcome = JobEnvironment().run(http_request, {"url": url})
        assert outcome.status == "completed", outcome.error
        assert outcome.output["json"] == {"path": "/200/tls"}
        # The connection went to 127.0.0.1, but TLS was spoken to the name: SNI, and a
        # certificate that names localhost only was accepted.
        assert names == ["localhost"]
        assert _Server.hosts[-1] == f"localhost:{server.server_address[1]}"
    finally:
        server.shutdown()


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


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ({"output": "=1e308 * 10 // 1"}, "number_out_of_range"),
        ({"output": "=join(['a' * 1000000] * 1000, '')"}, "expression_too_large"),
        # What the context's expressions and the output's produce counts together.
        (
            {"context": {"a": "=data", "b": "=data"}, "output": "=data", "data": "x" * 400_000},
            "expression_too_large",
        ),
    ],
)
def test_transform_fails_for_good_with_the_expression_s_code(
    spec: dict[str, Any], code: str
) -> None:
    outcome = JobEnvironment().run(transform, spec)
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.retryable) == (code, False)
    assert outcome.context_updates == {}


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
        assert [(t["name"], t["version"], t["workers"]) for t in served] == [
            ("delay", "1", 1),
            ("transform", "1", 1),
        ]
        # Each with its input, for a form.
        assert served[0]["inputSchema"]["$defs"]["Delay"]["required"] == ["seconds"]
        assert served[0]["summary"].startswith("Wait")
    # Stopped, the worker serves nothing any more.
    assert (await system.client.get("/templates")).json() == {"templates": []}
