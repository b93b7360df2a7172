"""Named database connections of an application: stored with the password sealed, read back
without it, and opened only for a running ingest job that names one."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Literal

import asyncpg
from msgspec import UNSET, UnsetType

from controlplane.engine.access.audit import Actor, record
from controlplane.errors import Conflict, InvalidRequest, NotFound
from controlplane.sealing import Sealer, Unsealable

Kind = Literal["postgresql"]
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
NAME_RULE = "letters, digits and _ . - (up to 100), starting with a letter or digit"
SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

_COLUMNS = """c.id, c.application_id, a.name AS application_name, c.name, c.kind, c.host,
c.port, c.database, c.username, c.sslmode, c.sealed_password IS NOT NULL AS has_password,
c.created_at, c.updated_at"""

# $1 member (None: every application), $2 application.
_LIST = f"""
SELECT {_COLUMNS} FROM connections c JOIN applications a ON a.id = c.application_id
WHERE ($1::uuid IS NULL OR c.application_id IN (
          SELECT m.application_id FROM memberships m WHERE m.user_id = $1))
  AND ($2::uuid IS NULL OR c.application_id = $2)
ORDER BY a.name, c.name
LIMIT 1000
"""

_GET = f"""
SELECT {_COLUMNS} FROM connections c JOIN applications a ON a.id = c.application_id
WHERE c.id = $1
"""

# A name taken in the application inserts nothing.
_INSERT = """
INSERT INTO connections (id, application_id, name, kind, host, port, database, username,
                         sslmode, sealed_password)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (application_id, name) DO NOTHING
RETURNING id
"""

# $10: whether the password changes (to $9, sealed or NULL).
_UPDATE = """
UPDATE connections SET host = $2, port = $3, database = $4, username = $5, sslmode = $6,
       sealed_password = CASE WHEN $8 THEN $7 ELSE sealed_password END, updated_at = now()
WHERE id = $1
RETURNING id
"""

_DELETE = "DELETE FROM connections WHERE id = $1 RETURNING id"

_SEALED = "SELECT sealed_password FROM connections WHERE id = $1"

# The connection a running job of the application may open: its stage's input names it.
_FOR_JOB = """
SELECT c.id FROM stages s
JOIN connections c ON c.application_id = s.application_id AND c.name = $3
WHERE s.job_id = $1 AND s.application_id = $2 AND s.status = 'running'
  AND jsonb_typeof(s.input) = 'object' AND s.input ->> 'connection' = $3
"""


@dataclass(frozen=True)
class Connection:
    id: uuid.UUID
    application_id: uuid.UUID
    application_name: str
    name: str
    kind: str
    host: str
    port: int
    database: str
    username: str
    sslmode: str
    # Whether a password is stored (it is never read back).
    has_password: bool
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class Target:
    """Where a connection goes, as given."""

    host: str
    port: int
    database: str
    username: str
    sslmode: str = "prefer"


@dataclass(frozen=True)
class Opened:
    """A connection with its password, for this process to connect or a job to use."""

    connection: Connection
    password: str | None


async def list_connections(
    pool: asyncpg.Pool, *, member: uuid.UUID | None, application_id: uuid.UUID | None
) -> list[Connection]:
    return [Connection(**dict(row)) for row in await pool.fetch(_LIST, member, application_id)]


async def get_connection(pool: asyncpg.Pool, connection_id: uuid.UUID) -> Connection:
    row = await pool.fetchrow(_GET, connection_id)
    if row is None:
        raise NotFound("connection_not_found", f"no connection {connection_id}")
    return Connection(**dict(row))


async def create_connection(
    pool: asyncpg.Pool,
    sealer: Sealer,
    actor: Actor,
    application_id: uuid.UUID,
    name: str,
    kind: Kind,
    target: Target,
    password: str | None,
) -> Connection:
    if not NAME.fullmatch(name):  # the API's pattern lets a final line break through
        raise InvalidRequest("invalid_name", f"a connection's name: {NAME_RULE}")
    connection_id = uuid.uuid4()
    sealed = sealer.seal(password, connection_id.bytes) if password is not None else None
    async with pool.acquire() as db, db.transaction():
        created = await db.fetchval(
            _INSERT,
            connection_id,
            application_id,
            name,
            kind,
            target.host,
            target.port,
            target.database,
            target.username,
            target.sslmode,
            sealed,
        )
        if created is None:
            raise Conflict("connection_exists", f"the application has a connection {name!r}")
        await record(db, actor, "connection.created", "connection", created, _details(target))
    return await get_connection(pool, connection_id)


async def change_connection(
    pool: asyncpg.Pool,
    sealer: Sealer,
    actor: Actor,
    connection: Connection,
    target: Target,
    password: str | UnsetType | None = UNSET,
) -> Connection:
    """Change where it goes; the password too unless left unset (None removes it). Sending
    the stored password somewhere else needs it given again: whoever may change a connection
    may not otherwise learn its password by pointing it at a server of theirs."""
    moved = (target.host, target.port, target.username, target.sslmode) != (
        connection.host,
        connection.port,
        connection.username,
        connection.sslmode,
    )
    if moved and password is UNSET and connection.has_password:
        raise InvalidRequest(
            "password_required",
            "give the password again (or null) to change the host, port, user or TLS mode",
        )
    changes = password is not UNSET
    sealed = sealer.seal(password, connection.id.bytes) if isinstance(password, str) else None
    async with pool.acquire() as db, db.transaction():
        changed = await db.fetchval(
            _UPDATE,
            connection.id,
            target.host,
            target.port,
            target.database,
            target.username,
            target.sslmode,
            sealed,
            changes,
        )
        if changed is None:
            raise NotFound("connection_not_found", f"no connection {connection.id}")
        details = {**_details(target), "passwordChanged": changes}
        await record(db, actor, "connection.changed", "connection", changed, details)
    return await get_connection(pool, connection.id)


async def delete_connection(pool: asyncpg.Pool, actor: Actor, connection: Connection) -> None:
    async with pool.acquire() as db, db.transaction():
        if await db.fetchval(_DELETE, connection.id) is None:
            raise NotFound("connection_not_found", f"no connection {connection.id}")
        await record(db, actor, "connection.deleted", "connection", connection.id, {})


async def opened(pool: asyncpg.Pool, sealer: Sealer, connection: Connection) -> Opened:
    sealed = await pool.fetchval(_SEALED, connection.id)
    if sealed is None:
        return Opened(connection, None)
    try:
        return Opened(connection, sealer.open(bytes(sealed), connection.id.bytes))
    except Unsealable:
        raise Conflict(
            "connection_unreadable",
            f"the password of {connection.name} does not open under this control plane's "
            "key (PIPELOGIQ_CONNECTION_KEY changed?): set it again",
        ) from None


async def opened_for_job(
    pool: asyncpg.Pool, sealer: Sealer, application_id: uuid.UUID, job_id: uuid.UUID, name: str
) -> Opened:
    """The connection ``name`` with its password, for the running job whose input names it;
    a 404 for anything else (another job, one that ended, another application's)."""
    connection_id = await pool.fetchval(_FOR_JOB, job_id, application_id, name)
    if connection_id is None:
        raise NotFound(
            "connection_not_found",
            f"no connection {name!r} for job {job_id} (it must be running, and its input "
            "must name the connection)",
        )
    return await opened(pool, sealer, await get_connection(pool, connection_id))


def _details(target: Target) -> dict[str, object]:
    # Never the password.
    return {
        "host": target.host,
        "port": target.port,
        "database": target.database,
        "username": target.username,
        "sslmode": target.sslmode,
    }
