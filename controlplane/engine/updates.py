"""Live updates on the ``stage.updated`` fanout: best effort, numbered per process.

Each process stamps its updates with its own ``source`` and a sequence number, so that a
subscriber that sees a gap knows it missed something and refetches.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import msgspec

from controlplane.broker import Broker


class UpdatePublisher:
    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._source = uuid.uuid4().hex[:12]
        self._sequence = itertools.count(1)

    async def pipelines_changed(self, changes: list[tuple[uuid.UUID, uuid.UUID, str]]) -> None:
        """(pipeline id, application id, status) of pipelines whose status changed."""
        await self.publish(
            "pipeline",
            [{"id": str(p), "applicationId": str(a), "status": s} for p, a, s in changes],
        )

    async def publish(self, kind: str, items: list[dict[str, Any]]) -> None:
        """Each item names its ``applicationId``: subscribers see only their applications'."""
        if not items:
            return
        body = msgspec.json.encode(
            {"source": self._source, "seq": next(self._sequence), "type": kind, "items": items}
        )
        await self._broker.publish_update(body)
