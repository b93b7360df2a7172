"""Trying a database connection from the control plane: "test connection" and "list tables".

The control plane connects only where its settings allow: a host that resolves to a
loopback, private, link-local or otherwise internal address is refused unless
``PIPELOGIQ_CONNECTIONS_ALLOW`` lists it (CIDRs), so that a connection cannot be pointed at
the control plane's own database, or anything else inside its network, by whoever may create
one. The password is never put in an error or a log line.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass

import asyncpg

from controlplane.engine.sources.connections import Opened
from controlplane.errors import Conflict, InvalidRequest

_TIMEOUT_SECONDS = 5.0
_MAX_TABLES = 1000

_TABLES = """
SELECT n.nspname AS schema, c.relname AS name,
       CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                      WHEN 'p' THEN 'table' ELSE 'table' END AS kind,
       greatest(c.reltuples, 0)::bigint AS estimated_rows
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  AND has_table_privilege(c.oid, 'SELECT')
ORDER BY 1, 2
LIMIT $1
"""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allowed(networks: tuple[str, ...]) -> tuple[Network, ...]:
    """``PIPELOGIQ_CONNECTIONS_ALLOW``, as the settings read it."""
    return tuple(ipaddress.ip_network(network) for network in networks)


@dataclass(frozen=True)
class Checked:
    server_version: str
    latency_ms: float


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    kind: str
    # PostgreSQL's estimate (0 for a view, or a table never analyzed).
    estimated_rows: int


async def check(opened: Opened, allowed: tuple[Network, ...]) -> Checked:
    started = time.perf_counter()
    async with _connected(opened, allowed) as db:
        version = await db.fetchval("SHOW server_version")
    return Checked(str(version), round((time.perf_counter() - started) * 1000, 1))


async def tables(opened: Opened, allowed: tuple[Network, ...]) -> list[Table]:
    async with _connected(opened, allowed) as db:
        rows = await db.fetch(_TABLES, _MAX_TABLES)
    return [Table(**dict(row)) for row in rows]


class _connected:
    def __init__(self, opened: Opened, allowed: tuple[Network, ...]) -> None:
        self._opened, self._allowed = opened, allowed
        self._db: asyncpg.Connection | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        c = self._opened.connection
        await _check_address(c.host, self._allowed)
        try:
            self._db = await asyncpg.connect(
                host=c.host,
                port=c.port,
                user=c.username,
                password=self._opened.password,
                database=c.database,
                ssl=_ssl(c.sslmode),
                timeout=_TIMEOUT_SECONDS,
                command_timeout=_TIMEOUT_SECONDS,
            )
        except (TimeoutError, OSError, asyncpg.PostgresError, ssl.SSLError) as error:
            raise Conflict(
                "connection_failed",
                f"cannot connect to {c.host}:{c.port}/{c.database} as {c.username}: {_said(error)}",
            ) from None
        return self._db

    async def __aexit__(self, *_: object) -> None:
        if self._db is not None:
            await self._db.close(timeout=_TIMEOUT_SECONDS)


def _said(error: BaseException) -> str:
    # What went wrong, never what was sent (a server's message does not hold the password).
    return str(error) or type(error).__name__


def _ssl(mode: str) -> str | bool:
    return False if mode == "disable" else mode


async def _check_address(host: str, allowed: tuple[Network, ...]) -> None:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as error:
        raise Conflict("connection_failed", f"cannot resolve {host}: {error}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        internal = not address.is_global or address.is_multicast
        if internal and not any(address in network for network in allowed):
            raise InvalidRequest(
                "address_not_allowed",
                f"{host} is {address}, an internal address: list it in "
                "PIPELOGIQ_CONNECTIONS_ALLOW to let the control plane connect there",
            )
