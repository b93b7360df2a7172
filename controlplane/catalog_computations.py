"""Asking the application's dataset workers for a sample or a profile of a dataset version,
and waiting a while for it: the API's half of :mod:`controlplane.engine.catalog.computations`."""

from __future__ import annotations

import asyncio
import uuid

from controlplane.engine.catalog.computations import (
    Computation,
    Kind,
    find_computation,
    handler_of,
    request_for,
)
from controlplane.engine.catalog.datasets import Dataset, DatasetVersion
from controlplane.engine.definitions.templates import served_templates
from controlplane.errors import Conflict
from controlplane.runs import start_pipeline
from controlplane.services import Services

# How often a waiting request looks again (one indexed read).
_POLL_SECONDS = 0.2


async def computed(
    services: Services,
    dataset: Dataset,
    version: DatasetVersion,
    kind: Kind,
    wait_seconds: float,
    offset: int = 0,
) -> Computation:
    """The computation of ``kind`` for the version (from row ``offset``), started if it was
    not, after waiting up to ``wait_seconds`` for it to settle (it may still be pending)."""
    found = await find_computation(services.pool, dataset, version, kind, offset)
    if found is None:
        await require_dataset_worker(services, dataset.application_id, handler_of(kind))
        request = request_for(dataset, version, kind, offset)
        await start_pipeline(services, dataset.application_id, request)
        found = await find_computation(services.pool, dataset, version, kind, offset)
        assert found is not None  # just stored, and never deleted this soon
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while not found.settled and loop.time() < deadline and not services.stopping.is_set():
        await asyncio.sleep(_POLL_SECONDS)
        found = await find_computation(services.pool, dataset, version, kind, offset) or found
    if not found.settled:
        # Still waiting: say so if nobody is left to run it (the worker went away).
        await require_dataset_worker(services, dataset.application_id, handler_of(kind))
    return found


async def require_dataset_worker(
    services: Services, application_id: uuid.UUID, template: str
) -> None:
    """Refuse to start a job of ``template`` that no online worker of the application would
    run (a sample, a profile, an upload's ingest)."""
    served = await served_templates(
        services.pool,
        application_id,
        offline_after_seconds=services.settings.worker_offline_after_seconds,
    )
    if template not in {found.name for found in served}:
        raise Conflict(
            "no_dataset_worker",
            f"no online worker of the application serves {template}: start one that can "
            "read the lake, e.g. `pipelogiq-worker --templates dataset`",
        )
