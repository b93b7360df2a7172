"""Alerts and their transitions: opened (or counted), acknowledged, resolved.

Each transition is one guarded statement, and writes in its transaction the event that
records it and one pending delivery per channel of the rule: so however many built-in
workers see the same failure, it is counted once (``alert_occurrences``), an alert is opened
once per rule and subject (the partial unique index ``alerts_open``), and each transition is
notified once in our records (``UNIQUE (event_id, channel_id)``).

Opening and resolving are notified; an acknowledgement is recorded, audited and shown live,
but sent nowhere: the people it would tell are the ones who just did it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

import asyncpg

from controlplane.engine.access.audit import Actor, record, record_many
from controlplane.engine.outcome import AlertChange, Outcome
from controlplane.errors import Conflict, NotFound

Status = Literal["firing", "acknowledged", "resolved"]
# Who the control plane's own transitions are recorded as.
SYSTEM = Actor("pipelogiq")


@dataclass(frozen=True)
class Subject:
    kind: str  # pipeline, stage, handler, queue, worker, schedule
    key: str
    name: str


@dataclass(frozen=True)
class Signal:
    """One thing a rule saw: counted once per ``(rule, source)``."""

    rule_id: uuid.UUID
    source: str
    subject: Subject
    summary: str
    at: dt.datetime
    details: dict[str, Any] = field(default_factory=dict)


# Counts each source once: a concurrent second insert waits for the first and does nothing.
_COUNT_SOURCES = """
INSERT INTO alert_occurrences (rule_id, source_key, alert_id)
SELECT rule_id, source_key, NULL FROM unnest($1::uuid[], $2::text[]) AS s (rule_id, source_key)
ON CONFLICT DO NOTHING
RETURNING rule_id, source_key
"""

# Opens, or counts on the open alert of the rule and subject. ``xmax = 0``: the row is new.
# The rule must still be active: a rule paused or deleted since the scan opens nothing.
_OPEN = """
INSERT INTO alerts AS a (application_id, rule_id, rule_name, condition_type, severity,
                         subject_kind, subject_key, subject_name, summary, details,
                         occurrences, opened_at, last_seen_at)
SELECT r.application_id, r.id, r.name, r.condition_type, r.severity, s.kind, s.key, s.name,
       s.summary, s.details, s.n, now(), s.at
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[],
            $7::int[], $8::timestamptz[]) AS s (rule_id, kind, key, name, summary, details, n, at)
JOIN alert_rules r ON r.id = s.rule_id AND r.status = 'active'
ON CONFLICT (rule_id, subject_key) WHERE status <> 'resolved' DO UPDATE SET
    occurrences = a.occurrences + EXCLUDED.occurrences,
    last_seen_at = greatest(a.last_seen_at, EXCLUDED.last_seen_at),
    summary = EXCLUDED.summary,
    details = EXCLUDED.details
