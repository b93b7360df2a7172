"""The audit log: each change is recorded in the transaction that makes it."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg


@dataclass(frozen=True)
class Actor:
    """Who makes a change, and from where."""

    name: str  # the user's email, or "cli"
    user_id: uuid.UUID | None = None
    client: str | None = None
    user_agent: str | None = None


CLI = Actor("cli")

_RECORD = """
INSERT INTO audit_log (actor_id, actor, client, user_agent, action, target_type, target_id,
                       details)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""


async def record(
    connection: asyncpg.Connection,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: object,
    details: dict[str, Any] | None = None,
) -> None:
    await connection.execute(
        _RECORD,
        actor.user_id,
        actor.name,
        actor.client,
        (actor.user_agent or "")[:500] or None,
        action,
        target_type,
        None if target_id is None else str(target_id),
        details or {},
    )


async def record_many(
    connection: asyncpg.Connection,
    actor: Actor,
    entries: list[tuple[str, str, object, dict[str, Any]]],
) -> None:
    """Several entries by one actor: ``(action, target_type, target_id, details)`` each."""
    who = (actor.user_id, actor.name, actor.client, (actor.user_agent or "")[:500] or None)
    await connection.executemany(
        _RECORD,
        [(*who, action, kind, str(target), details) for action, kind, target, details in entries],
    )


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: dt.datetime
    actor: str
    actor_id: uuid.UUID | None
    client: str | None
    action: str
    target_type: str
    target_id: str | None
    details: dict[str, Any]


_PAGE = """
SELECT id, at, actor, actor_id, client, action, target_type, target_id, details FROM audit_log
WHERE $1::bigint IS NULL OR id < $1
ORDER BY id DESC LIMIT $2
"""


async def read_page(pool: asyncpg.Pool, before: int | None, limit: int) -> list[AuditEntry]:
    """The newest entries older than ``before`` (an entry id), newest first."""
    return [AuditEntry(**dict(row)) for row in await pool.fetch(_PAGE, before, limit)]


_TRAIL = """
SELECT id, at, actor, actor_id, client, action, target_type, target_id, details FROM audit_log
WHERE target_type = $1 AND target_id = $2
ORDER BY id DESC LIMIT $3
"""


async def read_trail(
    pool: asyncpg.Pool, target_type: str, target_id: object, limit: int = 100
) -> list[AuditEntry]:
    """The newest entries about one thing (a policy, say), newest first."""
    rows = await pool.fetch(_TRAIL, target_type, str(target_id), limit)
    return [AuditEntry(**dict(row)) for row in rows]
