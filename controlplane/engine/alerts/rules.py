"""Alert rules of an application: a condition, a severity and the channels told.

A paused rule is not evaluated: it opens nothing, and its open alerts stay as they are until
it is resumed or they are resolved by hand. Deleting a rule resolves its open alerts (their
history stays, with the rule's name).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Literal

import asyncpg
import msgspec

from controlplane.engine.access.audit import Actor, record
from controlplane.engine.alerts import conditions
from controlplane.engine.alerts.conditions import Condition
from controlplane.errors import Conflict, InvalidRequest, NotFound

Severity = Literal["info", "warning", "critical"]
Status = Literal["active", "paused"]
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_ .-]{0,99}")
NAME_RULE = "letters, digits, spaces and _ . - (up to 100), starting with a letter or digit"

_COLUMNS = """r.id, r.application_id, a.name AS application_name, r.name, r.condition::text,
r.severity, r.channel_ids, r.status, r.created_by, r.created_at, r.updated_at"""

_LIST = f"""
SELECT {_COLUMNS} FROM alert_rules r JOIN applications a ON a.id = r.application_id
WHERE ($1::uuid IS NULL OR r.application_id IN (
          SELECT m.application_id FROM memberships m WHERE m.user_id = $1))
  AND ($2::uuid IS NULL OR r.application_id = $2)
