"""Live updates on the ``stage.updated`` fanout: best effort, coalesced, numbered per process.

Changes are announced without waiting: they gather for a moment (``FLUSH_SECONDS``) and go
out as one message per kind, so the job path pays one transient publish per interval, not
one per job. Each process stamps its messages with its own ``source`` and a sequence number,
so that a subscriber that sees a gap knows it missed something and refetches.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import Iterable
from typing import Any

import msgspec

from controlplane.broker import Broker
from controlplane.engine.outcome import AlertChange, PipelineChange, StageChange, WorkerChange

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.1
# Items per message: a burst is split, so that no message is large.
MAX_ITEMS = 500


class UpdatePublisher:
    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._source = uuid.uuid4().hex[:12]
        self._sequence = itertools.count(1)
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._flushing: asyncio.Task[None] | None = None

    def pipelines_changed(self, changes: Iterable[PipelineChange]) -> None:
        """Pipelines created, or whose status changed."""
        self.announce(
            "pipeline",
            [{"id": str(p), "applicationId": str(a), "status": s} for p, a, s in changes],
        )

    def stages_changed(self, changes: Iterable[StageChange]) -> None:
        self.announce(
            "stage",
            [
                {"id": str(s), "pipelineId": str(p), "applicationId": str(a), "status": status}
                for s, p, a, status in changes
            ],
        )

    def workers_changed(self, changes: Iterable[WorkerChange]) -> None:
        """Workers that came, went or changed state."""
        self.announce(
            "worker",
            [{"id": str(w), "applicationId": str(a), "state": s} for w, a, s in changes],
        )

    def alerts_changed(self, changes: Iterable[AlertChange]) -> None:
        """Alerts opened, acknowledged or resolved."""
        self.announce(
            "alert",
            [{"id": str(a), "applicationId": str(app), "status": s} for a, app, s in changes],
        )

    def announce(self, kind: str, items: list[dict[str, Any]]) -> None:
        """Each item names its ``applicationId``: subscribers see only their applications'."""
        if not items:
            return
        self._pending.setdefault(kind, []).extend(items)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush_soon())

    async def flush(self) -> None:
        """Send what is pending now (at shutdown, and in tests)."""
        pending, self._pending = self._pending, {}
        for kind, items in pending.items():
            for start in range(0, len(items), MAX_ITEMS):
                body = msgspec.json.encode(
                    {
                        "source": self._source,
                        "seq": next(self._sequence),
                        "type": kind,
                        "items": items[start : start + MAX_ITEMS],
                    }
                )
                try:
                    await self._broker.publish_update(body)
                except Exception:  # best effort: subscribers resync on the gap
                    log.warning("could not publish a live update", exc_info=True)

    async def close(self) -> None:
        if self._flushing is not None:
            self._flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flushing
        with contextlib.suppress(Exception):
            await self.flush()

    async def _flush_soon(self) -> None:
        await asyncio.sleep(FLUSH_SECONDS)
        await self.flush()
