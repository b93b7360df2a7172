"""The SDK's retry rules: what is retried, how often, and what is raised."""

from __future__ import annotations

import httpx
import pytest

from worker_sdk import ApiError, Unavailable
from worker_sdk.transport import SyncTransport


def transport_answering(*answers: int | Exception) -> tuple[SyncTransport, list[str]]:
    """A transport whose server answers with these statuses (or raises), in turn."""
    seen: list[str] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if answer >= 400:
            problem = {"status": answer, "code": f"code_{answer}", "detail": "no"}
            return httpx.Response(answer, json=problem)
        return httpx.Response(answer, json={"ok": True})

    return SyncTransport("http://x", "key", retries=2, transport=httpx.MockTransport(handle)), seen


def test_5xx_429_and_network_errors_are_retried() -> None:
    transport, seen = transport_answering(503, httpx.ConnectError("down"), 200)
    assert transport.call("GET", "/thing", dict) == {"ok": True}
    assert len(seen) == 3


def test_retries_run_out_as_unavailable() -> None:
    transport, seen = transport_answering(500, 429, 502)
    with pytest.raises(Unavailable, match="GET /thing"):
        transport.call("GET", "/thing", dict)
    assert len(seen) == 3  # the first try and two retries


def test_a_4xx_is_raised_at_once_with_its_code() -> None:
    transport, seen = transport_answering(409, 200)
    with pytest.raises(ApiError) as raised:
        transport.call("POST", "/thing", dict, {"a": 1})
    assert (raised.value.status, raised.value.code, raised.value.detail) == (409, "code_409", "no")
    assert len(seen) == 1
