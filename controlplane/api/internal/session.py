"""Session cookies, the signed access token, CSRF checks and role guards.

- ``plq_access``: a short-lived JWT (HS256) naming the user and the session; HttpOnly.
- ``plq_refresh``: the session's refresh token, sent only to ``/api/auth``; HttpOnly.
- ``plq_csrf``: a random token the page reads and echoes in ``X-CSRF-Token`` on unsafe
  requests (double submit). Unsafe requests must also come from this origin, by ``Origin``
  or ``Sec-Fetch-Site``, when the browser says where they come from.

All cookies are SameSite=Strict, and Secure when the request came over HTTPS.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import jwt
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.handlers import BaseRouteHandler

from controlplane.api.clients import client_address, forwarded_proto
from controlplane.engine.access.accounts import Role, Session, User, same_secret, session_user
from controlplane.engine.access.applications import ApplicationRecord
from controlplane.engine.access.applications import visible_application as find_visible_application
from controlplane.engine.access.audit import Actor
from controlplane.errors import Forbidden, NotFound, Unauthorized
from controlplane.services import Services

ACCESS_COOKIE = "plq_access"
REFRESH_COOKIE = "plq_refresh"
CSRF_COOKIE = "plq_csrf"
CSRF_HEADER = "x-csrf-token"
REFRESH_PATH = "/api/auth"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ALGORITHM = "HS256"


def services_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Services:
    services: Services = connection.app.state.services
    return services


def _over_https(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    trusted = services_of(connection).settings.trusted_proxies
    return connection.url.scheme == "https" or forwarded_proto(connection.scope, trusted) == "https"


# -- tokens and cookies ----------------------------------------------------------------------


def access_token(services: Services, user: User, session_id: uuid.UUID) -> str:
    now = int(time.time())
    claims = {
        "sub": str(user.id),
        "sid": str(session_id),
        "iat": now,
        "exp": now + services.settings.access_token_seconds,
    }
    return jwt.encode(claims, _secret(services), algorithm=_ALGORITHM)


def _secret(services: Services) -> str:
    secret = services.settings.jwt_secret
    if secret is None:  # the process refuses to start without one; see runtime
        raise RuntimeError("no JWT secret is configured")
    return secret


def session_cookies(
    request: Request[Any, Any, Any],
    services: Services,
    user: User,
    session: Session,
    csrf_token: str,
) -> list[Cookie]:
    settings = services.settings
    common: dict[str, Any] = {
        "secure": settings.secure_cookies or _over_https(request),
        "samesite": "strict",
    }
    return [
        Cookie(
            key=ACCESS_COOKIE,
            value=access_token(services, user, session.id),
            path="/api",
            max_age=settings.access_token_seconds,
            httponly=True,
            **common,
        ),
        Cookie(
            key=REFRESH_COOKIE,
            value=session.refresh_token,
            path=REFRESH_PATH,
            max_age=settings.session_days * 86_400,
            httponly=True,
            **common,
        ),
        # Readable by the page, which echoes it in X-CSRF-Token.
        Cookie(key=CSRF_COOKIE, value=csrf_token, path="/", httponly=False, **common),
    ]


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def clear_session_cookies(response: Response[Any]) -> None:
    response.delete_cookie(ACCESS_COOKIE, path="/api")
    response.delete_cookie(REFRESH_COOKIE, path=REFRESH_PATH)
    response.delete_cookie(CSRF_COOKIE, path="/")


def session_id_of(connection: ASGIConnection[Any, Any, Any, Any]) -> uuid.UUID:
    token = connection.cookies.get(ACCESS_COOKIE)
    if not token:
        raise Unauthorized("not_authenticated", "log in first")
    services = services_of(connection)
    try:
        claims = jwt.decode(
            token, _secret(services), algorithms=[_ALGORITHM], options={"require": ["exp", "sid"]}
        )
        if not isinstance(claims["sid"], str):  # a token of ours names it as text, always
            raise ValueError("sid is not text")
        return uuid.UUID(claims["sid"])
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token_expired", "refresh the session at /api/auth/refresh") from None
    except (jwt.InvalidTokenError, ValueError):
        raise Unauthorized("not_authenticated", "log in first") from None


# -- guards ----------------------------------------------------------------------------------


# Marks the routes a user whose password someone else chose may use before choosing their
# own: who they are, the choice itself, and logging out (``opt={BEFORE_OWN_PASSWORD: True}``).
BEFORE_OWN_PASSWORD = "before_own_password"


async def authenticated(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Every request of a logged-in user: a live session, checked in the database each time,
    so that logging out, revoking or disabling takes effect at once."""
    session_id = session_id_of(connection)
    user = await session_user(services_of(connection).pool, session_id)
    if user is None:
        raise Unauthorized("session_expired", "log in again")
    if user.must_change_password and not handler.opt.get(BEFORE_OWN_PASSWORD):
        raise Forbidden(
            "password_change_required",
            "this password was chosen for you: choose your own at POST /api/auth/password",
        )
    connection.app.state.limits.check_caller(user.id)
    connection.state.user = user
    connection.state.session_id = session_id


