"""/api/auth: log in, refresh the session, log out, who am I; one's password and sessions."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from controlplane.api.clients import client_address
from controlplane.api.internal.schemas import (
    LiveSessionPage,
    LiveSessionView,
    LoginRequest,
    PasswordChange,
    PasswordChanged,
    PasswordReset,
    PasswordResetDone,
    SessionView,
    UserView,
)
from controlplane.api.internal.session import (
    BEFORE_OWN_PASSWORD,
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
    change_password,
    list_sessions,
    log_in,
    open_session,
    refresh_session,
    revoke_own_session,
    revoke_session,
    use_password_reset,
)
from controlplane.errors import Unauthorized
from controlplane.services import Services


def _view(user: User) -> UserView:
    return UserView(user.id, user.email, user.name, user.role, user.must_change_password)


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

    @post(
        "/password-reset",
        summary="Set a new password with an admin's one-time link; every session of the user ends",
        status_code=200,
    )
    async def password_reset(
        self,
        data: JSONBody[PasswordReset],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> PasswordResetDone:
        email = await use_password_reset(
            services.pool,
            data.token,
            data.new_password,
            client_address(request),
            request.headers.get("user-agent"),
        )
        return PasswordResetDone(email)


class SessionController(Controller):
    """For a logged-in user (the router's guards see to that)."""

    path = "/auth"
    tags = ["auth"]

    # Who one is, logging out, and one's password and sessions work before one has chosen
    # one's own password; nothing else does (403 password_change_required).
    opt = {BEFORE_OWN_PASSWORD: True}

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

    @post(
        "/password",
        summary="Change one's password; every other session of the user ends",
        opt={"errors": [403, 429]},  # wrong_password; password_throttled
        status_code=200,
    )
    async def password(
        self,
        data: JSONBody[PasswordChange],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> PasswordChanged:
        ended = await change_password(
            services.pool,
            current_user(request).id,
            request.state.session_id,
            data.current_password,
            data.new_password,
            actor_of(request),
        )
        return PasswordChanged(ended)

    @get("/sessions", summary="One's live sessions, the one used last first")
    async def sessions(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services]
    ) -> LiveSessionPage:
        here = request.state.session_id
        found = await list_sessions(services.pool, current_user(request).id)
        return LiveSessionPage(
            [
                LiveSessionView(
                    s.id,
                    s.created_at,
                    s.refreshed_at,
                    s.expires_at,
                    s.client,
                    s.user_agent,
                    current=s.id == here,
                )
                for s in found
            ]
        )

    @delete(
        "/sessions/{session_id:uuid}",
        status_code=204,
        summary="End one of one's sessions (this one: a logout)",
        opt={"errors": [404]},  # session_not_found
    )
    async def revoke(
        self,
        session_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> Response[None]:
        await revoke_own_session(
            services.pool, current_user(request).id, session_id, actor_of(request)
        )
        response: Response[None] = Response(content=None, status_code=204)
        if session_id == request.state.session_id:
            clear_session_cookies(response)
        return response
