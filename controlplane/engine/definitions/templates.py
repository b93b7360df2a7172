"""Which stage templates the running workers of an application serve, and in what versions.

Workers say so at bootstrap, in ``metadata.templates`` (``{name: version}``); the SDK's
``Worker.use_templates`` fills it in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from worker_sdk.templates import SHIPPED
from worker_sdk.templates.catalog import shipped_catalog

# Each (template, version) a live worker says it serves. $1: heard from within these seconds.
_SERVED_BY_LIVE_WORKERS = """
FROM workers w
CROSS JOIN LATERAL jsonb_each(
    CASE WHEN jsonb_typeof(w.metadata -> 'templates') = 'object'
         THEN w.metadata -> 'templates' ELSE '{}' END) AS t
WHERE w.state IN ('online', 'draining')
  AND w.last_heartbeat_at > now() - make_interval(secs => $1)
"""

_SERVED = f"""
SELECT t.key AS name, t.value #>> '{{}}' AS version, count(*) AS workers
{_SERVED_BY_LIVE_WORKERS} AND w.application_id = $2
GROUP BY 1, 2
ORDER BY 1, 2
"""

# $2: an application, or none; $3: a member whose applications only count, or none.
_SERVED_NAMES = f"""
SELECT DISTINCT t.key AS name
{_SERVED_BY_LIVE_WORKERS}
  AND ($2::uuid IS NULL OR w.application_id = $2)
  AND ($3::uuid IS NULL OR EXISTS (
          SELECT 1 FROM memberships m WHERE m.application_id = w.application_id
          AND m.user_id = $3))
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
    rows = await pool.fetch(_SERVED, offline_after_seconds, application_id)
    return [ServedTemplate(**dict(row)) for row in rows]


async def known_templates(
    pool: asyncpg.Pool,
    *,
    offline_after_seconds: float,
    application_id: uuid.UUID | None = None,
    member: uuid.UUID | None = None,
) -> set[str]:
    """The templates a stage may name: those the SDK ships, and any other that an online
    worker serves (a newer SDK's, say) — a worker of ``application_id``, or of any
    application ``member`` belongs to (None: of any application)."""
    rows = await pool.fetch(_SERVED_NAMES, offline_after_seconds, application_id, member)
    shipped = {name for names in SHIPPED.values() for name in names}
    return shipped | {row["name"] for row in rows}


# Each template live workers of the member's applications serve (all: for None), with how
# many workers serve it.
_SERVED_TO = f"""
SELECT t.key AS name, count(*) AS workers
{_SERVED_BY_LIVE_WORKERS}
  AND ($2::uuid IS NULL OR EXISTS (
          SELECT 1 FROM memberships m WHERE m.application_id = w.application_id
          AND m.user_id = $2))
GROUP BY 1
"""


@dataclass(frozen=True)
class RegistryEntry:
    name: str
    group: str | None  # None: not shipped with this SDK (a newer worker serves it)
    version: str | None
    summary: str | None
    input_schema: dict[str, Any] | None  # None: not known here
    # Live workers of the user's applications that serve it now (0: a stage of it would wait).
    workers: int


async def template_registry(
    pool: asyncpg.Pool, *, offline_after_seconds: float, member: uuid.UUID | None
) -> list[RegistryEntry]:
    """The templates a stage may name, by name: those the SDK ships, described, and any other
    a live worker of the ``member``'s applications serves (None: of any application)."""
    serving = {
        row["name"]: row["workers"]
        for row in await pool.fetch(_SERVED_TO, offline_after_seconds, member)
    }
    entries = [
        RegistryEntry(
            t["name"],
            t["group"],
            t["version"],
            t["summary"],
            t["inputSchema"],
            serving.pop(t["name"], 0),
        )
        for t in shipped_catalog()
    ]
    entries += [RegistryEntry(name, None, None, None, None, n) for name, n in serving.items()]
    return sorted(entries, key=lambda entry: entry.name)
