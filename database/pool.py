"""Connection pool creation, with JSON columns decoded by msgspec."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import asyncpg
import msgspec

T = TypeVar("T")

_encode = msgspec.json.encode
_decode = msgspec.json.decode


async def _init_connection(connection: asyncpg.Connection) -> None:
    # Values arrive already as Python objects; encoding them to JSON text here keeps every
    # query free of json.dumps calls, and msgspec is several times faster than the stdlib.
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(
            type_name,
            encoder=lambda value: _encode(value).decode(),
            decoder=_decode,
            schema="pg_catalog",
        )


def json_text(value: Any) -> str:
    """A JSON value as text (None becomes JSON null)."""
    return _encode(value).decode()


def json_texts(values: Iterable[Any]) -> list[str]:
    """JSON values as text, for an array parameter cast with ``::jsonb`` in SQL.

    asyncpg reads a list inside an array parameter as a nested array, so JSON values cannot
    go in as ``jsonb[]``: an input such as ``[1, 2]`` would be refused, or mixed up with the
    array's dimensions. None becomes JSON null, not SQL NULL.
    """
    return [_encode(value).decode() for value in values]


async def _keep_session(connection: asyncpg.Connection) -> None:
    # asyncpg's default reset runs one more query (RESET ALL, UNLISTEN, CLOSE ALL, unlock)
    # on every release. Nothing here leaves session state on a pooled connection (no SET,
    # LISTEN, cursors or advisory locks; the migrator uses a connection of its own), so that
    # round trip would be pure cost on every request.
    return None


async def create_pool(
    dsn: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    on_connect: Callable[[asyncpg.Connection], None] | None = None,
) -> asyncpg.Pool:
    """A pool whose connections decode JSON with msgspec; ``on_connect`` sees each new one."""

    async def init(connection: asyncpg.Connection) -> None:
        await _init_connection(connection)
        if on_connect is not None:
            on_connect(connection)

    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=init,
        reset=_keep_session,
        # Statements are prepared once per connection and reused; the engine's statements are
        # few and fixed, so the cache stays small.
        statement_cache_size=256,
    )


async def retry_on_deadlock(operation: Callable[[], Awaitable[T]], tries: int = 3) -> T:
    """Run a statement or transaction again if PostgreSQL chose it as a deadlock victim.

    The engine's batch statements lock rows in ascending id order, which rules out most
    deadlocks; this covers the rest (a sweep and an ack meeting on the same rows). A victim
    was rolled back whole, so running it again is safe.
    """
    for attempt in range(1, tries + 1):
        try:
            return await operation()
        except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
            if attempt == tries:
                raise
    raise AssertionError("unreachable")


async def fetch_retrying(pool: asyncpg.Pool, query: str, *args: object) -> list[asyncpg.Record]:
    return await retry_on_deadlock(lambda: pool.fetch(query, *args))
