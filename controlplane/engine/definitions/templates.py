"""Which stage templates the running workers of an application serve, and in what versions.

Workers say so at bootstrap, in ``metadata.templates`` (``{name: version}``); the SDK's
``Worker.use_templates`` fills it in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from worker_sdk.templates import SHIPPED

_SERVED = """
SELECT t.key AS name, t.value #>> '{}' AS version, count(*) AS workers
FROM workers w
CROSS JOIN LATERAL jsonb_each(
    CASE WHEN jsonb_typeof(w.metadata -> 'templates') = 'object'
         THEN w.metadata -> 'templates' ELSE '{}' END) AS t
WHERE w.application_id = $1
  AND w.state IN ('online', 'draining')
  AND w.last_heartbeat_at > now() - make_interval(secs => $2)
GROUP BY 1, 2
ORDER BY 1, 2
"""


@dataclass(frozen=True)
class ServedTemplate:
    name: str
    version: str
    workers: int


async def served_templates(
    pool: asyncpg.Pool, application_id: uuid.UUID, *, offline_after_seconds: float
) -> list[ServedTemplate]:
    """Each template and version that workers heard from within ``offline_after_seconds``
    serve, with how many of them do."""
    rows = await pool.fetch(_SERVED, application_id, offline_after_seconds)
    return [ServedTemplate(**dict(row)) for row in rows]


async def known_templates(
    pool: asyncpg.Pool, application_id: uuid.UUID, *, offline_after_seconds: float
) -> set[str]:
    """The templates a stage may name: those the SDK ships, and any other that an online
    worker of the application serves (a newer SDK's, say)."""
    served = await served_templates(
        pool, application_id, offline_after_seconds=offline_after_seconds
    )
    return {name for names in SHIPPED.values() for name in names} | {t.name for t in served}
