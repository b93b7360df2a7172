"""Artifacts: the files jobs attach to their stage's results, and links to download them.

A job attaches a file while it runs (its job id must still be its stage's current one). A
download link is the artifact's id and an expiry, signed with HMAC-SHA256 under a key
derived from the installation's secret: whoever holds the link may download the file until
it expires, and changing any part of it makes the signature wrong.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass

import asyncpg

from controlplane.errors import Conflict, Forbidden


@dataclass(frozen=True)
class Artifact:
    id: uuid.UUID
    application_id: uuid.UUID
    pipeline_id: uuid.UUID
    stage_id: uuid.UUID
    stage_name: str
    job_id: uuid.UUID
    attempt: int
    name: str
    content_type: str
    size: int
    sha256: str
    storage_key: str
    created_at: dt.datetime


_COLUMNS = """
a.id, a.application_id, a.pipeline_id, a.stage_id, s.name AS stage_name, a.job_id, a.attempt,
a.name, a.content_type, a.size, a.sha256, a.storage_key, a.created_at
"""

# The stage a running job is for; the upload goes under its ids.
_RUNNING_JOB = """
SELECT id AS stage_id, pipeline_id, attempt FROM stages
WHERE job_id = $1 AND application_id = $2 AND status = 'running'
"""

_FIND = f"""
SELECT {_COLUMNS} FROM artifacts a JOIN stages s ON s.id = a.stage_id
WHERE a.job_id = $1 AND a.name = $2
"""

# Recorded only while the job still runs: a file that arrives after the result was accepted
# (or the lease was lost) belongs to no attempt.
_RECORD = f"""
WITH recorded AS (
    INSERT INTO artifacts (id, application_id, pipeline_id, stage_id, job_id, attempt, name,
                           content_type, size, sha256, storage_key)
    SELECT $1, s.application_id, s.pipeline_id, s.id, s.job_id, s.attempt, $3, $4, $5, $6, $7
    FROM stages s WHERE s.job_id = $2 AND s.status = 'running'
    ON CONFLICT (job_id, name) DO NOTHING
    RETURNING *
)
SELECT {_COLUMNS} FROM recorded a JOIN stages s ON s.id = a.stage_id
"""

_BY_ID = f"""
SELECT {_COLUMNS} FROM artifacts a JOIN stages s ON s.id = a.stage_id WHERE a.id = $1
"""

_OF_PIPELINE = f"""
SELECT {_COLUMNS} FROM artifacts a JOIN stages s ON s.id = a.stage_id
WHERE a.pipeline_id = $1 ORDER BY s.position, a.attempt, a.created_at
"""


@dataclass(frozen=True)
class Upload:
    """Where a running job's file goes."""

    artifact_id: uuid.UUID
    storage_key: str


async def start_upload(pool: asyncpg.Pool, application_id: uuid.UUID, job_id: uuid.UUID) -> Upload:
    """409 ``job_not_running`` unless the job is its stage's current, running one."""
    row = await pool.fetchrow(_RUNNING_JOB, job_id, application_id)
    if row is None:
        raise Conflict(
            "job_not_running", f"job {job_id} is not running; attach files while it runs"
        )
    artifact_id = uuid.uuid4()
    key = f"{application_id}/{row['pipeline_id']}/{row['stage_id']}/{artifact_id}"
    return Upload(artifact_id, key)


async def record_artifact(
    pool: asyncpg.Pool,
    upload: Upload,
    job_id: uuid.UUID,
    name: str,
    content_type: str,
    size: int,
    sha256: str,
) -> tuple[Artifact, bool]:
    """The artifact, and whether this upload made it (False: the same file was already
    there under the name, and this copy is not needed)."""
    row = await pool.fetchrow(
        _RECORD, upload.artifact_id, job_id, name, content_type, size, sha256, upload.storage_key
    )
    if row is not None:
        return Artifact(**dict(row)), True
    existing = await pool.fetchrow(_FIND, job_id, name)
    if existing is None:
        raise Conflict("job_not_running", f"job {job_id} stopped running during the upload")
    if existing["sha256"] != sha256:
        raise Conflict("artifact_exists", f"the job already attached another file named {name!r}")
    return Artifact(**dict(existing)), False


async def read_artifact(pool: asyncpg.Pool, artifact_id: uuid.UUID) -> Artifact | None:
    row = await pool.fetchrow(_BY_ID, artifact_id)
    return None if row is None else Artifact(**dict(row))


async def pipeline_artifacts(pool: asyncpg.Pool, pipeline_id: uuid.UUID) -> list[Artifact]:
    return [Artifact(**dict(row)) for row in await pool.fetch(_OF_PIPELINE, pipeline_id)]


# -- signed links --------------------------------------------------------------------------------


def _key(secret: str) -> bytes:
    # A key of its own: a leaked link key is no session-signing key, and the other way round.
    return hashlib.sha256(b"pipelogiq artifact links\0" + secret.encode()).digest()


def sign(secret: str, artifact_id: uuid.UUID, expires: int) -> str:
    message = f"{artifact_id}:{expires}".encode()
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def link(secret: str, artifact_id: uuid.UUID, seconds: int) -> tuple[str, int]:
    """The path of a download link valid for ``seconds``, and when it expires (Unix time)."""
    expires = int(time.time()) + seconds
    signature = sign(secret, artifact_id, expires)
    return f"/api/downloads/{artifact_id}?expires={expires}&signature={signature}", expires


def check_link(secret: str, artifact_id: uuid.UUID, expires: int, signature: str) -> None:
    """403 ``invalid_link`` for a link changed in any part, ``link_expired`` past its time."""
    # As bytes: compare_digest refuses text that is not ASCII, and a link may hold anything.
    expected = sign(secret, artifact_id, expires).encode()
    if not hmac.compare_digest(expected, signature.encode(errors="replace")):
        raise Forbidden("invalid_link", "this download link is not valid")
    if time.time() > expires:
        raise Forbidden("link_expired", "this download link has expired; ask for a new one")
