"""/api/pipelines: find pipelines across your applications, read one, cancel one."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from controlplane.api.internal.schemas import PipelineDetail, PipelinePage, PipelineSummary
from controlplane.api.internal.session import actor_of, current_user, visible_application
from controlplane.engine.applications import ApplicationRecord
from controlplane.engine.pipeline_queries import (
    PipelineFilter,
    application_of,
    list_pipelines,
)
from controlplane.engine.pipelines import cancel_pipeline, get_pipeline
from controlplane.errors import NotFound
from controlplane.services import Services

Sort = Literal["-createdAt", "createdAt", "-updatedAt", "-finishedAt", "name", "status"]
Status = Literal["running", "completed", "failed", "cancelled"]


async def _visible_application(
    services: Services, request: Request[Any, Any, Any], pipeline_id: uuid.UUID
) -> ApplicationRecord:
    """The pipeline's application, if the user sees it; a 404 for the pipeline otherwise."""
    application_id = await application_of(services.pool, pipeline_id)
    not_found = NotFound("pipeline_not_found", f"no pipeline {pipeline_id}")
    return await visible_application(request, application_id, not_found)


class PipelineController(Controller):
    path = "/pipelines"
    tags = ["pipelines"]

    @get("/", summary="Pipelines of your applications: filtered, sorted, paged")
    async def list(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        application: Annotated[uuid.UUID | None, QueryParameter(name="application")] = None,
        status: Annotated[list[Status] | None, QueryParameter(name="status")] = None,
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
        sort: Annotated[Sort, QueryParameter(name="sort")] = "-createdAt",
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=200)] = 50,
        offset: Annotated[int, QueryParameter(name="offset", ge=0, le=100_000)] = 0,
    ) -> PipelinePage:
        user = current_user(request)
        rows, has_more = await list_pipelines(
            services.pool,
            member=None if user.role == "admin" else user.id,
            where=PipelineFilter(
                application,
                list(status) if status else None,
                search or None,
                created_from,
                created_to,
                finished_from,
                finished_to,
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
        application = await _visible_application(services, request, pipeline_id)
        view = await get_pipeline(services.pool, application.id, pipeline_id)
        return PipelineDetail(application.id, application.name, view)

    @post("/{pipeline_id:uuid}/cancel", status_code=200, summary="Cancel a pipeline")
    async def cancel(
        self,
        pipeline_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> PipelineDetail:
        application = await _visible_application(services, request, pipeline_id)
        view = await cancel_pipeline(
            services.pool, services.updates, application.id, pipeline_id, actor_of(request)
        )
        return PipelineDetail(application.id, application.name, view)
