"""Whether a process can do its work: the same answer on the APIs and the built-in worker."""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.services import Services


@dataclass(frozen=True)
class NotReady:
    code: str  # stopping | database_unavailable | broker_unavailable
    detail: str


async def readiness(services: Services) -> NotReady | None:
    """None when ready; otherwise why not."""
    if services.stopping.is_set():  # so that a load balancer sends no new requests
        return NotReady("stopping", "the process is shutting down")
    try:
        await services.pool.fetchval("SELECT 1")
    except Exception as error:
        return NotReady("database_unavailable", str(error))
    try:
        await services.broker.ping()
    except Exception as error:
        return NotReady("broker_unavailable", str(error))
    return None