def same_origin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Unsafe requests from another site are refused, where the browser tells the origin."""
    if connection.scope.get("method") not in _UNSAFE:
        return
    origin = connection.headers.get("origin")
    if origin is not None:
        host = connection.headers.get("host", "")
        if origin.split("://", 1)[-1] != host:
            raise Forbidden("csrf_failed", f"requests from {origin} are not accepted")
        return
    site = connection.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise Forbidden("csrf_failed", "cross-site requests are not accepted")


def csrf_token_matches(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Unsafe requests echo the CSRF cookie in the X-CSRF-Token header (double submit)."""
    if connection.scope.get("method") not in _UNSAFE:
        return
    cookie = connection.cookies.get(CSRF_COOKIE, "")
    header = connection.headers.get(CSRF_HEADER, "")
    if not cookie or not header or not same_secret(cookie, header):
        raise Forbidden("csrf_failed", "send the plq_csrf cookie's value in X-CSRF-Token")


def requires(
    *roles: Role,
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]:
    """A guard (after ``authenticated``) that lets through only users with one of ``roles``."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user: User = connection.state.user
        if user.role not in roles:
            raise Forbidden("forbidden", f"this needs the {' or '.join(roles)} role")

    return guard


def current_user(request: Request[Any, Any, Any]) -> User:
    user: User = request.state.user
    return user


def member_scope(request: Request[Any, Any, Any]) -> uuid.UUID | None:
    """Whose memberships limit what the logged-in user sees: theirs, or nobody's (None) for
    an admin, who sees every application. Listings take it as their ``member``."""
    user = current_user(request)
    return None if user.role == "admin" else user.id


async def visible_application(
    request: Request[Any, Any, Any], application_id: uuid.UUID | None, not_found: NotFound
) -> ApplicationRecord:
    """The application if the logged-in user sees it; otherwise ``not_found`` is raised, the
    same as for something that does not exist, so that ids cannot be probed."""
    user = current_user(request)
    record = None
    if application_id is not None:
        record = await find_visible_application(
            services_of(request).pool, application_id, user_id=user.id, every=user.role == "admin"
        )
    if record is None:
        raise not_found
    return record


class _Owned(Protocol):
    @property
    def application_id(self) -> uuid.UUID: ...


Owned = TypeVar("Owned", bound=_Owned)


async def visible(
    request: Request[Any, Any, Any], thing: Owned | None, not_found: NotFound
) -> Owned:
    """``thing`` (a policy, an approval...) if the user sees its application; ``not_found``
    if not, or if there is no such thing."""
    await visible_application(request, thing.application_id if thing else None, not_found)
    assert thing is not None
    return thing


async def visible_found(
    request: Request[Any, Any, Any], finding: Awaitable[Owned], not_found: NotFound
) -> Owned:
    """What ``finding`` (an engine read that raises NotFound) finds, if the user sees its
    application; ``not_found`` otherwise, the same answer as for nothing at all."""
    try:
        found = await finding
    except NotFound:
        raise not_found from None
    return await visible(request, found, not_found)


def actor_of(request: Request[Any, Any, Any]) -> Actor:
    """The logged-in user as the audit log names them."""
    user = current_user(request)
    return Actor(user.email, user.id, client_address(request), request.headers.get("user-agent"))
