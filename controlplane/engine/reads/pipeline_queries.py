"""Finding pipelines: the filtered, sorted, paged listing behind the dashboard's table."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

# The ORDER BY of each sort the API offers; the id breaks ties so that pages are stable.
SORTS = {
    "-createdAt": "p.created_at DESC, p.id DESC",
    "createdAt": "p.created_at, p.id",
    "-updatedAt": "p.updated_at DESC, p.id DESC",
    "-finishedAt": "p.finished_at DESC NULLS LAST, p.id DESC",
    "name": "p.name, p.created_at DESC, p.id",
    "status": "p.status, p.created_at DESC, p.id",
}

# Every filter is a parameter that may be NULL (no filter): one plan shape, no SQL pasted
# together from user input. Only the ORDER BY is chosen, from SORTS.
_LIST = """
SELECT p.id, p.application_id, a.name AS application_name, p.name, p.status, p.keywords,
       p.created_at, p.updated_at, p.finished_at, counts.by_status,
       p.definition_id, p.definition_version
FROM pipelines p
JOIN applications a ON a.id = p.application_id
CROSS JOIN LATERAL (
    SELECT coalesce(jsonb_object_agg(status, n), '{{}}') AS by_status
    FROM (SELECT status, count(*) AS n FROM stages s WHERE s.pipeline_id = p.id
          GROUP BY status) c
) counts
WHERE ($1::uuid IS NULL OR p.application_id IN (
          SELECT m.application_id FROM memberships m WHERE m.user_id = $1))
  AND ($2::uuid IS NULL OR p.application_id = $2)
  AND ($3::text[] IS NULL OR p.status = ANY($3))
  -- The search is text, not a pattern: % and _ in it stand for themselves.
  AND ($4::text IS NULL
       OR p.name ILIKE '%' || replace(replace(replace($4, '\', '\\'), '%', '\\%'), '_', '\\_')
                   || '%'
       OR $4 = ANY(p.keywords)
       OR p.id::text = $4)
  AND ($5::timestamptz IS NULL OR p.created_at >= $5)
  AND ($6::timestamptz IS NULL OR p.created_at < $6)
  AND ($7::timestamptz IS NULL OR p.finished_at >= $7)
  AND ($8::timestamptz IS NULL OR p.finished_at < $8)
  AND ($11::uuid IS NULL OR p.definition_id = $11)
ORDER BY {order}
LIMIT $9 OFFSET $10
"""

_APPLICATION_OF = "SELECT application_id FROM pipelines WHERE id = $1"


@dataclass(frozen=True)
class PipelineFilter:
    application_id: uuid.UUID | None = None
    statuses: list[str] | None = None
    search: str | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    finished_from: dt.datetime | None = None
    finished_to: dt.datetime | None = None
    # Runs of this pipeline definition only.
    definition_id: uuid.UUID | None = None


@dataclass(frozen=True)
class PipelineRow:
    id: uuid.UUID
    application_id: uuid.UUID
    application_name: str
    name: str
    status: str
    keywords: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    stage_counts: dict[str, int] = field(default_factory=dict)
    definition_id: uuid.UUID | None = None
    definition_version: int | None = None


async def list_pipelines(
    pool: asyncpg.Pool,
    *,
    member: uuid.UUID | None,
    where: PipelineFilter,
    sort: str,
    limit: int,
    offset: int,
) -> tuple[list[PipelineRow], bool]:
    """One page, and whether there is another after it.

    ``member``: only the applications this user is a member of (None: all of them).
    No total is counted: on a large table that is a scan per page.
    """
    rows = await pool.fetch(
        _LIST.format(order=SORTS[sort]),
        member,
        where.application_id,
        where.statuses,
        where.search,
        where.created_from,
        where.created_to,
        where.finished_from,
        where.finished_to,
        limit + 1,
        offset,
        where.definition_id,
    )
    return [_row(r) for r in rows[:limit]], len(rows) > limit


def _row(row: asyncpg.Record) -> PipelineRow:
    values: dict[str, Any] = dict(row)
    values["stage_counts"] = values.pop("by_status")
    return PipelineRow(**values)


async def application_of(pool: asyncpg.Pool, pipeline_id: uuid.UUID) -> uuid.UUID | None:
    value = await pool.fetchval(_APPLICATION_OF, pipeline_id)
    return None if value is None else uuid.UUID(str(value))
