"""/api/users: people, their roles, and the applications they see (admins only)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from controlplane.api.internal.schemas import (
    Memberships,
    ResetLinkView,
    UserChange,
    UserCreate,
    UserDetail,
)
from controlplane.api.internal.session import actor_of, requires
from controlplane.engine.access.accounts import (
    UserRecord,
    change_user,
    create_user,
    get_user,
    issue_password_reset,
    list_users,
    set_memberships,
)
from controlplane.services import Services


def _detail(record: UserRecord) -> UserDetail:
    return UserDetail(
        record.id,
        record.email,
        record.name,
        record.role,
        record.disabled,
        record.application_ids,
        record.must_change_password,
    )


class UserController(Controller):
    path = "/users"
    tags = ["users"]
    guards = [requires("admin")]

    @get("/", summary="Every user, with the applications they are members of")
    async def list(self, services: NamedDependency[Services]) -> list[UserDetail]:
        return [_detail(record) for record in await list_users(services.pool)]

    @post("/", summary="Create a user", opt={"errors": [409]})
    async def create(
        self,
        data: JSONBody[UserCreate],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> UserDetail:
        user = await create_user(
            services.pool,
            data.email,
            data.name,
            data.role,
            data.password,
            actor_of(request),
            must_change_password=data.must_change_password,
        )
        return _detail(await get_user(services.pool, user.id))

    @patch(
        "/{user_id:uuid}",
        summary="Change a user's name, role, or disable them (which ends their sessions)",
        opt={"errors": [409]},
    )
    async def change(
        self,
        user_id: FromPath[uuid.UUID],
        data: JSONBody[UserChange],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> UserDetail:
        record = await change_user(
            services.pool,
            actor_of(request),
            user_id,
            name=data.name,
            role=data.role,
            disabled=data.disabled,
        )
        return _detail(record)

    @put("/{user_id:uuid}/applications", summary="Set the applications a user is a member of")
    async def memberships(
        self,
        user_id: FromPath[uuid.UUID],
        data: JSONBody[Memberships],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> UserDetail:
        record = await set_memberships(
            services.pool, actor_of(request), user_id, data.application_ids
        )
        return _detail(record)

    @post(
        "/{user_id:uuid}/password-reset",
        status_code=201,
        summary="A one-time link (24 h) for the user to set a new password; it replaces the last",
    )
    async def password_reset(
        self,
        user_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> ResetLinkView:
        link = await issue_password_reset(services.pool, actor_of(request), user_id)
        # In the fragment, the secret stays out of server logs and Referer headers.
        path = f"/reset-password#token={link.token}"
        public_url = services.settings.public_url
        url = public_url.rstrip("/") + path if public_url else None
        return ResetLinkView(link.token, path, url, link.expires_at)
