"""Applications and their API keys; authenticating a key."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from controlplane.engine.access.audit import CLI, Actor, record
from controlplane.errors import Conflict, InvalidRequest, NotFound

KEY_PREFIX = "plq_"
# What a key may do on the external API: create and cancel pipelines; read them; pull, ack,
# log and make worker calls; save pipeline definitions (drafts, for people to review).
SCOPES = ("submit", "read", "work", "define")


@dataclass(frozen=True)
class Application:
    id: uuid.UUID
    name: str


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


_CREATE_APPLICATION = """
INSERT INTO applications (name, display_name) VALUES ($1, $2)
RETURNING id, name, display_name, created_at
"""
_CREATE_KEY = """
INSERT INTO api_keys (application_id, prefix, key_hash, name, expires_at, scopes, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at
"""


@dataclass(frozen=True)
class ApplicationRecord:
    id: uuid.UUID
    name: str
    display_name: str
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> ApplicationRecord:
        return cls(row["id"], row["name"], row["display_name"] or row["name"], row["created_at"])


@dataclass(frozen=True)
class KeyRecord:
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> KeyRecord:
        return cls(**{field: row[field] for field in cls.__dataclass_fields__})


async def add_application(
    connection: asyncpg.Connection, actor: Actor, name: str, display_name: str | None = None
) -> ApplicationRecord:
    """Create an application, in the caller's transaction."""
    try:
        async with connection.transaction():  # a savepoint: the caller may go on after a 409
            row = await connection.fetchrow(_CREATE_APPLICATION, name, display_name)
            await record(
                connection, actor, "application.created", "application", row["id"], {"name": name}
            )
    except asyncpg.UniqueViolationError:
        raise Conflict("application_exists", f"an application named {name!r} exists") from None
    except asyncpg.CheckViolationError:
        raise InvalidRequest(
            "invalid_application_name",
            "an application name is 1-63 characters of a-z, 0-9, _ and -, "
            "starting with a letter or digit",
        ) from None
    return ApplicationRecord.from_row(row)


async def create_key(
    connection: asyncpg.Connection,
    actor: Actor,
    application_id: uuid.UUID,
    name: str,
    *,
    expires_at: dt.datetime | None = None,
    scopes: Sequence[str] = SCOPES,
) -> tuple[KeyRecord, str]:
    """A new key for the application, in the caller's transaction; the key itself is
    returned once, never stored."""
    key = new_api_key()
    row = await connection.fetchrow(
        _CREATE_KEY,
        application_id,
        key[:12],
        hash_api_key(key),
        name,
        expires_at,
        sorted(set(scopes)),
        actor.user_id,
    )
    details = {"application": str(application_id), "name": name, "scopes": row["scopes"]}
    await record(connection, actor, "key.created", "key", row["id"], details)
    return KeyRecord.from_row(row), key


async def create_application(
    pool: asyncpg.Pool, name: str, actor: Actor = CLI
) -> tuple[Application, str]:
    """Create an application with a first API key (what `pipelogiq create-app` does)."""
    async with pool.acquire() as connection, connection.transaction():
        created = await add_application(connection, actor, name)
        _, key = await create_key(connection, actor, created.id, "initial")
    return Application(created.id, created.name), key


_LIST_APPLICATIONS = """
SELECT id, name, display_name, created_at FROM applications a
WHERE $1 OR EXISTS (SELECT 1 FROM memberships m WHERE m.application_id = a.id AND m.user_id = $2)
ORDER BY name
"""
_RENAME_APPLICATION = """
UPDATE applications SET display_name = $2 WHERE id = $1
RETURNING id, name, display_name, created_at
"""
_LIST_KEYS = """
SELECT id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at
FROM api_keys WHERE application_id = $1 ORDER BY created_at DESC
"""
_REVOKE_KEY = """
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
WHERE id = $2 AND application_id = $1
RETURNING id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at
"""


_VISIBLE_APPLICATION = """
SELECT id, name, display_name, created_at FROM applications a
WHERE a.id = $1 AND ($2 OR EXISTS (
    SELECT 1 FROM memberships m WHERE m.application_id = a.id AND m.user_id = $3))
"""


async def visible_application(
    pool: asyncpg.Pool, application_id: uuid.UUID, *, user_id: uuid.UUID, every: bool
) -> ApplicationRecord | None:
    """The application, if the user sees it (``every``: they see all); else None."""
    row = await pool.fetchrow(_VISIBLE_APPLICATION, application_id, every, user_id)
    return None if row is None else ApplicationRecord.from_row(row)


async def list_applications(
    pool: asyncpg.Pool, *, user_id: uuid.UUID, every: bool
) -> list[ApplicationRecord]:
    """The applications a user sees: all of them (``every``), or those they are a member of."""
    rows = await pool.fetch(_LIST_APPLICATIONS, every, user_id)
    return [ApplicationRecord.from_row(row) for row in rows]


async def rename_application(
    pool: asyncpg.Pool, actor: Actor, application_id: uuid.UUID, display_name: str
) -> ApplicationRecord:
    async with pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(_RENAME_APPLICATION, application_id, display_name)
        if row is None:
            raise NotFound("application_not_found", f"no application {application_id}")
        details = {"displayName": display_name}
        await record(connection, actor, "application.renamed", "application", row["id"], details)
    return ApplicationRecord.from_row(row)


async def list_keys(pool: asyncpg.Pool, application_id: uuid.UUID) -> list[KeyRecord]:
    return [KeyRecord.from_row(row) for row in await pool.fetch(_LIST_KEYS, application_id)]


async def revoke_key(
    pool: asyncpg.Pool, actor: Actor, application_id: uuid.UUID, key_id: uuid.UUID
) -> KeyRecord:
    """Revoke a key (again: no change). API processes that saw it drop it within 10 s."""
    async with pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(_REVOKE_KEY, application_id, key_id)
        if row is None:
            raise NotFound("key_not_found", f"no key {key_id} in this application")
        details = {"application": str(application_id)}
        await record(connection, actor, "key.revoked", "key", key_id, details)
    return KeyRecord.from_row(row)


# Also notes when the key was used, at most once a minute, in the same round trip.
_AUTHENTICATE = """
WITH valid AS (
    SELECT k.id, k.application_id, k.scopes, k.last_used_at FROM api_keys k
    WHERE k.key_hash = $1 AND k.revoked_at IS NULL
      AND (k.expires_at IS NULL OR k.expires_at > now())
),
used AS (
    UPDATE api_keys SET last_used_at = now()
    WHERE id IN (SELECT id FROM valid
                 WHERE last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
)
SELECT a.id, a.name, valid.scopes FROM valid JOIN applications a ON a.id = valid.application_id
"""


@dataclass(frozen=True)
class KeyHolder:
    """Who presented a key: its application, and what the key may do."""

    application: Application
    scopes: frozenset[str]


class KeyCache:
    """Remembers verified keys briefly, so a busy worker's requests skip the lookup.

    A revoked or expired key keeps working for at most ``ttl_seconds`` on processes that saw
    it.
    Unknown keys are not cached, so a key works as soon as it is created.
    """

    def __init__(self, pool: asyncpg.Pool, ttl_seconds: float = 10.0) -> None:
        self._pool = pool
        self._ttl = ttl_seconds
        self._known: dict[bytes, tuple[float, KeyHolder]] = {}

    async def authenticate(self, key: str) -> KeyHolder | None:
        digest = hash_api_key(key)
        now = time.monotonic()
        cached = self._known.get(digest)
        if cached and cached[0] > now:
            return cached[1]
        row = await self._pool.fetchrow(_AUTHENTICATE, digest)
        if row is None:
            self._known.pop(digest, None)
            return None
        holder = KeyHolder(Application(row["id"], row["name"]), frozenset(row["scopes"]))
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[digest] = (now + self._ttl, holder)
        return holder
