"""GET /datasets, /datasets/{id}, /datasets/{id}/sample, /datasets/{id}/profile: the
catalog of the key's application (the dashboard's /api/datasets read the same)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter

from controlplane.api.wire import wire
from controlplane.catalog_computations import computed
from controlplane.engine.access.applications import Application
from controlplane.engine.catalog.computations import SAMPLE_ROWS, Kind
from controlplane.engine.catalog.datasets import (
    Dataset,
    DatasetFilter,
    DatasetSummary,
    application_of,
    get_dataset,
    list_datasets,
)
from controlplane.errors import Conflict, InvalidRequest, NotFound
from controlplane.schemas import (
    MAX_ID,
    ComputationPending,
    DatasetLayer,
    DatasetPage,
    DatasetProfile,
    DatasetSample,
    DatasetSummaryView,
    DatasetView,
    UploadView,
)
from controlplane.services import Services
from controlplane.uploads import upload

LayerFilter = Annotated[
    Literal[DatasetLayer, "none"] | None,
    QueryParameter(name="layer", description="datasets of this layer (none: of no layer)"),
]
Search = Annotated[
    str | None,
    QueryParameter(name="search", max_length=200, description="part of the name or the URI"),
]
Limit = Annotated[int, QueryParameter(name="limit", ge=1, le=200)]
Offset = Annotated[int, QueryParameter(name="offset", ge=0, le=100_000)]
VersionNumber = Annotated[
    int | None,
    QueryParameter(name="version", ge=0, le=MAX_ID, description="by default the latest"),
]
SampleLimit = Annotated[
    int, QueryParameter(name="limit", ge=1, le=SAMPLE_ROWS, description="rows, at most 1,000")
]
Wait = Annotated[
    float,
    QueryParameter(
        name="wait",
        ge=0,
        le=60,
        description="seconds to wait for a dataset worker to compute it the first time; "
        "202 if it has not finished by then",
    ),
]

# What the sample and profile operations answer besides 200.
COMPUTED_ELSEWHERE: dict[int, ResponseSpec] = {
    202: ResponseSpec(
        ComputationPending,
        description="A dataset worker is computing it: ask again (Retry-After).",
        generate_examples=False,
    )
}
# version_not_found (404); no_dataset_worker, computation_failed (409);
# dataset_files_missing, version_removed (410).
COMPUTED_ERRORS = [404, 409, 410]

WAIT_DEFAULT = 20.0


UPLOAD_BODY = {
    "multipart/form-data": "`file`: a CSV, JSON lines or Parquet file (up to "
    "PIPELOGIQ_MAX_UPLOAD_BYTES, 1 GiB); `name`: the dataset's "
    "(<application>/bronze/<name>; by default the file's name); `format`: csv, jsonl or "
    "parquet (by default from the file's extension); `mode`: append (default) or overwrite."
}
# application_not_found (404, internal); invalid_upload, invalid_data (422);
# no_dataset_worker, schema_mismatch (409);
# upload_too_large (413); not multipart (415).
UPLOAD_ERRORS = [404, 409, 413, 415]
UPLOAD_DESCRIPTION = (
    "The file is written to the lake as it arrives (never held in memory), its schema is "
    "read from its start, and a pipeline runs dataset.ingest on it, on the application's "
    "dataset workers, into the bronze dataset <application>/bronze/<name>."
)


def page_of(rows: list[DatasetSummary], has_more: bool) -> DatasetPage:
    return DatasetPage(wire(rows, list[DatasetSummaryView]), has_more)


async def sample_of(
    services: Services, dataset: Dataset, version: int | None, limit: int, wait: float
) -> Response[DatasetSample]:
    found = await computed_output(services, dataset, version, "sample", wait)
    if isinstance(found, Response):
        return found
    sample = read_output(found, DatasetSample, "sample")
    sample.rows = sample.rows[:limit]
    return Response(sample)


async def profile_of(
    services: Services, dataset: Dataset, version: int | None, wait: float
) -> Response[DatasetProfile]:
    found = await computed_output(services, dataset, version, "profile", wait)
    if isinstance(found, Response):
        return found
    return Response(read_output(found, DatasetProfile, "profile"))


async def computed_output(
    services: Services,
    dataset: Dataset,
    version: int | None,
    kind: Kind,
    wait: float,
    offset: int = 0,
) -> Any:
    """The computation's output, or a 202 answer while it runs."""
    computation = await computed(services, dataset, dataset.version(version), kind, wait, offset)
    if not computation.settled:
        pending = ComputationPending(computation.status, computation.pipeline_id)
        return Response(pending, status_code=202, headers={"Retry-After": "1"})
    return computation.result()


