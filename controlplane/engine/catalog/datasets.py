"""Reading the catalog: datasets with their latest version, one dataset's versions, and its
lineage across every pipeline that wrote or read it."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from controlplane.errors import Gone, NotFound

# A dataset's versions listed at most; the catalog keeps them all.
MAX_VERSIONS = 500
# How far lineage is followed up and down, and how many datasets it shows at most.
MAX_DEPTH = 10
MAX_NODES = 200

# The latest version of each dataset, and who wrote it. $1 member (None: every application),
# $2 application, $3 layer ('none': datasets without one), $4 search, $5 limit, $6 offset.
_LIST = """
SELECT d.id, d.application_id, a.name AS application_name, d.name, d.layer, d.uri,
       d.created_at, d.last_written_at, v.version, v.rows, v.bytes, v.written_at,
       v.pipeline_id, v.pipeline_name, v.stage_name,
       (SELECT count(*) FROM dataset_versions c
        WHERE c.dataset_id = d.id AND c.removed_at IS NULL) AS versions
FROM datasets d
JOIN applications a ON a.id = d.application_id
JOIN LATERAL (
    SELECT * FROM dataset_versions v WHERE v.dataset_id = d.id AND v.removed_at IS NULL
    ORDER BY v.version DESC LIMIT 1
) v ON true
WHERE ($1::uuid IS NULL OR d.application_id IN (
          SELECT m.application_id FROM memberships m WHERE m.user_id = $1))
  AND ($2::uuid IS NULL OR d.application_id = $2)
  AND ($3::text IS NULL OR d.layer IS NOT DISTINCT FROM nullif($3, 'none'))
  AND ($4::text IS NULL OR strpos(lower(d.name), lower($4)) > 0
       OR strpos(lower(d.uri), lower($4)) > 0)
ORDER BY d.last_written_at DESC, d.id
LIMIT $5 OFFSET $6
"""

_DATASET = """
SELECT d.id, d.application_id, a.name AS application_name, d.name, d.layer, d.uri,
       d.created_at, d.last_written_at
FROM datasets d JOIN applications a ON a.id = d.application_id
WHERE d.id = $1
"""

_VERSIONS = """
SELECT version, rows, bytes, schema, reads, written_at, pipeline_id, pipeline_name, stage_id,
       stage_name, attempt, removed_at
FROM dataset_versions WHERE dataset_id = $1
ORDER BY version DESC LIMIT $2
"""

# Datasets whose versions this one's versions read, and theirs, and so on; the least depth
# each is found at. $2: the application (lineage stays within one).
_UPSTREAM = """
WITH RECURSIVE up(id, depth) AS (
    SELECT $1::uuid, 0
    UNION
    SELECT d.id, up.depth + 1
    FROM up
    JOIN dataset_versions v ON v.dataset_id = up.id
    CROSS JOIN LATERAL jsonb_array_elements(v.reads) AS r(item)
    JOIN datasets d ON d.application_id = $2 AND d.uri = r.item ->> 'uri'
    WHERE up.depth < $3
)
SELECT id, min(depth) AS depth FROM up WHERE id <> $1 GROUP BY id ORDER BY 2 LIMIT $4
"""

# Datasets with a version that read this one, and theirs, and so on.
_DOWNSTREAM = """
WITH RECURSIVE down(id, uri, depth) AS (
    SELECT id, uri, 0 FROM datasets WHERE id = $1
    UNION
    SELECT d.id, d.uri, down.depth + 1
    FROM down
    JOIN dataset_versions v
      ON v.reads @> jsonb_build_array(jsonb_build_object('uri', down.uri))
    JOIN datasets d ON d.id = v.dataset_id AND d.application_id = $2
    WHERE down.depth < $3
)
SELECT id, min(depth) AS depth FROM down WHERE id <> $1 GROUP BY id ORDER BY 2 LIMIT $4
"""

# The edges among a set of datasets: which was read to write which.
_EDGES = """
SELECT DISTINCT r.id AS from_id, v.dataset_id AS to_id
FROM dataset_versions v
CROSS JOIN LATERAL jsonb_array_elements(v.reads) AS e(item)
JOIN datasets r ON r.application_id = $2 AND r.uri = e.item ->> 'uri'
WHERE v.dataset_id = ANY($1::uuid[]) AND r.id = ANY($1::uuid[])
"""

_NODES = """
SELECT id, name, layer, uri FROM datasets WHERE id = ANY($1::uuid[])
"""


@dataclass(frozen=True)
class DatasetSummary:
    id: uuid.UUID
    application_id: uuid.UUID
    application_name: str
    name: str
    layer: str | None
    uri: str
    created_at: dt.datetime
    last_written_at: dt.datetime
    versions: int
    # The latest version: its number, size, and who wrote it.
    version: int
    rows: int
    bytes: int | None
    written_at: dt.datetime
    pipeline_id: uuid.UUID | None
    pipeline_name: str | None
    stage_name: str | None


@dataclass(frozen=True)
class DatasetFilter:
    application_id: uuid.UUID | None = None
    # A layer, or "none" for datasets without one.
    layer: str | None = None
    search: str | None = None


async def list_datasets(
    pool: asyncpg.Pool,
    *,
    member: uuid.UUID | None,
    where: DatasetFilter,
    limit: int,
    offset: int,
) -> tuple[list[DatasetSummary], bool]:
    """A page of datasets, the most recently written first, and whether more follow.
    ``member``: only datasets of this user's applications (None: all)."""
    rows = await pool.fetch(
        _LIST, member, where.application_id, where.layer, where.search, limit + 1, offset
    )
    return [DatasetSummary(**dict(row)) for row in rows[:limit]], len(rows) > limit


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass(frozen=True)
class DatasetVersion:
    version: int
    rows: int
    bytes: int | None
    schema: list[Column]
    # [{uri, version?}] as the writer reported them.
    reads: list[dict[str, Any]]
    written_at: dt.datetime
    pipeline_id: uuid.UUID | None
    pipeline_name: str | None
    stage_id: uuid.UUID | None
    stage_name: str | None
    attempt: int | None
    # When retention removed its files from the lake; its row stays, as history.
    removed_at: dt.datetime | None


