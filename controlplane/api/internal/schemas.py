"""Wire shapes of the internal API (camelCase on the wire, unknown fields refused)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from controlplane.schemas import PipelineView

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


class SessionView(_Response):
    user: UserView
    # Send it back in the X-CSRF-Token header with every POST, PUT, PATCH and DELETE.
    csrf_token: str
    access_expires_in_seconds: int


# -- applications and keys -------------------------------------------------------------------

Scope = Literal["submit", "read", "work"]
DisplayName = Annotated[str, Meta(min_length=1, max_length=200)]


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
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    expires_at: dt.datetime | None = None
    scopes: Annotated[list[Scope], Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["submit", "read", "work"]
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


class UserCreate(_Request):
    email: Email
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    role: RoleName
    password: Annotated[str, Meta(min_length=12, max_length=1024)]


class UserChange(_Request):
    name: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    role: RoleName | None = None
    disabled: bool | None = None


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


class PipelineDetail(_Response):
    application_id: uuid.UUID
    application_name: str
    pipeline: PipelineView
    # Every attempt of every stage, in the order they started (for a timeline).
    attempts: list[AttemptView]


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