ORDER BY a.name, r.name
LIMIT 1000
"""

_GET = f"""
SELECT {_COLUMNS} FROM alert_rules r JOIN applications a ON a.id = r.application_id
WHERE r.id = $1
"""

# The channels named that are not the application's own.
_FOREIGN_CHANNELS = """
SELECT wanted FROM unnest($2::uuid[]) AS wanted
WHERE NOT EXISTS (SELECT 1 FROM alert_channels c WHERE c.id = wanted AND c.application_id = $1)
"""

_INSERT = """
INSERT INTO alert_rules (id, application_id, name, condition, condition_type, severity,
                         channel_ids, status, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (application_id, name) DO NOTHING
RETURNING id
"""

_UPDATE = """
UPDATE alert_rules SET name = $2, condition = $3, condition_type = $4, severity = $5,
       channel_ids = $6, status = $7, updated_at = now(),
       active_since = CASE WHEN status = 'paused' AND $7 = 'active' THEN now()
                           ELSE active_since END
WHERE id = $1
RETURNING id
"""

_DELETE = "DELETE FROM alert_rules WHERE id = $1 RETURNING id"

# A deleted rule's open alerts end with it; the alerts keep their history.
_RESOLVE_ITS_ALERTS = """
WITH ended AS (
    UPDATE alerts SET status = 'resolved', resolved_at = now(), resolved_by = $2
    WHERE rule_id = $1 AND status <> 'resolved'
    RETURNING id
)
INSERT INTO alert_events (alert_id, kind, actor, note)
SELECT id, 'resolved', $2, 'the rule was deleted' FROM ended
RETURNING alert_id
"""


@dataclass(frozen=True)
class Rule:
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


@dataclass(frozen=True)
class Draft:
    """A rule as given: everything but who and when."""

    name: str
    condition: Condition
    severity: Severity
    channel_ids: list[uuid.UUID]
    status: Status


def _rule(row: asyncpg.Record) -> Rule:
    values = dict(row)
    values["condition"] = conditions.parse(values["condition"])
    return Rule(**values)


async def list_rules(
    pool: asyncpg.Pool, *, member: uuid.UUID | None, application_id: uuid.UUID | None
) -> list[Rule]:
    return [_rule(row) for row in await pool.fetch(_LIST, member, application_id)]


async def get_rule(pool: asyncpg.Pool, rule_id: uuid.UUID) -> Rule:
    row = await pool.fetchrow(_GET, rule_id)
    if row is None:
        raise NotFound("rule_not_found", f"no alert rule {rule_id}")
    return _rule(row)


def _check(draft: Draft) -> None:
    if not NAME.fullmatch(draft.name):
        raise InvalidRequest("invalid_name", f"an alert rule's name: {NAME_RULE}")
    condition = draft.condition
    if (
        isinstance(condition, conditions.StagePending)
        and condition.fail_after_minutes
        and condition.fail_after_minutes <= condition.minutes
    ):
        raise InvalidRequest(
            "invalid_condition",
            "failAfterMinutes must be longer than minutes: a stage is alerted on first",
        )
    if isinstance(condition, conditions.Risk) and (problem := _never_fires(condition)):
        raise InvalidRequest("invalid_condition", problem)
    if len(set(draft.channel_ids)) != len(draft.channel_ids):
        raise InvalidRequest("invalid_channels", "a channel is named twice")


def _never_fires(condition: conditions.Risk) -> str | None:
    """Why a risk condition could never match anything: a mistake to say at once, not a
    silence to find out."""
    names_a_stage = condition.handler is not None or condition.stage is not None
    if names_a_stage and condition.kind == "pipeline":
        return "handler and stage name a stage's risk: a pipeline's (kind pipeline) has neither"
    if condition.pipeline_name is not None and condition.kind == "stage":
        return "pipelineName names a pipeline's risk: a stage's (kind stage) has none"
    if names_a_stage and condition.pipeline_name is not None:
        return "handler and stage name a stage's risk, pipelineName a pipeline's: not both"
    return None


async def _channels_are_its_own(
    db: asyncpg.Connection, application_id: uuid.UUID, channel_ids: list[uuid.UUID]
) -> None:
    foreign = [
        row["wanted"] for row in await db.fetch(_FOREIGN_CHANNELS, application_id, channel_ids)
    ]
    if foreign:
        raise InvalidRequest(
            "channel_not_found",
            f"not alert channels of the rule's application: {', '.join(map(str, foreign))}",
        )


def _details(draft: Draft) -> dict[str, object]:
    return {
        "name": draft.name,
        "condition": msgspec.to_builtins(draft.condition),
        "severity": draft.severity,
        "channelIds": [str(c) for c in draft.channel_ids],
        "status": draft.status,
    }


async def create_rule(
    pool: asyncpg.Pool, actor: Actor, application_id: uuid.UUID, draft: Draft
) -> Rule:
    _check(draft)
    rule_id = uuid.uuid4()
    async with pool.acquire() as db, db.transaction():
        await _channels_are_its_own(db, application_id, draft.channel_ids)
        created = await db.fetchval(
            _INSERT,
            rule_id,
            application_id,
            draft.name,
            msgspec.to_builtins(draft.condition),
            type(draft.condition).__struct_config__.tag,
            draft.severity,
            draft.channel_ids,
            draft.status,
            actor.name,
        )
        if created is None:
            raise Conflict("rule_exists", f"the application has an alert rule {draft.name!r}")
        await record(db, actor, "alert_rule.created", "alert_rule", rule_id, _details(draft))
    return await get_rule(pool, rule_id)


async def change_rule(pool: asyncpg.Pool, actor: Actor, rule: Rule, draft: Draft) -> Rule:
    _check(draft)
    async with pool.acquire() as db, db.transaction():
        await _channels_are_its_own(db, rule.application_id, draft.channel_ids)
        try:
            changed = await db.fetchval(
                _UPDATE,
                rule.id,
                draft.name,
                msgspec.to_builtins(draft.condition),
                type(draft.condition).__struct_config__.tag,
                draft.severity,
                draft.channel_ids,
                draft.status,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(
                "rule_exists", f"the application has an alert rule {draft.name!r}"
            ) from None
        if changed is None:
            raise NotFound("rule_not_found", f"no alert rule {rule.id}")
        await record(db, actor, "alert_rule.changed", "alert_rule", rule.id, _details(draft))
    return await get_rule(pool, rule.id)


async def delete_rule(pool: asyncpg.Pool, actor: Actor, rule: Rule) -> list[uuid.UUID]:
    """Delete it; returns the alerts its deletion resolved."""
    async with pool.acquire() as db, db.transaction():
        ended = [
            row["alert_id"] for row in await db.fetch(_RESOLVE_ITS_ALERTS, rule.id, actor.name)
        ]
        if await db.fetchval(_DELETE, rule.id) is None:
            raise NotFound("rule_not_found", f"no alert rule {rule.id}")
        await record(
            db, actor, "alert_rule.deleted", "alert_rule", rule.id, {"resolved": len(ended)}
        )
    return ended
