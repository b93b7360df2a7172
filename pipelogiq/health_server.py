"""The built-in worker's small HTTP server: ``/healthz``, ``/readyz``, ``/version`` and
``/metrics``, as the APIs answer them.

It is prometheus-client's threaded WSGI server with three more paths: the worker has no web
framework to carry (the APIs' costs it 30 MiB), and a probe or a scrape never waits on the
worker's event loop except for the readiness check, which runs there.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler

from prometheus_client import REGISTRY
from prometheus_client.exposition import ThreadingWSGIServer, make_wsgi_app

from controlplane.errors import PROBLEM_JSON, problem_body
from controlplane.readiness import readiness
from controlplane.services import Services

_JSON = "application/json"


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # every scrape is not news
        pass


class _Server(ThreadingWSGIServer):
    """The WSGI server on a socket bound and listening already, instead of one of its own."""

    def __init__(self, listener: socket.socket, app: Callable[..., Iterable[bytes]]) -> None:
        address = listener.getsockname()[:2]
        super().__init__(address, _Quiet, bind_and_activate=False)
        self.socket.close()
        self.socket = socket.socket(fileno=listener.detach())  # ours now, closed at stop
        # What server_bind() would have set, without its reverse DNS lookup of the host.
        self.server_address = address
        self.server_name, self.server_port = address
        self.setup_environ()
        self.set_app(app)


class HealthServer:
    def __init__(self, services: Services, version: str) -> None:
        self._services = services
        self._version = version
        self._metrics = make_wsgi_app(REGISTRY)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ThreadingWSGIServer | None = None

    def start(self, listener: socket.socket) -> None:
        """Serve on ``listener``, a listening socket (see pipelogiq.startup.listening),
        which it takes over."""
        self._loop = asyncio.get_running_loop()
        self._server = _Server(listener, self._app)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return self._metrics(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            return _answer(start_response, "200 OK", _JSON, {"status": "ok"})
        if path == "/version":
            return _answer(start_response, "200 OK", _JSON, {"version": self._version})
        if path == "/readyz":
            return self._readyz(start_response)
        return _answer(
            start_response,
            "404 Not Found",
            PROBLEM_JSON,
            problem_body(404, "not_found", "Not found", f"no such endpoint {path}"),
        )

    def _readyz(self, start_response: Callable[..., Any]) -> Iterable[bytes]:
        assert self._loop is not None
        check = asyncio.run_coroutine_threadsafe(readiness(self._services), self._loop)
        try:
            ready = check.result(timeout=5)
        except Exception as error:  # the loop is stuck or gone: not ready either way
            check.cancel()
            body = problem_body(
                503, "not_ready", "Not ready", f"the readiness check failed: {error!r}"
            )
            return _answer(start_response, "503 Service Unavailable", PROBLEM_JSON, body)
        if ready.code is None:
            return _answer(start_response, "200 OK", _JSON, ready.body())
        body = problem_body(503, ready.code, "Not ready", ready.detail, checks=ready.checks)
        return _answer(start_response, "503 Service Unavailable", PROBLEM_JSON, body)


def _answer(
    start_response: Callable[..., Any], status: str, media_type: str, body: dict[str, Any]
) -> Iterable[bytes]:
    encoded = json.dumps(body).encode()
    start_response(status, [("Content-Type", media_type), ("Content-Length", str(len(encoded)))])
    return [encoded]
