"""Handlers: typed functions ``fn(ctx, input) -> output``, and what their outcome means."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import logging
import threading
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from worker_sdk.context import JobContext
from worker_sdk.errors import HandlerError, TerminalError
from worker_sdk.wire import JobError

HandlerFunction = Callable[[JobContext, Any], Any]

log = logging.getLogger("worker_sdk")


@dataclass(frozen=True)
class Handler:
    name: str
    function: HandlerFunction
    input_type: Any  # None: the input is passed as decoded JSON, unchanged
    is_async: bool

    @classmethod
    def from_function(cls, name: str, function: HandlerFunction) -> Handler:
        parameters = list(inspect.signature(function).parameters.values())
        positional = [
            p
            for p in parameters
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
        if len(positional) != 2:
            raise TypeError(
                f"handler {name!r}: {function.__qualname__} must take (ctx, input), "
                f"it takes {len(positional)} required positional parameters"
            )
        input_type = _resolve(function, positional[1])
        if input_type is Any or input_type is inspect.Parameter.empty:
            input_type = None
        return cls(name, function, input_type, inspect.iscoroutinefunction(function))

    def convert_input(self, raw: Any) -> Any:
        """The job's JSON input as the handler's declared input type."""
        if self.input_type is None:
            return raw
        try:
            return msgspec.convert(raw, self.input_type, strict=False)
        except msgspec.ValidationError as error:
            type_name = getattr(self.input_type, "__name__", repr(self.input_type))
            raise TerminalError(
                f"the input does not fit {type_name}: {error}", code="invalid_input"
            ) from error

    async def invoke(self, ctx: JobContext, raw_input: Any) -> Any:
        value = self.convert_input(raw_input)
        if self.is_async:
            return await typing.cast(Awaitable[Any], self.function(ctx, value))
        return await in_daemon_thread(ctx, self.function, value)

    async def run(self, ctx: JobContext, raw_input: Any, timeout_seconds: float | None) -> Outcome:
        """Invoke the handler and say how it ended, as the control plane is told it.

        Past ``timeout_seconds`` it is stopped (``ctx.cancelled`` is set, an async handler
        cancelled) and fails as a timeout. Cancellation from outside propagates, with
        ``ctx.cancelled`` set first, so that a sync handler's thread can see it too.
        """
        try:
            value = await asyncio.wait_for(self.invoke(ctx, raw_input), timeout=timeout_seconds)
        except TimeoutError:
            ctx.cancelled.set()
            return Outcome.timed_out(timeout_seconds or 0)
        except asyncio.CancelledError:
            ctx.cancelled.set()
            raise
        except Exception as error:
            log.debug("job %s failed", ctx.job_id, exc_info=True)
            return Outcome.failed(error)
        return Outcome.completed(value)


async def in_daemon_thread(ctx: JobContext, function: HandlerFunction, value: Any) -> Any:
    """Run a sync handler in a thread of its own that never holds the process open.

    A pool's threads are joined at exit, so one handler that ignores cancellation would keep
    a stopped worker alive until it returned; a daemon thread is left behind instead.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    call = functools.partial(contextvars.copy_context().run, function, ctx, value)

    def settle(error: BaseException | None, result: Any) -> None:
        if future.done():  # cancelled meanwhile: nobody waits for this outcome any more
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def run() -> None:
        try:
            result, error = call(), None
        except BaseException as raised:  # handed to the awaiting task, which decides
            result, error = None, raised
        with contextlib.suppress(RuntimeError):  # the loop is closed: the worker stopped
            loop.call_soon_threadsafe(settle, error, result)

    threading.Thread(target=run, name=f"job-{ctx.job_id}", daemon=True).start()
    return await future


def _resolve(function: HandlerFunction, parameter: inspect.Parameter) -> Any:
    """The input parameter's annotation as a type.

    Only this one annotation is resolved: under ``from __future__ import annotations`` every
    annotation is a string, and the others (``ctx: JobContext`` imported inside a function,
    say) need not be resolvable for the handler to work.
    """
    annotation = parameter.annotation
    if not isinstance(annotation, str):
        return annotation
    namespace = {**function.__globals__, **inspect.getclosurevars(function).nonlocals}
    try:
        # What typing.get_type_hints does with a string annotation, for this one name.
        return eval(annotation, namespace)
    except Exception as error:
        raise TypeError(
            f"handler {function.__qualname__}: cannot resolve its input type {annotation!r}: "
            f"{error}"
        ) from error


@dataclass(frozen=True)
class Outcome:
    """What became of one run of a handler, as it is reported to the control plane."""

    status: Literal["completed", "failed"]
    output: Any = None
    error: JobError | None = None

    @classmethod
    def completed(cls, value: Any) -> Outcome:
        try:
            return cls("completed", msgspec.to_builtins(value, str_keys=True))
        except TypeError as error:
            return cls.failed(
                TerminalError(f"the output cannot be sent as JSON: {error}", code="invalid_output")
            )

    @classmethod
    def failed(cls, error: BaseException) -> Outcome:
        if isinstance(error, HandlerError):
            return cls("failed", error=JobError(error.message, error.code, error.retryable))
        message = str(error) or type(error).__name__
        return cls("failed", error=JobError(message, type(error).__name__, True))

    @classmethod
    def timed_out(cls, seconds: float) -> Outcome:
        message = f"the handler ran longer than its timeout of {seconds:g} s"
        return cls("failed", error=JobError(message, "timeout", True))
