"""Who sent a request: the client's address, through trusted proxies only.

X-Forwarded-For is believed only when the peer is one of PIPELOGIQ_TRUSTED_PROXIES: anyone
else could write any address there, and dodge the login throttle and the rate limits (or pin
them on someone else). Through trusted proxies, the client is the nearest address in the
header that is not itself a trusted proxy.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from typing import Any

from litestar.connection import ASGIConnection
from litestar.types import Scope


def client_of(scope: Scope, trusted: Sequence[str]) -> str:
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    if not trusted or not _within(peer, trusted):
        return peer
    forwarded = _header(scope, b"x-forwarded-for")
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        if not _within(hop, trusted):
            return hop if _is_address(hop) else peer
    return peer


def forwarded_proto(scope: Scope, trusted: Sequence[str]) -> str | None:
    """The scheme a trusted proxy says the client used, if any."""
    client = scope.get("client")
    if not client or not trusted or not _within(client[0], trusted):
        return None
    return _header(scope, b"x-forwarded-proto").split(",")[0].strip() or None


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return client_of(connection.scope, connection.app.state.services.settings.trusted_proxies)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


def _within(address: str, networks: Sequence[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _parsed(tuple(networks)))


@functools.cache
def _parsed(networks: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(network) for network in networks]


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
