"""Retention for the lake: which dataset versions may go, and recording that they went.

An application keeps the newest N versions of each dataset (its own N, or the setting's),
and any version a retained pipeline wrote or read: a rerun of its stages reads exactly those.
The built-in worker removes the files of the others with Lance's own cleanup, then records
them here; the catalog keeps their rows, marked removed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from controlplane.engine.access.audit import Actor, record
from controlplane.errors import InvalidRequest, NotFound

# Per dataset, its versions past the newest `keep` that no stored pipeline wrote (the writer's
# pipeline_id is set to NULL when retention deletes it) nor read, to write a dataset or
# otherwise (the lineage a stage's output declares); $1: the default keep (0: all), $2: how
# many datasets at most, in a random order so that datasets whose cleanup keeps failing do
# not hold up the others.
_REMOVABLE = """
WITH ranked AS (
    SELECT v.dataset_id, v.version, v.pipeline_id, d.uri, d.application_id,
           coalesce(a.retain_dataset_versions, $1) AS keep,
           row_number() OVER (PARTITION BY v.dataset_id ORDER BY v.version DESC) AS rank
    FROM dataset_versions v
    JOIN datasets d ON d.id = v.dataset_id
    JOIN applications a ON a.id = d.application_id
    WHERE v.removed_at IS NULL AND coalesce(a.retain_dataset_versions, $1) > 0
)
SELECT r.dataset_id, r.uri, array_agg(r.version ORDER BY r.version) AS versions
FROM ranked r
WHERE r.rank > r.keep AND r.pipeline_id IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM dataset_versions reader
      JOIN datasets rd ON rd.id = reader.dataset_id AND rd.application_id = r.application_id
      WHERE reader.pipeline_id IS NOT NULL
        AND reader.reads @> jsonb_build_array(
                jsonb_build_object('uri', r.uri, 'version', r.version)))
  AND NOT EXISTS (
      SELECT 1 FROM stages s
      WHERE s.application_id = r.application_id AND s.output IS NOT NULL
        AND s.output @> jsonb_build_object('lineage', jsonb_build_object('reads',
                jsonb_build_array(jsonb_build_object('uri', r.uri, 'version', r.version)))))
GROUP BY r.dataset_id, r.uri
ORDER BY random()
LIMIT $2
"""

# Only versions not recorded as removed yet: two built-in workers finishing the same cleanup
# record it once.
_RECORD_REMOVED = """
UPDATE dataset_versions SET removed_at = now()
WHERE dataset_id = $1 AND version = ANY($2::bigint[]) AND removed_at IS NULL
"""

_SET_KEEP = """
UPDATE applications SET retain_dataset_versions = $2 WHERE id = $1
RETURNING id, retain_dataset_versions
"""


@dataclass(frozen=True)
class Removable:
    dataset_id: uuid.UUID
    uri: str
    versions: list[int]


async def removable_versions(
    pool: asyncpg.Pool, default_keep: int, *, datasets: int = 100
) -> list[Removable]:
    """Up to ``datasets`` datasets with versions retention lets go."""
    rows = await pool.fetch(_REMOVABLE, default_keep, datasets)
    return [Removable(row["dataset_id"], row["uri"], list(row["versions"])) for row in rows]


async def record_removed(pool: asyncpg.Pool, dataset_id: uuid.UUID, versions: list[int]) -> int:
    """Mark the versions removed from the lake; returns how many were not marked already."""
    status = await pool.execute(_RECORD_REMOVED, dataset_id, versions)
    return int(status.rsplit(" ", 1)[1])


@dataclass(frozen=True)
class DatasetRetention:
    application_id: uuid.UUID
    # None: the installation's default (PIPELOGIQ_RETAIN_DATASET_VERSIONS).
    keep_versions: int | None


async def set_dataset_retention(
    pool: asyncpg.Pool, actor: Actor, application_id: uuid.UUID, keep_versions: int | None
) -> DatasetRetention:
    """How many versions of each dataset the application keeps, audited."""
    if keep_versions is not None and keep_versions < 1:
        raise InvalidRequest("invalid_retention", "keep at least one version, or null")
    async with pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(_SET_KEEP, application_id, keep_versions)
        if row is None:
            raise NotFound("application_not_found", f"no application {application_id}")
        details = {"keepVersions": keep_versions}
        await record(
            connection, actor, "application.dataset_retention", "application", row["id"], details
        )
    return DatasetRetention(row["id"], row["retain_dataset_versions"])


async def dataset_retention(pool: asyncpg.Pool, application_id: uuid.UUID) -> DatasetRetention:
    keep = await pool.fetchrow(
        "SELECT retain_dataset_versions FROM applications WHERE id = $1", application_id
    )
    if keep is None:
        raise NotFound("application_not_found", f"no application {application_id}")
    return DatasetRetention(application_id, keep["retain_dataset_versions"])
