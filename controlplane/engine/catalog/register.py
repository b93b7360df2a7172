"""Registering the dataset versions a job wrote, in the same transaction as its ack: a
version is in the catalog exactly when the result that reports it is recorded."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
import msgspec

from controlplane.schemas import DatasetWritten, JobResult
from database.named import Named

# One row per version reported by an accepted result. A dataset is upserted by its URI (the
# most recent report's name and layer win, a layer left out keeps the one it had), then its
# version is added; a version registered before (an ack sent again) is left as it is. Datasets
# are locked in URI order, so concurrent acks writing the same datasets cannot deadlock.
_REGISTER = Named("""
WITH reported AS (
    SELECT w.*, s.id AS stage_id, s.pipeline_id, s.attempt, s.name AS stage_name,
           p.name AS pipeline_name
    FROM jsonb_to_recordset(:datasets::jsonb) AS w(
        job_id uuid, uri text, name text, layer text, version bigint, rows bigint,
        bytes bigint, schema jsonb, reads jsonb, checks text, n int)
    JOIN stages s ON s.job_id = w.job_id AND s.application_id = :application_id
    JOIN pipelines p ON p.id = s.pipeline_id
    WHERE w.job_id = ANY(:accepted::uuid[])
),
upserted AS (
    INSERT INTO datasets AS d (application_id, uri, name, layer)
    SELECT DISTINCT ON (uri) :application_id, uri, name, layer
    FROM reported ORDER BY uri, n DESC
    ON CONFLICT (application_id, uri) DO UPDATE
    SET name = excluded.name, layer = coalesce(excluded.layer, d.layer), last_written_at = now()
    RETURNING d.id, d.uri
)
INSERT INTO dataset_versions (dataset_id, version, rows, bytes, schema, reads, pipeline_id,
                              stage_id, job_id, attempt, pipeline_name, stage_name, checks)
SELECT u.id, r.version, r.rows, r.bytes, r.schema, r.reads, r.pipeline_id, r.stage_id,
       r.job_id, r.attempt, r.pipeline_name, r.stage_name, r.checks
FROM reported r JOIN upserted u ON u.uri = r.uri
ON CONFLICT (dataset_id, version) DO NOTHING
""")


def reported(results: Sequence[JobResult]) -> list[dict[str, object]]:
    """The dataset versions ``results`` report, as rows for :data:`_REGISTER` (in the order
    they came: the last report of a dataset names it)."""
    rows = []
    for result in results:
        for written in result.datasets:
            rows.append(_row(result.job_id, written, len(rows)))
    return rows


def _row(job_id: uuid.UUID, written: DatasetWritten, n: int) -> dict[str, object]:
    return {
        "job_id": str(job_id),
        "uri": written.uri,
        "name": written.name or default_name(written.uri),
        "layer": written.layer,
        "version": written.version,
        "rows": written.rows,
        "bytes": written.bytes,
        "schema": msgspec.to_builtins(written.schema),
        "reads": msgspec.to_builtins(written.reads),
        "checks": written.checks,
        "n": n,
    }


def default_name(uri: str) -> str:
    """``s3://lake/silver/orders.lance`` → ``orders``."""
    last = uri.rstrip("/").rsplit("/", 1)[-1]
    return (last.removesuffix(".lance") or uri)[:200]


async def register(
    connection: asyncpg.Connection,
    application_id: uuid.UUID,
    accepted: Sequence[uuid.UUID],
    rows: list[dict[str, object]],
) -> None:
    """Add the versions of ``rows`` reported by the ``accepted`` jobs to the catalog."""
    if not rows or not accepted:
        return
    await connection.execute(
        _REGISTER.sql,
        *_REGISTER.args(
            datasets=rows,
            application_id=application_id,
            accepted=list(accepted),
        ),
    )
