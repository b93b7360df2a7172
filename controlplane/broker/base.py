"""The broker port: what the engine needs from a message broker, and the message shapes."""

from __future__ import annotations

import abc
import uuid
from collections.abc import AsyncIterator, Callable, Sequence

import msgspec

RESULTS_QUEUE = "stage.results"
UPDATES_EXCHANGE = "stage.updated"
# A message never carries more references than this: enough to amortise the broker's
# per-message cost, few enough that a small pull rarely has to return a remainder.
MAX_REFS_PER_MESSAGE = 50


class BrokerUnavailable(ConnectionError):
    """The broker cannot be reached now: raised at once rather than waiting for it."""


class JobRef(msgspec.Struct, array_like=True, frozen=True):
    """A stage to run, and the attempt it was published for (stale attempts claim nothing)."""

    stage_id: uuid.UUID
    attempt: int


def job_queue_name(prefix: str, application: str, handler: str) -> str:
    return f"{prefix}{application}.stage.{handler}"


def chunk_refs(refs: Sequence[JobRef]) -> list[list[JobRef]]:
    return [
        list(refs[i : i + MAX_REFS_PER_MESSAGE]) for i in range(0, len(refs), MAX_REFS_PER_MESSAGE)
    ]


encode_refs = msgspec.json.Encoder().encode
decode_refs = msgspec.json.Decoder(list[JobRef]).decode
encode_ids = msgspec.json.Encoder().encode
decode_ids = msgspec.json.Decoder(list[uuid.UUID]).decode


class TakenJobs(abc.ABC):
    """Job references taken from queues but not yet settled with the broker.

    The caller claims what it can in the database and then calls :meth:`settle` with the
    references it did not use (they are published again before the originals are acked), or
    :meth:`release` to hand everything back when it could not finish.
    """

    def __init__(self, items: list[tuple[str, JobRef]]) -> None:
        self.items = items

    @abc.abstractmethod
    async def settle(self, unused: Sequence[tuple[str, JobRef]] = ()) -> None: ...

    @abc.abstractmethod
    async def release(self) -> None: ...


class ResultBatch(abc.ABC):
    """Stage-finished events taken together; ack once they are applied."""

    def __init__(self, stage_ids: list[uuid.UUID]) -> None:
        self.stage_ids = stage_ids

    @abc.abstractmethod
    async def ack(self) -> None: ...

    @abc.abstractmethod
    async def release(self) -> None: ...


class Broker(abc.ABC):
    #: Whether published messages survive a restart of this process. The in-process broker
    #: loses them; the engine then republishes every queued stage at start.
    durable: bool = True

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self._lost_listeners: list[Callable[[BaseException], None]] = []

    def when_lost(self, listener: Callable[[BaseException], None]) -> None:
        """Call ``listener`` whenever a connection to the broker is lost (not at close)."""
        self._lost_listeners.append(listener)

    def _connection_lost(self, error: BaseException) -> None:
        for listener in self._lost_listeners:
            listener(error)

    def job_queue(self, application: str, handler: str) -> str:
        return job_queue_name(self.prefix, application, handler)

    @property
    def results_queue(self) -> str:
        return f"{self.prefix}{RESULTS_QUEUE}"

    @property
    def updates_exchange(self) -> str:
        return f"{self.prefix}{UPDATES_EXCHANGE}"

    async def start(self) -> None:  # noqa: B027 - optional hook
        pass

    async def close(self) -> None:  # noqa: B027 - optional hook
        pass

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise if the broker cannot be reached (used by /readyz)."""

    @abc.abstractmethod
    async def publish_jobs(self, queue: str, refs: Sequence[JobRef]) -> None:
        """Publish references durably; returns once the broker has confirmed them all."""

    @abc.abstractmethod
    async def take_jobs(
        self, queues: Sequence[str], max_refs: int, wait_seconds: float
    ) -> TakenJobs:
        """Take up to about ``max_refs`` references from ``queues``.

        Returns as soon as at least one is there, or empty when ``wait_seconds`` pass. A message
        is taken whole, so ``items`` may hold more than ``max_refs``; the caller hands the rest
        back through :meth:`TakenJobs.settle`.
        """

    @abc.abstractmethod
    async def publish_results(self, stage_ids: Sequence[uuid.UUID]) -> None:
        """Announce that these stages finished (durable, confirmed)."""

    @abc.abstractmethod
    def consume_results(self, max_batch: int) -> AsyncIterator[ResultBatch]:
        """Yield stage-finished events in batches of at most about ``max_batch`` ids."""

    @abc.abstractmethod
    async def publish_update(self, body: bytes) -> None:
        """Fan a live update out to every subscriber; best effort, never raises."""

    @abc.abstractmethod
    def subscribe_updates(self) -> AsyncIterator[bytes]:
        """Live updates published from now on, by any process."""

    @abc.abstractmethod
    async def queue_depths(self, queues: Sequence[str]) -> dict[str, int]:
        """Messages waiting in each queue (not counting those taken and unsettled)."""
