"""Handlers tested without a server, through worker_sdk.testing.JobEnvironment."""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Any

import msgspec
import pytest

import worker_sdk
from worker_sdk import JobContext, RetryableError, TerminalError, Worker
from worker_sdk.testing import JobEnvironment


class Invoice(msgspec.Struct):
    number: str
    amount: float


def render(ctx: JobContext, invoice: Invoice) -> dict[str, Any]:
    ctx.log.info("rendering %s", invoice.number)
    ctx.set_context("last_invoice", invoice.number)
    return {"number": invoice.number, "total": invoice.amount * ctx.context["rate"]}


def test_a_handler_runs_with_context_and_its_logs_and_updates_are_kept() -> None:
    outcome = JobEnvironment(context={"rate": 2}).run(render, {"number": "A-1", "amount": 5})
    assert outcome.status == "completed"
    assert outcome.output == {"number": "A-1", "total": 10}
    assert outcome.logs == [("info", "rendering A-1")]
    assert outcome.context_updates == {"last_invoice": "A-1"}


def test_an_input_that_does_not_fit_fails_as_terminal() -> None:
    outcome = JobEnvironment(context={"rate": 2}).run(render, {"number": "A-1"})
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.code == "invalid_input"
    assert outcome.error.retryable is False
    assert "amount" in outcome.error.message


@pytest.mark.parametrize(
    ("error", "code", "retryable"),
    [
        (TerminalError("no", code="NO"), "NO", False),
        (RetryableError("later"), None, True),
        (KeyError("x"), "KeyError", True),
    ],
)
def test_exceptions_become_failures(error: Exception, code: str | None, retryable: bool) -> None:
    def handler(ctx: JobContext, _: Any) -> None:
        raise error

    outcome = JobEnvironment().run(handler)
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.retryable) == (code, retryable)


def test_an_output_that_is_not_json_fails_clearly() -> None:
    outcome = JobEnvironment().run(lambda ctx, _: object())
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.code == "invalid_output"


def test_dependencies_and_attempt_are_visible() -> None:
    async def handler(ctx: JobContext, _: Any) -> tuple[int, Any]:
        return ctx.attempt, ctx.dependencies["extract"]

    outcome = JobEnvironment(dependencies={"extract": [1, 2]}, attempt=3).run(handler)
    assert outcome.output == [3, [1, 2]]


def test_a_timeout_sets_cancelled_and_fails_the_run() -> None:
    noticed = threading.Event()

    def handler(ctx: JobContext, _: Any) -> None:
        if ctx.cancelled.wait(10):
            noticed.set()

    outcome = JobEnvironment(timeout_seconds=1).run(handler)
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.code == "timeout"
    assert noticed.wait(5)


def test_handlers_must_take_ctx_and_input() -> None:
    worker = Worker("http://unused", "key")
    with pytest.raises(TypeError, match=r"must take \(ctx, input\)"):
        worker.register("bad", lambda ctx: None)
    worker.register("good", render)
    with pytest.raises(ValueError, match="already registered"):
        worker.register("good", render)


def test_only_the_input_annotation_needs_to_resolve() -> None:
    # This module has `from __future__ import annotations`: every annotation is a string.
    from worker_sdk import JobContext as LocalContext  # a name only this function knows

    def handler(ctx: LocalContext, invoice: Invoice) -> str:
        return invoice.number

    assert JobEnvironment().run(handler, {"number": "B-2", "amount": 1}).output == "B-2"

    def unknown(ctx: JobContext, value: NoSuchType) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(TypeError, match="cannot resolve its input type 'NoSuchType'"):
        Worker("http://unused", "key").register("unknown", unknown)


def test_an_async_handler_s_log_is_kept_per_job() -> None:
    async def handler(ctx: JobContext, n: int) -> int:
        await asyncio.sleep(0)
        ctx.log.warning("n=%d", n)
        return n * 2

    outcome = JobEnvironment().run(handler, "21")  # "21" converts to the declared int
    assert outcome.output == 42
    assert outcome.logs == [("warning", "n=21")]


# The public surface: a change here is a change for every user, so it is pinned.
PUBLIC = {
    "ApiError",
    "Artifact",
    "AsyncClient",
    "Client",
    "DatasetColumn",
    "DatasetRead",
    "DatasetWritten",
    "JobContext",
    "JobLog",
    "Pipeline",
    "PipelineSpec",
    "RetryableError",
    "RunOf",
    "Stage",
    "StageSpec",
    "TerminalError",
    "Unavailable",
    "Worker",
}

SIGNATURES = {
    "Worker": "(url: 'str', api_key: 'str', *, name: 'str' = 'worker', concurrency: 'int' = 10, "
    "poll_seconds: 'float' = 20.0, shutdown_grace_seconds: 'float' = 30.0, "
    "version: 'str | None' = None, metadata: 'dict[str, Any] | None' = None, "
    "metrics_port: 'int | None' = None, transport: 'httpx.AsyncBaseTransport | None' = None)"
    " -> 'None'",
    "Worker.handler": "(self, name: 'str') -> 'Callable[[F], F]'",
    "JobContext.register_dataset": "(self, written: 'DatasetWritten') -> 'None'",
    "DatasetWritten": "(uri: str, version: int, rows: int, name: str | None = None, "
    "layer: str | None = None, bytes: int | None = None, "
    "schema: list[worker_sdk.wire.DatasetColumn] = <factory>, "
    "reads: list[worker_sdk.wire.DatasetRead] = <factory>, checks: str | None = None)",
    "Worker.run": "(self) -> 'None'",
    "Worker.run_async": "(self, *, handle_signals: 'bool' = True) -> 'None'",
    "Worker.stop": "(self) -> 'None'",
    "AsyncClient.create_pipeline": "(self, pipeline: 'PipelineRequest') -> 'Pipeline'",
    "AsyncClient.wait": "(self, pipeline_id: 'str | uuid.UUID', timeout: 'float | None' = None)"
    " -> 'Pipeline'",
    "Client.cancel_pipeline": "(self, pipeline_id: 'str | uuid.UUID') -> 'Pipeline'",
    "Client.run_definition": "(self, definition: 'str', params: 'dict[str, Any] | None' = None, "
    "*, version: 'int | None' = None, idempotency_key: 'str | None' = None, "
    "context: 'dict[str, Any] | None' = None, keywords: 'list[str] | None' = None) -> 'Pipeline'",
    "JobContext.set_context": "(self, key: 'str', value: 'Any') -> 'None'",
}


def test_the_public_surface_is_pinned() -> None:
    assert set(worker_sdk.__all__) == PUBLIC
    for path, expected in SIGNATURES.items():
        owner, _, attribute = path.partition(".")
        target = getattr(worker_sdk, owner)
        target = getattr(target, attribute) if attribute else target
        assert str(inspect.signature(target)) == expected, path