@dataclass(frozen=True)
class LineageNode:
    id: uuid.UUID
    name: str
    layer: str | None
    uri: str
    # How many steps away: 1 for a dataset read (or written) directly.
    depth: int


@dataclass(frozen=True)
class LineageEdge:
    # The dataset read, and the dataset written from it.
    from_: uuid.UUID
    to: uuid.UUID


@dataclass(frozen=True)
class Dataset:
    id: uuid.UUID
    application_id: uuid.UUID
    application_name: str
    name: str
    layer: str | None
    uri: str
    created_at: dt.datetime
    last_written_at: dt.datetime
    # The newest first, at most MAX_VERSIONS.
    versions: list[DatasetVersion]
    upstream: list[LineageNode]
    downstream: list[LineageNode]
    # Among this dataset, its upstream and its downstream.
    edges: list[LineageEdge]

    @property
    def schema(self) -> list[Column]:
        """The latest version's columns."""
        return self.versions[0].schema if self.versions else []

    def version(self, number: int | None) -> DatasetVersion:
        """The version ``number`` (None: the latest) while its files are in the lake; a 404
        for one the catalog does not hold, a 410 for one retention removed."""
        for version in self.versions:
            if number is None or version.version == number:
                if version.removed_at is not None:
                    raise Gone(
                        "version_removed",
                        f"version {version.version} of {self.name} was removed from the lake "
                        f"by retention at {version.removed_at.isoformat()}",
                    )
                return version
        raise NotFound("version_not_found", f"dataset {self.id} has no version {number}")


# The columns of the latest version of the application's dataset of that name.
_LATEST_SCHEMA = """
SELECT v.schema FROM datasets d JOIN dataset_versions v ON v.dataset_id = d.id
WHERE d.application_id = $1 AND d.name = $2 AND v.removed_at IS NULL
ORDER BY d.last_written_at DESC, v.version DESC LIMIT 1
"""


async def latest_schema(
    pool: asyncpg.Pool, application_id: uuid.UUID, name: str
) -> list[dict[str, str]] | None:
    """``[{name, type}]`` of the newest version of the dataset called ``name``, if any."""
    schema: list[dict[str, str]] | None = await pool.fetchval(_LATEST_SCHEMA, application_id, name)
    return schema


async def application_of(pool: asyncpg.Pool, dataset_id: uuid.UUID) -> uuid.UUID | None:
    """Whose dataset it is, before anything else of it is read (None: no such dataset)."""
    application_id: uuid.UUID | None = await pool.fetchval(
        "SELECT application_id FROM datasets WHERE id = $1", dataset_id
    )
    return application_id


async def get_dataset(pool: asyncpg.Pool, dataset_id: uuid.UUID) -> Dataset:
    row = await pool.fetchrow(_DATASET, dataset_id)
    if row is None:
        raise NotFound("dataset_not_found", f"no dataset {dataset_id}")
    application_id = row["application_id"]
    versions = [
        DatasetVersion(**{**dict(v), "schema": [Column(c["name"], c["type"]) for c in v["schema"]]})
        for v in await pool.fetch(_VERSIONS, dataset_id, MAX_VERSIONS)
    ]
    upstream = await _neighbours(pool, _UPSTREAM, dataset_id, application_id)
    downstream = await _neighbours(pool, _DOWNSTREAM, dataset_id, application_id)
    ids = [dataset_id, *(n.id for n in upstream), *(n.id for n in downstream)]
    edges = [
        LineageEdge(e["from_id"], e["to_id"]) for e in await pool.fetch(_EDGES, ids, application_id)
    ]
    return Dataset(
        **dict(row), versions=versions, upstream=upstream, downstream=downstream, edges=edges
    )


async def _neighbours(
    pool: asyncpg.Pool, query: str, dataset_id: uuid.UUID, application_id: uuid.UUID
) -> list[LineageNode]:
    found = await pool.fetch(query, dataset_id, application_id, MAX_DEPTH, MAX_NODES)
    depth = {row["id"]: row["depth"] for row in found}
    nodes = await pool.fetch(_NODES, list(depth))
    return sorted(
        (LineageNode(n["id"], n["name"], n["layer"], n["uri"], depth[n["id"]]) for n in nodes),
        key=lambda node: (node.depth, node.name),
    )
