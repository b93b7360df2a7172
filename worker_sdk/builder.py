"""A small builder for pipeline requests; plain dicts work as well."""

from __future__ import annotations

from typing import Any, Literal

import msgspec


class StageSpec(msgspec.Struct, rename="camel", omit_defaults=True):
    name: str
    handler: str
    input: Any = None
    depends_on: list[str] | None = None
    max_retries: int | None = None
    retry_backoff: Literal["fixed", "exponential"] | None = None
    retry_backoff_seconds: float | None = None
    retry_backoff_max_seconds: float | None = None
    timeout_seconds: int | None = None


class PipelineSpec(msgspec.Struct, rename="camel", omit_defaults=True):
    """A pipeline to submit. ``stage()`` adds stages and returns their names::

    etl = PipelineSpec("nightly-etl")
    raw = etl.stage("extract", "fetch", input={"day": "2026-11-23"})
    left = etl.stage("clean", "clean", depends_on=[raw])
    right = etl.stage("profile", "profile", depends_on=[raw])
    etl.stage("load", "store", depends_on=[left, right])
    """

    name: str
    stages: list[StageSpec] = msgspec.field(default_factory=list)
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    keywords: list[str] = msgspec.field(default_factory=list)
    idempotency_key: str | None = None

    def stage(
        self,
        name: str,
        handler: str,
        *,
        input: Any = None,
        depends_on: list[str] | None = None,
        max_retries: int | None = None,
        retry_backoff: Literal["fixed", "exponential"] | None = None,
        retry_backoff_seconds: float | None = None,
        retry_backoff_max_seconds: float | None = None,
        timeout_seconds: int | None = None,
    ) -> str:
        """Add a stage. Without ``depends_on`` it follows the stage added before it; pass
        ``depends_on=[]`` for another root."""
        self.stages.append(
            StageSpec(
                name,
                handler,
                input,
                depends_on,
                max_retries,
                retry_backoff,
                retry_backoff_seconds,
                retry_backoff_max_seconds,
                timeout_seconds,
            )
        )
        return name
