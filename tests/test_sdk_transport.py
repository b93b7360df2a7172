"""The SDK's retry rules: what is retried, how often, and what is raised."""

from __future__ import annotations

import datetime as dt
import email.utils
import time

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


def transport_answering_with(
    *answers: httpx.Response,
) -> tuple[SyncTransport, list[str]]:
    """A transport whose server gives these answers, in turn."""
    seen: list[str] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return queue.pop(0)

    return SyncTransport("http://x", "key", retries=2, transport=httpx.MockTransport(handle)), seen


def busy(status: int, retry_after: str | None) -> httpx.Response:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    problem = {"status": status, "code": "rate_limited", "detail": "slow down"}
    return httpx.Response(status, json=problem, headers=headers)


@pytest.mark.parametrize(
    ("retry_after", "waited"),
    [("3", 3.0), ("0.5", 0.5), ("3600", 30.0), ("-4", 0.0)],
)
def test_a_retry_waits_as_long_as_retry_after_asks_up_to_a_cap(
    monkeypatch: pytest.MonkeyPatch, retry_after: str, waited: float
) -> None:
    delays: list[float] = []
    monkeypatch.setattr(time, "sleep", delays.append)
    transport, seen = transport_answering_with(busy(429, retry_after), httpx.Response(200, json={}))
    assert transport.call("GET", "/thing", dict) == {}
    assert (len(seen), delays) == (2, [waited])


def test_retry_after_may_be_an_http_date(monkeypatch: pytest.MonkeyPatch) -> None:
    delays: list[float] = []
    monkeypatch.setattr(time, "sleep", delays.append)
    in_a_while = email.utils.format_datetime(
        dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20), usegmt=True
    )
    answers = (busy(503, in_a_while), busy(503, "soon"), httpx.Response(200, json={}))
    transport, _ = transport_answering_with(*answers)
    transport.call("GET", "/thing", dict)
    assert 15 < delays[0] <= 20
    assert delays[1] <= 0.4  # unreadable: the usual backoff (its second step)


def test_unavailable_says_the_last_status_and_its_retry_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(time, "sleep", lambda _: None)
    transport, _ = transport_answering_with(busy(503, None), busy(500, None), busy(503, "7"))
    with pytest.raises(Unavailable) as raised:
        transport.call("GET", "/thing", dict)
    assert (raised.value.status, raised.value.retry_after) == (503, 7.0)
    transport, _ = transport_answering(httpx.ConnectError("down"), 500, 500)
    with pytest.raises(Unavailable) as raised:
        transport.call("GET", "/thing", dict)
    assert (raised.value.status, raised.value.retry_after) == (500, None)
