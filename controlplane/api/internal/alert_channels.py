"""/api/alert-channels: where an application's alerts are sent, and "send a test".

Admins and developers of the application manage them; every member sees them, never with
their secrets.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from msgspec import UNSET

from controlplane.api.internal.schemas import (
    AlertChannelChange,
    AlertChannelCreate,
    AlertChannelTest,
    AlertChannelView,
)
from controlplane.api.internal.session import (
    actor_of,
    member_scope,
    requires,
    visible_application,
    visible_found,
)
from controlplane.api.wire import wire
from controlplane.engine.alerts import channels
from controlplane.engine.alerts.channels import Channel
from controlplane.errors import NotFound
from controlplane.notifications.messages import test_message
from controlplane.notifications.senders import SendFailed, send
from controlplane.services import Services

_WRITERS = [requires("admin", "developer")]


async def _visible(
    services: Services, request: Request[Any, Any, Any], channel_id: uuid.UUID
) -> Channel:
    not_found = NotFound("channel_not_found", f"no alert channel {channel_id}")
    return await visible_found(request, channels.get_channel(services.pool, channel_id), not_found)


class AlertChannelController(Controller):
    path = "/alert-channels"
    tags = ["alerts"]

    @get("/", summary="Alert channels of your applications")
    async def list(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        application: Annotated[uuid.UUID | None, QueryParameter(name="application")] = None,
    ) -> list[AlertChannelView]:
        found = await channels.list_channels(
            services.pool, member=member_scope(request), application_id=application
        )
        return wire(found, list[AlertChannelView])

    @post(
        "/",
        status_code=201,
        guards=_WRITERS,
        summary="Add an alert channel",
        opt={"errors": [404, 409]},  # application_not_found; channel_exists
    )
    async def create(
        self,
        data: JSONBody[AlertChannelCreate],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> AlertChannelView:
        not_found = NotFound("application_not_found", f"no application {data.application_id}")
        await visible_application(request, data.application_id, not_found)
        created = await channels.create_channel(
            services.pool,
            services.sealer,
            actor_of(request),
            data.application_id,
            data.name,
            data.type,
            data.config,
            data.rate_limit_per_minute,
        )
        return wire(created, AlertChannelView)

    @get("/{channel_id:uuid}", summary="An alert channel (without its secrets)")
    async def read(
        self,
        channel_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> AlertChannelView:
        return wire(await _visible(services, request, channel_id), AlertChannelView)

    @patch(
        "/{channel_id:uuid}",
        guards=_WRITERS,
        summary="Change an alert channel",
        opt={"errors": [409]},  # channel_unreadable
    )
    async def change(
        self,
        channel_id: FromPath[uuid.UUID],
        data: JSONBody[AlertChannelChange],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> AlertChannelView:
        found = await _visible(services, request, channel_id)
        changed = await channels.change_channel(
            services.pool,
            services.sealer,
            actor_of(request),
            found,
            data.config if data.config is not UNSET else None,
            data.rate_limit_per_minute if data.rate_limit_per_minute is not UNSET else None,
        )
        return wire(changed, AlertChannelView)

    @delete(
        "/{channel_id:uuid}",
        guards=_WRITERS,
        summary="Remove an alert channel no rule sends to",
        opt={"errors": [409]},  # channel_in_use
    )
    async def remove(
        self,
        channel_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> None:
        found = await _visible(services, request, channel_id)
        await channels.delete_channel(services.pool, actor_of(request), found)

    @post(
        "/{channel_id:uuid}/test",
        status_code=200,
        guards=_WRITERS,
        summary="Send a test notification now, and say how the channel answered",
        opt={"errors": [409]},  # channel_unreadable
    )
    async def test(
        self,
        channel_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> AlertChannelTest:
        found = await _visible(services, request, channel_id)
        opened = await channels.opened(services.pool, services.sealer, found)
        settings = services.settings
        started = time.perf_counter()
        try:
            detail = await send(
                opened,
                test_message(found.id, found.application_id, found.application_name),
                public_url=settings.public_url,
                timeout_seconds=settings.alert_send_timeout_seconds,
                allowed=settings.alerts_allow,
            )
            ok = True
        except SendFailed as failed:
            detail, ok = failed.reason, False
        latency = round((time.perf_counter() - started) * 1000, 1)
        return AlertChannelTest(ok, detail, latency)
