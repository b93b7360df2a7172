"""Trying a database connection from the control plane: "test connection" and "list tables".

The control plane connects only where its settings allow: a host that resolves to a
loopback, private, link-local or otherwise internal address is refused unless
``PIPELOGIQ_CONNECTIONS_ALLOW`` lists it (CIDRs), so that a connection cannot be pointed at
the control plane's own database, or anything else inside its network, by whoever may create
one. It connects to the address it checked, not to the name again (which could resolve
elsewhere the second time); with ``sslmode=verify-full`` it connects by name, and the
server must then prove that name with its certificate. The password is never put in an
error or a log line.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg

from controlplane.engine.sources.connections import Opened
from controlplane.errors import Conflict, InvalidRequest

T = TypeVar("T")
_TIMEOUT_SECONDS = 5.0
_MAX_TABLES = 1000

_TABLES = """
SELECT n.nspname AS schema, c.relname AS name,
       CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                      ELSE 'table' END AS kind,
       greatest(c.reltuples, 0)::bigint AS estimated_rows
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  AND has_table_privilege(c.oid, 'SELECT')
ORDER BY 1, 2
LIMIT $1
"""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Everything a connection to somebody else's server can raise; none of it is ours.
_THEIRS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    ssl.SSLError,
    ValueError,  # asyncpg's client configuration errors (a verify-full without a CA file)
)


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

    async def version(db: asyncpg.Connection) -> str:
        return str(await db.fetchval("SHOW server_version"))

    found = await _with_connection(opened, allowed, version)
    return Checked(found, round((time.perf_counter() - started) * 1000, 1))


async def tables(opened: Opened, allowed: tuple[Network, ...]) -> list[Table]:
    async def listed(db: asyncpg.Connection) -> list[Table]:
        return [Table(**dict(row)) for row in await db.fetch(_TABLES, _MAX_TABLES)]

    return await _with_connection(opened, allowed, listed)


async def _with_connection(
    opened: Opened, allowed: tuple[Network, ...], work: Callable[[asyncpg.Connection], Awaitable[T]]
) -> T:
    c = opened.connection
    address = await _checked_address(c.host, allowed)
    # verify-full checks the certificate against the name: connecting by it is safe then.
    host = c.host if c.sslmode == "verify-full" else address
    password = opened.password or ""  # never the environment's PGPASSWORD or a .pgpass
    db: asyncpg.Connection | None = None
    try:
        db = await asyncpg.connect(
            host=host,
            port=c.port,
            user=c.username,
            password=password,
            database=c.database,
            ssl=False if c.sslmode == "disable" else c.sslmode,
            timeout=_TIMEOUT_SECONDS,
            command_timeout=_TIMEOUT_SECONDS,
        )
        return await work(db)
    except _THEIRS as error:
        raise Conflict(
            "connection_failed",
            f"{c.host}:{c.port}/{c.database} as {c.username}: {_said(error, password)}",
        ) from None
    finally:
        if db is not None:
            db.terminate()


def _said(error: BaseException, password: str) -> str:
    """What went wrong, without the password, should any message hold it."""
    text = str(error).split("\n")[0] or type(error).__name__
    return text.replace(password, "(password)") if password else text


async def _checked_address(host: str, allowed: tuple[Network, ...]) -> str:
    """The address to connect to: every address the host resolves to must be public, or
    allowed; the first is used."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise Conflict("connection_failed", f"cannot resolve {host}: {error}") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        internal = not address.is_global or address.is_multicast or _translated(address)
        if internal and not any(address in network for network in allowed):
            raise InvalidRequest(
                "address_not_allowed",
                f"{host} is {address}, an internal address: list it in "
                "PIPELOGIQ_CONNECTIONS_ALLOW to let the control plane connect there",
            )
    return str(addresses[0])


def _translated(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """IPv6 addresses that reach IPv4 ones (NAT64, 6to4), which Python calls global."""
    if not isinstance(address, ipaddress.IPv6Address):
        return False
    return address in ipaddress.ip_network("64:ff9b::/96") or address.sixtofour is not None
