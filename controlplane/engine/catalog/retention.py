"""Retention for the lake: how many versions of each dataset an application keeps.

An application keeps the newest N versions of each dataset (its own N, or the setting's),
and any version a retained pipeline wrote or read: a rerun of its stages reads exactly those.
A retention round removes the files of the others with Lance's own cleanup, then records
them removed; the catalog keeps their rows (see engine.upkeep.rules and .retention).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from controlplane.engine.access.audit import Actor, record
from controlplane.errors import InvalidRequest, NotFound

_SET_KEEP = """
UPDATE applications SET retain_dataset_versions = $2 WHERE id = $1
RETURNING id, retain_dataset_versions
"""


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
