"""/api/policies: retry, timeout, concurrency and rate-limit policies of your applications.

Everyone reads the policies of the applications they see; developers and admins change them.
Every change is audited, and each policy's trail is readable next to it.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from controlplane.api.internal.audit import entry_view
from controlplane.api.internal.schemas import (
    AuditEntryView,
    PolicyChange,
    PolicyCreate,
    PolicyList,
    PolicyTargetView,
    PolicyView,
)
from controlplane.api.internal.session import (
    actor_of,
    member_scope,
    requires,
    visible,
    visible_application,
)
from controlplane.engine.access.audit import read_trail
from controlplane.engine.jobpath.policies import (
    Policy,
    change_policy,
    create_policy,
    delete_policy,
    list_policies,
    read_policy,
)
from controlplane.errors import InvalidRequest, NotFound
from controlplane.schemas import HandlerName
from controlplane.services import Services

_CHANGERS = [requires("admin", "developer")]


def _view(policy: Policy) -> PolicyView:
    return PolicyView(
        id=policy.id,
        application_id=policy.application_id,
        name=policy.name,
        kind=policy.kind,
        target=PolicyTargetView(policy.target_type, policy.target),
        config=policy.config,
        status=policy.status,
        created_at=policy.created_at,
        updated_at=policy.updated_at,
    )


async def _visible_policy(
    services: Services, request: Request[Any, Any, Any], policy_id: uuid.UUID
) -> Policy:
    policy = await read_policy(services.pool, policy_id)
    return await visible(request, policy, NotFound("policy_not_found", f"no policy {policy_id}"))


class PolicyController(Controller):
    path = "/policies"
    tags = ["policies"]

    @get("/", summary="Policies of your applications")
    async def list(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        application: Annotated[uuid.UUID | None, QueryParameter(name="application")] = None,
    ) -> PolicyList:
        policies = await list_policies(
            services.pool,
            member=member_scope(request),
            application_id=application,
        )
        return PolicyList([_view(p) for p in policies])

    @post("/", guards=_CHANGERS, summary="Create a policy", opt={"errors": [404, 409]})
    async def create(
        self,
        data: JSONBody[PolicyCreate],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> PolicyView:
        not_found = NotFound("application_not_found", f"no application {data.application_id}")
        application = await visible_application(request, data.application_id, not_found)
        if data.target.type == "handler":
            try:
                msgspec.convert(data.target.name, HandlerName)
            except msgspec.ValidationError:
                raise InvalidRequest(
                    "invalid_policy_target", f"{data.target.name!r} is not a handler name"
                ) from None
        policy = await create_policy(
            services.pool,
            actor_of(request),
            application.id,
            name=data.name,
            kind=data.kind,
            target_type=data.target.type,
            target=data.target.name,
            config=data.config,
            status=data.status,
        )
        services.policies.forget(application.id)
        return _view(policy)

    @get("/{policy_id:uuid}", summary="A policy")
    async def read(
        self,
        policy_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> PolicyView:
        return _view(await _visible_policy(services, request, policy_id))

    @patch(
        "/{policy_id:uuid}",
        guards=_CHANGERS,
        summary="Change a policy: rename, new config, or pause / resume / disable",
        opt={"errors": [409]},
    )
    async def change(
        self,
        policy_id: FromPath[uuid.UUID],
        data: JSONBody[PolicyChange],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> PolicyView:
        await _visible_policy(services, request, policy_id)
        policy = await change_policy(
            services.pool,
            actor_of(request),
            policy_id,
            name=data.name,
            config=data.config,
            status=data.status,
        )
        services.policies.forget(policy.application_id)
        return _view(policy)

    @delete("/{policy_id:uuid}", guards=_CHANGERS, summary="Delete a policy")
    async def remove(
        self,
        policy_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> None:
        await _visible_policy(services, request, policy_id)
        policy = await delete_policy(services.pool, actor_of(request), policy_id)
        services.policies.forget(policy.application_id)

    @get("/{policy_id:uuid}/history", summary="Every change to a policy, newest first")
    async def history(
        self,
        policy_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> list[AuditEntryView]:
        policy = await _visible_policy(services, request, policy_id)
        return [entry_view(e) for e in await read_trail(services.pool, "policy", policy.id)]
