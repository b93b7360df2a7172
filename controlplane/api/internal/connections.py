"""/api/connections: an application's named database connections, their test and tables.

Admins and developers of the application manage them; every role sees them (without the
password, which no answer holds).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from msgspec import UNSET

from controlplane.api.internal.schemas import (
    ConnectionChange,
    ConnectionCheck,
    ConnectionCreate,
    ConnectionTable,
    ConnectionView,
)
from controlplane.api.internal.session import (
    actor_of,
    member_scope,
    requires,
    visible_application,
    visible_found,
)
from controlplane.api.wire import wire
from controlplane.connection_checks import check, parse_allowed, tables
from controlplane.engine.sources.connections import (
    Connection,
    Target,
    change_connection,
    create_connection,
    delete_connection,
    get_connection,
    list_connections,
    opened,
)
from controlplane.errors import NotFound
from controlplane.services import Services

_WRITERS = [requires("admin", "developer")]


async def _visible(
    services: Services, request: Request[Any, Any, Any], connection_id: uuid.UUID
) -> Connection:
    not_found = NotFound("connection_not_found", f"no connection {connection_id}")
    return await visible_found(request, get_connection(services.pool, connection_id), not_found)


class ConnectionController(Controller):
    path = "/connections"
    tags = ["connections"]

    @get("/", summary="Database connections of your applications")
    async def list(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        application: Annotated[uuid.UUID | None, QueryParameter(name="application")] = None,
    ) -> list[ConnectionView]:
        found = await list_connections(
            services.pool, member=member_scope(request), application_id=application
        )
        return wire(found, list[ConnectionView])

    @post(
        "/",
        status_code=201,
        guards=_WRITERS,
        summary="Add a database connection",
        opt={"errors": [404, 409]},  # application_not_found; connection_exists
    )
    async def create(
        self,
        data: JSONBody[ConnectionCreate],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> ConnectionView:
        not_found = NotFound("application_not_found", f"no application {data.application_id}")
        await visible_application(request, data.application_id, not_found)
        created = await create_connection(
            services.pool,
            services.sealer,
            actor_of(request),
            data.application_id,
            data.name,
            data.kind,
            Target(data.host, data.port, data.database, data.username, data.sslmode),
            data.password,
        )
        return wire(created, ConnectionView)

    @get("/{connection_id:uuid}", summary="A database connection (without its password)")
    async def read(
        self,
        connection_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> ConnectionView:
        return wire(await _visible(services, request, connection_id), ConnectionView)

    @patch("/{connection_id:uuid}", guards=_WRITERS, summary="Change a database connection")
    async def change(
        self,
        connection_id: FromPath[uuid.UUID],
        data: JSONBody[ConnectionChange],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> ConnectionView:
        found = await _visible(services, request, connection_id)
        target = Target(
            data.host if data.host is not UNSET else found.host,
            data.port if data.port is not UNSET else found.port,
            data.database if data.database is not UNSET else found.database,
            data.username if data.username is not UNSET else found.username,
            data.sslmode if data.sslmode is not UNSET else found.sslmode,
        )
        changed = await change_connection(
            services.pool, services.sealer, actor_of(request), found, target, data.password
        )
        return wire(changed, ConnectionView)

    @delete("/{connection_id:uuid}", guards=_WRITERS, summary="Remove a database connection")
    async def remove(
        self,
        connection_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> None:
        found = await _visible(services, request, connection_id)
        await delete_connection(services.pool, actor_of(request), found)

    @post(
        "/{connection_id:uuid}/test",
        status_code=200,
        guards=_WRITERS,
        summary="Connect, and say the server's version and how long it took",
        # connection_failed (409); address_not_allowed (422)
        opt={"errors": [409]},
    )
    async def test(
        self,
        connection_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> ConnectionCheck:
        found = await _visible(services, request, connection_id)
        allowed = parse_allowed(services.settings.connections_allow)
        checked = await check(await opened(services.pool, services.sealer, found), allowed)
        return ConnectionCheck(True, checked.server_version, checked.latency_ms)

    @get(
        "/{connection_id:uuid}/tables",
        summary="The tables and views the connection's user may read (up to 1,000)",
        opt={"errors": [409]},
    )
    async def tables(
        self,
        connection_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> list[ConnectionTable]:
        found = await _visible(services, request, connection_id)
        allowed = parse_allowed(services.settings.connections_allow)
        listed = await tables(await opened(services.pool, services.sealer, found), allowed)
        return wire(listed, list[ConnectionTable])
