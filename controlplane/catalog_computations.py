"""Asking the application's dataset workers for a sample or a profile of a dataset version,
and waiting a while for it: the API's half of :mod:`controlplane.engine.catalog.computations`."""

from __future__ import annotations

import asyncio
from typing import Any

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
) -> Computation:
    """The computation of ``kind`` for the version, started if it was not, after waiting up
    to ``wait_seconds`` for it to settle (it may still be pending)."""
    found = await find_computation(services.pool, dataset, version, kind)
    if found is None:
        await _check_served(services, dataset, kind)
        await start_pipeline(services, dataset.application_id, request_for(dataset, version, kind))
        found = await find_computation(services.pool, dataset, version, kind)
        assert found is not None  # just stored, and never deleted this soon
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while not found.settled and loop.time() < deadline and not services.stopping.is_set():
        await asyncio.sleep(_POLL_SECONDS)
        found = await find_computation(services.pool, dataset, version, kind) or found
    if not found.settled:
        # Still waiting: say so if nobody is left to run it (the worker went away).
        await _check_served(services, dataset, kind)
    return found


async def _check_served(services: Services, dataset: Dataset, kind: Kind) -> None:
    """Refuse to start a job that no online worker would run."""
    served = await served_templates(
        services.pool,
        dataset.application_id,
        offline_after_seconds=services.settings.worker_offline_after_seconds,
    )
    handler = handler_of(kind)
    if handler not in {template.name for template in served}:
        raise Conflict(
            "no_dataset_worker",
            f"no online worker of {dataset.application_name} serves {handler}: start one "
            "that can read the lake, e.g. `pipelogiq-worker --templates dataset`",
        )


def pending(computation: Computation) -> dict[str, Any]:
    """What a request answers while the computation runs (202)."""
    return {"status": computation.status, "pipelineId": str(computation.pipeline_id)}
