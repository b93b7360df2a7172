"""What an alert rule watches: one Struct per kind of condition, told apart by ``type``.

The same Structs are the API's wire shapes and what the rules table keeps (as JSON), so a
condition is validated once, at the edge, and read back as the very value that was checked.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from controlplane.engine.reads import risk as risk_read
from controlplane.schemas import HandlerName, Name, ShortName

# A week, in minutes: the longest wait or duration a rule may name.
_WEEK_MINUTES = 7 * 24 * 60
Minutes = Annotated[int, Meta(ge=1, le=_WEEK_MINUTES)]


class _Condition(
    Struct,
    tag_field="type",
    rename="camel",
    forbid_unknown_fields=True,
    frozen=True,
    omit_defaults=True,
):
    pass


class PipelineFailed(_Condition, tag="pipeline_failed"):
    """A pipeline failed. Each filter given must match: the pipeline's name, the definition
    it was started from, a keyword it carries. Subject: the pipeline's name; cleared when a
    run of that name started after the failure completes."""

    name: Name | None = None
    definition_id: uuid.UUID | None = None
    keyword: ShortName | None = None


class StageFailed(_Condition, tag="stage_failed"):
    """A stage failed for good (after its retries). Subject: the stage of its pipeline's name;
    cleared when that stage completes in a later run."""

    pipeline_name: Name | None = None
    stage: ShortName | None = None
    handler: HandlerName | None = None


class StagePending(_Condition, tag="stage_pending"):
    """The pending watchdog: a stage waited ``minutes`` queued with no online worker serving
    its handler. Subject: the handler; cleared when none waits so. With
    ``fail_after_minutes``, a stage still waiting that long fails (``no_worker``)."""

    minutes: Minutes
    handler: HandlerName | None = None
    fail_after_minutes: Minutes | None = None


class QueueBacklog(_Condition, tag="queue_backlog"):
    """More than ``above`` stages of a handler stayed queued for ``minutes``. Subject: the
    handler's queue; cleared when its backlog is back at or under the bound."""

    above: Annotated[int, Meta(ge=0, le=1_000_000_000)]
    minutes: Annotated[int, Meta(ge=0, le=_WEEK_MINUTES)] = 5
    handler: HandlerName | None = None


class WorkerLost(_Condition, tag="worker_lost"):
    """A worker stopped heartbeating while it held jobs (their leases were lost). Subject:
    the worker's name; cleared when a worker of that name is online again."""

    worker: ShortName | None = None


class ScheduleMissed(_Condition, tag="schedule_missed"):
    """A schedule's fire was missed (skipped, or caught up late) or could not start its run.
    Subject: the schedule; cleared by its next fire that starts a run on time."""

    schedule: ShortName | None = None


class QualityFailureRate(_Condition, tag="quality_failure_rate"):
    """A quality stage quarantined more than ``above`` (a share, 0 to 1) of the rows it
    checked. Subject: the checked dataset; cleared when its latest check is at or under."""

    above: Annotated[float, Meta(ge=0, le=1)]
    dataset: ShortName | None = None


class Risk(_Condition, tag="risk"):
    """A risk (docs/alerts.md, "Risk"): a stage's or a pipeline's failures, or its duration
    against its own history, at ``min_severity`` or worse. ``kind`` limits it to stages or to
    pipelines; ``handler`` and ``stage`` name stages, ``pipeline_name`` a pipeline. Subject:
    the stage and handler, or the pipeline's name; cleared when it is back under."""

    min_severity: Literal["info", "warning", "critical"] = "warning"
    signal: Literal["failures", "duration"] | None = None
    kind: Literal["stage", "pipeline"] | None = None
    handler: HandlerName | None = None
    stage: ShortName | None = None
    pipeline_name: Name | None = None

    def matches(self, risk: risk_read.Risk) -> bool:
        """Whether ``risk`` is one this condition watches (its severity aside)."""
        return (
            self.signal in (None, risk.signal)
            and self.kind in (None, risk.kind)
            and self.handler in (None, risk.handler)
            and self.stage in (None, risk.stage_name)
            and self.pipeline_name in (None, risk.pipeline_name)
        )


Condition = (
    PipelineFailed
    | StageFailed
    | StagePending
    | QueueBacklog
    | WorkerLost
    | ScheduleMissed
    | QualityFailureRate
    | Risk
)
TYPES = tuple(kind.__struct_config__.tag for kind in Condition.__args__)  # type: ignore[attr-defined]


def parse(raw: bytes | str) -> Condition:
    """A condition as the rules table keeps it (JSON)."""
    return msgspec.json.decode(raw, type=Condition)  # type: ignore[arg-type]
