"""Concurrency and rate limits, enforced where jobs are claimed.

For an application with an active ``concurrency`` or ``rate_limit`` policy, a pull claims in
one transaction that first locks the policies its stages fall under — so claims against one
policy take turns, across every API process — then counts each policy's room, claims the
stages that fit and holds back the rest. A held stage stays ``queued`` but leaves the broker:
its ``held_by`` names the policy, and the built-in worker releases it (publishes it again)
once the policy has room, oldest first.

A rate limit is a GCRA bucket: a burst of ``limit`` jobs, then one every
``window / limit`` seconds; its state is one timestamp on the policy row.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from controlplane.engine.jobpath.policies import (
    ActivePolicies,
    ConcurrencyConfig,
    Policy,
    RateLimitConfig,
)
from controlplane.engine.outcome import Outcome, QueuedStage

_CANDIDATES = """
SELECT s.id, s.handler, p.name AS pipeline_name
FROM stages s JOIN pipelines p ON p.id = s.pipeline_id
WHERE s.id = ANY($1::uuid[]) AND s.status = 'queued' AND s.application_id = $2
"""

_LOCK_POLICIES = """
SELECT id, application_id, name, kind, target_type, target, config, status, created_at,
       updated_at, rate_tat, now() AS now
FROM policies
WHERE id = ANY($1::uuid[]) AND status = 'active'
ORDER BY id
FOR UPDATE
"""

# A target's jobs running, and queued on their way to a worker (not held). Each count reads
# only its own partial index.
_LOAD_OF_HANDLER = """
SELECT (SELECT count(*) FROM stages
        WHERE application_id = $1 AND handler = $2 AND status = 'running') AS running,
       (SELECT count(*) FROM stages
        WHERE application_id = $1 AND handler = $2 AND status = 'queued'
          AND queued_at IS NOT NULL AND held_by IS NULL) AS waiting
"""

_LOAD_OF_PIPELINE = """
SELECT count(*) FILTER (WHERE s.status = 'running') AS running,
       count(*) FILTER (WHERE s.status = 'queued' AND s.held_by IS NULL) AS waiting
FROM pipelines p JOIN stages s ON s.pipeline_id = p.id
WHERE p.application_id = $1 AND p.name = $2 AND p.status = 'running'
  AND s.status IN ('running', 'queued')
"""

_HOLD = """
UPDATE stages s SET held_by = h.policy_id, published_at = NULL
FROM unnest($1::uuid[], $2::uuid[]) AS h(id, policy_id)
WHERE s.id = h.id AND s.status = 'queued'
"""

_MOVE_BUCKET = "UPDATE policies SET rate_tat = $2 WHERE id = $1"

# Active gate policies that hold stages back.
_HOLDING = """
SELECT p.id FROM policies p
WHERE p.status = 'active' AND p.kind IN ('concurrency', 'rate_limit')
  AND EXISTS (SELECT 1 FROM stages s WHERE s.held_by = p.id AND s.status = 'queued')
