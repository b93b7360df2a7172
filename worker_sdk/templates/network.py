"""Outbound HTTP for the templates, kept away from the worker's own network.

A template fetches what its input names, and an input comes from whoever may submit or rerun
a stage. A worker usually sits where a stranger's request must not go: beside the control
plane's metrics, a database's admin port, the cloud's metadata service. So before connecting,
the host is resolved here and refused (``address_not_allowed``, for good) if any address it
resolves to is loopback, link-local (which holds the metadata services, 169.254.169.254 and
fd00:ec2::254), private, shared (CGNAT), unspecified, multicast or reserved, or one of those
inside an IPv4-mapped, 6to4 or NAT64 IPv6 address. ``PIPELOGIQ_HTTP_ALLOW`` (or
:func:`allow`) lets some through: comma-separated host names, addresses and CIDR blocks.

The connection then goes to the address that was checked: the URL's host is replaced by it,
and the name is still sent where the server looks for it (the Host header, and TLS's SNI and
certificate check, through httpcore's ``sni_hostname``). httpx never resolves the name again,
so a DNS answer that changes between the check and the connection (DNS rebinding) cannot slip
a private address in. Redirects are followed here, each hop checked the same way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import os
import socket
import ssl
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from worker_sdk.errors import TerminalError

ALLOW_ENV = "PIPELOGIQ_HTTP_ALLOW"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Allowed in code, on top of the environment's list: process-wide, as the templates are.
_allowed_in_code: list[str] = []

# Not "private" to Python's ipaddress, and not global either: carriers' NAT, often internal.
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def allow(*entries: str) -> None:
    """Let the templates reach these hosts (names, addresses or CIDR blocks) even though
    they are loopback, private...: the same as listing them in ``PIPELOGIQ_HTTP_ALLOW``."""
    _rules(entries)  # a bad entry fails here, where it is written
    _allowed_in_code.extend(entries)


def _rules(entries: Iterable[str]) -> tuple[set[str], list[Network]]:
    names: set[str] = set()
    networks: list[Network] = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            if "/" in entry or ":" in entry:
                raise TerminalError(
                    f"{ALLOW_ENV}: {entry!r} is neither a host name nor an address or CIDR block",
                    code="invalid_setting",
                ) from None
            names.add(_name(entry))
    return names, networks


def _name(host: str) -> str:
    return host.lower().rstrip(".")


def refusal(address: IPAddress) -> str | None:
    """What kind of address this is (``"a loopback"``...), if it is one the templates do not
    reach; else None."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address carried in an IPv6 one reaches that IPv4 address: judge that one.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return refusal(embedded)
    for kind, matches in (
        ("a loopback", address.is_loopback),
        ("a link-local", address.is_link_local),
        ("an unspecified", address.is_unspecified),
        ("a multicast", address.is_multicast),
        ("a shared (CGNAT)", address in _SHARED),
        ("a private", address.is_private),
        ("a reserved", address.is_reserved),
        # Whatever else the IANA registries say is not reachable on the internet.
        ("a special-purpose", not address.is_global),
    ):
        if matches:
            return kind
    return None


async def _checked_address(
    url: httpx.URL, timeout_seconds: float, allowed: Iterable[str], setting: str
) -> str:
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    return await checked_address(host, port, timeout_seconds, allowed, setting)


async def checked_address(
    host: str,
    port: int,
    timeout_seconds: float,
    allowed: Iterable[str] = (),
    setting: str = ALLOW_ENV,
) -> str:
    """The address to connect to for ``host``: every address it resolves to is checked
    (``address_not_allowed`` unless allowed), and the first is the one to use. ``setting``
    is the one a refusal names: where the caller's allow-list comes from."""
    names, networks = _rules(
        [*os.environ.get(ALLOW_ENV, "").split(","), *_allowed_in_code, *allowed]
    )
    loop = asyncio.get_running_loop()
    try:
        # getaddrinfo also reads the odd spellings of IPv4 (2130706433, 0x7f.1, 127.1) as the
        # address they stand for, so those are judged by what they reach.
        found = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout_seconds
        )
    except (OSError, TimeoutError) as error:
        raise httpx.ConnectError(f"cannot resolve {host}: {error}") from error
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in found))
    if _name(host) not in names:
        for address in addresses:
            kind = refusal(address)
            if kind is not None and not any(address in network for network in networks):
                named = host if host == str(address) else f"{host} ({address})"
                raise TerminalError(
                    f"{named} is {kind} address, which is not reached unless {setting} allows it",
                    code="address_not_allowed",
                )
    return str(addresses[0])


# Built once per trust setting: building one reads the whole CA bundle, 40-70 ms of CPU that
# each request would otherwise spend on the event loop (everything else waits meanwhile).
_tls_contexts: dict[tuple[str | None, str | None], ssl.SSLContext] = {}


async def tls_context() -> ssl.SSLContext:
    """The context a client verifies servers with: httpx's default (certifi's CAs, or the
    ones ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` name), built off the event loop, then shared."""
    trust = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    context = _tls_contexts.get(trust)
    if context is None:
        context = _tls_contexts[trust] = await asyncio.to_thread(httpx.create_ssl_context)
    return context


@asynccontextmanager
async def send(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    json: Any = None,
    content: str | bytes | None = None,
    timeout_seconds: float,
    max_redirects: int = 0,
    allowed: Iterable[str] = (),
    setting: str = ALLOW_ENV,
) -> AsyncIterator[httpx.Response]:
    """Send a request to a checked, pinned address and yield the streamed answer: after up to
    ``max_redirects`` redirects, each checked the same way (with 0, a redirect is the answer).
    ``allowed`` adds to the allow-list (the control plane's own setting, for its alerts),
    ``setting`` names where it comes from in a refusal.
    httpx's own errors (``httpx.TransportError``) are the caller's to handle."""
    target = _url(url, "invalid_input")
    sent = httpx.Headers(headers)
    async with httpx.AsyncClient(
        timeout=timeout_seconds, follow_redirects=False, verify=await tls_context()
    ) as client:
        for hop in itertools.count():
            request_headers = httpx.Headers(sent)
            request_headers["Host"] = target.netloc.decode("ascii")
            request = client.build_request(
                method,
                target.copy_with(
                    host=await _checked_address(target, timeout_seconds, allowed, setting)
                ),
                headers=request_headers,
                json=json,
                content=content,
                extensions={"sni_hostname": target.raw_host.decode("ascii")},
            )
            response = await client.send(request, stream=True)
            if not response.is_redirect or max_redirects == 0:
                try:
                    yield response
                finally:
                    await response.aclose()
                return
            await response.aclose()
            if hop == max_redirects:
                raise TerminalError(
                    f"{url}: more than {max_redirects} redirects", code="too_many_redirects"
                )
            following = _url(str(target.join(response.headers["location"])), "invalid_redirect")
            # As browsers (and httpx) do: a 303, or a 301/302 after anything but HEAD, is
            # followed by a GET without the body; credentials stay with their origin.
            if response.status_code == 303 or (
                response.status_code in (301, 302) and method != "HEAD"
            ):
                method, json, content = "GET", None, None
            if (following.scheme, following.netloc) != (target.scheme, target.netloc):
                sent.pop("Authorization", None)
            target = following


def _url(url: str, code: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise TerminalError(f"{url[:200]} is not a URL: {error}", code=code) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise TerminalError(f"{url[:200]} is not an http(s) URL with a host", code=code)
    return parsed
