"""/api/approvals: what waits for a person's decision, and the decisions.

Every role may approve or reject, in the applications it sees; each decision is audited.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from controlplane.api.internal.schemas import Approval, ApprovalDecision, ApprovalList
from controlplane.api.internal.session import actor_of, member_scope, visible
from controlplane.api.wire import wire
from controlplane.engine.jobpath import approvals
from controlplane.engine.jobpath.approvals import (
    Decision,
    Status,
    decide,
    list_approvals,
    read_approval,
)
from controlplane.errors import NotFound
from controlplane.services import Services


async def _visible(
    services: Services, request: Request[Any, Any, Any], approval_id: uuid.UUID
) -> approvals.Approval:
    approval = await read_approval(services.pool, approval_id)
    return await visible(
        request, approval, NotFound("approval_not_found", f"no approval {approval_id}")
    )


class ApprovalController(Controller):
    path = "/approvals"
    tags = ["approvals"]

    @get("/", summary="Approvals of your applications, newest first")
    async def list(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        status: Annotated[list[Status] | None, QueryParameter()] = None,
        application: Annotated[uuid.UUID | None, QueryParameter()] = None,
        pipeline: Annotated[uuid.UUID | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> ApprovalList:
        items = await list_approvals(
            services.pool,
            member=member_scope(request),
            statuses=status,
            application_id=application,
            pipeline_id=pipeline,
            limit=limit,
        )
        return ApprovalList(wire(items, list[Approval]))

    async def _decide(
        self,
        approval_id: uuid.UUID,
        decision: Decision,
        data: ApprovalDecision,
        request: Request[Any, Any, Any],
        services: Services,
    ) -> Approval:
        approval = await _visible(services, request, approval_id)
        decided = await decide(services.pool, approval, decision, data.comment, actor_of(request))
        return wire(decided, Approval)

    @post(
        "/{approval_id:uuid}/approve",
        status_code=200,
        summary="Approve: the stage completes",
        opt={"errors": [409]},
    )
    async def approve(
        self,
        approval_id: FromPath[uuid.UUID],
        data: JSONBody[ApprovalDecision],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> Approval:
        return await self._decide(approval_id, "approved", data, request, services)

    @post(
        "/{approval_id:uuid}/reject",
        status_code=200,
        summary="Reject: the stage fails",
        opt={"errors": [409]},
    )
    async def reject(
        self,
        approval_id: FromPath[uuid.UUID],
        data: JSONBody[ApprovalDecision],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> Approval:
        return await self._decide(approval_id, "rejected", data, request, services)
