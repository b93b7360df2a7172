"""/api/datasets: the catalog of the applications the user sees, for the dashboard."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from controlplane.api.external.datasets import (
    COMPUTED_ELSEWHERE,
    COMPUTED_ERRORS,
    UPLOAD_BODY,
    UPLOAD_DESCRIPTION,
    UPLOAD_ERRORS,
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
from controlplane.api.internal.schemas import DatasetRetentionChange, DatasetRetentionView
from controlplane.api.internal.session import (
    actor_of,
    member_scope,
    requires,
    visible_application,
)
from controlplane.api.wire import wire
from controlplane.engine.catalog.datasets import (
    Dataset,
    DatasetFilter,
    application_of,
    get_dataset,
    list_datasets,
)
from controlplane.engine.catalog.retention import (
    DatasetRetention,
    dataset_retention,
    set_dataset_retention,
)
from controlplane.errors import InvalidRequest, NotFound
from controlplane.schemas import (
    DatasetPage,
    DatasetProfile,
    DatasetSample,
    DatasetView,
    UploadView,
)
from controlplane.services import Services
from controlplane.uploads import upload


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

    @post(
        "/uploads",
        status_code=201,
        guards=[requires("admin", "developer")],
        summary="Upload a file as a bronze dataset of one of your applications",
        description=UPLOAD_DESCRIPTION + " The form names the application in `applicationId`.",
        opt={"raw_body": UPLOAD_BODY, "errors": UPLOAD_ERRORS},
        request_max_body_size=None,  # PIPELOGIQ_MAX_UPLOAD_BYTES, counted as bytes arrive
    )
    async def upload(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services]
    ) -> UploadView:
        async def visible(given: str | None) -> uuid.UUID:
            if given is None:
                raise InvalidRequest("invalid_upload", "the form has no field `applicationId`")
            try:
                application_id = uuid.UUID(given)
            except ValueError:
                raise InvalidRequest("invalid_upload", "applicationId is not an id") from None
            not_found = NotFound("application_not_found", f"no application {given}")
            return (await visible_application(request, application_id, not_found)).id

        uploaded = await upload(
            services, request.stream(), request.headers.get("content-type"), application=visible
        )
        return wire(uploaded, UploadView)

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


def _retention_view(services: Services, retention: DatasetRetention) -> DatasetRetentionView:
    return DatasetRetentionView(
        retention.application_id,
        retention.keep_versions,
        services.settings.retain_dataset_versions,
    )


class DatasetRetentionController(Controller):
    path = "/applications/{application_id:uuid}/dataset-retention"
    tags = ["datasets"]

    @get("/", summary="How many versions of each dataset the application's lake keeps")
    async def read(
        self,
        application_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> DatasetRetentionView:
        not_found = NotFound("application_not_found", f"no application {application_id}")
        await visible_application(request, application_id, not_found)
        return _retention_view(services, await dataset_retention(services.pool, application_id))

    @put(
        "/",
        guards=[requires("admin")],
        summary="Keep the newest N versions of each dataset (null: the default)",
        description="Versions that a stored pipeline wrote or read are kept too. The "
        "built-in worker removes the others' files with Lance's cleanup in its retention "
        "round, and marks them removed in the catalog.",
    )
    async def change(
        self,
        application_id: FromPath[uuid.UUID],
        data: JSONBody[DatasetRetentionChange],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> DatasetRetentionView:
        changed = await set_dataset_retention(
            services.pool, actor_of(request), application_id, data.keep_versions
        )
        return _retention_view(services, changed)
