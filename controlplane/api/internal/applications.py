"""/api/applications: applications and their API keys."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Controller, Request, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from controlplane.api.internal.schemas import (
    ApplicationChange,
    ApplicationCreate,
    ApplicationView,
    CreatedKey,
    KeyCreate,
    KeyView,
)
from controlplane.api.internal.session import (
    actor_of,
    current_user,
    requires,
    visible_application,
)
from controlplane.engine.access.applications import (
    ApplicationRecord,
    KeyRecord,
    add_application,
    create_key,
    list_applications,
    list_keys,
    rename_application,
    revoke_key,
)
from controlplane.errors import InvalidRequest, NotFound
from controlplane.services import Services


def _application(record: ApplicationRecord) -> ApplicationView:
    return ApplicationView(record.id, record.name, record.display_name, record.created_at)


def _key(record: KeyRecord) -> KeyView:
    return KeyView(
        record.id,
        record.name,
        record.prefix,
        record.scopes,  # type: ignore[arg-type]  # the column's CHECK keeps them to Scope
        record.created_at,
        record.expires_at,
        record.last_used_at,
        record.revoked_at,
    )


def _not_found(application_id: uuid.UUID) -> NotFound:
    return NotFound("application_not_found", f"no application {application_id}")


class ApplicationController(Controller):
    path = "/applications"
    tags = ["applications"]

    @get("/", summary="The applications you can see (an admin sees all)")
    async def list(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services]
    ) -> list[ApplicationView]:
        user = current_user(request)
        records = await list_applications(
            services.pool, user_id=user.id, every=user.role == "admin"
        )
        return [_application(r) for r in records]

    @get("/{application_id:uuid}", summary="One application")
    async def read(
        self,
        application_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> ApplicationView:
        return _application(
            await visible_application(request, application_id, _not_found(application_id))
        )

    @post(
        "/",
        guards=[requires("admin")],
        summary="Create an application (no key yet)",
        opt={"errors": [409]},
    )
    async def create(
        self,
        data: JSONBody[ApplicationCreate],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> ApplicationView:
        async with services.pool.acquire() as connection:
            record = await add_application(
                connection, actor_of(request), data.name, data.display_name
            )
        return _application(record)

    @patch(
        "/{application_id:uuid}",
        guards=[requires("admin")],
        summary="Rename",
        opt={"errors": [409]},
    )
    async def rename(
        self,
        application_id: FromPath[uuid.UUID],
        data: JSONBody[ApplicationChange],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> ApplicationView:
        record = await rename_application(
            services.pool, actor_of(request), application_id, data.display_name
        )
        return _application(record)

    @get("/{application_id:uuid}/keys", guards=[requires("admin")], summary="Its API keys")
    async def keys(
        self, application_id: FromPath[uuid.UUID], services: NamedDependency[Services]
    ) -> list[KeyView]:
        return [_key(record) for record in await list_keys(services.pool, application_id)]

    @post(
        "/{application_id:uuid}/keys",
        guards=[requires("admin")],
        summary="Create an API key; the key is in this answer only",
    )
    async def create_key(
        self,
        application_id: FromPath[uuid.UUID],
        data: JSONBody[KeyCreate],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> CreatedKey:
        await visible_application(request, application_id, _not_found(application_id))
        if data.expires_at is not None and data.expires_at <= dt.datetime.now(dt.UTC):
            raise InvalidRequest("invalid_request", "expiresAt must be in the future")
        async with services.pool.acquire() as connection, connection.transaction():
            record, key = await create_key(
                connection,
                actor_of(request),
                application_id,
                data.name,
                expires_at=data.expires_at,
                scopes=data.scopes,
            )
        return CreatedKey(key, _key(record))

    @post(
        "/{application_id:uuid}/keys/{key_id:uuid}/revoke",
        status_code=200,
        guards=[requires("admin")],
        summary="Revoke an API key (API processes drop it within 10 s)",
    )
    async def revoke(
        self,
        application_id: FromPath[uuid.UUID],
        key_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> KeyView:
        return _key(await revoke_key(services.pool, actor_of(request), application_id, key_id))