def read_output(output: Any, shape: type[Any], what: str) -> Any:
    # The output is a worker's JSON: a worker of the application may serve the template
    # with code of its own.
    try:
        return msgspec.convert(output, shape)
    except msgspec.ValidationError as error:
        detail = f"the worker's output is not a {what}: {error}"
        raise Conflict("computation_failed", detail) from None


class DatasetController(Controller):
    path = "/datasets"
    tags = ["datasets"]
    opt = {"scope": "read"}

    @get("/", summary="The application's datasets, the most recently written first")
    async def list(
        self,
        application: NamedDependency[Application],
        services: NamedDependency[Services],
        layer: LayerFilter = None,
        search: Search = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> DatasetPage:
        rows, has_more = await list_datasets(
            services.pool,
            member=None,
            where=DatasetFilter(application.id, layer, search or None),
            limit=limit,
            offset=offset,
        )
        return page_of(rows, has_more)

    @post(
        "/uploads",
        status_code=201,
        summary="Upload a file as a bronze dataset of the key's application",
        description=UPLOAD_DESCRIPTION,
        opt={"scope": "submit", "raw_body": UPLOAD_BODY, "errors": UPLOAD_ERRORS},
        request_max_body_size=None,  # PIPELOGIQ_MAX_UPLOAD_BYTES, counted as bytes arrive
    )
    async def upload(
        self,
        request: Request[Any, Any, Any],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
    ) -> UploadView:
        async def own(given: str | None) -> uuid.UUID:
            if given is not None and given != str(application.id):
                raise InvalidRequest(
                    "invalid_upload", "applicationId: a key uploads to its own application"
                )
            return application.id

        uploaded = await upload(
            services,
            request.stream(),
            request.headers.get("content-type"),
            application=own,
            known=application.id,
        )
        return wire(uploaded, UploadView)

    @get("/{dataset_id:uuid}", summary="A dataset: its schema, versions and lineage")
    async def read(
        self,
        dataset_id: FromPath[uuid.UUID],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
    ) -> DatasetView:
        return wire(await _owned(services, application, dataset_id), DatasetView)

    @get(
        "/{dataset_id:uuid}/sample",
        summary="Rows of a dataset version, read by a dataset worker",
        opt={"errors": COMPUTED_ERRORS},
        responses=COMPUTED_ELSEWHERE,
    )
    async def sample(
        self,
        dataset_id: FromPath[uuid.UUID],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
        version: VersionNumber = None,
        limit: SampleLimit = 100,
        wait: Wait = WAIT_DEFAULT,
    ) -> Response[DatasetSample]:
        dataset = await _owned(services, application, dataset_id)
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
        application: NamedDependency[Application],
        services: NamedDependency[Services],
        version: VersionNumber = None,
        wait: Wait = WAIT_DEFAULT,
    ) -> Response[DatasetProfile]:
        dataset = await _owned(services, application, dataset_id)
        return await profile_of(services, dataset, version, wait)


async def _owned(services: Services, application: Application, dataset_id: uuid.UUID) -> Dataset:
    if await application_of(services.pool, dataset_id) != application.id:
        raise NotFound("dataset_not_found", f"no dataset {dataset_id}")
    return await get_dataset(services.pool, dataset_id)
