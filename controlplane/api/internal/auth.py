"""/api/auth: log in, refresh the session, log out, who am I."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from controlplane.api.clients import client_address
from controlplane.api.internal.schemas import LoginRequest, SessionView, UserView
from controlplane.api.internal.session import (
    REFRESH_COOKIE,
    actor_of,
    clear_session_cookies,
    current_user,
    new_csrf_token,
    same_origin,
    session_cookies,
)
from controlplane.engine.access.accounts import (
    Session,
    User,
    log_in,
    open_session,
    refresh_session,
    revoke_session,
)
from controlplane.errors import Unauthorized
from controlplane.services import Services


def _view(user: User) -> UserView:
    return UserView(user.id, user.email, user.name, user.role)


def _session_response(
    request: Request[Any, Any, Any], services: Services, user: User, session: Session
) -> Response[SessionView]:
    csrf = new_csrf_token()
    view = SessionView(_view(user), csrf, services.settings.access_token_seconds)
    cookies = session_cookies(request, services, user, session, csrf)
    return Response(view, status_code=200, cookies=cookies)


class AuthController(Controller):
    """Open to anyone: these are how a session begins and goes on."""

    path = "/auth"
    tags = ["auth"]
    guards = [same_origin]
    # Before anyone is known, a body is an e-mail and a password: no stranger's megabytes are
    # read and scanned.
    request_max_body_size = 16 * 1024

    @post(
        "/login", summary="Log in; sets the session cookies", opt={"errors": [401]}, status_code=200
    )
    async def login(
        self,
        data: JSONBody[LoginRequest],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> Response[SessionView]:
        client = client_address(request)
        user = await log_in(services.pool, data.email, data.password, client)
        session = await open_session(
            services.pool,
            user,
            services.settings.session_days,
            client,
            request.headers.get("user-agent", ""),
        )
        return _session_response(request, services, user, session)

    @post(
        "/refresh",
        summary="A new access token for the session (the refresh cookie)",
        opt={"errors": [401]},
        status_code=200,
    )
    async def refresh(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services]
    ) -> Response[SessionView]:
        token = request.cookies.get(REFRESH_COOKIE)
        if not token:
            raise Unauthorized("session_expired", "log in again")
        user, session = await refresh_session(services.pool, token)
        return _session_response(request, services, user, session)


class SessionController(Controller):
    """For a logged-in user (the router's guards see to that)."""

    path = "/auth"
    tags = ["auth"]

    @get("/me", summary="The logged-in user")
    async def me(self, request: Request[Any, Any, Any]) -> UserView:
        return _view(current_user(request))

    @post("/logout", status_code=204, summary="Log out: the session ends everywhere at once")
    async def logout(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services]
    ) -> Response[None]:
        await revoke_session(services.pool, request.state.session_id, actor_of(request))
        response: Response[None] = Response(content=None, status_code=204)
        clear_session_cookies(response)
        return response
