"""/api/pipelines/{id}/stages/{stageId}: rerun or skip one stage, read its logs."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from controlplane.api.internal.pipelines import detail_after, pipeline_application
from controlplane.api.internal.schemas import (
    LogLineView,
    LogPage,
    PipelineDetail,
    StageRerun,
    StageSkip,
)
from controlplane.api.internal.session import actor_of, current_user
from controlplane.engine.jobpath.operations import rerun_stages, skip_stages
from controlplane.engine.reads.stage_history import read_logs
from controlplane.schemas import INT32_MAX, MAX_ID
from controlplane.services import Services


class StageController(Controller):
    path = "/pipelines/{pipeline_id:uuid}/stages/{stage_id:uuid}"
    tags = ["pipelines"]

    @post(
        "/rerun",
        status_code=200,
        summary="Run a finished stage again",
        description="Alone (what depends on it and has not run waits for it again), or with "
        "everything downstream; optionally with a new input. Reopens a finished pipeline.",
        opt={"errors": [409]},
    )
    async def rerun(
        self,
        pipeline_id: FromPath[uuid.UUID],
        stage_id: FromPath[uuid.UUID],
        data: JSONBody[StageRerun],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> PipelineDetail:
        application = await pipeline_application(services, request, pipeline_id)
        result = await rerun_stages(
            services.pool,
            application.id,
            pipeline_id,
            [stage_id],
            downstream=data.downstream,
            actor=actor_of(request),
            new_input=data.input,
            max_input_bytes=services.settings.max_input_bytes,
            role=current_user(request).role,
        )
        return await detail_after(services, request, application, result)

    @post(
        "/skip",
        status_code=200,
        summary="Skip a stage",
        description="Its dependents go on as if it had completed, with the given output. "
        "A running job is stopped at its next heartbeat. Reopens a failed pipeline.",
        opt={"errors": [409]},
    )
    async def skip(
        self,
        pipeline_id: FromPath[uuid.UUID],
        stage_id: FromPath[uuid.UUID],
        data: JSONBody[StageSkip],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> PipelineDetail:
        application = await pipeline_application(services, request, pipeline_id)
        result = await skip_stages(
            services.pool,
            application.id,
            pipeline_id,
            [stage_id],
            actor=actor_of(request),
            output=data.output,
            role=current_user(request).role,
        )
        return await detail_after(services, request, application, result)

    @get("/logs", summary="A stage's log lines, oldest first")
    async def logs(
        self,
        pipeline_id: FromPath[uuid.UUID],
        stage_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        after: Annotated[int, QueryParameter(name="after", ge=0, le=MAX_ID)] = 0,
        attempt: Annotated[int | None, QueryParameter(name="attempt", ge=1, le=INT32_MAX)] = None,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=1000)] = 500,
    ) -> LogPage:
        await pipeline_application(services, request, pipeline_id)
        lines = await read_logs(
            services.pool, pipeline_id, stage_id, after=after, limit=limit, attempt=attempt
        )
        return LogPage(
            [
                LogLineView(
                    line.id, line.attempt, line.job_id, line.level, line.message, line.created_at
                )
                for line in lines
            ],
            lines[-1].id if lines else after,
        )