"""

_RELEASE = """
UPDATE stages s SET held_by = NULL
WHERE s.id IN (
    SELECT id FROM stages WHERE held_by = $1 AND status = 'queued'
    ORDER BY queued_at LIMIT $2
    FOR UPDATE SKIP LOCKED
)
RETURNING s.id, s.pipeline_id, s.application_id, s.handler, s.attempt
"""


@dataclass
class _Room:
    policy: Policy
    left: int
    # rate_limit only: the bucket's state, and one job's share of the window.
    tat: dt.datetime | None = None
    interval: dt.timedelta | None = None
    taken: int = 0


async def admit(
    connection: asyncpg.Connection,
    application_id: uuid.UUID,
    policies: ActivePolicies,
    stage_ids: Sequence[uuid.UUID],
) -> list[uuid.UUID]:
    """In the caller's transaction: the stages that fit their policies (to be claimed now);
    the others are held. Stages under no gate policy are always admitted."""
    candidates = await connection.fetch(_CANDIDATES, list(stage_ids), application_id)
    gates = {
        row["id"]: [
            policy
            for kind in ("concurrency", "rate_limit")
            if (policy := policies.find(kind, row["handler"], row["pipeline_name"])) is not None
        ]
        for row in candidates
    }
    involved = sorted({p.id for found in gates.values() for p in found})
    if not involved:
        return list(stage_ids)
    rooms = await _rooms(connection, application_id, policies, involved)
    admitted, held = [], []
    for stage_id in stage_ids:
        applying = [rooms[p.id] for p in gates.get(stage_id, []) if p.id in rooms]
        full = next((room for room in applying if room.left <= 0), None)
        if full is not None:
            held.append((stage_id, full.policy.id))
            continue
        for room in applying:
            room.left -= 1
            room.taken += 1
        admitted.append(stage_id)
    if held:
        await connection.execute(_HOLD, [s for s, _ in held], [p for _, p in held])
    for room in rooms.values():
        if room.interval is not None and room.taken:
            assert room.tat is not None
            moved = room.tat + room.taken * room.interval
            await connection.execute(_MOVE_BUCKET, room.policy.id, moved)
    return admitted


async def _rooms(
    connection: asyncpg.Connection,
    application_id: uuid.UUID,
    policies: ActivePolicies,
    policy_ids: list[uuid.UUID],
) -> dict[uuid.UUID, _Room]:
    rooms = {}
    # Locked in id order: two claims never wait on each other's policies in a cycle. The
    # cache said which policies apply; their config is read here, as it is now. A policy
    # paused since the cache read it is not locked, and so no longer limits.
    for row in await connection.fetch(_LOCK_POLICIES, policy_ids):
        policy = Policy.from_row(row)
        running, _ = await _load(connection, application_id, policy)
        rooms[policy.id] = _room(policy, running, 0, row["rate_tat"], row["now"])
    return rooms


async def _load(
    connection: asyncpg.Connection, application_id: uuid.UUID, policy: Policy
) -> tuple[int, int]:
    """How many of the target's jobs run, and how many wait (queued, not held)."""
    query = _LOAD_OF_HANDLER if policy.target_type == "handler" else _LOAD_OF_PIPELINE
    row = await connection.fetchrow(query, application_id, policy.target)
    return int(row["running"]), int(row["waiting"])


def _room(
    policy: Policy, running: int, waiting: int, tat: dt.datetime | None, now: dt.datetime
) -> _Room:
    """Room for more jobs. Running jobs fill a concurrency limit (and have taken their
    tokens of a rate limit already); ``waiting`` ones will, once they are claimed."""
    config = policy.parsed()
    if isinstance(config, ConcurrencyConfig):
        return _Room(policy, config.limit - running - waiting)
    assert isinstance(config, RateLimitConfig)
    interval = dt.timedelta(seconds=config.window_seconds / config.limit)
    tolerance = dt.timedelta(seconds=config.window_seconds) - interval
    start = max(tat or now, now)
    filled = start - now
    tokens = 0 if filled > tolerance else math.floor((tolerance - filled) / interval) + 1
    return _Room(policy, tokens - waiting, start, interval)


async def release_held(pool: asyncpg.Pool) -> Outcome:
    """Release held stages of every policy that has room again (queued all along, they are
    published now: no news)."""
    released: list[QueuedStage] = []
    for row in await pool.fetch(_HOLDING):
        async with pool.acquire() as connection, connection.transaction():
            locked = await connection.fetch(_LOCK_POLICIES, [row["id"]])
            if not locked:
                continue
            policy = Policy.from_row(locked[0])
            running, waiting = await _load(connection, policy.application_id, policy)
            room = _room(policy, running, waiting, locked[0]["rate_tat"], locked[0]["now"])
            if room.left <= 0:
                continue
            rows = await connection.fetch(_RELEASE, policy.id, room.left)
        released += [QueuedStage.from_row(r) for r in rows]
    return Outcome(republished=tuple(released))
