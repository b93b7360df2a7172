"""Run a handler without a control plane, for unit tests::

    from worker_sdk.testing import JobEnvironment

    def test_render() -> None:
        env = JobEnvironment(context={"tenant": "acme"})
        outcome = env.run(render, {"number": "A-1"})
        assert outcome.status == "completed"
        assert outcome.output == {"pdf": "..."}
        assert outcome.logs == [("info", "rendering A-1")]

The handler gets a real :class:`JobContext` and its input is converted to its declared type,
so an input that does not fit fails here the way it would in a worker.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from worker_sdk.context import JobContext
from worker_sdk.handlers import Handler, HandlerFunction
from worker_sdk.transport import AsyncTransport
from worker_sdk.wire import DatasetWritten, JobError


@dataclass(frozen=True)
class TestOutcome:
    """How the handler ended, with what it logged and the context it wrote."""

    __test__ = False  # not a pytest test class, despite its name

    status: str
    output: Any = None
    error: JobError | None = None
    logs: list[tuple[str, str]] = field(default_factory=list)
    context_updates: dict[str, Any] = field(default_factory=dict)
    # Files the handler attached: name -> (content type, bytes).
    attached: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    # Dataset versions the handler reported for the catalog.
    datasets: list[DatasetWritten] = field(default_factory=list)


class JobEnvironment:
    __test__ = False  # not a pytest test class, despite the module's name

    def __init__(
        self,
        *,
        context: Mapping[str, Any] | None = None,
        dependencies: Mapping[str, Any] | None = None,
        attempt: int = 1,
        stage_name: str = "stage",
        timeout_seconds: int | None = None,
        control_plane: AsyncTransport | None = None,
    ) -> None:
        self.control_plane = control_plane
        self.context = dict(context or {})
        self.dependencies = dict(dependencies or {})
        self.attempt = attempt
        self.stage_name = stage_name
        self.timeout_seconds = timeout_seconds
        #: The context of the last run; set ``cancel`` on it from another thread to test how
        #: a handler reacts to cancellation.
        self.ctx: JobContext | None = None

    def run(
        self, function: HandlerFunction, input: Any = None, *, name: str = "handler"
    ) -> TestOutcome:
        """Run a sync or async handler to its end; returns a :class:`TestOutcome`."""
        return asyncio.run(self.run_async(function, input, name=name))

    async def run_async(
        self, function: HandlerFunction, input: Any = None, *, name: str = "handler"
    ) -> TestOutcome:
        handler = Handler.from_function(name, function)
        ctx = self.ctx = JobContext(
            job_id=str(uuid.uuid4()),
            stage_id=str(uuid.uuid4()),
            pipeline_id=str(uuid.uuid4()),
            handler=name,
            stage_name=self.stage_name,
            attempt=self.attempt,
            context=self.context,
            dependencies=self.dependencies,
            timeout_seconds=self.timeout_seconds,
            control_plane=self.control_plane,
        )
        outcome = await handler.run(ctx, input, self.timeout_seconds)
        return TestOutcome(
            outcome.status,
            # As the control plane would store it: tuples become lists, and so on.
            msgspec.json.decode(msgspec.json.encode(outcome.output)),
            outcome.error,
            [(entry.level, entry.message) for entry in ctx.log.finish()],
            ctx.context_updates,
            ctx.attached,
            ctx.datasets,
        )
