"""Starting a pipeline, the same way from both APIs and from schedules: store it, publish its
first jobs, and announce it."""

from __future__ import annotations

import uuid

from controlplane.engine.jobpath.pipelines import Pipeline, get_pipeline, submit_pipeline
from controlplane.engine.jobpath.tracing import TraceParent
from controlplane.schemas import PipelineSubmit
from controlplane.services import Services


async def start_pipeline(
    services: Services,
    application_id: uuid.UUID,
    request: PipelineSubmit,
    trace: TraceParent | None = None,
) -> tuple[Pipeline, bool]:
    """The pipeline, and whether it is new (False: an earlier submit with the same
    idempotency key made it)."""
    submitted = await submit_pipeline(
        services.pool,
        application_id,
        request,
        services.settings.max_input_bytes,
        await services.policies.of(application_id),
        trace,
        services.sandbox,
    )
    await services.effects.apply(submitted.outcome)
    if submitted.pipeline is not None:
        return submitted.pipeline, True
    return await get_pipeline(services.pool, application_id, submitted.pipeline_id), False


async def start_run(
    services: Services, application_id: uuid.UUID, request: PipelineSubmit
) -> uuid.UUID:
    """Start a pipeline (a schedule's run); its id."""
    pipeline, _ = await start_pipeline(services, application_id, request)
    return pipeline.id
