"""Wire shapes of the internal API (camelCase on the wire, unknown fields refused)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from controlplane.engine.alerts.conditions import Condition
from controlplane.engine.definitions.documents import MAX_DOCUMENT_BYTES
from controlplane.engine.jobpath.approvals import Status as ApprovalStatus
from controlplane.engine.jobpath.policies import Kind
from controlplane.schemas import (
    MAX_ID,
    PLAIN_TEXT,
    DatasetColumn,
    DefinitionVersionView,
    Name,
    PipelineView,
    ShortName,
    Version,
)

Email = Annotated[str, Meta(min_length=3, max_length=320)]


class _Request(Struct, rename="camel", forbid_unknown_fields=True):
    pass


class _Response(Struct, rename="camel"):
    pass


class LoginRequest(_Request):
    email: Email
    password: Annotated[str, Meta(min_length=1, max_length=1024)]


class UserView(_Response):
    id: uuid.UUID
    email: str
    name: str
    role: Literal["admin", "developer", "operator"]
    # The password was chosen for them (the first start's, or an admin's): every other call
    # answers 403 password_change_required until POST /api/auth/password.
    must_change_password: bool


class SessionView(_Response):
    user: UserView
    # Send it back in the X-CSRF-Token header with every POST, PUT, PATCH and DELETE.
    csrf_token: str
    access_expires_in_seconds: int


# Under 12 characters is refused with its own code (422 weak_password), so the bound is said
# rather than checked here.
NewPassword = Annotated[
    str,
    Meta(min_length=1, max_length=1024, description="at least 12 characters (422 weak_password)"),
]


class PasswordChange(_Request):
    current_password: Annotated[str, Meta(min_length=1, max_length=1024)]
    new_password: NewPassword


class PasswordChanged(_Response):
    # The user's other sessions, ended: whoever knew the old password is logged out.
    sessions_ended: int


class PasswordReset(_Request):
    # The secret of the link an admin made (POST /api/users/{id}/password-reset).
    token: Annotated[str, Meta(min_length=1, max_length=200)]
    new_password: NewPassword


class PasswordResetDone(_Response):
    # Whose password it was, to log in with.
    email: str


class LiveSessionView(_Response):
    id: uuid.UUID
    created_at: dt.datetime
    # Last used: its access token was last renewed then.
    refreshed_at: dt.datetime
    expires_at: dt.datetime
    client: str | None
    user_agent: str | None
    # The session this request is made in.
    current: bool


class LiveSessionPage(_Response):
    items: list[LiveSessionView]


# -- applications and keys -------------------------------------------------------------------

Scope = Literal["submit", "read", "work", "define"]
DisplayName = Name


class ApplicationView(_Response):
    id: uuid.UUID
    # Part of every queue name: fixed at creation.
    name: str
    display_name: str
    created_at: dt.datetime


class ApplicationCreate(_Request):
    name: Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
    display_name: DisplayName | None = None


class ApplicationChange(_Request):
    display_name: DisplayName


class KeyView(_Response):
    id: uuid.UUID
    name: str
    # The first characters of the key, to tell keys apart; the key itself is never shown again.
    prefix: str
    scopes: list[Scope]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class KeyCreate(_Request):
    name: Name
    # With its time zone (or Z): a time without one names no moment.
    expires_at: Annotated[dt.datetime, Meta(tz=True)] | None = None
    scopes: Annotated[list[Scope], Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["submit", "read", "work", "define"]
    )


class CreatedKey(_Response):
    # Shown this once: store it now.
    key: str
    details: KeyView


# -- users -----------------------------------------------------------------------------------

RoleName = Literal["admin", "developer", "operator"]


class UserDetail(_Response):
    id: uuid.UUID
    email: str
    name: str
    role: RoleName
    disabled: bool
    application_ids: list[uuid.UUID]
    # They have not yet chosen their own password in place of the one set for them.
    must_change_password: bool


class UserCreate(_Request):
    email: Email
    name: Name
    role: RoleName
    password: Annotated[str, Meta(min_length=12, max_length=1024)]
    # The password is only good for choosing their own at the first login.
    must_change_password: bool = False


class UserChange(_Request):
    name: Name | None = None
    role: RoleName | None = None
    disabled: bool | None = None


class ResetLinkView(_Response):
    # Shown this once: only a hash is kept. The dashboard's page for it is at `path`.
    token: str
    path: str
    # The whole link, when PIPELOGIQ_PUBLIC_URL says where the dashboard is.
    url: str | None
    expires_at: dt.datetime


class Memberships(_Request):
    application_ids: Annotated[list[uuid.UUID], Meta(max_length=10_000)]


# -- audit -----------------------------------------------------------------------------------


class AuditEntryView(_Response):
    id: int
    at: dt.datetime
    actor: str
    actor_id: uuid.UUID | None
    client: str | None
    action: str
    target_type: str
    target_id: str | None
    details: dict[str, Any]


class AuditPage(_Response):
    entries: list[AuditEntryView]
    # Pass as ?before= for the next (older) page; null at the end.
    next_before: int | None


# -- pipelines -------------------------------------------------------------------------------


class PipelineSummary(_Response):
    id: uuid.UUID
    application_id: uuid.UUID
    application_name: str
    name: str
    status: str
    keywords: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    # How many of its stages are in each status.
    stage_counts: dict[str, int]
    # Set for a run of a pipeline definition.
    definition_id: uuid.UUID | None = None
    definition_version: int | None = None


class PipelinePage(_Response):
    items: list[PipelineSummary]
    has_more: bool


class AttemptView(_Response):
    stage_id: uuid.UUID
    attempt: int
    job_id: uuid.UUID
    worker_id: uuid.UUID | None
    worker_name: str | None
    # running | completed | failed | lease_lost | cancelled
    outcome: str
    # A failure that was followed by a retry.
    retried: bool
    error: Any
    queued_at: dt.datetime | None
    started_at: dt.datetime
    finished_at: dt.datetime | None


class StageWhy(_Response):
    stage_id: uuid.UUID
    # running, queued: no_worker | waiting_in_queue | waiting_for_worker; not_started:
    # waiting_for_dependencies | dependency_failed; retry_scheduled; failed; pipeline_failed,
    # pipeline_cancelled; completed; skipped.
    code: str
    message: str
    details: dict[str, Any]


class PipelineDetail(_Response):
    application_id: uuid.UUID
    application_name: str
    pipeline: PipelineView
    # Every attempt of every stage, in the order they started (for a timeline).
    attempts: list[AttemptView]
    # For each stage, in the pipeline's order: why it is where it is.
    why: list[StageWhy]
    # The pipeline's trace in the tracing UI (PIPELOGIQ_TRACE_URL), when one is configured.
    trace_url: str | None = None
    # The stages whose input the logged-in user may replace when rerunning them: every stage
    # for developers and admins; for operators, those an operator_input policy covers.
    input_editable: list[uuid.UUID] = []


class StageRerun(_Request):
    # Also run again everything that depends on the stage, even what already completed.
    downstream: bool = False
    # Replaces the stage's input (leave out to keep it).
    input: Any | msgspec.UnsetType = msgspec.UNSET


class StageSkip(_Request):
    # What the stage's dependents see as its output.
    output: Any = None


BulkAction = Literal["cancel", "rerun", "skip"]


class BulkRequest(_Request):
    # cancel: cancel each pipeline. rerun: rerun each one's failed stages (or resume a
    # cancelled one). skip: skip each one's failed stages, so that the rest goes on.
    action: BulkAction
    pipeline_ids: Annotated[list[uuid.UUID], Meta(min_length=1, max_length=500)]


class BulkItemResult(_Response, omit_defaults=True):
    pipeline_id: uuid.UUID
    ok: bool
    # The pipeline's status after the action, when it was applied.
    status: str | None = None
    # Why not, when it was refused: the problem code and detail it would have answered.
    code: str | None = None
    detail: str | None = None


class BulkResult(_Response):
    results: list[BulkItemResult]


class LogLineView(_Response):
    id: int
    attempt: int
    job_id: uuid.UUID | None
    level: str
    message: str
    at: dt.datetime


class LogPage(_Response):
    lines: list[LogLineView]
    # Pass as ?after= for the lines that follow (also to tail a running stage).
    next_after: int


class FoundLineView(LogLineView):
    application_id: uuid.UUID
    pipeline_id: uuid.UUID
    pipeline_name: str
    stage_id: uuid.UUID
    stage_name: str
    handler: str


class LogSearchPage(_Response):
    # Newest first.
    items: list[FoundLineView]
    # Pass as ?before= for the next (older) page; null at the end.
    next_before: int | None


# -- workers ---------------------------------------------------------------------------------

WorkerState = Literal["online", "degraded", "draining", "offline", "stopped"]


class WorkerView(_Response):
    id: uuid.UUID
    application_id: uuid.UUID
    application_name: str
    name: str
    instance_id: str | None
    version: str | None
    host_name: str | None
    pid: int | None
    handlers: list[str]
    # online; degraded: missed heartbeats; draining: finishing its jobs before it stops;
    # offline: silent past the limit; stopped: said goodbye.
    state: WorkerState
    started_at: dt.datetime
    last_heartbeat_at: dt.datetime
    stopped_at: dt.datetime | None
    in_flight_jobs: int
    # What the worker reported at its last heartbeat (e.g. cpu, memory, slots).
    metrics: dict[str, Any] | None


class WorkerList(_Response):
    items: list[WorkerView]


class HeldJobView(_Response):
    job_id: uuid.UUID
    stage_id: uuid.UUID
    stage_name: str
    handler: str
    attempt: int
    pipeline_id: uuid.UUID
    pipeline_name: str
    started_at: dt.datetime
    lease_expires_at: dt.datetime | None
    deadline_at: dt.datetime | None


class WorkerDetail(_Response):
    worker: WorkerView
    jobs: list[HeldJobView]


class WorkerEventView(_Response):
    id: int
    kind: str
    message: str
    data: dict[str, Any]
    at: dt.datetime


class WorkerEventPage(_Response):
    events: list[WorkerEventView]
    # Pass as ?before= for the next (older) page; null at the end.
    next_before: int | None


# -- insights --------------------------------------------------------------------------------


class StageFiguresView(_Response):
    application_id: uuid.UUID
    application_name: str
    handler: str
    stage_name: str
    # Attempts that ended in the range, by how they ended.
    attempts: int
    completed: int
    failed: int
    # Failures not followed by a retry: the stage failed.
    failed_for_good: int
    lease_lost: int
    # completed / (completed + failed); null without either.
    success_rate: float | None
    # Share of attempts that failed and were retried.
    retry_rate: float
    # Completed attempts per minute over the range.
    throughput_per_minute: float
    # Of attempts the handler finished (completed or failed).
    p50_seconds: float | None
    p95_seconds: float | None


class HotspotView(_Response):
    handler: str
    stage_name: str
    # The error's code (lease_lost when the worker vanished).
    code: str
    message: str
    occurrences: int
    last_seen_at: dt.datetime


class BucketView(_Response):
    at: dt.datetime
    completed: int
    failed: int


class QueueView(_Response):
    application_id: uuid.UUID
    application_name: str
    handler: str
    depth: int
    oldest_age_seconds: float


class PipelineCountsView(_Response):
    # Now, whatever the range.
    running: int
    # Finished in the range.
    completed: int
    failed: int
    cancelled: int


class InsightsView(_Response):
    start: dt.datetime
    end: dt.datetime
    pipelines: PipelineCountsView
    stages: list[StageFiguresView]
    hotspots: list[HotspotView]
    # Attempts ended per bucket of bucketSeconds, from start (empty buckets left out).
    series: list[BucketView]
    bucket_seconds: float
    # Now, whatever the range.
    queues: list[QueueView]


RiskWindow = Literal["15m", "1h", "6h", "24h"]


class RiskView(_Response):
    application_id: uuid.UUID
    application_name: str
    # A stage (of a handler, in runs of any pipeline) or a pipeline name's runs.
    kind: Literal["stage", "pipeline"]
    # A stage's; null for a pipeline.
    handler: str | None
    stage_name: str | None
    # A pipeline's; null for a stage.
    pipeline_name: str | None
    # What stands out.
    signal: Literal["failures", "duration", "none"]
    severity: Literal["none", "info", "warning", "critical"]
    # 0 to 1: grows with the attempts (a pipeline: the runs) on both sides of the comparison.
    confidence: float
    sentence: str
    # A stage's attempts; a pipeline's: the attempts of its stages.
    attempts: int
    baseline_attempts: int
    # A pipeline's runs that finished; null for a stage.
    runs: int | None
    baseline_runs: int | None
    failure_rate: float | None
    baseline_failure_rate: float | None
    retry_rate: float | None
    p50_seconds: float | None
    baseline_p50_seconds: float | None
    duration_trend: float | None
    # Robust deviations the recent median duration lies above the usual one.
    anomaly_score: float | None
    # A stage's most frequent error, and its share of the stage's errors; null for a pipeline.
    top_error: str | None
    top_error_share: float | None
    # A pipeline's: the stage most of its stages' failures (for good) in the window were at,
    # and its share of them; null for a stage.
    failed_at_stage: str | None
    failed_at_stage_share: float | None


class TemplateEntryView(_Response):
    name: str
    # core, dataset or video; null for a template this control plane's SDK does not ship
    # (a newer worker serves it).
    group: str | None
    version: str | None
    summary: str | None
    # The JSON schema of its input (null when not known here).
    input_schema: dict[str, Any] | None
    # Live workers of your applications serving it now: 0 means a stage of it would wait.
    workers: int


class TemplateRegistry(_Response):
    items: list[TemplateEntryView]


RunHistoryRange = Literal["24h", "7d", "30d"]


class RunBucketView(_Response):
    at: dt.datetime
    completed: int
    failed: int
    cancelled: int
    # Of the runs that finished in the bucket, from creation to first finish (null: none
    # timed; a run finished again after a rerun has no run time).
    p50_seconds: float | None
    p95_seconds: float | None


class RunView(_Response):
    id: uuid.UUID
    status: str
    created_at: dt.datetime
    finished_at: dt.datetime | None
    # So far, for a run still going.
    seconds: float


class StageTimesView(_Response):
    name: str
    handler: str
    attempts: int
    failed: int
    p50_seconds: float | None
    p95_seconds: float | None


class RunHistoryView(_Response):
    application_id: uuid.UUID
    name: str
    start: dt.datetime
    end: dt.datetime
    bucket_seconds: int
    completed: int
    failed: int
    cancelled: int
    # Completed of those completed or failed; null without either.
    success_rate: float | None
    p50_seconds: float | None
    p95_seconds: float | None
    # Buckets with no run finished are left out.
    series: list[RunBucketView]
    # The latest runs, newest first (at most 50), whatever the range.
    latest: list[RunView]
    # Each stage over those latest runs, in pipeline order.
    stages: list[StageTimesView]


class RiskPage(_Response):
    items: list[RiskView]


# -- policies --------------------------------------------------------------------------------

PolicyKind = Kind
PolicyStatus = Literal["active", "paused", "disabled"]
PolicyName = ShortName


class PolicyTarget(_Request):
    type: Literal["handler", "pipeline"]
    # The handler's or the pipeline's name, exactly.
    name: Name


class PolicyCreate(_Request):
    application_id: uuid.UUID
    name: PolicyName
    kind: PolicyKind
    target: PolicyTarget
    # retry: {maxRetries, backoff?, backoffSeconds?, maxBackoffSeconds?, retryOn?};
    # timeout: {seconds}; concurrency: {limit}; rate_limit: {limit, windowSeconds}.
    config: dict[str, Any]
    status: PolicyStatus = "active"


class PolicyChange(_Request):
    name: PolicyName | None = None
    config: dict[str, Any] | None = None
    status: PolicyStatus | None = None


class PolicyTargetView(_Response):
    type: str
    name: str


class PolicyView(_Response):
    id: uuid.UUID
    application_id: uuid.UUID
    name: str
    kind: str
    target: PolicyTargetView
    config: dict[str, Any]
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime


class PolicyList(_Response):
    items: list[PolicyView]


# -- approvals -------------------------------------------------------------------------------


class ApprovalDecision(_Request):
    # Why, for the record and for the stage's output or error.
    comment: Annotated[str, Meta(max_length=2000)] | None = None


class Approval(_Response):
    id: uuid.UUID
    application_id: uuid.UUID
    pipeline_id: uuid.UUID
    pipeline_name: str
    stage_id: uuid.UUID
    stage_name: str
    message: str
    details: Any
    deadline: dt.datetime
    # pending, approved, rejected; expired (pending past the deadline); closed (pending, but
    # the run of the stage it was for is over).
    status: ApprovalStatus
    decided_by: str | None
    comment: str | None
    decided_at: dt.datetime | None
    created_at: dt.datetime


class ApprovalList(_Response):
    items: list[Approval]


# -- pipeline definitions ------------------------------------------------------------------------


class DefinitionView(_Response):
    id: uuid.UUID
    application_id: uuid.UUID
    application_name: str
    name: str
    description: str | None
    # The newest version, in whatever status it is.
    latest_version: int
    latest_status: str
    # The newest published version: what a run gets by default (null: none yet).
    published_version: int | None
    runs: int
    last_run_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class DefinitionList(_Response):
    items: list[DefinitionView]


class DefinitionDetail(_Response):
    definition: DefinitionView
    # Newest first.
    versions: list[DefinitionVersionView]


class DefinitionSource(_Request):
    # The definition file's text.
    content: Annotated[str, Meta(max_length=MAX_DOCUMENT_BYTES)]
    format: Literal["yaml", "json"] = "yaml"


class DefinitionImport(DefinitionSource, kw_only=True):
    application_id: uuid.UUID
    # Send the saved draft to review at once.
    submit: bool = False


class DefinitionCheck(_Response):
    valid: bool
    # Each problem: path, message, and line and column in the file where known.
    errors: list[dict[str, Any]]


class ReviewNote(_Request):
    comment: Annotated[str, Meta(max_length=2000)] | None = None


class DefinitionRunRequest(_Request):
    # A published version (the latest if left out).
    version: Version | None = None
    params: Annotated[dict[str, Any], Meta(max_length=1000)] = {}
    keywords: Annotated[
        list[Annotated[str, Meta(min_length=1, max_length=100)]], Meta(max_length=50)
    ] = []


# -- schedules -----------------------------------------------------------------------------------

CronText = Annotated[str, Meta(min_length=1, max_length=200)]
IntervalSeconds = Annotated[int, Meta(ge=10, le=31_536_000)]
TimeZone = Annotated[str, Meta(min_length=1, max_length=64)]
CatchUp = Literal["skip", "once"]


class ScheduleCreate(_Request):
    definition_id: uuid.UUID
    name: Name
    # One of the two: a cron expression (5 fields, in `timezone`), or seconds between runs.
    cron: CronText | None = None
    interval_seconds: IntervalSeconds | None = None
    timezone: TimeZone = "UTC"
    # A published version; null: the newest published one at each run.
    version: Version | None = None
    params: Annotated[dict[str, Any], Meta(max_length=1000)] = {}
    # After downtime: skip the runs missed, or run once for them.
    catch_up: CatchUp = "skip"
    status: Literal["active", "paused"] = "active"


class ScheduleChange(_Request):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    # Setting one of cron and intervalSeconds clears the other.
    cron: CronText | msgspec.UnsetType = msgspec.UNSET
    interval_seconds: IntervalSeconds | msgspec.UnsetType = msgspec.UNSET
    timezone: TimeZone | msgspec.UnsetType = msgspec.UNSET
    version: Version | msgspec.UnsetType | None = msgspec.UNSET
    params: Annotated[dict[str, Any], Meta(max_length=1000)] | msgspec.UnsetType = msgspec.UNSET
    catch_up: CatchUp | msgspec.UnsetType = msgspec.UNSET


class ScheduleView(_Response):
    id: uuid.UUID
    application_id: uuid.UUID
    definition_id: uuid.UUID
    definition: str
    name: str
    version: int | None
    cron: str | None
    interval_seconds: int | None
    timezone: str
    params: dict[str, Any]
    catch_up: str
    # active or paused
    status: str
    next_fire_at: dt.datetime | None
    # The next few due times (none while paused).
    next_runs: list[dt.datetime]
    last_fired_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ScheduleFireView(_Response):
    id: int
    due_at: dt.datetime
    # scheduled, catch_up, skipped or manual
    kind: str
    # Due times missed and not run.
    missed: int
    pipeline_id: uuid.UUID | None
    # Why no run started.
    error: str | None
    # Who asked, for a manual run.
    actor: str | None
    fired_at: dt.datetime


class ScheduleLastFire(ScheduleFireView):
    # The status of the run it started, now; null when none started (see error) or the run
    # is gone (retention).
    pipeline_status: str | None


class ScheduleListItem(ScheduleView):
    application_name: str
    # Null until it first fires or is run.
    last_fire: ScheduleLastFire | None


class ScheduleList(_Response):
    items: list[ScheduleListItem]


class ScheduleDetail(_Response):
    schedule: ScheduleView
    # Newest first.
    fires: list[ScheduleFireView]


# -- artifacts -----------------------------------------------------------------------------------


class ArtifactLink(_Response):
    # A path on this API that downloads the file without a session, until it expires.
    url: str
    expires_at: dt.datetime


# -- lineage ---------------------------------------------------------------------------------


class DatasetNode(_Response):
    id: str
    uri: str
    # Null for a file; its name is the last part of its URI.
    version: int | None
    name: str
    kind: Literal["dataset", "file"]
    # From the reference the writing stage output, when it gave one.
    rows: int | None = None


class StageNode(_Response):
    id: uuid.UUID
    name: str
    handler: str
    status: str


class Edge(_Response):
    # A dataset id to a stage id (a read), or a stage id to a dataset id (a write).
    from_: str = msgspec.field(name="from")
    to: str
    kind: Literal["read", "write"]


class Lineage(_Response):
    pipeline_id: uuid.UUID
    datasets: list[DatasetNode]
    stages: list[StageNode]
    edges: list[Edge]


class DatasetRetentionView(_Response):
    application_id: uuid.UUID
    # The newest versions of each dataset the lake keeps; null: the installation's default.
    keep_versions: int | None
    # PIPELOGIQ_RETAIN_DATASET_VERSIONS (0: every version).
    default_keep_versions: int


class DatasetRetentionChange(_Request):
    # null: the installation's default.
    keep_versions: Annotated[int, Meta(ge=1, le=1_000_000)] | None


ConnectionName = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
        description="Letters, digits and _ . - (up to 100), starting with a letter or digit.",
    ),
]
# A DNS name, or an IPv4 or IPv6 address (without brackets).
HOST_PATTERN = (
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?)*$|^[0-9A-Fa-f:.]{2,45}$"
)
Host = Annotated[str, Meta(min_length=1, max_length=253, pattern=HOST_PATTERN)]
Port = Annotated[int, Meta(ge=1, le=65535)]
DatabaseText = Annotated[str, Meta(min_length=1, max_length=200, pattern=PLAIN_TEXT)]
SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


class ConnectionView(_Response):
    id: uuid.UUID
    application_id: uuid.UUID
    application_name: str
    name: str
    kind: str
    host: str
    port: int
    database: str
    username: str
    sslmode: str
    # Whether a password is stored; no answer holds it.
    has_password: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class ConnectionCreate(_Request):
    application_id: uuid.UUID
    name: ConnectionName
    host: Host
    database: DatabaseText
    username: DatabaseText
    kind: Literal["postgresql"] = "postgresql"
    port: Port = 5432
    password: Annotated[str, Meta(max_length=1000, pattern=PLAIN_TEXT)] | None = None
    sslmode: SslMode = "prefer"


class ConnectionChange(_Request):
    host: Host | UnsetType = UNSET
    port: Port | UnsetType = UNSET
    database: DatabaseText | UnsetType = UNSET
    username: DatabaseText | UnsetType = UNSET
    sslmode: SslMode | UnsetType = UNSET
    # null removes it; left out keeps it.
    password: Annotated[str, Meta(max_length=1000, pattern=PLAIN_TEXT)] | UnsetType | None = UNSET


class ConnectionCheck(_Response):
    ok: bool
    server_version: str
    latency_ms: float


class ConnectionTable(_Response):
    schema: str
    name: str
    # table, view or materialized view.
    kind: str
    # PostgreSQL's estimate (0 for a view, or a table never analyzed).
    estimated_rows: int


# --- Quarantine review

ColumnName = Annotated[str, Meta(min_length=1, max_length=1000)]


class RowDecision(_Request):
    # The row's place in the quarantine version (the `row` the review lists).
    row: Annotated[int, Meta(ge=0, le=MAX_ID)]
    action: Literal["release", "discard"]
    # Columns fixed before a release, {column: value}; left out: released as it is.
    values: Annotated[dict[ColumnName, Any], Meta(max_length=1000)] | None = None


class QuarantineDecisions(_Request):
    version: Annotated[int, Meta(ge=0, le=MAX_ID)]
    decisions: Annotated[list[RowDecision], Meta(min_length=1, max_length=1000)]
    note: Annotated[str, Meta(max_length=1000, pattern=PLAIN_TEXT)] | None = None


class QuarantineDecided(_Response):
    """Decisions recorded; the released rows are appended by the release pipeline."""

    batch_id: uuid.UUID
    released: int
    discarded: int
    # The dataset the rows go to, and the pipeline that appends them (null: none released).
    target_dataset_id: uuid.UUID | None
    release_pipeline_id: uuid.UUID | None


class RowDecisionView(_Response):
    action: Literal["release", "discard"]
    values: dict[str, Any] | None
    note: str | None
    decided_by: str
    decided_at: dt.datetime
    pipeline_id: uuid.UUID | None
    # discarded; or the release's: not_started, running, completed, failed, cancelled.
    outcome: str


class QuarantineRow(_Response):
    row: int
    # The rules the row failed, as dataset.quality names them: "not_null(amount)".
    failed_rules: list[str]
    values: dict[str, Any]
    decision: RowDecisionView | None


class QuarantineTarget(_Response):
    id: uuid.UUID
    name: str
    layer: str | None


class QuarantineReview(_Response):
    version: int
    # Rows in the version, and how many came to each outcome (open: not decided yet, or a
    # release that failed and may be decided again).
    rows_total: int
    tally: dict[str, int]
    # The rows' columns (the failed rules are each row's failedRules).
    columns: list[DatasetColumn]
    offset: int
    rows: list[QuarantineRow]
    # Where the next page starts; null on the last page.
    next_offset: int | None
    # The dataset released rows go to (null: the catalog cannot tell; rows can be discarded).
    target: QuarantineTarget | None


# --- Alerts

ChannelName = Annotated[
    str, Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
]
RuleName = Annotated[
    str, Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_ .-]{0,99}$")
]
ChannelKind = Literal["webhook", "slack", "email"]
RateLimit = Annotated[int, Meta(ge=1, le=1000)]
Severity = Literal["info", "warning", "critical"]
RuleStatus = Literal["active", "paused"]
# A channel's settings, by type (docs/alerts.md): webhook {url, secret}; slack {url};
# email {host, port?, sender, to, starttls?, username?, password?}. Checked by type.
ChannelConfig = Annotated[dict[str, Any], Meta(max_length=20)]
Note = Annotated[str, Meta(max_length=1000, pattern=PLAIN_TEXT)]


class AlertChannelCreate(_Request):
    application_id: uuid.UUID
    name: ChannelName
    type: ChannelKind
    config: ChannelConfig
    rate_limit_per_minute: RateLimit = 10


class AlertChannelChange(_Request):
    # Replaces the settings; secret fields left out keep their stored value.
    config: ChannelConfig | UnsetType = UNSET
    rate_limit_per_minute: RateLimit | UnsetType = UNSET


class AlertChannelView(_Response):
    id: uuid.UUID
    application_id: uuid.UUID
    application_name: str
    name: str
    type: str
    # Without its secret fields (a webhook's secret, a Slack URL, a mail password).
    config: dict[str, Any]
    has_secret: bool
    rate_limit_per_minute: int
    created_at: dt.datetime
    updated_at: dt.datetime


class AlertChannelTest(_Response):
    ok: bool
    # What the channel answered, or why it did not take the message.
    detail: str
    latency_ms: float


class AlertRuleCreate(_Request):
    application_id: uuid.UUID
    name: RuleName
    condition: Condition
    severity: Severity = "warning"
    channel_ids: Annotated[list[uuid.UUID], Meta(max_length=20)] = []
    status: RuleStatus = "active"


class AlertRuleChange(_Request):
    name: RuleName | UnsetType = UNSET
    condition: Condition | UnsetType = UNSET
    severity: Severity | UnsetType = UNSET
    channel_ids: Annotated[list[uuid.UUID], Meta(max_length=20)] | UnsetType = UNSET
    status: RuleStatus | UnsetType = UNSET


class AlertRuleView(_Response):
    id: uuid.UUID
    application_id: uuid.UUID
    application_name: str
    name: str
    condition: Condition
    severity: str
    channel_ids: list[uuid.UUID]
    status: str
    created_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class AlertView(_Response):
    id: uuid.UUID
    application_id: uuid.UUID
    application_name: str
    # null once the rule is deleted; its name stays.
    rule_id: uuid.UUID | None
    rule_name: str
    condition_type: str
    severity: str
    # What it is about: pipeline, stage, handler, queue, worker or schedule.
    subject_kind: str
    subject_key: str
    subject_name: str
    # firing, acknowledged or resolved.
    status: str
    summary: str
    details: dict[str, Any]
    occurrences: int
    opened_at: dt.datetime
    last_seen_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    resolved_at: dt.datetime | None
    # null: the condition cleared; else who resolved it.
    resolved_by: str | None


class AlertPage(_Response):
    items: list[AlertView]
    # Pass as ?before= for the next (older) page; null at the end.
    next_before: uuid.UUID | None


class AlertEventView(_Response):
    id: int
    # opened, acknowledged or resolved.
    kind: str
    actor: str | None
    note: str | None
    at: dt.datetime


class AlertDeliveryView(_Response):
    id: uuid.UUID
    event_id: int
    event: str
    channel_id: uuid.UUID
    channel_name: str
    channel_type: str
    # pending, sending, delivered, failed (given up) or digested (sent in a digest).
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    delivered_at: dt.datetime | None
    digest_id: uuid.UUID | None


class AlertSource(_Response):
    # pipeline:<id>, stage:<id>, worker:<id>, fire:<id>, pending:<stage id>, backlog:...
    source_key: str
    at: dt.datetime


class AlertDetail(_Response):
    alert: AlertView
    events: list[AlertEventView]
    deliveries: list[AlertDeliveryView]
    sources: list[AlertSource]


class AlertCounts(_Response):
    firing: int
    acknowledged: int


class AlertNote(_Request):
    note: Note | None = None


RetentionKind = Literal[
    "pipelines",
    "schedule_fires",
    "workers",
    "audit",
    "sessions",
    "stage_logs_partitions",
    "stage_logs",
    "worker_events_partitions",
    "worker_events",
    "files",
    "rollups",
    "dataset_versions",
]


class RetentionApplicationCount(_Response):
    application_id: uuid.UUID
    application_name: str
    count: int


class RetentionKindView(_Response):
    kind: RetentionKind
    description: str
    # The setting that decides what goes (an environment variable), and its value: days
    # kept, or for dataset versions the newest versions kept by applications with no number
    # of their own; 0 keeps for ever. Null: no setting (sessions, files).
    setting: str | None
    value: int | None
    # What is older than this is due (by the kind's own time: finished, last heard from,
    # written...); null for what does not go by age (files, dataset versions) or is kept.
    cutoff: dt.datetime | None
    count: int
    # Per application, for what belongs to one (not the audit log, sessions nor files).
    applications: list[RetentionApplicationCount]
    # What goes with the rows: a pipeline's stages, attempts, logLines and artifacts, a
    # worker's events.
    contents: dict[str, int]
    # The day partitions dropped whole, by name (table_YYYYMMDD).
    items: list[str]


class RetentionPreview(_Response):
    # The database's time the preview was counted at.
    at: dt.datetime
    # What a round would delete now, by the same rules, in the order a round deletes.
    kinds: list[RetentionKindView]


class RetentionRun(_Response):
    started_at: dt.datetime
    finished_at: dt.datetime
    # What the round deleted.
    kinds: list[RetentionKindView]
    # Day partitions made ahead, for the days to come.
    partitions_made: int
    # What could not be done (a dataset the lake cleanup could not reach); tried again next
    # round.
    problems: list[str]
