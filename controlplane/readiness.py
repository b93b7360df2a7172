"""Whether a process can do its work: the same answer on the APIs and the built-in worker."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from controlplane.services import Services

# A dependency that does not answer within this long counts as unavailable.
CHECK_SECONDS = 3.0


@dataclass(frozen=True)
class Readiness:
    # stopping | database_unavailable | broker_unavailable; None when ready
    code: str | None
    detail: str
    # Each dependency: "ok" or "unavailable".
    checks: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"status": "ready", "checks": self.checks}


async def readiness(services: Services) -> Readiness:
    """Ready, or why not: both dependencies are checked, so the answer says which is missing."""
    if services.stopping.is_set():  # so that a load balancer sends no new requests
        return Readiness("stopping", "the process is shutting down")
    database, broker = await asyncio.gather(
        _check(services.pool.fetchval("SELECT 1")), _check(services.broker.ping())
    )
    checks = {"database": "ok" if database is None else "unavailable"}
    checks["broker"] = "ok" if broker is None else "unavailable"
    if database is not None:
        return Readiness("database_unavailable", database, checks)
    if broker is not None:
        return Readiness("broker_unavailable", broker, checks)
    return Readiness(None, "ready", checks)


async def _check(probe: Any) -> str | None:
    """None if the probe answered; otherwise what went wrong."""
    try:
        await asyncio.wait_for(probe, CHECK_SECONDS)
    except Exception as error:
        return str(error) or type(error).__name__
    return None
