"""Wire shapes of the external API: msgspec Structs, camelCase on the wire.

Every limit a client can hit is declared here, so bad input is refused at the edge with a
422 naming the field, before any service code runs. Requests refuse unknown fields: a typo
such as ``dependOn`` is an error, not a silently ignored key.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from controlplane.statuses import PipelineStatus, StageStatus

# A number past its column is refused at the edge (the database would refuse it too, as a
# server error): PostgreSQL's integer, and for bigint ids the largest integer a JSON client
# (JavaScript's double) holds exactly.
INT32_MAX = 2**31 - 1
MAX_ID = 2**53 - 1


def camel(name: str) -> str:
    """A field's name as the wire spells it (``fail_after_minutes`` -> ``failAfterMinutes``),
    for what msgspec's ``rename="camel"`` does not reach: audit details, a webhook's body."""
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


# A version of a pipeline definition.
Version = Annotated[int, Meta(ge=1, le=INT32_MAX)]

# A name people read on a screen: no control characters (C0 and C1), no line or paragraph
# separators, and none of the marks that turn text around ("invoice\u202Efdp.exe" shows as
# "invoiceexe.pdf").
_UNREADABLE = r"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
PLAIN_TEXT = rf"^[^{_UNREADABLE}]*$"
PLAIN_TEXT_RULE = "No control characters, line separators or bidirectional marks."
Name = Annotated[
    str, Meta(min_length=1, max_length=200, pattern=PLAIN_TEXT, description=PLAIN_TEXT_RULE)
]
ShortName = Annotated[
    str, Meta(min_length=1, max_length=100, pattern=PLAIN_TEXT, description=PLAIN_TEXT_RULE)
]
StageName = ShortName
HANDLER_NAME = r"^[A-Za-z0-9_.:-]{1,100}$"
HANDLER_NAME_RULE = "Letters, digits and _ . : - (up to 100); part of the queue name."
HandlerName = Annotated[str, Meta(pattern=HANDLER_NAME, description=HANDLER_NAME_RULE)]
ContextKey = Annotated[str, Meta(min_length=1, max_length=200)]
Keyword = Annotated[str, Meta(min_length=1, max_length=100)]
ShortText = Annotated[str, Meta(max_length=200)]
LogLevel = Literal["debug", "info", "warning", "error"]


class _Request(Struct, rename="camel", forbid_unknown_fields=True):
    pass


class _Response(Struct, rename="camel"):
    pass


# -- pipelines -------------------------------------------------------------------------------


class StageSpec(_Request):
    name: StageName
    handler: HandlerName
    input: Any = None
    # Absent: the stage depends on the one before it. An empty list: a root stage.
    depends_on: Annotated[list[StageName], Meta(max_length=100)] | UnsetType | None = UNSET
    max_retries: Annotated[int, Meta(ge=0, le=100)] = 0
    retry_backoff: Literal["fixed", "exponential"] = "exponential"
    retry_backoff_seconds: Annotated[float, Meta(ge=0, le=86_400)] = 1.0
    retry_backoff_max_seconds: Annotated[float, Meta(ge=0, le=86_400)] = 300.0
    timeout_seconds: Annotated[int, Meta(ge=1, le=604_800)] | None = None


DEFINITION_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
DEFINITION_NAME_RULE = "Letters, digits and _ . - (up to 100), starting with a letter or digit."
DefinitionName = Annotated[str, Meta(pattern=DEFINITION_NAME, description=DEFINITION_NAME_RULE)]

# What a refusal says instead of the regex a value did not match.
_PATTERN_RULES = {
    PLAIN_TEXT: PLAIN_TEXT_RULE,
    HANDLER_NAME: HANDLER_NAME_RULE,
    DEFINITION_NAME: DEFINITION_NAME_RULE,
}


def refusal(error: msgspec.ValidationError) -> tuple[str, str]:
    """What msgspec refused, and where (``.stages[0].name``, or "" for the whole value); a
    regex the value did not match is said in words, as few can read the regex."""
    message, _, where = str(error).partition(" - at `")
    for pattern, rule in _PATTERN_RULES.items():
        if message.endswith(f"matching regex {pattern!r}"):
            message = rule
    where = where.rstrip("`")  # `$.a[0]`, or for a key of an object: `key` in `$.a`
    return message, where[where.find("$") + 1 :] if "$" in where else ""


class PipelineSubmit(_Request):
    """Either ``name`` and ``stages``, or a ``definition`` to run with its ``params``."""

    name: Name | None = None
    stages: Annotated[list[StageSpec], Meta(min_length=1, max_length=1000)] | None = None
    # A published pipeline definition of the application, by name.
    definition: DefinitionName | None = None
    # Its version (the latest published one if left out).
    version: Version | None = None
    # Checked against the definition's params schema.
    params: Annotated[dict[str, Any], Meta(max_length=1000)] = {}
    context: Annotated[dict[ContextKey, Any], Meta(max_length=1000)] = {}
    keywords: Annotated[list[Keyword], Meta(max_length=50)] = []
    idempotency_key: Annotated[str, Meta(min_length=1, max_length=200)] | None = None


class StageView(_Response):
    id: uuid.UUID
    name: str
    handler: str
    status: StageStatus
    attempt: int
    depends_on: list[str]
    max_retries: int
    timeout_seconds: int | None
    input: Any
    output: Any
    error: Any
    queued_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    retry_at: dt.datetime | None


class RunOf(_Response):
    """The definition version a pipeline is a run of, and the params it was given."""

    definition_id: uuid.UUID
    definition: str
    version: int
    params: dict[str, Any]


class PipelineView(_Response):
    id: uuid.UUID
    name: str
    status: PipelineStatus
    keywords: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    stages: list[StageView]
    context: dict[str, Any]
    # Null for a pipeline submitted with its stages.
    run_of: RunOf | None = None
    # The W3C trace it belongs to (32 hex digits); null for pipelines older than traces.
    trace_id: str | None = None


# -- jobs ------------------------------------------------------------------------------------


class PullRequest(_Request):
    handlers: Annotated[list[HandlerName], Meta(min_length=1, max_length=50)]
    max_jobs: Annotated[int, Meta(ge=1, le=100)] = 1
    wait_seconds: Annotated[float, Meta(ge=0, le=60)] = 0.0
    worker_id: uuid.UUID | None = None


class Job(_Response):
    job_id: uuid.UUID
    stage_id: uuid.UUID
    pipeline_id: uuid.UUID
    handler: str
    stage_name: str
    attempt: int
    input: Any
    context: dict[str, Any]
    dependencies: dict[str, Any]
    lease_expires_at: dt.datetime
    timeout_seconds: int | None
    # W3C trace context: this job as a span of its pipeline's trace.
    traceparent: str | None = None


class PullResponse(_Response):
    jobs: list[Job]


class JobError(_Request):
    message: Annotated[str, Meta(max_length=10_000)]
    code: ShortText | None = None
    retryable: bool = True


class LogEntry(_Request):
    level: LogLevel
    message: Annotated[str, Meta(max_length=65_536)]


# -- the dataset catalog, as a job's result reports what it wrote ----------------------------

DatasetLayer = Literal["bronze", "silver", "gold", "quarantine"]
# A count or version a JSON client holds exactly.
Count = Annotated[int, Meta(ge=0, le=MAX_ID)]
# At most 2,400 bytes of UTF-8: the unique index on it holds entries of up to 2,704.
DatasetUri = Annotated[str, Meta(min_length=1, max_length=600)]


class ColumnType(_Request):
    # Arrow allows an empty name, and a nested type's name runs long.
    name: Annotated[str, Meta(max_length=1000)]
    type: Annotated[str, Meta(min_length=1, max_length=10_000)]


class DatasetRead(_Request):
    """A dataset version (or, without ``version``, a file) the job read."""

    uri: DatasetUri
    version: Count | None = None


class DatasetWritten(_Request):
    """A dataset version the job committed, for the catalog. Registering the same version
    again changes nothing."""

    uri: DatasetUri
    version: Count
    rows: Count
    # What the catalog calls it; by default the last part of the URI, without ``.lance``.
    name: Name | None = None
    layer: DatasetLayer | None = None
    bytes: Count | None = None
    schema: Annotated[list[ColumnType], Meta(max_length=10_000)] = []
    reads: Annotated[list[DatasetRead], Meta(max_length=1000)] = []
    # For a quarantine: the dataset its rows were kept out of, where a person's review
    # releases them.
    checks: DatasetUri | None = None


class JobResult(_Request):
    job_id: uuid.UUID
    status: Literal["completed", "failed"]
    output: Any = None
    error: JobError | None = None
    logs: Annotated[list[LogEntry], Meta(max_length=1000)] = []
    context: Annotated[dict[ContextKey, Any], Meta(max_length=1000)] = {}
    # Dataset versions the job committed (a failed job's too: a quality stage that fails
    # still writes its quarantine).
    datasets: Annotated[list[DatasetWritten], Meta(max_length=100)] = []


class AckRequest(_Request):
    results: Annotated[list[JobResult], Meta(min_length=1, max_length=500)]


RejectReason = Literal[
    "unknown_job", "already_finished", "lease_lost", "cancelled", "duplicate", "invalid_result"
]


class RejectedResult(_Response, omit_defaults=True):
    job_id: uuid.UUID
    reason: RejectReason
    # For invalid_result: why it was refused (nul_character...), and where in the result.
    # Such a result is refused for good: sending it again cannot help.
    code: str | None = None
    detail: str | None = None


class AckResponse(_Response):
    accepted: list[uuid.UUID]
    rejected: list[RejectedResult]


class JobLogEntry(_Request):
    job_id: uuid.UUID
    level: LogLevel
    message: Annotated[str, Meta(max_length=65_536)]


class LogsRequest(_Request):
    entries: Annotated[list[JobLogEntry], Meta(min_length=1, max_length=1000)]


class LogsResponse(_Response):
    accepted: int
    unknown_job_ids: list[uuid.UUID]


# -- workers ---------------------------------------------------------------------------------


class BootstrapRequest(_Request):
    worker_name: Name
    handlers: Annotated[list[HandlerName], Meta(max_length=200)] = []
    instance_id: ShortText | None = None
    version: ShortText | None = None
    host_name: ShortText | None = None
    pid: Annotated[int, Meta(ge=0, le=INT32_MAX)] | None = None
    metadata: Annotated[dict[str, Any], Meta(max_length=100)] = {}


class BootstrapResponse(_Response):
    worker_id: uuid.UUID
    heartbeat_interval_seconds: float
    offline_after_seconds: float
    lease_seconds: float


class HeartbeatRequest(_Request):
    worker_id: uuid.UUID
    state: Literal["online", "draining"] | None = None
    in_flight_job_ids: Annotated[list[uuid.UUID], Meta(max_length=1000)] = []
    metrics: Annotated[dict[str, Any], Meta(max_length=100)] | None = None


class HeartbeatResponse(_Response):
    # Jobs the worker holds that it must stop: cancelled, timed out, or lost to another worker.
    cancel_job_ids: list[uuid.UUID]


class WorkerEvent(_Request):
    kind: Annotated[str, Meta(min_length=1, max_length=100)]
    message: Annotated[str, Meta(max_length=10_000)] = ""
    data: Annotated[dict[str, Any], Meta(max_length=100)] = {}


class WorkerEventsRequest(_Request):
    worker_id: uuid.UUID
    events: Annotated[list[WorkerEvent], Meta(min_length=1, max_length=100)]


class ShutdownRequest(_Request):
    worker_id: uuid.UUID
    reason: Annotated[str, Meta(max_length=1000)] = ""


class Accepted(_Response):
    accepted: int


class ServedTemplateView(_Response):
    name: str
    version: str
    # How many online workers serve this version.
    workers: int
    # What the SDK says of it (null for a template this control plane's SDK does not ship).
    summary: str | None = None
    # The JSON schema of its input, for a form (null when not known here).
    input_schema: dict[str, Any] | None = None


class TemplateList(_Response):
    templates: list[ServedTemplateView]


# -- approvals ---------------------------------------------------------------------------------


class ApprovalOpen(_Request):
    # The job asking: the approval is for its stage.
    job_id: uuid.UUID
    message: Annotated[str, Meta(min_length=1, max_length=2000)]
    # Shown to the people deciding (up to 64 KiB of JSON).
    details: Any = None
    deadline_seconds: Annotated[float, Meta(gt=0, le=30 * 86_400)] = 86_400.0


class ApprovalState(_Response):
    id: uuid.UUID
    # pending, approved, rejected; expired (past the deadline undecided); closed (the run of
    # the stage it was for is over).
    status: str
    deadline: dt.datetime
    decided_by: str | None
    comment: str | None
    decided_at: dt.datetime | None


def encoded_size(value: Any) -> int:
    return len(msgspec.json.encode(value))


# -- pipeline definitions ------------------------------------------------------------------------


class DefinitionVersionView(_Response):
    definition_id: uuid.UUID
    name: str
    version: int
    # draft, in_review, published or archived
    status: str
    # The definition document as saved (see docs/definitions.md).
    document: dict[str, Any]
    # Everyone who wrote this version.
    authors: list[str]
    submitted_at: dt.datetime | None
    reviewed_by: str | None
    # The reviewer's comment: why it was rejected, or a note with the approval.
    review_comment: str | None
    reviewed_at: dt.datetime | None
    published_at: dt.datetime | None
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class DefinitionSaved(_Response):
    version: DefinitionVersionView
    # False when the document equals the latest version: nothing new was stored.
    changed: bool
    # True when this created the definition.
    created: bool


class PublishedDefinition(_Response):
    name: str
    # The latest published version, which a run gets unless it names another.
    version: int
    description: str | None
    # The JSON Schema of a run's params (null: a run takes none).
    params: dict[str, Any] | None


class PublishedDefinitions(_Response):
    definitions: list[PublishedDefinition]


# -- artifacts -----------------------------------------------------------------------------------

# A file's name: plain text (see PLAIN_TEXT) of up to 200 characters, without slashes; not
# "." or "..".
ARTIFACT_NAME = rf"^(?!\.\.?$)[^/\\{_UNREADABLE}]{{1,200}}$"


class ArtifactView(_Response):
    id: uuid.UUID
    pipeline_id: uuid.UUID
    stage_id: uuid.UUID
    stage_name: str
    job_id: uuid.UUID
    attempt: int
    name: str
    content_type: str
    size: int
    sha256: str
    created_at: dt.datetime


# -- the dataset catalog -------------------------------------------------------------------------


class DatasetColumn(_Response):
    name: str
    type: str


class DatasetSummaryView(_Response):
    id: uuid.UUID
    application_id: uuid.UUID
    application_name: str
    name: str
    layer: str | None
    uri: str
    created_at: dt.datetime
    last_written_at: dt.datetime
    # How many versions the catalog holds.
    versions: int
    # The latest version: its number and size, and the pipeline and stage that wrote it.
    version: int
    rows: int
    bytes: int | None
    written_at: dt.datetime
    pipeline_id: uuid.UUID | None
    pipeline_name: str | None
    stage_name: str | None


class DatasetPage(_Response):
    items: list[DatasetSummaryView]
    has_more: bool


class DatasetReadView(_Response):
    uri: str
    # None: a file, not a dataset version.
    version: int | None = None


class DatasetVersionView(_Response):
    version: int
    rows: int
    bytes: int | None
    schema: list[DatasetColumn]
    reads: list[DatasetReadView]
    written_at: dt.datetime
    pipeline_id: uuid.UUID | None
    pipeline_name: str | None
    stage_id: uuid.UUID | None
    stage_name: str | None
    attempt: int | None
    # When retention removed the version's files from the lake (null: they are there).
    removed_at: dt.datetime | None


class LineageNodeView(_Response):
    id: uuid.UUID
    name: str
    layer: str | None
    uri: str
    # Steps away from the dataset: 1 for one read (or written) directly.
    depth: int


class LineageEdgeView(_Response):
    # The dataset read, and the one written from it.
    from_: uuid.UUID = msgspec.field(name="from")
    to: uuid.UUID


class DatasetView(_Response):
    id: uuid.UUID
    application_id: uuid.UUID
    application_name: str
    name: str
    layer: str | None
    uri: str
    created_at: dt.datetime
    last_written_at: dt.datetime
    # The latest version's columns.
    schema: list[DatasetColumn]
    # The newest first (at most 500).
    versions: list[DatasetVersionView]
    # Datasets read to write this one, and theirs (up to 10 steps, 200 datasets); and those
    # written from it; with the edges among them all: across every pipeline.
    upstream: list[LineageNodeView]
    downstream: list[LineageNodeView]
    edges: list[LineageEdgeView]


class DatasetSample(_Response):
    version: int
    columns: list[DatasetColumn]
    # Up to `limit` rows (at most 1,000), column name to value; long text and binary values
    # are shortened.
    rows: list[dict[str, Any]]


class TopValue(_Response):
    value: Any
    count: int


class HistogramBin(_Response):
    # [lower, upper) ; the last bin includes its upper bound.
    lower: Any
    upper: Any
    count: int


class ColumnProfile(_Response):
    name: str
    type: str
    nulls: int
    # HyperLogLog's estimate of the distinct non-null values.
    distinct: int | None = None
    min: Any = None
    max: Any = None
    # Numbers only.
    mean: float | None = None
    stddev: float | None = None
    # The most frequent values (up to 10), most frequent first.
    top: list[TopValue] = []
    # Numbers and dates: 20 bins of equal width between min and max.
    histogram: list[HistogramBin] = []


class DatasetProfile(_Response):
    version: int
    rows: int
    columns: list[ColumnProfile]


class ComputationPending(_Response):
    """A sample or profile being computed by a dataset worker: ask again."""

    status: str
    pipeline_id: uuid.UUID


class UploadView(_Response):
    """A file uploaded to the lake, and the ingest that makes it a bronze dataset version."""

    application_id: uuid.UUID
    name: str
    # The dataset the ingest writes: <application>/bronze/<name>.
    dataset: str
    # Where the file landed in the lake.
    uri: str
    format: str
    bytes: int
    # The columns detected in the file (its first MiB, or a Parquet footer).
    schema: list[DatasetColumn]
    mode: str
    # The pipeline running dataset.ingest on it; the dataset's version is in the catalog once
    # it completes.
    pipeline_id: uuid.UUID


class ConnectionCredentials(_Response):
    """A database connection as a running job opens it: its password included."""

    kind: str
    host: str
    port: int
    database: str
    username: str
    password: str | None
    sslmode: str
