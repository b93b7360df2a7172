"""The external API's wire shapes, as the SDK reads and writes them (camelCase on the wire)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec

StageStatus = Literal[
    "not_started",
    "queued",
    "running",
    "completed",
    "failed",
    "retry_scheduled",
    "skipped",
    "cancelled",
]
PipelineStatus = Literal["running", "completed", "failed", "cancelled"]
TERMINAL_PIPELINE_STATUSES = frozenset({"completed", "failed", "cancelled"})


class _Wire(msgspec.Struct, rename="camel", omit_defaults=True):
    pass


class Stage(msgspec.Struct, rename="camel", omit_defaults=True, frozen=True):
    id: str
    name: str
    handler: str
    status: StageStatus
    attempt: int = 0
    depends_on: list[str] = []
    max_retries: int = 0
    timeout_seconds: int | None = None
    input: Any = None
    output: Any = None
    error: Any = None
    queued_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    retry_at: dt.datetime | None = None


class RunOf(msgspec.Struct, rename="camel", omit_defaults=True, frozen=True):
    """The pipeline definition version a pipeline is a run of, and its params."""

    definition_id: str
    definition: str
    version: int
    params: dict[str, Any] = {}


class Pipeline(msgspec.Struct, rename="camel", omit_defaults=True, frozen=True):
    """A pipeline as the control plane reports it."""

    id: str
    name: str
    status: PipelineStatus
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None = None
    keywords: list[str] = []
    stages: list[Stage] = []
    context: dict[str, Any] = {}
    # Set when the pipeline is a run of a pipeline definition.
    run_of: RunOf | None = None
    # The W3C trace the pipeline belongs to (32 hex digits).
    trace_id: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_PIPELINE_STATUSES

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)


class Job(msgspec.Struct, rename="camel", omit_defaults=True, frozen=True):
    job_id: str
    stage_id: str
    pipeline_id: str
    handler: str
    stage_name: str
    attempt: int
    lease_expires_at: dt.datetime
    input: Any = None
    context: dict[str, Any] = {}
    dependencies: dict[str, Any] = {}
    timeout_seconds: int | None = None
    traceparent: str | None = None


class PullResponse(_Wire):
    jobs: list[Job]


class LogEntry(_Wire):
    level: str
    message: str


class Artifact(msgspec.Struct, rename="camel", omit_defaults=True, frozen=True):
    """A file a job attached to its result, as the control plane recorded it."""

    id: str
    name: str
    content_type: str
    size: int
    sha256: str
    stage_name: str = ""
    attempt: int = 0


class JobError(_Wire):
    message: str
    code: str | None = None
    retryable: bool = True


class DatasetColumn(msgspec.Struct, frozen=True):
    name: str
    type: str


class DatasetRead(msgspec.Struct, rename="camel", omit_defaults=True, frozen=True):
    """A dataset version (or, without ``version``, a file) a job read."""

    uri: str
    version: int | None = None


class DatasetWritten(msgspec.Struct, rename="camel", omit_defaults=True, frozen=True):
    """A dataset version a job committed, registered in the catalog with the job's ack."""

    uri: str
    version: int
    rows: int
    name: str | None = None
    # bronze, silver, gold or quarantine.
    layer: str | None = None
    bytes: int | None = None
    schema: list[DatasetColumn] = []
    reads: list[DatasetRead] = []
    # For a quarantine: the dataset its rows were kept out of (where a review releases them).
    checks: str | None = None


class JobResult(_Wire):
    job_id: str
    status: Literal["completed", "failed"]
    output: Any = None
    error: JobError | None = None
    logs: list[LogEntry] = []
    context: dict[str, Any] = {}
    datasets: list[DatasetWritten] = []


class RejectedResult(_Wire):
    """A result the control plane did not apply. ``reason`` says why (``lease_lost``,
    ``invalid_result``...); for ``invalid_result``, ``code`` and ``detail`` say what is wrong
    with it (older control planes send neither)."""

    job_id: str
    reason: str
    code: str | None = None
    detail: str | None = None


class AckResponse(_Wire):
    accepted: list[str]
    rejected: list[RejectedResult] = []


class BootstrapResponse(_Wire):
    worker_id: str
    heartbeat_interval_seconds: float
    offline_after_seconds: float
    lease_seconds: float = 30.0


class HeartbeatResponse(_Wire):
    cancel_job_ids: list[str] = []
