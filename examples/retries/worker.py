"""Retries and timeouts: a flaky handler that succeeds on its third attempt, one that fails
for good, and one that runs past its timeout and stops when told.

    python examples/retries/worker.py
"""

import os
import time

from worker_sdk import JobContext, RetryableError, TerminalError, Worker

worker = Worker(
    os.environ.get("PIPELOGIQ_URL", "http://127.0.0.1:8081"),
    os.environ["PIPELOGIQ_API_KEY"],
    name="retries",
)


@worker.handler("demo.flaky")
def flaky(ctx: JobContext, _: None) -> str:
    if ctx.attempt < 3:
        raise RetryableError(f"upstream busy on attempt {ctx.attempt}", code="BUSY")
    return f"succeeded on attempt {ctx.attempt}"


@worker.handler("demo.invalid")
def invalid(ctx: JobContext, _: None) -> None:
    raise TerminalError("this input can never work", code="INVALID")


@worker.handler("demo.slow")
def slow(ctx: JobContext, seconds: float) -> str:
    # A long sync handler checks ctx.cancelled: set at its timeout, or when cancelled.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ctx.cancelled.wait(0.1):
            ctx.log.warning("stopping early: the job was cancelled or timed out")
            return "stopped"
    return "finished"


if __name__ == "__main__":
    worker.run()
