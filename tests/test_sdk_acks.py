"""What the SDK worker does with results the control plane will not take: none may hold back
another (issue 18).

The control plane is the real one, in this process. Where it does not (yet) answer what a test
needs, an ack stand-in in front of it answers some acks itself: a 500 or a 422 for any batch
holding one particular result, the per-result ``invalid_result`` rejection, a 503 or 429 with
``Retry-After``. Each test says what its stand-in does.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import msgspec
import pytest

from controlplane.broker.rabbitmq import RabbitMQBroker
from tests.system import URL, System, running, running_system
from worker_sdk import AsyncClient, JobContext, Worker
from worker_sdk.wire import AckResponse

Results = list[dict[str, Any]]
Answer = Callable[[Results, httpx.Request], Awaitable[httpx.Response | None]]


class AckStandIn(httpx.AsyncBaseTransport):
    """The control plane behind ``inner``, except for acks: ``answer`` may answer one itself
    (it returns None to let the control plane answer). While ``down`` is set, acks fail on the
    network, so that the worker keeps its results and later sends them as one batch."""

    def __init__(self, inner: httpx.AsyncBaseTransport, answer: Answer | None = None) -> None:
        self.inner = inner
        self.answer = answer
        self.down = False
        self.acks: list[Results] = []  # the results of each ack that got through, in order
        self.statuses: list[int] = []  # and the status each was answered
        self.times: list[float] = []  # and when it arrived (the loop's clock)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/jobs/ack":
            return await self.inner.handle_async_request(request)
        if self.down:
            raise httpx.ConnectError("control plane unreachable", request=request)
        results = json.loads(await request.aread())["results"]
        self.acks.append(results)
        self.times.append(asyncio.get_running_loop().time())
        response = await self.answer(results, request) if self.answer else None
        if response is None:
            response = await self.inner.handle_async_request(request)
        self.statuses.append(response.status_code)
        return response

    def sent(self, job_id: str) -> list[str]:
        """The statuses of the results of this job sent, in order."""
        return [r["status"] for ack in self.acks for r in ack if r["jobId"] == job_id]


def problem(status: int, code: str, detail: str, **headers: str) -> httpx.Response:
    body = {"type": "about:blank", "status": status, "code": code, "detail": detail}
    return httpx.Response(
        status, json=body, headers={"Content-Type": "application/problem+json", **headers}
    )


def has_nul(value: Any) -> bool:
    """Whether a NUL character is in any text of a JSON value."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(item) for item in value)
    return False


def holds(output: Any) -> Callable[[Results], bool]:
    return lambda results: any(r.get("output") == output for r in results)


async def forward(inner: httpx.AsyncBaseTransport, request: httpx.Request, results: Results) -> Any:
    """``results`` acked by the control plane behind ``inner``; its answer, decoded."""
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    response = await inner.handle_async_request(
        httpx.Request("POST", request.url, headers=headers, json={"results": results})
    )
    await response.aread()
    assert response.status_code == 200, response.text
    return response.json()


