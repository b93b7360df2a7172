"""/api/alerts: what fired, newest first; one alert with its history; acknowledge, resolve.

Every member of an alert's application may acknowledge and resolve it (operators are the
ones on call); rules and channels are for admins and developers.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from controlplane.api.internal.schemas import (
    AlertCounts,
    AlertDetail,
    AlertNote,
    AlertPage,
    AlertView,
    Severity,
)
from controlplane.api.internal.session import actor_of, member_scope, visible_found
from controlplane.api.wire import wire
from controlplane.engine.alerts import alerts, listing
from controlplane.engine.alerts.conditions import TYPES
from controlplane.engine.alerts.listing import Alert, Filters, StatusFilter
from controlplane.errors import InvalidRequest, NotFound
from controlplane.services import Services


async def _visible(
    services: Services, request: Request[Any, Any, Any], alert_id: uuid.UUID
) -> Alert:
    not_found = NotFound("alert_not_found", f"no alert {alert_id}")
    return await visible_found(request, listing.get_alert(services.pool, alert_id), not_found)


class AlertController(Controller):
    path = "/alerts"
    tags = ["alerts"]

    @get("/", summary="Alerts of your applications, newest first")
    async def list(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        application: Annotated[uuid.UUID | None, QueryParameter(name="application")] = None,
        status: Annotated[
            StatusFilter | None,
            QueryParameter(description="open: firing or acknowledged"),
        ] = None,
        severity: Annotated[Severity | None, QueryParameter()] = None,
        rule: Annotated[uuid.UUID | None, QueryParameter(name="rule")] = None,
        condition: Annotated[str | None, QueryParameter(max_length=40)] = None,
        before: Annotated[
            uuid.UUID | None, QueryParameter(description="the last alert of the page before")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> AlertPage:
        if condition is not None and condition not in TYPES:
            raise InvalidRequest("invalid_condition", f"condition is one of {', '.join(TYPES)}")
        found = await listing.list_alerts(
            services.pool,
            member=member_scope(request),
            filters=Filters(application, status, severity, rule, condition),
            before=before,
            limit=limit,
        )
        return AlertPage(
            wire(found, list[AlertView]), found[-1].id if len(found) == limit else None
        )

    @get("/counts", summary="Open alerts of your applications: firing and acknowledged")
    async def counts(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services]
    ) -> AlertCounts:
        return wire(await listing.counts(services.pool, member_scope(request)), AlertCounts)

    @get("/{alert_id:uuid}", summary="An alert with its history and notifications")
    async def read(
        self,
        alert_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> AlertDetail:
        found = await _visible(services, request, alert_id)
        return wire(await listing.history(services.pool, found), AlertDetail)

    @post(
        "/{alert_id:uuid}/acknowledge",
        status_code=200,
        summary="Say someone is on it (a firing alert)",
        opt={"errors": [409]},  # alert_acknowledged, alert_resolved
    )
    async def acknowledge(
        self,
        alert_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        data: JSONBody[AlertNote | None] = None,
    ) -> AlertView:
        found = await _visible(services, request, alert_id)
        note = data.note if data is not None else None
        done = await alerts.acknowledge(services.pool, actor_of(request), found.id, note)
        await services.effects.apply(done)
        return wire(await listing.get_alert(services.pool, found.id), AlertView)

    @post(
        "/{alert_id:uuid}/resolve",
        status_code=200,
        summary="Resolve an open alert by hand",
        opt={"errors": [409]},  # alert_resolved
    )
    async def resolve(
        self,
        alert_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        data: JSONBody[AlertNote | None] = None,
    ) -> AlertView:
        found = await _visible(services, request, alert_id)
        note = data.note if data is not None else None
        done = await alerts.resolve_by_hand(services.pool, actor_of(request), found.id, note)
        await services.effects.apply(done)
        return wire(await listing.get_alert(services.pool, found.id), AlertView)
