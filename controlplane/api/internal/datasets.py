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
    computed_output,
    page_of,
    profile_of,
    read_output,
    sample_of,
)
from controlplane.api.internal.schemas import (
    DatasetRetentionChange,
    DatasetRetentionView,
    QuarantineDecided,
    QuarantineDecisions,
    QuarantineReview,
    QuarantineRow,
    QuarantineTarget,
    RowDecisionView,
)
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
from controlplane.engine.catalog.quarantine import (
    FAILED_RULES,
    Decided,
    Decision,
    decisions_between,
    tally,
    target_of,
)
from controlplane.engine.catalog.retention import (
    DatasetRetention,
    dataset_retention,
    set_dataset_retention,
)
from controlplane.errors import InvalidRequest, NotFound
from controlplane.quarantine_review import decide, quarantine_version
from controlplane.schemas import (
    MAX_ID,
    DatasetColumn,
    DatasetPage,
    DatasetProfile,
    DatasetSample,
    DatasetView,
    UploadView,
)
from controlplane.services import Services
from controlplane.uploads import upload

ReviewOffset = Annotated[
    int, QueryParameter(name="offset", ge=0, le=MAX_ID, description="the first row's place")
]
# not_a_quarantine, already_decided, no_checked_dataset, no_dataset_worker (409);
# version_not_found (404); version_removed (410); duplicate_row, row_out_of_range,
# invalid_fix (422).
DECISION_ERRORS = [404, 409, 410, 422]


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

    @get(
        "/{dataset_id:uuid}/quarantine",
        summary="A page of a quarantine's rows, with the rules each failed and its decision",
        description="The rows are read by a dataset worker (a job of dataset.sample from "
        "the offset), 100 at a time; decisions come from the catalog. 202 while the worker "
        "reads them.",
        opt={"errors": COMPUTED_ERRORS},
        responses=COMPUTED_ELSEWHERE,
    )
    async def quarantine(
        self,
        dataset_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        version: VersionNumber = None,
        offset: ReviewOffset = 0,
        wait: Wait = WAIT_DEFAULT,
    ) -> Response[QuarantineReview]:
        dataset = await visible_dataset(services, request, dataset_id)
        reviewed = quarantine_version(dataset, version)
        rows: list[dict[str, Any]] = []
        if offset < reviewed.rows:
            page = await computed_output(
                services, dataset, reviewed.version, "quarantine", wait, offset
            )
            if isinstance(page, Response):
                return page
            rows = read_output(page, DatasetSample, "sample").rows
        pool, application = services.pool, dataset.application_id
        places = range(offset, offset + len(rows))
        decided = await decisions_between(pool, application, dataset.id, reviewed.version, places)
        target = await target_of(pool, dataset.id, reviewed.version)
        counts = await tally(pool, application, dataset.id, reviewed.version)
        counts["open"] = reviewed.rows - sum(
            n for outcome, n in counts.items() if outcome not in ("failed", "cancelled")
        )
        after = offset + len(rows)
        return Response(
            QuarantineReview(
                version=reviewed.version,
                rows_total=reviewed.rows,
                tally=counts,
                columns=[
                    DatasetColumn(c.name, c.type) for c in reviewed.schema if c.name != FAILED_RULES
                ],
                offset=offset,
                rows=[
                    _row(place, row, decided.get(place))
                    for place, row in zip(places, rows, strict=True)
                ],
                next_offset=after if rows and after < reviewed.rows else None,
                target=wire(target, QuarantineTarget) if target else None,
            )
        )

    @post(
        "/{dataset_id:uuid}/quarantine/decisions",
        status_code=201,
        guards=[requires("admin", "developer")],
        summary="Release quarantined rows (as they are, or fixed) or discard them",
        description="Each row is decided once, all of a request or none of it, and every "
        "decision is audited. Released rows are appended to the dataset the same quality "
        "check kept, as its next version, by a dataset.release pipeline on the application's "
        "dataset workers; a row whose release failed may be decided again.",
        opt={"errors": DECISION_ERRORS},
    )
    async def decide(
        self,
        dataset_id: FromPath[uuid.UUID],
        data: JSONBody[QuarantineDecisions],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> QuarantineDecided:
        dataset = await visible_dataset(services, request, dataset_id)
        decisions = [Decision(d.row, d.action, d.values) for d in data.decisions]
        batch, pipeline_id = await decide(
            services, actor_of(request), dataset, data.version, decisions, data.note
        )
        released = sum(1 for d in decisions if d.action == "release")
        return QuarantineDecided(
            batch_id=batch.id,
            released=released,
            discarded=len(decisions) - released,
            target_dataset_id=batch.target.id if batch.target and released else None,
            release_pipeline_id=pipeline_id,
        )


def _row(place: int, values: dict[str, Any], decided: Decided | None) -> QuarantineRow:
    rules = values.pop(FAILED_RULES, None)
    failed = [rule for rule in str(rules).split(", ") if rule] if rules else []
    decision = None
    if decided is not None:
        decision = RowDecisionView(
            action=decided.action,
            values=decided.fixed,
            note=decided.note,
            decided_by=decided.decided_by_name,
            decided_at=decided.decided_at,
            pipeline_id=decided.pipeline_id,
            outcome=decided.outcome,
        )
    return QuarantineRow(row=place, failed_rules=failed, values=values, decision=decision)


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