async def until(condition: Callable[[], bool], within: float = 20.0) -> None:
    """Wait for ``condition`` to hold (a timeout, not a measure)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "the condition did not come to hold"
        await asyncio.sleep(0.05)


@pytest.fixture
async def client(rabbit_system: System) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(URL, rabbit_system.api_key, transport=rabbit_system.transport) as c:
        yield c


def worker_through(stand_in: AckStandIn, system: System, **options: Any) -> Worker:
    options.setdefault("poll_seconds", 0.5)
    options.setdefault("shutdown_grace_seconds", 2.0)
    return Worker(URL, system.api_key, transport=stand_in, **options)


def roots(handler: str, count: int, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"name": f"s{i}", "handler": handler, "input": i, "dependsOn": [], **extra}
        for i in range(count)
    ]


async def stage_statuses(client: AsyncClient, pipeline_id: str) -> dict[str, str]:
    return {s.name: s.status for s in (await client.get_pipeline(pipeline_id)).stages}


def test_rejections_are_read_with_or_without_code_and_detail() -> None:
    newer = b"""{"accepted": [], "rejected": [{"jobId": "j1", "reason": "invalid_result",
        "code": "nul_character", "detail": "results[0].output: text may not contain NUL"}]}"""
    [rejected] = msgspec.json.decode(newer, type=AckResponse).rejected
    assert (rejected.reason, rejected.code) == ("invalid_result", "nul_character")
    assert rejected.detail == "results[0].output: text may not contain NUL"
    older = b'{"accepted": ["j2"], "rejected": [{"jobId": "j1", "reason": "lease_lost"}]}'
    [rejected] = msgspec.json.decode(older, type=AckResponse).rejected
    assert (rejected.reason, rejected.code, rejected.detail) == ("lease_lost", None, None)


async def test_a_result_that_fails_the_server_is_split_off_and_holds_back_no_other(
    rabbit_system: System, client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Stand-in: a 500 for any ack holding the output "poison" (as NUL characters got before
    issue 18). Eight results go out as one batch: it is bisected, the seven good ones are
    acked, and the poisoned one is retried alone while later results go on."""
    system = rabbit_system
    system.start_builtin_worker()

    async def fail_on_poison(results: Results, _: httpx.Request) -> httpx.Response | None:
        if holds("poison")(results):
            return problem(500, "internal_error", "an unexpected error occurred")
        return None

    stand_in = AckStandIn(system.transport, fail_on_poison)
    stand_in.down = True
    worker = worker_through(stand_in, system, concurrency=8)

    @worker.handler("work")
    async def work(ctx: JobContext, n: int) -> Any:
        return "poison" if n == 5 else n

    async with running(worker):
        first = await client.create_pipeline({"name": "eight", "stages": roots("work", 8)})
        await until(lambda: worker.stats.completed == 8)
        stand_in.down = False
        await until(lambda: lone_poison(stand_in) >= 2)  # set aside, and retried
        # Later results go out while the poisoned one is retried.
        second = await client.create_pipeline({"name": "later", "stages": roots("work", 3)})
        assert (await client.wait(second.id, timeout=20)).status == "completed"
        statuses = await stage_statuses(client, first.id)
        assert worker.stats.undelivered == 0  # the poisoned result is still being retried
    assert statuses == {f"s{i}": "running" if i == 5 else "completed" for i in range(8)}
    with_poison = [len(ack) for ack in stand_in.acks if holds("poison")(ack)]
    assert with_poison[:4] == [8, 4, 2, 1]  # bisected, not sent one by one
    assert set(with_poison[4:]) == {1}  # then only ever alone
    assert lone_poison(stand_in) >= 3  # isolated, retried, and tried once more at shutdown
    halves = [len(ack) for ack in stand_in.acks[:7] if not holds("poison")(ack)]
    assert sorted(halves) == [1, 2, 4]
    assert worker.stats.undelivered == 1
    assert "dropped, as the worker stops" in caplog.text


def lone_poison(stand_in: AckStandIn) -> int:
    return sum(1 for ack in stand_in.acks if len(ack) == 1 and holds("poison")(ack))


