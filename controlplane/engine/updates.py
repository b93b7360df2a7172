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

    async def publish(self, kind: str, items: list[dict[str, Any]]) -> None:
        if not items:
            return
        body = msgspec.json.encode(
            {"source": self._source, "seq": next(self._sequence), "type": kind, "items": items}
        )
        await self._broker.publish_update(body)
