"""/api/retention: what a retention round would delete now, and running one now (admins only).

The built-in worker runs a round every 5 minutes; these let an admin see what the next would
delete, and run it at once, by the same rules (see engine.upkeep.rules).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency

from controlplane.api.internal.schemas import (
    RetentionApplicationCount,
    RetentionKindView,
    RetentionPreview,
    RetentionRun,
)
from controlplane.api.internal.session import actor_of, requires
from controlplane.engine.upkeep.retention import KINDS, Report, Retention, preview, run_now
from controlplane.schemas import camel
from controlplane.services import Services

# The environment variable of each field of Retention.
_SETTINGS = {
    "pipelines_days": "PIPELOGIQ_RETAIN_PIPELINES_DAYS",
    "logs_days": "PIPELOGIQ_RETAIN_LOGS_DAYS",
    "workers_days": "PIPELOGIQ_RETAIN_WORKERS_DAYS",
    "audit_days": "PIPELOGIQ_RETAIN_AUDIT_DAYS",
    "dataset_versions": "PIPELOGIQ_RETAIN_DATASET_VERSIONS",
}


def _kinds(report: Report, retention: Retention) -> list[RetentionKindView]:
    views = []
    for kind in KINDS:
        tally = report.kinds[kind.name]
        applications = [
            RetentionApplicationCount(
                application, report.application_names.get(application, str(application)), n
            )
            for application, n in tally.applications.most_common()
            if n
        ]
        views.append(
            RetentionKindView(
                kind.name,  # type: ignore[arg-type]
                kind.what,
                _SETTINGS.get(kind.setting or ""),
                retention.days_of(kind),
                retention.cutoff(kind, report.at),
                tally.count,
                applications,
                {camel(name): n for name, n in tally.contents.items()},
                tally.items,
            )
        )
    return views


class RetentionController(Controller):
    path = "/retention"
    tags = ["retention"]
    guards = [requires("admin")]

    @get(
        "/preview",
        summary="What a retention round would delete now, deleting nothing",
        description="Counted by the rules a round deletes by, in one snapshot, per kind and "
        "per application, with the settings and cutoffs that make it due. A round may "
        "remove fewer dataset versions, when the lake cannot be reached from its process.",
    )
    async def preview(self, services: NamedDependency[Services]) -> RetentionPreview:
        retention = Retention.of(services.settings)
        report = await preview(services.pool, retention)
        return RetentionPreview(report.at, _kinds(report, retention))

    @post(
        "/run",
        status_code=200,
        summary="Run a retention round now, and say what it deleted",
        description="The built-in worker's round, here and now, in bounded batches (it may "
        "take a while with a large backlog); audited as `retention.run`. 409 "
        "`retention_running` while another round runs.",
        opt={"errors": [409]},
    )
    async def run(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services]
    ) -> RetentionRun:
        retention = Retention.of(services.settings)
        done = await run_now(services.pool, services.artifacts, retention, actor_of(request))
        assert done.finished_at is not None
        return RetentionRun(
            done.at,
            done.finished_at,
            _kinds(done, retention),
            done.partitions_made,
            done.problems,
        )
