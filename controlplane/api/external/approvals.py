"""POST /approvals, GET /approvals/{id}: what the `approval` template opens and waits on."""

from __future__ import annotations

import uuid

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from controlplane.engine.access.applications import Application
from controlplane.engine.jobpath.approvals import Approval, open_approval, read_approval
from controlplane.errors import InvalidRequest, NotFound
from controlplane.schemas import ApprovalOpen, ApprovalState, encoded_size
from controlplane.services import Services

MAX_DETAILS_BYTES = 65_536


def _state(approval: Approval) -> ApprovalState:
    return ApprovalState(
        approval.id,
        approval.status,
        approval.deadline,
        approval.decided_by,
        approval.comment,
        approval.decided_at,
    )


class ApprovalController(Controller):
    path = "/approvals"
    tags = ["approvals"]
    opt = {"scope": "work"}

    @post(
        "/",
        status_code=200,
        summary="Open the approval the job's stage waits for (or find the one it has)",
        opt={"errors": [409]},  # job_not_running
    )
    async def open(
        self,
        data: JSONBody[ApprovalOpen],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
    ) -> ApprovalState:
        if encoded_size(data.details) > MAX_DETAILS_BYTES:
            raise InvalidRequest(
                "details_too_large", f"details are limited to {MAX_DETAILS_BYTES} bytes of JSON"
            )
        approval = await open_approval(
            services.pool,
            application.id,
            data.job_id,
            data.message,
            data.details,
            data.deadline_seconds,
        )
        return _state(approval)

    @get("/{approval_id:uuid}", summary="An approval: pending, or decided, by whom, why")
    async def read(
        self,
        approval_id: FromPath[uuid.UUID],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
    ) -> ApprovalState:
        approval = await read_approval(services.pool, approval_id)
        if approval is None or approval.application_id != application.id:
            raise NotFound("approval_not_found", f"no approval {approval_id}")
        return _state(approval)
