"""API-key authentication for the external API.

A guard, so that a request without a valid key is refused before its body is read.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from controlplane.engine.access.applications import Application, hash_api_key
from controlplane.errors import Forbidden, Unauthorized
from controlplane.services import Services


def _presented_key(request: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


async def authenticate(
    request: ASGIConnection[Any, Any, Any, Any], route_handler: BaseRouteHandler
) -> None:
    services: Services = request.app.state.services
    key = _presented_key(request)
    if key is None:
        raise Unauthorized("missing_api_key", "send the API key in X-API-Key or as a Bearer token")
    holder = await services.keys.authenticate(key)
    if holder is None:
        raise Unauthorized("invalid_api_key", "the API key is not valid, or revoked or expired")
    request.state.key = hash_api_key(key)
    request.app.state.limits.check_caller(request.state.key)
    scope = route_handler.opt.get("scope")
    if scope is not None and scope not in holder.scopes:
        raise Forbidden("insufficient_scope", f"this API key lacks the scope {scope!r}")
    request.state.application = holder.application


def application_of(request: Request[Any, Any, Any]) -> Application:
    """The application whose key the request came with (see :func:`authenticate`)."""
    application: Application = request.state.application
    return application
