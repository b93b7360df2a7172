"""POST /pipelines, GET /pipelines/{id}, POST /pipelines/{id}/cancel."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody

from controlplane.api.wire import wire
from controlplane.engine.access.applications import Application
from controlplane.engine.jobpath.pipelines import cancel_pipeline, get_pipeline
from controlplane.engine.jobpath.tracing import parse_traceparent
from controlplane.runs import start_pipeline
from controlplane.schemas import PipelineSubmit, PipelineView
from controlplane.services import Services


class PipelineController(Controller):
    path = "/pipelines"
    tags = ["pipelines"]

    @post(
        "/",
        summary="Submit a pipeline, or start a run of a pipeline definition",
        description="Send `name` and `stages`, or `definition` (with `version` and `params`). "
        "201 with the new pipeline; 200 with the first one when the idempotencyKey was seen "
        "before (header Idempotent-Replayed: true).",
        opt={"scope": "submit", "errors": [404, 409]},
        responses={
            200: ResponseSpec(
                PipelineView,
                description="The pipeline first submitted with this idempotencyKey "
                "(header Idempotent-Replayed: true).",
                generate_examples=False,
            )
        },
    )
    async def submit(
        self,
        data: JSONBody[PipelineSubmit],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
        traceparent: Annotated[
            str | None,
            HeaderParameter(
                name="traceparent",
                description="W3C trace context: the pipeline joins the caller's trace",
            ),
        ] = None,
    ) -> Response[PipelineView]:
        trace = parse_traceparent(traceparent)
        pipeline, new = await start_pipeline(services, application.id, data, trace)
        view = wire(pipeline, PipelineView)
        if new:
            return Response(view, status_code=201)
        return Response(view, status_code=200, headers={"Idempotent-Replayed": "true"})

    @get(
        "/{pipeline_id:uuid}",
        summary="A pipeline with its stages and context",
        opt={"scope": "read"},
    )
    async def read(
        self,
        pipeline_id: FromPath[uuid.UUID],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
    ) -> PipelineView:
        return wire(await get_pipeline(services.pool, application.id, pipeline_id), PipelineView)

    @post(
        "/{pipeline_id:uuid}/cancel",
        status_code=200,
        summary="Cancel a pipeline",
        opt={"scope": "submit", "errors": [409]},  # pipeline_finished
    )
    async def cancel(
        self,
        pipeline_id: FromPath[uuid.UUID],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
    ) -> PipelineView:
        cancelled = await cancel_pipeline(services.pool, application.id, pipeline_id)
        await services.effects.apply(cancelled.outcome)
        return wire(cancelled.pipeline, PipelineView)
