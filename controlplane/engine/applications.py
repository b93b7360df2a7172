"""Applications and their API keys; authenticating a key."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

import asyncpg

from controlplane.errors import Conflict, InvalidRequest

KEY_PREFIX = "plq_"


@dataclass(frozen=True)
class Application:
    id: uuid.UUID
    name: str


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


_CREATE_APPLICATION = "INSERT INTO applications (name) VALUES ($1) RETURNING id"
_CREATE_KEY = """
INSERT INTO api_keys (application_id, prefix, key_hash, name) VALUES ($1, $2, $3, $4)
"""


async def create_application(pool: asyncpg.Pool, name: str) -> tuple[Application, str]:
    """Create an application with a first API key; the key is returned once, never stored."""
    key = new_api_key()
    try:
        async with pool.acquire() as connection, connection.transaction():
            application_id = await connection.fetchval(_CREATE_APPLICATION, name)
            await connection.execute(
                _CREATE_KEY, application_id, key[:12], hash_api_key(key), "initial"
            )
    except asyncpg.UniqueViolationError:
        raise Conflict("application_exists", f"an application named {name!r} exists") from None
    except asyncpg.CheckViolationError:
        raise InvalidRequest(
            "invalid_application_name",
            "an application name is 1-63 characters of a-z, 0-9, _ and -, "
            "starting with a letter or digit",
        ) from None
    return Application(application_id, name), key


_AUTHENTICATE = """
SELECT a.id, a.name FROM api_keys k JOIN applications a ON a.id = k.application_id
WHERE k.key_hash = $1 AND k.revoked_at IS NULL
"""


class KeyCache:
    """Remembers verified keys briefly, so a busy worker's requests skip the lookup.

    A revoked key keeps working for at most ``ttl_seconds`` on processes that saw it.
    Unknown keys are not cached, so a key works as soon as it is created.
    """

    def __init__(self, pool: asyncpg.Pool, ttl_seconds: float = 10.0) -> None:
        self._pool = pool
        self._ttl = ttl_seconds
        self._known: dict[bytes, tuple[float, Application]] = {}

    async def authenticate(self, key: str) -> Application | None:
        digest = hash_api_key(key)
        now = time.monotonic()
        cached = self._known.get(digest)
        if cached and cached[0] > now:
            return cached[1]
        row = await self._pool.fetchrow(_AUTHENTICATE, digest)
        if row is None:
            self._known.pop(digest, None)
            return None
        application = Application(row["id"], row["name"])
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[digest] = (now + self._ttl, application)
        return application
