"""Deciding on quarantined rows: record the decisions, then start the pipeline that appends
the released ones to the checked dataset; the API's half of
:mod:`controlplane.engine.catalog.quarantine`."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter

from controlplane.catalog_computations import require_dataset_worker
from controlplane.engine.access.audit import Actor
from controlplane.engine.catalog.datasets import Dataset, DatasetVersion
from controlplane.engine.catalog.quarantine import (
    Batch,
    Decision,
    Target,
    check_fixed,
    record_decisions,
    release_request,
    target_of,
    withdraw,
)
from controlplane.errors import Conflict, InvalidRequest
from controlplane.runs import start_pipeline
from controlplane.services import Services


def quarantine_version(dataset: Dataset, number: int | None) -> DatasetVersion:
    """The version under review: 409 for a dataset that is no quarantine, 404/410 as
    :meth:`Dataset.version` says."""
    if dataset.layer != "quarantine":
        raise Conflict(
            "not_a_quarantine",
            f"{dataset.name} is a dataset of the {dataset.layer or 'no'} layer, not a "
            "quarantine: only the rows a quality check set aside are reviewed",
        )
    return dataset.version(number)


def _checked(decisions: list[Decision], version: DatasetVersion) -> None:
    """Refuse what no row of the version could take, before anything is recorded."""
    repeated = [row for row, n in Counter(d.row for d in decisions).items() if n > 1]
    if repeated:
        raise InvalidRequest("duplicate_row", f"row {repeated[0]} is decided twice")
    columns = {column.name: column.type for column in version.schema}
    for decision in decisions:
        if decision.row >= version.rows:
            raise InvalidRequest(
                "row_out_of_range",
                f"row {decision.row}: version {version.version} has {version.rows} rows",
            )
        if decision.fixed is not None:
            if decision.action == "discard":
                problem = f"row {decision.row}: a discard takes no values"
                raise InvalidRequest("invalid_fix", problem)
            check_fixed(columns, decision.fixed, decision.row)


async def decide(
    services: Services,
    actor: Actor,
    dataset: Dataset,
    version_number: int,
    decisions: list[Decision],
    note: str | None,
) -> tuple[Batch, uuid.UUID | None]:
    """Record the decisions, all or none, and start the release of the released rows; the
    batch, and the release pipeline's id (None when nothing was released)."""
    version = quarantine_version(dataset, version_number)
    _checked(decisions, version)
    releases = [d for d in decisions if d.action == "release"]
    target: Target | None = None
    if releases:
        target = await target_of(services.pool, dataset.id, version.version)
        if target is None:
            raise Conflict(
                "no_checked_dataset",
                "the catalog does not know which dataset the quality check that wrote this "
                "version kept: its rows can be discarded, not released",
            )
        await require_dataset_worker(services, dataset.application_id, "dataset.release")
    batch = Batch(uuid.uuid4(), dataset.application_id, dataset.id, version.version, target, note)
    await record_decisions(services.pool, actor, batch, decisions)
    if target is None:
        return batch, None
    request = release_request(dataset.uri, version.version, target, batch, releases)
    try:
        pipeline, _ = await start_pipeline(services, dataset.application_id, request)
    except BaseException as error:
        # The request fails as a whole: the decisions go too, unless their release was
        # stored before the failure (then it runs, and they stand). Shielded from a
        # cancelled request; if the database cannot be asked now, the decisions stay, and
        # may be decided again a minute on if no release was stored.
        with contextlib.suppress(Exception):
            await asyncio.shield(withdraw(services.pool, actor, batch, repr(error)))
        raise
    return batch, pipeline.id