async def test_a_result_set_aside_is_dropped_once_its_lease_could_have_run_out(
    pool: Any, rabbitmq: RabbitMQBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """Stand-in: a 500 for any ack holding the output "poison", which the handler returns on
    its first attempt only. The result is retried alone until the job's lease (1 s here) could
    have run out, then dropped; the control plane runs the job again, and that result goes
    through."""
    quick = {"lease_seconds": 1.0, "heartbeat_interval_seconds": 0.2, "sweep_interval_seconds": 0.2}
    async with running_system(pool, rabbitmq, **quick) as system:
        system.start_builtin_worker()
        sent_after_the_drop: list[Results] = []

        async def fail_on_poison(results: Results, _: httpx.Request) -> httpx.Response | None:
            if not holds("poison")(results):
                return None
            if worker.stats.undelivered:
                sent_after_the_drop.append(results)
            return problem(500, "internal_error", "an unexpected error occurred")

        stand_in = AckStandIn(system.transport, fail_on_poison)
        worker = worker_through(stand_in, system)

        @worker.handler("once")
        async def once(ctx: JobContext, _: Any) -> str:
            return "poison" if ctx.attempt == 1 else "healed"

        async with (
            running(worker),
            AsyncClient(URL, system.api_key, transport=system.transport) as client,
        ):
            submitted = await client.create_pipeline(
                {"name": "p", "stages": [{"name": "o", "handler": "once"}]}
            )
            finished = await client.wait(submitted.id, timeout=20)
    assert finished.status == "completed"
    assert (finished.stages[0].attempt, finished.stages[0].output) == (2, "healed")
    assert worker.stats.undelivered == 1
    assert "dropped, as its lease could have run out" in caplog.text
    assert sent_after_the_drop == []


async def test_a_result_refused_for_its_body_fails_its_stage_at_once_and_is_not_sent_again(
    rabbit_system: System, client: AsyncClient
) -> None:
    """Stand-in: a 422 ``nul_character`` for any ack holding a NUL character, as the control
    plane answers a request it refuses whole (issue 18). Eight results go out as one batch: it
    is bisected, the seven good ones are acked, and the bad one's job fails at once with
    ``result_refused`` (its stage allows retries: none is spent)."""
    system = rabbit_system
    system.start_builtin_worker()
    detail = "results[0].output: text may not contain NUL (\\u0000)"

    async def refuse_nul(results: Results, _: httpx.Request) -> httpx.Response | None:
        if has_nul(results):
            return problem(422, "nul_character", detail)
        return None

    stand_in = AckStandIn(system.transport, refuse_nul)
    stand_in.down = True
    worker = worker_through(stand_in, system, concurrency=8)

    @worker.handler("work")
    async def work(ctx: JobContext, n: int) -> Any:
        return "bad\x00name" if n == 5 else n

    async with running(worker):
        submitted = await client.create_pipeline(
            {"name": "eight", "stages": roots("work", 8, maxRetries=3)}
        )
        await until(lambda: worker.stats.completed == 8)
        stand_in.down = False
        finished = await client.wait(submitted.id, timeout=20)
    assert finished.status == "failed"
    bad = finished.stage("s5")
    assert (bad.status, bad.attempt, bad.error["code"]) == ("failed", 1, "result_refused")
    assert (
        bad.error["message"]
        == f"the control plane refused this job's result (nul_character: {detail})"
    )
    assert [s.status for s in finished.stages if s.name != "s5"] == ["completed"] * 7
    with_nul = [len(ack) for ack in stand_in.acks if holds("bad\x00name")(ack)]
    assert with_nul == [8, 4, 2, 1]  # bisected, and never sent again once refused alone
    [report] = [r for ack in stand_in.acks for r in ack if r["status"] == "failed"]
    assert report["error"]["retryable"] is False
    assert worker.stats.refused == 1


def reject_as_invalid(
    inner: httpx.AsyncBaseTransport, bad: Callable[[dict[str, Any]], bool]
) -> Answer:
    """Answers acks as the control plane does after issue 18: results for which ``bad`` holds
    are rejected as ``invalid_result``; the others are applied (by the real control plane)."""

    async def answer(results: Results, request: httpx.Request) -> httpx.Response:
        good = [r for r in results if not bad(r)]
        answered = await forward(inner, request, good) if good else {"accepted": [], "rejected": []}
        answered["rejected"] += [
            {
                "jobId": r["jobId"],
                "reason": "invalid_result",
                "code": "nul_character",
                "detail": "results[0].output: text may not contain NUL (\\u0000)",
            }
            for r in results
            if bad(r)
        ]
        return httpx.Response(200, json=answered)

    return answer


async def test_an_invalid_result_rejection_fails_the_job_with_result_refused(
    rabbit_system: System, client: AsyncClient
) -> None:
    """Stand-in: a result with a NUL character is rejected as ``invalid_result`` (with the
    ``code`` and ``detail`` of issue 18) while the rest of the batch is applied."""
    system = rabbit_system
    system.start_builtin_worker()
    stand_in = AckStandIn(system.transport)
    stand_in.answer = reject_as_invalid(system.transport, has_nul)
    worker = worker_through(stand_in, system)

    @worker.handler("work")
    async def work(ctx: JobContext, n: int) -> Any:
        return {"name": "bad\x00name"} if n == 1 else n

    async with running(worker):
        submitted = await client.create_pipeline({"name": "p", "stages": roots("work", 3)})
        finished = await client.wait(submitted.id, timeout=20)
    assert finished.status == "failed"
    bad = finished.stage("s1")
    assert bad.error["code"] == "result_refused"
    assert bad.error["message"] == (
        "the control plane refused this job's result (nul_character: "
        "results[0].output: text may not contain NUL (\\u0000))"
    )
    assert [finished.stage(n).status for n in ("s0", "s2")] == ["completed", "completed"]
    sent = stand_in.sent(bad_job_id(stand_in, has_nul))
    assert sent == ["completed", "failed"]  # the result once, then its failure report once


def bad_job_id(stand_in: AckStandIn, bad: Callable[[dict[str, Any]], bool]) -> str:
    [job_id] = {r["jobId"] for ack in stand_in.acks for r in ack if bad(r)}
    return job_id


async def test_a_failure_report_refused_in_turn_is_dropped_not_sent_again(
    rabbit_system: System, client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Stand-in: every result of the job whose output holds a NUL character — its failure
    report too — is rejected as ``invalid_result``."""
    system = rabbit_system
    refused_jobs: set[str] = set()

    def refused(result: dict[str, Any]) -> bool:
        if has_nul(result):
            refused_jobs.add(result["jobId"])
        return result["jobId"] in refused_jobs

    stand_in = AckStandIn(system.transport)
    stand_in.answer = reject_as_invalid(system.transport, refused)
    worker = worker_through(stand_in, system)

    @worker.handler("work")
    async def work(ctx: JobContext, _: Any) -> str:
        return "bad\x00name"

    async with running(worker):
        await client.create_pipeline({"name": "p", "stages": roots("work", 1)})
        await until(lambda: worker.stats.refused == 2)
        stage = await system.pool.fetchrow("SELECT status, error FROM stages")
    assert (stage["status"], stage["error"]) == ("running", None)  # until its lease runs out
    [job_id] = refused_jobs
    assert stand_in.sent(job_id) == ["completed", "failed"]  # even across the shutdown's flush
    assert "was refused too" in caplog.text


@pytest.mark.parametrize(
    ("status", "code", "retry_after", "waits"),
    [(503, "database_unavailable", "2", "2.0"), (429, "rate_limited", "3600", "30.0")],
)
async def test_an_outage_keeps_the_batch_and_waits_as_told(
    rabbit_system: System,
    client: AsyncClient,
    caplog: pytest.LogCaptureFixture,
    status: int,
    code: str,
    retry_after: str,
    waits: str,
) -> None:
    """Stand-in: the first ack is answered ``status`` with ``Retry-After`` (the control plane's
    outage and rate-limit answers of issue 18). The worker keeps the whole batch, waits as long
    as it is told (up to 30 s: a stop sends it at once) and then delivers it unchanged."""
    system = rabbit_system
    system.start_builtin_worker()

    async def busy_once(results: Results, _: httpx.Request) -> httpx.Response | None:
        if len(stand_in.acks) == 1:
            return problem(status, code, "try again later", **{"Retry-After": retry_after})
        return None

    stand_in = AckStandIn(system.transport, busy_once)
    stand_in.down = True
    worker = worker_through(stand_in, system, concurrency=3)

    @worker.handler("work")
    async def work(ctx: JobContext, n: int) -> int:
        return n

    async with running(worker):
        submitted = await client.create_pipeline({"name": "p", "stages": roots("work", 3)})
        await until(lambda: worker.stats.completed == 3)
        stand_in.down = False
        await until(lambda: f"3 results kept, sent again in {waits} s" in caplog.text)
        if status == 503:  # sent again once Retry-After has passed, not before
            await until(lambda: len(stand_in.acks) == 2, within=10)
            assert stand_in.times[1] - stand_in.times[0] >= 1.9
        else:  # Retry-After: 3600, capped at 30 s: nothing goes out a second later
            await asyncio.sleep(1)
            assert len(stand_in.acks) == 1  # a stop then sends it at once
    finished = await client.wait(submitted.id, timeout=20)
    assert finished.status == "completed"
    assert stand_in.statuses == [status, 200]
    assert stand_in.acks[0] == stand_in.acks[1]  # kept whole, not split


async def test_a_revoked_key_keeps_the_results_until_it_works_again(
    rabbit_system: System, client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The real control plane answers 401 once the worker's key is revoked: not the results'
    fault, so they are kept whole (neither split nor reported failed), with an error log."""
    system = rabbit_system
    system.start_builtin_worker()
    stand_in = AckStandIn(system.transport)  # only counts the acks
    worker = worker_through(stand_in, system, concurrency=2)
    started = 0
    finish = asyncio.Event()

    @worker.handler("work")
    async def work(ctx: JobContext, n: int) -> int:
        nonlocal started
        started += 1
        await finish.wait()
        return n

    async def set_revoked(revoked: bool) -> None:
        await system.pool.execute(
            "UPDATE api_keys SET revoked_at = CASE WHEN $1 THEN now() END", revoked
        )
        system.services.keys._known.clear()  # as if the cache entry had aged out

    async with running(worker):
        submitted = await client.create_pipeline({"name": "p", "stages": roots("work", 2)})
        await until(lambda: started == 2)
        stand_in.down = True  # so that the two results go out together
        finish.set()
        await until(lambda: worker.stats.completed == 2)
        await set_revoked(True)
        stand_in.down = False
        await until(lambda: stand_in.statuses.count(401) >= 2)
        await set_revoked(False)
        finished = await client.wait(submitted.id, timeout=20)
    assert finished.status == "completed"
    assert [s.output for s in finished.stages] == [0, 1]
    answered = zip(stand_in.acks, stand_in.statuses, strict=False)  # the last may be unanswered
    refused = [ack for ack, status in answered if status == 401]
    assert all(sorted(r["output"] for r in ack) == [0, 1] for ack in refused)
    assert all(r["status"] == "completed" for ack in stand_in.acks for r in ack)
    assert worker.stats.refused == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("401 invalid_api_key" in message and "kept" in message for message in errors)
