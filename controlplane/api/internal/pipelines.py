"""/api/pipelines: find pipelines across your applications, read one, act on one or many."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from controlplane.api.internal.schemas import (
    AttemptView,
    BulkItemResult,
    BulkRequest,
    BulkResult,
    Lineage,
    PipelineDetail,
    PipelinePage,
    PipelineSummary,
    StageWhy,
)
from controlplane.api.internal.session import (
    actor_of,
    current_user,
    member_scope,
    visible_application,
)
from controlplane.api.wire import wire
from controlplane.engine.access.applications import ApplicationRecord
from controlplane.engine.jobpath.operations import (
    ActionResult,
    failed_stages,
    rerun_stages,
    resume_pipeline,
    skip_stages,
)
from controlplane.engine.jobpath.pipelines import Pipeline, cancel_pipeline, get_pipeline
from controlplane.engine.jobpath.policies import inputs_editable
from controlplane.engine.jobpath.tracing import trace_url
from controlplane.engine.reads.diagnosis import diagnose
from controlplane.engine.reads.lineage import lineage_of
from controlplane.engine.reads.pipeline_queries import (
    PipelineFilter,
    application_of,
    list_pipelines,
)
from controlplane.engine.reads.stage_history import list_attempts
from controlplane.engine.reads.worker_queries import Liveness
from controlplane.errors import NotFound, ProblemError
from controlplane.schemas import PipelineView
from controlplane.services import Services
from controlplane.statuses import PipelineStatus

Sort = Literal["-createdAt", "createdAt", "-updatedAt", "-finishedAt", "name", "status"]


async def pipeline_application(
    services: Services, request: Request[Any, Any, Any], pipeline_id: uuid.UUID
) -> ApplicationRecord:
    """The pipeline's application, if the user sees it; a 404 for the pipeline otherwise."""
    application_id = await application_of(services.pool, pipeline_id)
    not_found = NotFound("pipeline_not_found", f"no pipeline {pipeline_id}")
    return await visible_application(request, application_id, not_found)


async def pipeline_detail(
    services: Services,
    request: Request[Any, Any, Any],
    application: ApplicationRecord,
    pipeline_id: uuid.UUID,
    pipeline: Pipeline | None = None,
) -> PipelineDetail:
    """The pipeline (``pipeline``, if the caller has just read it), its attempts, why each
    stage is where it is, and which stages' input the user may change on a rerun."""
    pipeline = pipeline or await get_pipeline(services.pool, application.id, pipeline_id)
    attempts = await list_attempts(services.pool, pipeline_id)
    liveness = Liveness.of(services.settings)
    diagnoses = await diagnose(services.pool, application.id, pipeline, liveness)
    stage_ids = [stage.id for stage in pipeline.stages]
    role = current_user(request).role
    editable = await inputs_editable(services.pool, application.id, role, stage_ids)
    return PipelineDetail(
        application.id,
        application.name,
        wire(pipeline, PipelineView),
        wire(attempts, list[AttemptView]),
        wire(diagnoses, list[StageWhy]),
        trace_url=trace_url(services.settings.trace_url, pipeline.trace_id),
        input_editable=[stage_id for stage_id in stage_ids if stage_id in editable],
    )


async def detail_after(
    services: Services,
    request: Request[Any, Any, Any],
    application: ApplicationRecord,
    result: ActionResult,
) -> PipelineDetail:
    """Apply what a committed action did, and read the pipeline back."""
    await services.effects.apply(result.outcome)
    return await pipeline_detail(services, request, application, result.pipeline_id)


async def _act_on_pipeline(
    services: Services,
    request: Request[Any, Any, Any],
    application: ApplicationRecord,
    pipeline_id: uuid.UUID,
    action: str,
) -> PipelineDetail:
    """Cancel a pipeline, rerun its failed stages (or resume it), or skip its failed stages;
    returns the pipeline as it is after."""
    pool = services.pool
    actor = actor_of(request)
    if action == "cancel":
        cancelled = await cancel_pipeline(pool, application.id, pipeline_id, actor)
        await services.effects.apply(cancelled.outcome)
        return await pipeline_detail(
            services, request, application, pipeline_id, cancelled.pipeline
        )
    failed = await failed_stages(pool, pipeline_id)
    if action == "rerun" and failed:
        result = await rerun_stages(
            pool, application.id, pipeline_id, failed, downstream=False, actor=actor
        )
    elif action == "rerun":
        result = await resume_pipeline(pool, application.id, pipeline_id, actor=actor)
    elif failed:
        result = await skip_stages(pool, application.id, pipeline_id, failed, actor=actor)
    else:
        raise NotFound("no_failed_stage", "the pipeline has no failed stage to skip")
    return await detail_after(services, request, application, result)


