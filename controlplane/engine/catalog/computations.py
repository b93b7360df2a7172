"""Samples and profiles of dataset versions, computed by the application's dataset workers.

The API process never reads the lake: a sample or a profile is a job of the built-in
``dataset.sample`` / ``dataset.profile`` template, in a one-stage pipeline whose idempotency
key names the dataset version. Asking again finds that pipeline, so each version is computed
once, and its stage's output is the cache (until retention removes the pipeline).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from controlplane.engine.catalog.datasets import Dataset, DatasetVersion
from controlplane.errors import Conflict, Gone
from controlplane.schemas import PipelineSubmit, StageSpec
from controlplane.statuses import SETTLED

# A quarantine page is a sample from an offset, with the rows' places: see quarantine.py.
Kind = Literal["sample", "profile", "quarantine"]
# Rows a sample holds; a request may ask for fewer.
SAMPLE_ROWS = 1000
# Rows of a quarantine page.
REVIEW_ROWS = 100

_FIND = """
SELECT p.id AS pipeline_id, s.status, s.output, s.error
FROM pipelines p JOIN stages s ON s.pipeline_id = p.id
WHERE p.application_id = $1 AND p.idempotency_key = $2
"""


def handler_of(kind: Kind) -> str:
    return "dataset.profile" if kind == "profile" else "dataset.sample"


def request_for(
    dataset: Dataset, version: DatasetVersion, kind: Kind, offset: int = 0
) -> PipelineSubmit:
    """The pipeline that computes ``kind`` of the version (from row ``offset``, for a
    quarantine page): one stage, retried twice."""
    source = {"uri": dataset.uri, "version": version.version}
    stage_input: dict[str, Any] = {"source": source}
    if kind == "sample":
        stage_input["limit"] = SAMPLE_ROWS
    elif kind == "quarantine":
        stage_input.update(limit=REVIEW_ROWS, offset=offset)
    at = f" @{offset}" if offset else ""
    return PipelineSubmit(
        name=f"catalog {kind}: {dataset.name} v{version.version}{at}"[:200],
        stages=[
            StageSpec(
                name=kind,
                handler=handler_of(kind),
                input=stage_input,
                depends_on=[],
                max_retries=2,
                timeout_seconds=900,
            )
        ],
        keywords=["catalog"],
        idempotency_key=_key(dataset, version, kind, offset),
    )


def _key(dataset: Dataset, version: DatasetVersion, kind: Kind, offset: int) -> str:
    at = f"@{offset}" if offset else ""
    return f"catalog.{kind}:{dataset.id}:{version.version}{at}"


@dataclass(frozen=True)
class Computation:
    pipeline_id: uuid.UUID
    # The stage's status: finished (completed, failed...) or still on its way.
    status: str
    output: Any
    error: dict[str, Any] | None

    @property
    def settled(self) -> bool:
        return self.status in SETTLED

    def result(self) -> Any:
        """The output, or the problem that stopped it."""
        if self.status == "completed":
            return self.output
        code = (self.error or {}).get("code")
        message = (self.error or {}).get("message") or f"the computation is {self.status}"
        if code == "dataset_not_found":  # the worker could not open the version
            raise Gone("dataset_files_missing", message, pipelineId=str(self.pipeline_id))
        raise Conflict(
            "computation_failed", message, workerCode=code, pipelineId=str(self.pipeline_id)
        )


async def find_computation(
    pool: asyncpg.Pool, dataset: Dataset, version: DatasetVersion, kind: Kind, offset: int = 0
) -> Computation | None:
    """The computation of ``kind`` for the version, if one was started."""
    key = _key(dataset, version, kind, offset)
    row = await pool.fetchrow(_FIND, dataset.application_id, key)
    return Computation(**dict(row)) if row is not None else None
