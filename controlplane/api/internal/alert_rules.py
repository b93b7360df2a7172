"""/api/alert-rules: what an application is alerted on, and whom it tells.

Admins and developers of the application create, edit, pause and delete them; every member
sees them.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from msgspec import UNSET

from controlplane.api.internal.schemas import AlertRuleChange, AlertRuleCreate, AlertRuleView
from controlplane.api.internal.session import (
    actor_of,
    member_scope,
    requires,
    visible_application,
    visible_found,
)
from controlplane.api.wire import wire
from controlplane.engine.alerts import rules
from controlplane.engine.alerts.rules import Draft, Rule
from controlplane.engine.outcome import AlertChange, Outcome
from controlplane.errors import NotFound
from controlplane.services import Services

_WRITERS = [requires("admin", "developer")]


async def _visible(services: Services, request: Request[Any, Any, Any], rule_id: uuid.UUID) -> Rule:
    not_found = NotFound("rule_not_found", f"no alert rule {rule_id}")
    return await visible_found(request, rules.get_rule(services.pool, rule_id), not_found)


class AlertRuleController(Controller):
    path = "/alert-rules"
    tags = ["alerts"]

    @get("/", summary="Alert rules of your applications")
    async def list(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        application: Annotated[uuid.UUID | None, QueryParameter(name="application")] = None,
    ) -> list[AlertRuleView]:
        found = await rules.list_rules(
            services.pool, member=member_scope(request), application_id=application
        )
        return wire(found, list[AlertRuleView])

    @post(
        "/",
        status_code=201,
        guards=_WRITERS,
        summary="Add an alert rule",
        opt={"errors": [404, 409]},  # application_not_found; rule_exists
    )
    async def create(
        self,
        data: JSONBody[AlertRuleCreate],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> AlertRuleView:
        not_found = NotFound("application_not_found", f"no application {data.application_id}")
        await visible_application(request, data.application_id, not_found)
        draft = Draft(data.name, data.condition, data.severity, data.channel_ids, data.status)
        created = await rules.create_rule(
            services.pool, actor_of(request), data.application_id, draft
        )
        return wire(created, AlertRuleView)

    @get("/{rule_id:uuid}", summary="An alert rule")
    async def read(
        self,
        rule_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> AlertRuleView:
        return wire(await _visible(services, request, rule_id), AlertRuleView)

    @patch(
        "/{rule_id:uuid}",
        guards=_WRITERS,
        summary="Change, pause or resume an alert rule",
        opt={"errors": [409]},  # rule_exists
    )
    async def change(
        self,
        rule_id: FromPath[uuid.UUID],
        data: JSONBody[AlertRuleChange],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> AlertRuleView:
        found = await _visible(services, request, rule_id)
        draft = Draft(
            data.name if data.name is not UNSET else found.name,
            data.condition if data.condition is not UNSET else found.condition,
            data.severity if data.severity is not UNSET else found.severity,  # type: ignore[arg-type]
            data.channel_ids if data.channel_ids is not UNSET else found.channel_ids,
            data.status if data.status is not UNSET else found.status,  # type: ignore[arg-type]
        )
        changed = await rules.change_rule(services.pool, actor_of(request), found, draft)
        return wire(changed, AlertRuleView)

    @delete(
        "/{rule_id:uuid}",
        guards=_WRITERS,
        summary="Remove an alert rule (its open alerts are resolved; their history stays)",
    )
    async def remove(
        self,
        rule_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> None:
        found = await _visible(services, request, rule_id)
        ended = await rules.delete_rule(services.pool, actor_of(request), found)
        await services.effects.apply(
            Outcome(alerts=tuple(AlertChange(a, found.application_id, "resolved") for a in ended))
        )
