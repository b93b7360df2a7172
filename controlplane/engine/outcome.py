"""What a committed change did, as plain data: the engine's answer to "what follows now?".

Every engine function that changes state returns an :class:`Outcome` (alone, or as the
``outcome`` of its result). The engine never publishes, announces or exports anything
itself: :class:`controlplane.effects.Effects` applies an outcome after its commit, the same
way for both APIs, the built-in worker and the schedules. An effect to add (an alert, say)
is a field here, filled where the change happens, and one line in ``Effects.apply``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from typing import NamedTuple

import asyncpg


class QueuedStage(NamedTuple):
    """A stage to publish to its handler's queue, as ``(stage id, attempt)``."""

    stage_id: uuid.UUID
    application_id: uuid.UUID
    handler: str
    attempt: int
    pipeline_id: uuid.UUID

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> QueuedStage:
        return cls(
            row["id"], row["application_id"], row["handler"], row["attempt"], row["pipeline_id"]
        )


class StageChange(NamedTuple):
    stage_id: uuid.UUID
    pipeline_id: uuid.UUID
    application_id: uuid.UUID
    status: str

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> StageChange:
        return cls(row["id"], row["pipeline_id"], row["application_id"], row["status"])


class PipelineChange(NamedTuple):
    pipeline_id: uuid.UUID
    application_id: uuid.UUID
    status: str


class WorkerChange(NamedTuple):
    worker_id: uuid.UUID
    application_id: uuid.UUID
    state: str


class AlertChange(NamedTuple):
    alert_id: uuid.UUID
    application_id: uuid.UUID
    status: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one change did, once committed. Every field is a tuple, empty when nothing
    happened of that kind; outcomes of several changes add up with ``+``."""

    # Stages that became queued: published to their queues, and shown live as queued.
    queued: tuple[QueuedStage, ...] = ()
    # Stages queued earlier whose publish is made again (the relay, released holds): no news.
    republished: tuple[QueuedStage, ...] = ()
    # Stages, pipelines and workers whose status changed: shown live on the dashboard.
    stages: tuple[StageChange, ...] = ()
    pipelines: tuple[PipelineChange, ...] = ()
    workers: tuple[WorkerChange, ...] = ()
    # Stages that finished (completed, failed, skipped): announced on ``stage.results`` so
    # that the built-in worker advances their pipelines.
    finished_stages: tuple[uuid.UUID, ...] = ()
    # Jobs (attempts) and pipelines that ended: exported as spans.
    ended_jobs: tuple[uuid.UUID, ...] = ()
    ended_pipelines: tuple[uuid.UUID, ...] = ()
    # Alerts opened, acknowledged or resolved: shown live, and their notifications sent.
    alerts: tuple[AlertChange, ...] = ()
    # Alerts whose notifications were sent, put off or given up: shown live (the alert's page
    # lists each notification's fate), nothing more.
    notified: tuple[AlertChange, ...] = ()

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Outcome)))

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(Outcome))
