"""Connection pool creation, with JSON columns decoded by msgspec."""

from __future__ import annotations

import asyncpg
import msgspec

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


async def _keep_session(connection: asyncpg.Connection) -> None:
    # asyncpg's default reset runs one more query (RESET ALL, UNLISTEN, CLOSE ALL, unlock)
    # on every release. Nothing here leaves session state on a pooled connection (no SET,
    # LISTEN, cursors or advisory locks; the migrator uses a connection of its own), so that
    # round trip would be pure cost on every request.
    return None


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        # Statements are prepared once per connection and reused; the engine's statements are
        # few and fixed, so the cache stays small.
        statement_cache_size=256,
    )
