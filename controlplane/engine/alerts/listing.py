"""Reading alerts: the list (newest first, by keyset), one alert with its history and
notifications, and the counts the dashboard's navigation shows."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg
import msgspec

from controlplane.errors import NotFound

StatusFilter = Literal["firing", "acknowledged", "resolved", "open"]

_COLUMNS = """a.id, a.application_id, app.name AS application_name, a.rule_id, a.rule_name,
a.condition_type, a.severity, a.subject_kind, a.subject_key, a.subject_name, a.status,
a.summary, a.details::text, a.occurrences, a.opened_at, a.last_seen_at, a.acknowledged_at,
a.acknowledged_by, a.resolved_at, a.resolved_by"""

# $1 member (None: every application); filters $2..$6; $7 the alert to list after; $8 limit.
_LIST = f"""
SELECT {_COLUMNS} FROM alerts a JOIN applications app ON app.id = a.application_id
WHERE ($1::uuid IS NULL OR a.application_id IN (
          SELECT m.application_id FROM memberships m WHERE m.user_id = $1))
  AND ($2::uuid IS NULL OR a.application_id = $2)
  AND ($3::text IS NULL OR a.status = $3 OR $3 = 'open' AND a.status <> 'resolved')
  AND ($4::text IS NULL OR a.severity = $4)
  AND ($5::uuid IS NULL OR a.rule_id = $5)
  AND ($6::text IS NULL OR a.condition_type = $6)
  AND ($7::uuid IS NULL OR (a.opened_at, a.id) < (
          SELECT b.opened_at, b.id FROM alerts b WHERE b.id = $7))
ORDER BY a.opened_at DESC, a.id DESC
LIMIT $8
"""

_GET = f"""
SELECT {_COLUMNS} FROM alerts a JOIN applications app ON app.id = a.application_id
WHERE a.id = $1
"""

_EVENTS = "SELECT id, kind, actor, note, at FROM alert_events WHERE alert_id = $1 ORDER BY id"

# Its notifications, and the digests that carried some of them.
_DELIVERIES = """
SELECT d.id, d.event_id, e.kind AS event, d.channel_id, c.name AS channel_name,
       c.type AS channel_type, d.status, d.attempts, d.next_attempt_at, d.last_error,
       d.delivered_at, d.digest_id
FROM alert_deliveries d
JOIN alert_events e ON e.id = d.event_id
JOIN alert_channels c ON c.id = d.channel_id
WHERE e.alert_id = $1
ORDER BY d.created_at, c.name
LIMIT 200
"""

_SOURCES = """
SELECT source_key, at FROM alert_occurrences WHERE alert_id = $1 ORDER BY at DESC LIMIT 20
"""

_COUNTS = """
SELECT count(*) FILTER (WHERE status = 'firing') AS firing,
       count(*) FILTER (WHERE status = 'acknowledged') AS acknowledged
FROM alerts a
WHERE a.status <> 'resolved' AND ($1::uuid IS NULL OR a.application_id IN (
          SELECT m.application_id FROM memberships m WHERE m.user_id = $1))
"""


@dataclass(frozen=True)
class Alert:
    id: uuid.UUID
    application_id: uuid.UUID
    application_name: str
    rule_id: uuid.UUID | None
    rule_name: str
    condition_type: str
    severity: str
    subject_kind: str
    subject_key: str
    subject_name: str
    status: str
    summary: str
    details: dict[str, Any]
    occurrences: int
    opened_at: dt.datetime
    last_seen_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    resolved_at: dt.datetime | None
    resolved_by: str | None


@dataclass(frozen=True)
class Filters:
    application_id: uuid.UUID | None = None
    status: StatusFilter | None = None
    severity: str | None = None
    rule_id: uuid.UUID | None = None
    condition_type: str | None = None


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    actor: str | None
    note: str | None
    at: dt.datetime


@dataclass(frozen=True)
class Delivery:
    id: uuid.UUID
    event_id: int
    event: str
    channel_id: uuid.UUID
    channel_name: str
    channel_type: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    delivered_at: dt.datetime | None
    digest_id: uuid.UUID | None


@dataclass(frozen=True)
class Source:
    source_key: str
    at: dt.datetime


@dataclass(frozen=True)
class AlertHistory:
    alert: Alert
    events: list[Event]
    deliveries: list[Delivery]
    # The latest things that made it open or count (a failed pipeline's id...).
    sources: list[Source]


def _alert(row: asyncpg.Record) -> Alert:
    values = dict(row)
    values["details"] = msgspec.json.decode(values["details"])
    return Alert(**values)


async def list_alerts(
    pool: asyncpg.Pool,
    *,
    member: uuid.UUID | None,
    filters: Filters,
    before: uuid.UUID | None,
    limit: int,
) -> list[Alert]:
    rows = await pool.fetch(
        _LIST,
        member,
        filters.application_id,
        filters.status,
        filters.severity,
        filters.rule_id,
        filters.condition_type,
        before,
        limit,
    )
    return [_alert(row) for row in rows]


async def get_alert(pool: asyncpg.Pool, alert_id: uuid.UUID) -> Alert:
    row = await pool.fetchrow(_GET, alert_id)
    if row is None:
        raise NotFound("alert_not_found", f"no alert {alert_id}")
    return _alert(row)


async def history(pool: asyncpg.Pool, alert: Alert) -> AlertHistory:
    return AlertHistory(
        alert,
        [Event(**row) for row in await pool.fetch(_EVENTS, alert.id)],
        [Delivery(**row) for row in await pool.fetch(_DELIVERIES, alert.id)],
        [Source(**row) for row in await pool.fetch(_SOURCES, alert.id)],
    )


async def counts(pool: asyncpg.Pool, member: uuid.UUID | None) -> dict[str, int]:
    row = await pool.fetchrow(_COUNTS, member)
    return {"firing": row["firing"], "acknowledged": row["acknowledged"]}
