"""Action policies: what they say, how they are kept, and how they shape submitted stages.

A policy belongs to an application and aims at a handler or a pipeline by name. ``retry``
and ``timeout`` override the settings of the stages submitted while they are active (a
handler's policy wins over its pipeline's); ``concurrency`` and ``rate_limit`` gate claims
(see :mod:`controlplane.engine.jobpath.gates`); ``operator_input`` lets operators rerun the target's
stages with a new input (by default only developers and admins may). At most one active
policy of a kind per target.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import asyncpg
import msgspec
from msgspec import Meta, Struct

from controlplane.engine.access.audit import Actor, record
from controlplane.errors import Conflict, InvalidRequest, NotFound
from controlplane.schemas import StageSpec

Kind = Literal["retry", "timeout", "concurrency", "rate_limit", "operator_input"]
TargetType = Literal["handler", "pipeline"]
Status = Literal["active", "paused", "disabled"]
GATES = ("concurrency", "rate_limit")


class _Config(Struct, rename="camel", forbid_unknown_fields=True):
    pass


class RetryConfig(_Config):
    max_retries: Annotated[int, Meta(ge=0, le=100)]
    backoff: Literal["fixed", "exponential"] = "exponential"
    backoff_seconds: Annotated[float, Meta(ge=0, le=86_400)] = 1.0
    max_backoff_seconds: Annotated[float, Meta(ge=0, le=86_400)] = 300.0
    # Retry only failures with one of these error codes (null: every retryable failure).
    retry_on: Annotated[list[Annotated[str, Meta(max_length=100)]], Meta(max_length=50)] | None = (
        None
    )


class TimeoutConfig(_Config):
    seconds: Annotated[int, Meta(ge=1, le=604_800)]


class ConcurrencyConfig(_Config):
    # Jobs of the target running at once, across all workers.
    limit: Annotated[int, Meta(ge=1, le=100_000)]


class RateLimitConfig(_Config):
    # Jobs of the target started per window (a burst of `limit` at most).
    limit: Annotated[int, Meta(ge=1, le=100_000)]
    window_seconds: Annotated[float, Meta(ge=0.001, le=86_400)]


class OperatorInputConfig(_Config):
    """Nothing to set: the policy being active is what allows it."""


Config = RetryConfig | TimeoutConfig | ConcurrencyConfig | RateLimitConfig | OperatorInputConfig
CONFIGS: dict[str, type[Config]] = {
    "retry": RetryConfig,
    "timeout": TimeoutConfig,
    "concurrency": ConcurrencyConfig,
    "rate_limit": RateLimitConfig,
    "operator_input": OperatorInputConfig,
}


def parse_config(kind: str, raw: Any) -> Config:
    """The config of a ``kind`` of policy, or InvalidRequest naming what is wrong."""
    try:
        return msgspec.convert(raw, CONFIGS[kind])
    except msgspec.ValidationError as error:
        raise InvalidRequest("invalid_policy_config", f"{kind} config: {error}") from None


@dataclass(frozen=True)
class Policy:
    id: uuid.UUID
    application_id: uuid.UUID
    name: str
    kind: str
    target_type: str
    target: str
    config: dict[str, Any]
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Policy:
        return cls(
            row["id"],
            row["application_id"],
            row["name"],
            row["kind"],
            row["target_type"],
            row["target"],
            row["config"],
            row["status"],
            row["created_at"],
            row["updated_at"],
        )

    def parsed(self) -> Config:
        return msgspec.convert(self.config, CONFIGS[self.kind])


_COLUMNS = (
    "id, application_id, name, kind, target_type, target, config, status, created_at, updated_at"
)

_INSERT = f"""
INSERT INTO policies (application_id, name, kind, target_type, target, config, status,
                      created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING {_COLUMNS}
"""

_UPDATE = f"""
UPDATE policies SET
    name = coalesce($2, name),
    config = coalesce($3, config),
    status = coalesce($4, status),
    -- A limit that changes starts with a fresh bucket.
    rate_tat = CASE WHEN $3::jsonb IS NULL THEN rate_tat END,
    updated_at = now()
WHERE id = $1
RETURNING {_COLUMNS}
"""

_DELETE = f"DELETE FROM policies WHERE id = $1 RETURNING {_COLUMNS}"

_ONE = f"SELECT {_COLUMNS} FROM policies WHERE id = $1"

_LIST = f"""
SELECT {_COLUMNS} FROM policies p
WHERE ($1::uuid IS NULL OR p.application_id IN (
          SELECT m.application_id FROM memberships m WHERE m.user_id = $1))
  AND ($2::uuid IS NULL OR p.application_id = $2)
ORDER BY p.application_id, p.name
"""

# A policy paused, disabled or deleted holds nothing back: its stages go to the relay, which
# publishes them again.
_LET_GO = """
UPDATE stages SET held_by = NULL, published_at = NULL WHERE held_by = $1 AND status = 'queued'
"""

_ACTIVE = f"SELECT {_COLUMNS} FROM policies WHERE application_id = $1 AND status = 'active'"


def _conflicts(error: asyncpg.UniqueViolationError) -> Conflict:
    if error.constraint_name == "policies_one_active":
        return Conflict(
            "policy_target_taken",
            "another active policy of this kind aims at the same target; pause it first",
        )
    return Conflict("policy_exists", "a policy of this application has that name")


async def create_policy(
    pool: asyncpg.Pool,
    actor: Actor,
    application_id: uuid.UUID,
    *,
    name: str,
    kind: str,
    target_type: str,
    target: str,
    config: Any,
    status: str = "active",
) -> Policy:
    parsed = parse_config(kind, config)
    try:
        async with pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(
                _INSERT,
                application_id,
                name,
                kind,
                target_type,
                target,
                msgspec.to_builtins(parsed),
                status,
                actor.user_id,
            )
            policy = Policy.from_row(row)
            await record(connection, actor, "policy.created", "policy", policy.id, _trail(policy))
    except asyncpg.UniqueViolationError as error:
        raise _conflicts(error) from None
    return policy


async def change_policy(
    pool: asyncpg.Pool,
    actor: Actor,
    policy_id: uuid.UUID,
    *,
    name: str | None = None,
    config: Any = None,
    status: str | None = None,
) -> Policy:
    try:
        async with pool.acquire() as connection, connection.transaction():
            current = await connection.fetchrow(_ONE + " FOR UPDATE", policy_id)
            if current is None:
                raise NotFound("policy_not_found", f"no policy {policy_id}")
            new_config = None
            if config is not None:
                new_config = msgspec.to_builtins(parse_config(current["kind"], config))
            row = await connection.fetchrow(_UPDATE, policy_id, name, new_config, status)
            policy = Policy.from_row(row)
            if policy.status != "active" or new_config is not None:
                await connection.execute(_LET_GO, policy.id)
            await record(connection, actor, "policy.changed", "policy", policy.id, _trail(policy))
    except asyncpg.UniqueViolationError as error:
        raise _conflicts(error) from None
    return policy


async def delete_policy(pool: asyncpg.Pool, actor: Actor, policy_id: uuid.UUID) -> Policy:
    async with pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(_DELETE, policy_id)
        if row is None:
            raise NotFound("policy_not_found", f"no policy {policy_id}")
        policy = Policy.from_row(row)
        await connection.execute(_LET_GO, policy.id)
        await record(connection, actor, "policy.deleted", "policy", policy.id, _trail(policy))
    return policy


async def read_policy(pool: asyncpg.Pool, policy_id: uuid.UUID) -> Policy | None:
    row = await pool.fetchrow(_ONE, policy_id)
    return None if row is None else Policy.from_row(row)


async def list_policies(
    pool: asyncpg.Pool, *, member: uuid.UUID | None, application_id: uuid.UUID | None
) -> list[Policy]:
    return [Policy.from_row(row) for row in await pool.fetch(_LIST, member, application_id)]


def _trail(policy: Policy) -> dict[str, Any]:
    """What the audit log keeps of each change: the whole policy as it became."""
    return {
        "application": str(policy.application_id),
        "name": policy.name,
        "kind": policy.kind,
        "target": f"{policy.target_type}:{policy.target}",
        "config": policy.config,
        "status": policy.status,
    }


# -- applying them ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivePolicies:
    """An application's active policies, by kind and target."""

    by_target: dict[tuple[str, str, str], Policy] = field(default_factory=dict)

    def find(self, kind: str, handler: str, pipeline: str) -> Policy | None:
        """The policy of ``kind`` for a stage: its handler's, else its pipeline's."""
        return self.by_target.get((kind, "handler", handler)) or self.by_target.get(
            (kind, "pipeline", pipeline)
        )

    @property
    def gates(self) -> bool:
        return any(kind in GATES for kind, _, _ in self.by_target)


class PolicyCache:
    """Each application's active policies, read again after ``ttl_seconds``: a change takes
    effect on every process within that time."""

    def __init__(self, pool: asyncpg.Pool, ttl_seconds: float = 2.0) -> None:
        self._pool = pool
        self._ttl = ttl_seconds
        self._known: dict[uuid.UUID, tuple[float, ActivePolicies]] = {}

    async def of(self, application_id: uuid.UUID) -> ActivePolicies:
        now = time.monotonic()
        cached = self._known.get(application_id)
        if cached and cached[0] > now:
            return cached[1]
        rows = await self._pool.fetch(_ACTIVE, application_id)
        policies = ActivePolicies(
            {(r["kind"], r["target_type"], r["target"]): Policy.from_row(r) for r in rows}
        )
        self._known[application_id] = (now + self._ttl, policies)
        return policies

    def forget(self, application_id: uuid.UUID) -> None:
        """After a change made in this process: no waiting out the TTL here."""
        self._known.pop(application_id, None)


# Who may rerun a stage with an input of their choosing: the input is what the stage's code
# runs on (a URL the http.request template fetches, a path a dataset template reads...).
_OPERATOR_INPUT_STAGES = """
SELECT s.id FROM stages s JOIN pipelines p ON p.id = s.pipeline_id
WHERE s.id = ANY($2::uuid[]) AND s.application_id = $1
  AND EXISTS (
      SELECT 1 FROM policies o
      WHERE o.application_id = $1 AND o.kind = 'operator_input' AND o.status = 'active'
        AND ((o.target_type = 'handler' AND o.target = s.handler)
             OR (o.target_type = 'pipeline' AND o.target = p.name)))
"""


async def inputs_editable(
    connection: asyncpg.Pool | asyncpg.Connection,
    application_id: uuid.UUID,
    role: str,
    stage_ids: list[uuid.UUID],
) -> set[uuid.UUID]:
    """The stages among ``stage_ids`` that someone of ``role`` may rerun with a new input."""
    if role != "operator":
        return set(stage_ids)
    rows = await connection.fetch(_OPERATOR_INPUT_STAGES, application_id, stage_ids)
    return {row["id"] for row in rows}


@dataclass(frozen=True)
class ShapedStage:
    spec: StageSpec
    # Error codes worth a retry; None: any retryable failure.
    retry_on: list[str] | None = None


def shape_stages(
    policies: ActivePolicies, pipeline: str, stages: list[StageSpec]
) -> list[ShapedStage]:
    """The stages of a ``pipeline`` as the active retry and timeout policies say they run."""
    shaped = []
    for spec in stages:
        retry_on = None
        retry = policies.find("retry", spec.handler, pipeline)
        if retry is not None:
            config = retry.parsed()
            assert isinstance(config, RetryConfig)
            spec = msgspec.structs.replace(
                spec,
                max_retries=config.max_retries,
                retry_backoff=config.backoff,
                retry_backoff_seconds=config.backoff_seconds,
                retry_backoff_max_seconds=config.max_backoff_seconds,
            )
            retry_on = config.retry_on
        timeout = policies.find("timeout", spec.handler, pipeline)
        if timeout is not None:
            config = timeout.parsed()
            assert isinstance(config, TimeoutConfig)
            spec = msgspec.structs.replace(spec, timeout_seconds=config.seconds)
        shaped.append(ShapedStage(spec, retry_on))
    return shaped
