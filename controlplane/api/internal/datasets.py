"""/api/datasets: the catalog of the applications the user sees, for the dashboard."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from controlplane.api.external.datasets import (
    COMPUTED_ELSEWHERE,
    COMPUTED_ERRORS,
    WAIT_DEFAULT,
    LayerFilter,
    Limit,
    Offset,
    SampleLimit,
    Search,
    VersionNumber,
    Wait,
    page_of,
    profile_of,
    sample_of,
)
from controlplane.api.internal.session import member_scope, visible_application
from controlplane.api.wire import wire
from controlplane.engine.catalog.datasets import (
    Dataset,
    DatasetFilter,
    application_of,
    get_dataset,
    list_datasets,
)
from controlplane.errors import NotFound
from controlplane.schemas import DatasetPage, DatasetProfile, DatasetSample, DatasetView
from controlplane.services import Services


async def visible_dataset(
    services: Services, request: Request[Any, Any, Any], dataset_id: uuid.UUID
) -> Dataset:
    """The dataset, if the user sees its application; a 404 otherwise."""
    not_found = NotFound("dataset_not_found", f"no dataset {dataset_id}")
    await visible_application(request, await application_of(services.pool, dataset_id), not_found)
    return await get_dataset(services.pool, dataset_id)


class DatasetController(Controller):
    path = "/datasets"
    tags = ["datasets"]

    @get("/", summary="Datasets of your applications, the most recently written first")
    async def list(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        application: Annotated[uuid.UUID | None, QueryParameter(name="application")] = None,
        layer: LayerFilter = None,
        search: Search = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> DatasetPage:
        rows, has_more = await list_datasets(
            services.pool,
            member=member_scope(request),
            where=DatasetFilter(application, layer, search or None),
            limit=limit,
            offset=offset,
        )
        return page_of(rows, has_more)

    @get(
        "/{dataset_id:uuid}",
        summary="A dataset: its schema, versions and lineage across pipelines",
    )
    async def read(
        self,
        dataset_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> DatasetView:
        return wire(await visible_dataset(services, request, dataset_id), DatasetView)

    @get(
        "/{dataset_id:uuid}/sample",
        summary="Rows of a dataset version, read by a dataset worker",
        opt={"errors": COMPUTED_ERRORS},
        responses=COMPUTED_ELSEWHERE,
    )
    async def sample(
        self,
        dataset_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        version: VersionNumber = None,
        limit: SampleLimit = 100,
        wait: Wait = WAIT_DEFAULT,
    ) -> Response[DatasetSample]:
        dataset = await visible_dataset(services, request, dataset_id)
        return await sample_of(services, dataset, version, limit, wait)

    @get(
        "/{dataset_id:uuid}/profile",
        summary="Per column: nulls, distinct values, range, top values, a histogram",
        opt={"errors": COMPUTED_ERRORS},
        responses=COMPUTED_ELSEWHERE,
    )
    async def profile(
        self,
        dataset_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        version: VersionNumber = None,
        wait: Wait = WAIT_DEFAULT,
    ) -> Response[DatasetProfile]:
        dataset = await visible_dataset(services, request, dataset_id)
        return await profile_of(services, dataset, version, wait)