RETURNING a.id, a.rule_id, a.subject_key, a.application_id, a.status, (a.xmax = 0) AS opened
"""

_LINK_SOURCES = """
UPDATE alert_occurrences o SET alert_id = s.alert_id
FROM unnest($1::uuid[], $2::text[], $3::uuid[]) AS s (rule_id, source_key, alert_id)
WHERE o.rule_id = s.rule_id AND o.source_key = s.source_key
"""

# An event, and a pending delivery of it to each channel of the alert's rule.
_EVENTS = """
WITH events AS (
    INSERT INTO alert_events (alert_id, kind, actor, note)
    SELECT alert_id, $2, $3, $4 FROM unnest($1::uuid[]) AS alert_id
    RETURNING id, alert_id
)
INSERT INTO alert_deliveries (event_id, channel_id, application_id)
SELECT e.id, c.id, a.application_id
FROM events e JOIN alerts a ON a.id = e.alert_id
JOIN alert_rules r ON r.id = a.rule_id
JOIN alert_channels c ON c.id = ANY (r.channel_ids) AND c.application_id = a.application_id
RETURNING id
"""

_ACKNOWLEDGE = """
UPDATE alerts SET status = 'acknowledged', acknowledged_at = now(), acknowledged_by = $2
WHERE id = $1 AND status = 'firing'
RETURNING id, application_id, status
"""

# $2: who resolved it (NULL: the condition cleared).
_RESOLVE = """
UPDATE alerts SET status = 'resolved', resolved_at = now(), resolved_by = $2
WHERE id = ANY ($1::uuid[]) AND status <> 'resolved'
RETURNING id, application_id, status
"""

_ACKNOWLEDGED = """
INSERT INTO alert_events (alert_id, kind, actor, note) VALUES ($1, 'acknowledged', $2, $3)
"""

_STATUS = "SELECT status FROM alerts WHERE id = $1"


_OPEN_BY_RULE = """
SELECT rule_name, count(*) AS open FROM alerts WHERE status <> 'resolved' GROUP BY rule_name
"""


async def open_by_rule(pool: asyncpg.Pool) -> dict[str, int]:
    """Open alerts (firing or acknowledged) by rule name, for the metrics."""
    return {row["rule_name"]: row["open"] for row in await pool.fetch(_OPEN_BY_RULE)}


def _changes(rows: list[asyncpg.Record]) -> Outcome:
    return Outcome(
        alerts=tuple(AlertChange(r["id"], r["application_id"], r["status"]) for r in rows)
    )


async def raise_signals(pool: asyncpg.Pool, signals: list[Signal]) -> Outcome:
    """Count each new signal on its alert, opening the alerts that were not open."""
    if not signals:
        return Outcome()
    async with pool.acquire() as db, db.transaction():
        fresh = {
            (row["rule_id"], row["source_key"])
            for row in await db.fetch(
                _COUNT_SOURCES, [s.rule_id for s in signals], [s.source for s in signals]
            )
        }
        # One row per rule and subject: a statement may not change one alert twice.
        grouped: dict[tuple[uuid.UUID, str], list[Signal]] = defaultdict(list)
        for signal in signals:
            if (signal.rule_id, signal.source) in fresh:
                grouped[signal.rule_id, signal.subject.key].append(signal)
        if not grouped:
            return Outcome()
        latest = [max(group, key=lambda s: s.at) for group in grouped.values()]
        rows = await db.fetch(
            _OPEN,
            [s.rule_id for s in latest],
            [s.subject.kind for s in latest],
            [s.subject.key for s in latest],
            [s.subject.name for s in latest],
            [s.summary for s in latest],
            [s.details for s in latest],
            [len(group) for group in grouped.values()],
            [s.at for s in latest],
        )
        alert_of = {(row["rule_id"], row["subject_key"]): row["id"] for row in rows}
        linked = [
            (s.rule_id, s.source, alert_of[s.rule_id, s.subject.key])
            for group in grouped.values()
            for s in group
            if (s.rule_id, s.subject.key) in alert_of
        ]
        if linked:
            await db.execute(_LINK_SOURCES, *map(list, zip(*linked, strict=True)))
        # A rule paused or deleted meanwhile opened nothing, and counts nothing (only this
        # transaction's own rows are unlinked: every other commits linked).
        await db.execute("DELETE FROM alert_occurrences WHERE alert_id IS NULL")
        opened = [row for row in rows if row["opened"]]
        if opened:
            await db.fetch(_EVENTS, [row["id"] for row in opened], "opened", None, None)
            await record_many(
                db,
                SYSTEM,
                [
                    ("alert.opened", "alert", row["id"], {"rule": str(row["rule_id"])})
                    for row in opened
                ],
            )
    return _changes(opened)


async def resolve_cleared(pool: asyncpg.Pool, alert_ids: list[uuid.UUID], why: str) -> Outcome:
    """Resolve the alerts whose condition cleared (those still open)."""
    if not alert_ids:
        return Outcome()
    async with pool.acquire() as db, db.transaction():
        rows = await db.fetch(_RESOLVE, alert_ids, None)
        if rows:
            await db.fetch(_EVENTS, [row["id"] for row in rows], "resolved", None, why)
            await record_many(
                db, SYSTEM, [("alert.resolved", "alert", row["id"], {"why": why}) for row in rows]
            )
    return _changes(rows)


async def acknowledge(
    pool: asyncpg.Pool, actor: Actor, alert_id: uuid.UUID, note: str | None
) -> Outcome:
    async with pool.acquire() as db, db.transaction():
        row = await db.fetchrow(_ACKNOWLEDGE, alert_id, actor.name)
        if row is None:
            raise _not_in_state(await db.fetchval(_STATUS, alert_id), alert_id, "acknowledged")
        await db.execute(_ACKNOWLEDGED, alert_id, actor.name, note)
        await record(db, actor, "alert.acknowledged", "alert", alert_id, {"note": note})
    return _changes([row])


async def resolve_by_hand(
    pool: asyncpg.Pool, actor: Actor, alert_id: uuid.UUID, note: str | None
) -> Outcome:
    async with pool.acquire() as db, db.transaction():
        rows = await db.fetch(_RESOLVE, [alert_id], actor.name)
        if not rows:
            raise _not_in_state(await db.fetchval(_STATUS, alert_id), alert_id, "resolved")
        await db.fetch(_EVENTS, [alert_id], "resolved", actor.name, note)
        await record(db, actor, "alert.resolved", "alert", alert_id, {"note": note})
    return _changes(rows)


def _not_in_state(status: str | None, alert_id: uuid.UUID, wanted: str) -> Exception:
    if status is None:
        return NotFound("alert_not_found", f"no alert {alert_id}")
    code = "alert_resolved" if status == "resolved" else "alert_acknowledged"
    return Conflict(code, f"the alert is {status}; it cannot be {wanted}", current=status)
