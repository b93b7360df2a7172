"""A worker for the tests that run `pipelogiq-worker` as a process (see test_sdk_processes)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from worker_sdk import JobContext, Worker

worker = Worker(
    os.environ["PIPELOGIQ_URL"],
    os.environ["PIPELOGIQ_API_KEY"],
    name="sdk-process-test",
    concurrency=2,
    poll_seconds=1.0,
    shutdown_grace_seconds=float(os.environ.get("GRACE_SECONDS", "10")),
)
MARKS = Path(os.environ["MARKS_DIR"])


@worker.handler("sdk.sleep")
def sleep(ctx: JobContext, seconds: float) -> dict[str, object]:
    # The test waits for this file to know the handler is running.
    (MARKS / f"started-{ctx.job_id}").write_text(str(os.getpid()))
    time.sleep(seconds)
    return {"slept": seconds, "pid": os.getpid()}
