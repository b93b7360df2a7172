"""Delivering a worker's results (``POST /jobs/ack``) so that no result holds back another.

Results wait in the order they finished and go out in batches of up to 500 as soon as they are
ready. What the answer to a batch means for it:

- **200**: the accepted results are delivered. A rejected one is dropped (its job finished
  already, was cancelled, or lost its lease), unless it is rejected as ``invalid_result``.
- **400, 413 or 422**: the control plane refuses the request's body. The batch is split in
  halves, each sent on its own, and so on, until the results it refuses are alone.
- **another 5xx** (500, say): a server error, which one result may be causing. The batch is
  split the same way, so that the rest go through. A result that gets one on its own is set
  aside: tried again alone, with backoff, while the results after it go on; once its job's
  lease could have run out it is dropped (the control plane runs the job again).
- **429, 502, 503, 504, or no answer**: an outage. Everything is kept and sent again after a
  backoff, or after the answer's ``Retry-After`` (up to 30 s).
- **401, 403 or another 4xx**: a refusal that is not the results' fault (a revoked key, say).
  Everything is kept, with an error log, and sent again after a backoff.

A result is **refused for good** when the control plane refuses it alone for what it holds:
rejected as ``invalid_result``, or answered 400, 413 or 422 when it is the only result sent. It
is never sent again. Its job is reported failed instead, with a terminal error whose code is
``result_refused`` and whose message names the control plane's code and detail, so that the
stage fails at once rather than waiting out its lease. A failure report that is refused for
good in turn is dropped, with an error log.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from worker_sdk.errors import ApiError, Unavailable
from worker_sdk.transport import AsyncTransport, Backoff
from worker_sdk.wire import AckResponse, JobError, JobResult

if TYPE_CHECKING:
    from worker_sdk.worker import WorkerStats

log = logging.getLogger("worker_sdk")

MAX_RESULTS_PER_ACK = 500
# The code of the failure reported for a job whose result was refused for good.
RESULT_REFUSED = "result_refused"
# The rejection of one result of a batch for what it holds (the rest of the batch is applied).
INVALID_RESULT = "invalid_result"
# Answers that refuse a request for its body: the same body sent again is refused again.
BODY_REFUSED = frozenset({400, 413, 422})
# Answers that say the control plane, or the way to it, is down or busy: no body is to blame.
OUTAGES = frozenset({429, 502, 503, 504})


@dataclass(eq=False)
class _Pending:
    """A result not yet delivered."""

    result: JobResult
    # When the job's lease has surely run out (time.monotonic()): the lease is extended only
    # while the job runs, so at the latest a lease after its result was made.
    expires: float
    # The failure report that stands in for a result refused for good.
    reports_refusal: bool = False
    # Set aside after a server error on its own: its backoff, and when to try it again.
    retries: Backoff | None = None
    due: float = 0.0

    @property
    def job_id(self) -> str:
        return self.result.job_id


class _Kept(Exception):
    """Nothing in the batch is to blame (an outage, a revoked key): all of it is kept."""

    def __init__(self, error: ApiError | Unavailable) -> None:
        super().__init__(str(error))
        self.retry_after = error.retry_after if isinstance(error, Unavailable) else None
        self.level = logging.ERROR if isinstance(error, ApiError) else logging.WARNING


class Acks:
    """The results a worker has yet to deliver, and the loop that delivers them."""

    def __init__(
        self, transport: AsyncTransport, stats: WorkerStats, lease_seconds: float = 30.0
    ) -> None:
        self.lease_seconds = lease_seconds
        self._transport = transport
        self._stats = stats
        # Dicts as ordered sets, in the order the results came.
        self._waiting: dict[_Pending, None] = {}
        self._aside: dict[_Pending, None] = {}
        self._arrived = asyncio.Event()
        self._backoff = Backoff()
        self._stopping = False

    def __len__(self) -> int:
        return len(self._waiting) + len(self._aside)

    def add(self, result: JobResult) -> None:
        self._waiting[_Pending(result, time.monotonic() + self.lease_seconds)] = None
        self._arrived.set()

    async def run(self) -> None:
        """Deliver results as they come, until cancelled."""
        while True:
            batch = self._next_batch()
            if batch:
                await self._send(batch)
            else:
                await self._wait_for_work()

    async def flush(self, seconds: float) -> None:
        """Deliver what can be within ``seconds``, at shutdown; a result set aside gets one
        more try."""
        self._stopping = True
        deadline = time.monotonic() + seconds
        while self and time.monotonic() < deadline:
            await self._send(self._next_batch(), until=deadline)
        if self:
            self._stats.undelivered += len(self)
            log.error(
                "%d results could not be delivered before shutdown; their jobs will run again",
                len(self),
            )

    def _next_batch(self) -> list[_Pending]:
        """A result set aside whose time has come, alone; else the oldest results waiting."""
        now = time.monotonic()
        for pending in self._aside:
            if self._stopping or pending.due <= now:
                return [pending]
        return list(itertools.islice(self._waiting, MAX_RESULTS_PER_ACK))

    async def _wait_for_work(self) -> None:
        """Until a result comes, or one set aside is due."""
        due = min((pending.due for pending in self._aside), default=None)
        timeout = None if due is None else max(0.0, due - time.monotonic())
        self._arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._arrived.wait(), timeout)

    async def _send(self, batch: list[_Pending], until: float = math.inf) -> None:
        """Deliver the batch, or back off (at most until ``until``) if nothing could be."""
        try:
            await self._deliver(batch)
        except _Kept as kept:
            backoff = self._backoff.next_delay()
            delay = backoff if kept.retry_after is None else kept.retry_after
            log.log(
                kept.level,
                "ack failed (%s); %d results kept, sent again in %.1f s",
                kept,
                len(self),
                delay,
            )
        except Exception:  # an answer that could not be read, say: the results are kept
            delay = self._backoff.next_delay()
            log.exception("ack failed; %d results kept", len(self))
        else:
            self._backoff.reset()
            return
        await asyncio.sleep(min(delay, max(0.0, until - time.monotonic())))

    async def _deliver(self, batch: list[_Pending]) -> None:
        """Ack the batch, split around what the control plane will not take from it.

        Raises :class:`_Kept` when the control plane cannot take any of it for now; what was
        not settled by then stays where it was.
        """
        body = {"results": [pending.result for pending in batch]}
        try:
            answer = await self._transport.call("POST", "/jobs/ack", AckResponse, body, retries=0)
        except (ApiError, Unavailable) as error:
            if not _may_be_the_batch_s_fault(error):
                raise _Kept(error) from error
            if len(batch) > 1:
                middle = len(batch) // 2
                await self._deliver(batch[:middle])
                await self._deliver(batch[middle:])
            elif isinstance(error, ApiError) and error.status in BODY_REFUSED:
                self._refuse_for_good(batch[0], error.code, error.detail)
            else:
                self._set_aside(batch[0], error)
            return
        self._settle(batch, answer)

    def _settle(self, batch: list[_Pending], answer: AckResponse) -> None:
        sent = {pending.job_id: pending for pending in batch}
        for pending in batch:
            self._forget(pending)
        for rejected in answer.rejected:
            refused = sent.get(rejected.job_id)
            if rejected.reason == INVALID_RESULT and refused is not None:
                self._refuse_for_good(refused, rejected.code or INVALID_RESULT, rejected.detail)
            else:
                self._stats.rejected += 1
                log.warning("result for job %s rejected: %s", rejected.job_id, rejected.reason)

    def _refuse_for_good(self, pending: _Pending, code: str, detail: str | None) -> None:
        """The control plane will never take this result: its job is reported failed instead
        (once: a refused report is dropped)."""
        self._forget(pending)
        self._stats.refused += 1
        why = _printable(f"{code}: {detail}" if detail else code)
        if pending.reports_refusal:
            log.error(
                "the failure report for job %s was refused too (%s); dropped: the job will run "
                "again once its lease runs out",
                pending.job_id,
                why,
            )
            return
        log.error(
            "the result of job %s was refused (%s); reporting the job failed", pending.job_id, why
        )
        error = JobError(
            f"the control plane refused this job's result ({why})", RESULT_REFUSED, False
        )
        report = JobResult(pending.job_id, "failed", error=error)
        self._waiting[_Pending(report, pending.expires, reports_refusal=True)] = None

    def _set_aside(self, pending: _Pending, error: Exception) -> None:
        """A result that got a server error on its own: tried again alone, with backoff, until
        its job's lease could have run out."""
        self._waiting.pop(pending, None)
        if pending.retries is None:
            pending.retries = Backoff(first=0.5)
        pending.due = time.monotonic() + pending.retries.next_delay()
        if self._stopping or pending.due > pending.expires:
            self._aside.pop(pending, None)
            self._stats.undelivered += 1
            log.error(
                "the result of job %s got a server error on its own (%s); dropped, as %s: the "
                "control plane will run the job again",
                pending.job_id,
                error,
                "the worker stops" if self._stopping else "its lease could have run out",
            )
            return
        self._aside[pending] = None
        log.warning(
            "the result of job %s got a server error on its own (%s); set aside, tried again "
            "in %.1f s",
            pending.job_id,
            error,
            pending.due - time.monotonic(),
        )

    def _forget(self, pending: _Pending) -> None:
        self._waiting.pop(pending, None)
        self._aside.pop(pending, None)


def _may_be_the_batch_s_fault(error: ApiError | Unavailable) -> bool:
    """Whether something in the batch may have caused the error: then it is split to see."""
    if error.status is None:  # no answer
        return False
    return error.status in BODY_REFUSED or (error.status >= 500 and error.status not in OUTAGES)


def _printable(text: str, limit: int = 2000) -> str:
    """Text safe to send back in a failure report: no NUL, and not too long."""
    text = text.replace("\x00", "\\u0000")
    return text if len(text) <= limit else text[: limit - 1] + "…"
