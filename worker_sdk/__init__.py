"""The Pipelogiq worker SDK: run handlers for pipeline stages, and submit pipelines.

Depends only on httpx and msgspec, so it fits in any service.
"""

__version__ = "0.1.0"  # of both distributions, pipelogiq and pipelogiq-sdk

from worker_sdk.builder import PipelineSpec, StageSpec
from worker_sdk.client import AsyncClient, Client
from worker_sdk.context import JobContext, JobLog
from worker_sdk.errors import ApiError, RetryableError, TerminalError, Unavailable
from worker_sdk.wire import (
    Artifact,
    DatasetColumn,
    DatasetRead,
    DatasetWritten,
    Pipeline,
    RunOf,
    Stage,
)
from worker_sdk.worker import Worker

__all__ = [
    "ApiError",
    "Artifact",
    "AsyncClient",
    "Client",
    "DatasetColumn",
    "DatasetRead",
    "DatasetWritten",
    "JobContext",
    "JobLog",
    "Pipeline",
    "PipelineSpec",
    "RetryableError",
    "RunOf",
    "Stage",
    "StageSpec",
    "TerminalError",
    "Unavailable",
    "Worker",
]
