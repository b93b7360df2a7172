"""Where stages and pipelines stand: each status, and each group of them a rule speaks of,
named once. The database's CHECK constraints hold the same lists (a test compares them);
SQL statements spell them out, as SQL does, and each statement says which rule it applies.

    not_started -> queued -> running -> completed | failed | retry_scheduled
    retry_scheduled -> queued;  running -> queued (its lease expired, its worker stopped)
    any unfinished -> cancelled;  skipped, and finished -> not_started | queued: by an operator
"""

from __future__ import annotations

import typing
from typing import Literal

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
STAGE_STATUSES: tuple[StageStatus, ...] = typing.get_args(StageStatus)

# A pipeline's status follows from its stages'.
PipelineStatus = Literal["running", "completed", "failed", "cancelled"]
PIPELINE_STATUSES: tuple[PipelineStatus, ...] = typing.get_args(PipelineStatus)

# A job's end, as a worker reports it: the engine advances the pipeline past it.
FINISHED: tuple[StageStatus, ...] = ("completed", "failed")
# What a dependent may run after: the stage's output stands.
DONE_FOR_DEPENDENTS: tuple[StageStatus, ...] = ("completed", "skipped")
# What a failure behind it leaves unreachable.
BLOCKING: tuple[StageStatus, ...] = ("failed", "cancelled")
# What an operator may run again.
RERUNNABLE: tuple[StageStatus, ...] = ("completed", "failed", "cancelled", "skipped")
# Where a stage stays until someone acts: nothing of its own moves it on.
SETTLED: tuple[StageStatus, ...] = ("completed", "failed", "cancelled", "skipped")