class PipelineController(Controller):
    path = "/pipelines"
    tags = ["pipelines"]

    @get("/", summary="Pipelines of your applications: filtered, sorted, paged")
    async def list(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        application: Annotated[uuid.UUID | None, QueryParameter(name="application")] = None,
        status: Annotated[list[PipelineStatus] | None, QueryParameter(name="status")] = None,
        search: Annotated[
            str | None,
            QueryParameter(
                name="search",
                max_length=200,
                description="part of the name, a whole keyword, or the id",
            ),
        ] = None,
        created_from: Annotated[dt.datetime | None, QueryParameter(name="createdFrom")] = None,
        created_to: Annotated[dt.datetime | None, QueryParameter(name="createdTo")] = None,
        finished_from: Annotated[dt.datetime | None, QueryParameter(name="finishedFrom")] = None,
        finished_to: Annotated[dt.datetime | None, QueryParameter(name="finishedTo")] = None,
        definition: Annotated[
            uuid.UUID | None,
            QueryParameter(name="definition", description="runs of this pipeline definition"),
        ] = None,
        sort: Annotated[Sort, QueryParameter(name="sort")] = "-createdAt",
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=200)] = 50,
        offset: Annotated[int, QueryParameter(name="offset", ge=0, le=100_000)] = 0,
    ) -> PipelinePage:
        rows, has_more = await list_pipelines(
            services.pool,
            member=member_scope(request),
            where=PipelineFilter(
                application,
                list(status) if status else None,
                search or None,
                created_from,
                created_to,
                finished_from,
                finished_to,
                definition,
            ),
            sort=sort,
            limit=limit,
            offset=offset,
        )
        items = [
            PipelineSummary(
                r.id,
                r.application_id,
                r.application_name,
                r.name,
                r.status,
                r.keywords,
                r.created_at,
                r.updated_at,
                r.finished_at,
                r.stage_counts,
                r.definition_id,
                r.definition_version,
            )
            for r in rows
        ]
        return PipelinePage(items, has_more)

    @get("/{pipeline_id:uuid}", summary="A pipeline with its stages and context")
    async def read(
        self,
        pipeline_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> PipelineDetail:
        application = await pipeline_application(services, request, pipeline_id)
        return await pipeline_detail(services, request, application, pipeline_id)

    @get(
        "/{pipeline_id:uuid}/lineage",
        summary="The datasets the pipeline's stages read and wrote, as a graph",
    )
    async def lineage(
        self,
        pipeline_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> Lineage:
        application = await pipeline_application(services, request, pipeline_id)
        return wire(
            lineage_of(await get_pipeline(services.pool, application.id, pipeline_id)), Lineage
        )

    @post(
        "/{pipeline_id:uuid}/cancel",
        status_code=200,
        summary="Cancel a pipeline",
        opt={"errors": [409]},
    )
    async def cancel(
        self,
        pipeline_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> PipelineDetail:
        application = await pipeline_application(services, request, pipeline_id)
        return await _act_on_pipeline(services, request, application, pipeline_id, "cancel")

    @post(
        "/{pipeline_id:uuid}/rerun",
        status_code=200,
        summary="Rerun a pipeline's failed stages, or resume a cancelled pipeline",
        opt={"errors": [404, 409]},  # no_failed_stage; a running pipeline
    )
    async def rerun(
        self,
        pipeline_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> PipelineDetail:
        application = await pipeline_application(services, request, pipeline_id)
        return await _act_on_pipeline(services, request, application, pipeline_id, "rerun")

    @post(
        "/bulk",
        status_code=200,
        summary="Cancel, rerun or skip the failed stages of many pipelines",
        description="Each pipeline is acted on by itself, all or nothing; the answer says "
        "for each whether it was, or the problem that stopped it.",
    )
    async def bulk(
        self,
        data: JSONBody[BulkRequest],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> BulkResult:
        results = []
        for pipeline_id in dict.fromkeys(data.pipeline_ids):
            try:
                application = await pipeline_application(services, request, pipeline_id)
                detail = await _act_on_pipeline(
                    services, request, application, pipeline_id, data.action
                )
            except ProblemError as problem:
                results.append(
                    BulkItemResult(pipeline_id, False, code=problem.code, detail=problem.detail)
                )
            else:
                results.append(BulkItemResult(pipeline_id, True, status=detail.pipeline.status))
        return BulkResult(results)
