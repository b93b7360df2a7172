"""One round of the alert rules: what each active rule sees now, and which alerts cleared.

Events (a pipeline or stage that failed, a worker lost, a schedule's fire missed) are read
from the job path's own tables by the time they ended, from a cursor kept in
``alert_cursors`` less an overlap for transactions that commit out of order; a source seen
twice is counted once (:func:`alerts.raise_signals`). Lasting conditions (a stage waiting
for a worker, a backlog) are read as they are now. Each read is bounded: by the cursor, by
an index, or by the few alerts open. Several built-in workers may run rounds at once: every
transition they make is guarded.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from controlplane.engine.alerts import conditions as c
from controlplane.engine.alerts.alerts import Signal, Subject, raise_signals, resolve_cleared
from controlplane.engine.jobpath.sweeps import fail_unserved
from controlplane.engine.outcome import Outcome
from controlplane.engine.reads.risk import SEVERITIES, read_risks

# Transactions commit out of order by about this much at most; rows are read again this far
# back (and counted once).
OVERLAP = dt.timedelta(seconds=10)
# Events older than this when first seen (a new install, a long outage) open nothing.
HORIZON = dt.timedelta(hours=1)
# Rows one scan reads; the cursor moves to the last one, and the next round goes on.
SCAN_LIMIT = 5000
# Stages of one handler counted as occurrences of one pending alert.
PENDING_SOURCES = 100
# A stage subject's key: pipeline and stage names hold no control characters.
SEP = "\x1f"


@dataclass(frozen=True)
class ActiveRule:
    id: uuid.UUID
    application_id: uuid.UUID
    condition: c.Condition
    # Events from before (its creation, or its resumption) are not its to alert on.
    active_since: dt.datetime

    def sees(self, application_id: uuid.UUID, at: dt.datetime) -> bool:
        return application_id == self.application_id and at >= self.active_since


# The active rules, and the kinds of condition with alerts open: a kind with neither is not
# scanned (an idle control plane with no rules runs this one statement a round).
_RULES_AND_OPEN = """
SELECT r.id, r.application_id, r.condition::text, r.active_since, NULL AS open_type
FROM alert_rules r WHERE r.status = 'active'
UNION ALL
SELECT DISTINCT NULL::uuid, NULL::uuid, NULL, NULL::timestamptz, a.condition_type
FROM alerts a WHERE a.status <> 'resolved'
"""

_OPEN_ALERTS = """
SELECT a.id, a.rule_id, a.application_id, a.subject_key, a.last_seen_at
FROM alerts a JOIN alert_rules r ON r.id = a.rule_id AND r.status = 'active'
WHERE a.status <> 'resolved' AND a.condition_type = $1
"""

_CURSOR = "SELECT position FROM alert_cursors WHERE source = $1"
_MOVE_CURSOR = """
INSERT INTO alert_cursors (source, position) VALUES ($1, $2)
ON CONFLICT (source) DO UPDATE SET position = greatest(alert_cursors.position, EXCLUDED.position)
"""

# Pipelines that failed since the cursor, in applications with a rule on them.
_FAILED_PIPELINES = """
SELECT p.id, p.application_id, p.name, p.keywords, p.definition_id, p.finished_at,
       failed.name AS failed_stage, failed.error ->> 'message' AS error
FROM pipelines p
LEFT JOIN LATERAL (
    SELECT s.name, s.error FROM stages s
    WHERE s.pipeline_id = p.id AND s.status = 'failed'
    ORDER BY s.finished_at LIMIT 1
) failed ON true
WHERE p.finished_at > $1 AND p.finished_at <= now() AND p.status = 'failed'
  AND p.application_id = ANY ($2::uuid[])
ORDER BY p.finished_at
LIMIT $3
"""

# Runs of the names of open alerts that completed since the cursor: they may clear them.
_COMPLETED_PIPELINES = """
SELECT p.application_id, p.name AS key, max(p.created_at) AS started
FROM pipelines p
WHERE p.finished_at > $1 AND p.status = 'completed'
  AND p.application_id = ANY ($2::uuid[]) AND p.name = ANY ($3::text[])
GROUP BY 1, 2
"""

# Attempts that ended since the cursor and left their stage failed, in applications with a
# rule on them.
_FAILED_ATTEMPTS = """
SELECT t.stage_id, t.pipeline_id, t.application_id, t.stage_name, t.handler,
       t.error ->> 'message' AS error, t.error ->> 'code' AS code, t.finished_at,
       p.name AS pipeline_name
FROM stage_attempts t
JOIN pipelines p ON p.id = t.pipeline_id
JOIN stages s ON s.id = t.stage_id
WHERE t.finished_at > $1 AND t.finished_at <= now()
  AND t.outcome IN ('failed', 'lease_lost') AND t.application_id = ANY ($2::uuid[])
  AND s.status = 'failed' AND s.attempt = t.attempt
ORDER BY t.finished_at
LIMIT $3
"""

# Completions since the cursor of the stages of open alerts: they may clear them.
_COMPLETED_ATTEMPTS = """
SELECT t.application_id, p.name || E'\\x1f' || t.stage_name AS key, max(p.created_at) AS started
FROM stage_attempts t JOIN pipelines p ON p.id = t.pipeline_id
WHERE t.finished_at > $1 AND t.outcome = 'completed'
  AND t.application_id = ANY ($2::uuid[]) AND t.stage_name = ANY ($3::text[])
GROUP BY 1, 2
"""

# Stages that have waited past the rule's minutes with no online worker serving their
# handler (held stages wait for a policy, not a worker).
_UNSERVED = """
SELECT s.handler, count(*) AS waiting, min(s.queued_at) AS oldest,
       (array_agg(s.id ORDER BY s.queued_at))[1:$4] AS first_ids,
       coalesce(array_agg(s.id) FILTER (
           WHERE $5::int IS NOT NULL AND s.queued_at < now() - make_interval(mins => $5)),
           '{}') AS overdue
FROM stages s
WHERE s.application_id = $1 AND s.status = 'queued' AND s.held_by IS NULL
  AND s.queued_at < now() - make_interval(mins => $2)
  AND ($3::text IS NULL OR s.handler = $3)
  AND NOT EXISTS (
      SELECT 1 FROM workers w
      WHERE w.application_id = s.application_id AND w.state = 'online'
        AND s.handler = ANY (w.handlers))
GROUP BY s.handler
"""

# The handlers with stages queued (a skip scan of stages_queued: one probe per handler).
_QUEUED_HANDLERS = """
WITH RECURSIVE handlers (handler) AS (
    SELECT min(handler) FROM stages WHERE application_id = $1 AND status = 'queued'
    UNION ALL
    SELECT (SELECT min(s.handler) FROM stages s
            WHERE s.application_id = $1 AND s.status = 'queued' AND s.handler > h.handler)
    FROM handlers h WHERE h.handler IS NOT NULL
)
SELECT handler FROM handlers WHERE handler IS NOT NULL LIMIT 1000
"""

# How many are queued, counted no further than one past the bound.
_BACKLOG = """
SELECT count(*) FROM (
    SELECT 1 FROM stages WHERE application_id = $1 AND status = 'queued' AND handler = $2
    LIMIT $3 + 1
) q
"""

_WATCH = """
INSERT INTO alert_watches (rule_id, subject_key) VALUES ($1, $2)
ON CONFLICT DO NOTHING
"""
_WATCHED = "SELECT subject_key, since FROM alert_watches WHERE rule_id = $1"
_UNWATCH = "DELETE FROM alert_watches WHERE rule_id = $1 AND NOT (subject_key = ANY ($2::text[]))"

# Workers that stopped heartbeating, lately, while holding jobs whose leases were then lost.
_LOST_WORKERS = """
SELECT w.id, w.application_id, w.name, w.last_heartbeat_at, lost.jobs, lost.at
FROM workers w
CROSS JOIN LATERAL (
    SELECT count(*) AS jobs, max(t.finished_at) AS at FROM stage_attempts t
    WHERE t.worker_id = w.id AND t.outcome = 'lease_lost'
      AND t.finished_at >= w.last_heartbeat_at
) lost
WHERE w.state = 'offline' AND w.last_heartbeat_at > now() - $2::interval
  AND w.application_id = ANY ($1::uuid[]) AND lost.jobs > 0
"""

_WORKERS_BACK = """
SELECT a.id FROM alerts a
WHERE a.id = ANY ($1::uuid[]) AND EXISTS (
    SELECT 1 FROM workers w
    WHERE w.application_id = a.application_id AND w.name = a.subject_key
      AND w.state = 'online' AND w.last_heartbeat_at > a.last_seen_at)
"""

# Fires lately that missed due times or started no run.
_MISSED_FIRES = """
SELECT f.id, f.kind, f.missed, f.error, f.due_at, f.fired_at, s.id AS schedule_id,
       s.application_id, s.name
FROM schedule_fires f JOIN schedules s ON s.id = f.schedule_id
WHERE f.fired_at > now() - $2::interval AND s.application_id = ANY ($1::uuid[])
  AND (f.kind IN ('skipped', 'catch_up') OR f.error IS NOT NULL)
"""

_SCHEDULES_BACK = """
SELECT a.id FROM alerts a
WHERE a.id = ANY ($1::uuid[]) AND EXISTS (
    SELECT 1 FROM schedule_fires f
    WHERE f.schedule_id = a.subject_key::uuid AND f.kind = 'scheduled'
      AND f.pipeline_id IS NOT NULL AND f.fired_at > a.last_seen_at)
"""


async def evaluate(pool: asyncpg.Pool) -> Outcome:
    """One round over every active rule; what it opened, resolved and failed."""
    watched = await pool.fetch(_RULES_AND_OPEN)
    by_type: dict[type, list[ActiveRule]] = defaultdict(list)
    open_types = {row["open_type"] for row in watched if row["open_type"] is not None}
    for row in watched:
        if row["id"] is not None:
            condition = c.parse(row["condition"])
            by_type[type(condition)].append(
                ActiveRule(row["id"], row["application_id"], condition, row["active_since"])
            )
    outcome = Outcome()
    for kind, scan in _SCANS.items():
        if kind in by_type or kind.__struct_config__.tag in open_types:
            outcome += await scan(pool, by_type.get(kind, []))
    return outcome


async def _settle(pool: asyncpg.Pool, signals: list[Signal], cleared: list[uuid.UUID]) -> Outcome:
    return await raise_signals(pool, signals) + await resolve_cleared(
        pool, cleared, "the condition cleared"
    )


async def _since(pool: asyncpg.Pool, source: str) -> tuple[dt.datetime, dt.datetime]:
    """(where this round's scan of ``source`` starts, now)."""
    now = await pool.fetchval("SELECT now()")
    position = await pool.fetchval(_CURSOR, source)
    return (now - HORIZON if position is None else max(position, now - HORIZON)), now


async def _advance(
    pool: asyncpg.Pool, source: str, now: dt.datetime, rows: list[asyncpg.Record]
) -> None:
    # A full page moves the cursor to its last row, where the next round goes on; a short
    # one to a little before now, so that what commits late is still read.
    full = len(rows) == SCAN_LIMIT
    await pool.execute(_MOVE_CURSOR, source, rows[-1]["finished_at"] if full else now - OVERLAP)


async def _open(pool: asyncpg.Pool, condition_type: str) -> list[asyncpg.Record]:
    return list(await pool.fetch(_OPEN_ALERTS, condition_type))


async def _no_longer(
    pool: asyncpg.Pool, condition_type: str, holding: set[tuple[uuid.UUID, str]]
) -> list[uuid.UUID]:
    """The open alerts of a lasting condition whose rule and subject it no longer holds for."""
    return [
        a["id"]
        for a in await _open(pool, condition_type)
        if (a["rule_id"], a["subject_key"]) not in holding
    ]


async def _ended_since(
    pool: asyncpg.Pool,
    source: str,
    rules: list[ActiveRule],
    condition_type: str,
    failed_query: str,
    completed_query: str,
    key_part: Callable[[str], str],
    signals_of: Callable[[list[asyncpg.Record]], list[Signal]],
) -> Outcome:
    """Raise what failed since the cursor in the rules' applications; then resolve the open
    alerts of the condition that a run started after their last failure cleared by
    completing (in that order: a failure and its fix may fall in one round)."""
    since, now = await _since(pool, source)
    failed: list[asyncpg.Record] = []
    if rules:
        applications = list({rule.application_id for rule in rules})
        failed = list(await pool.fetch(failed_query, since, applications, SCAN_LIMIT))
    outcome = await raise_signals(pool, signals_of(failed))
    open_alerts = await _open(pool, condition_type)
    cleared: list[uuid.UUID] = []
    if open_alerts:
        completed = {
            (row["application_id"], row["key"]): row["started"]
            for row in await pool.fetch(
                completed_query,
                since,
                list({a["application_id"] for a in open_alerts}),
                list({key_part(a["subject_key"]) for a in open_alerts}),
            )
        }
        cleared = [
            a["id"]
            for a in open_alerts
            if completed.get((a["application_id"], a["subject_key"]), a["last_seen_at"])
            > a["last_seen_at"]
        ]
    await _advance(pool, source, now, failed)
    return outcome + await resolve_cleared(pool, cleared, "the condition cleared")


async def _pipelines_failed(pool: asyncpg.Pool, rules: list[ActiveRule]) -> Outcome:
    def signals_of(rows: list[asyncpg.Record]) -> list[Signal]:
        return [s for row in rows for s in _pipeline_signals(rules, row)]

    return await _ended_since(
        pool,
        "pipelines",
        rules,
        "pipeline_failed",
        _FAILED_PIPELINES,
        _COMPLETED_PIPELINES,
        str,
        signals_of,
    )


def _pipeline_signals(rules: list[ActiveRule], row: asyncpg.Record) -> list[Signal]:
    signals = []
    where = f" at stage {row['failed_stage']}" if row["failed_stage"] else ""
    why = f": {row['error']}" if row["error"] else ""
    for rule in rules:
        condition = rule.condition
        assert isinstance(condition, c.PipelineFailed)
        if not rule.sees(row["application_id"], row["finished_at"]) or not _pipeline_matches(
            condition, row
        ):
            continue
        signals.append(
            Signal(
                rule.id,
                f"pipeline:{row['id']}",
                Subject("pipeline", row["name"], row["name"]),
                f"pipeline {row['name']} failed{where}{why}"[:1000],
                row["finished_at"],
                {
                    "pipelineId": str(row["id"]),
                    "stage": row["failed_stage"],
                    "error": row["error"],
                },
            )
        )
    return signals


def _pipeline_matches(condition: c.PipelineFailed, row: asyncpg.Record) -> bool:
    return (
        (condition.name is None or condition.name == row["name"])
        and (condition.definition_id is None or condition.definition_id == row["definition_id"])
        and (condition.keyword is None or condition.keyword in row["keywords"])
    )


async def _stages_failed(pool: asyncpg.Pool, rules: list[ActiveRule]) -> Outcome:
    def signals_of(rows: list[asyncpg.Record]) -> list[Signal]:
        return [s for row in rows for s in _stage_signals(rules, row)]

    return await _ended_since(
        pool,
        "attempts",
        rules,
        "stage_failed",
        _FAILED_ATTEMPTS,
        _COMPLETED_ATTEMPTS,
        lambda key: key.split(SEP, 1)[-1],
        signals_of,
    )


def _stage_signals(rules: list[ActiveRule], row: asyncpg.Record) -> list[Signal]:
    signals = []
    key = f"{row['pipeline_name']}{SEP}{row['stage_name']}"
    name = f"{row['pipeline_name']} > {row['stage_name']}"
    why = f": {row['error']}" if row["error"] else ""
    for rule in rules:
        condition = rule.condition
        assert isinstance(condition, c.StageFailed)
        if not rule.sees(row["application_id"], row["finished_at"]) or not (
            condition.pipeline_name in (None, row["pipeline_name"])
            and condition.stage in (None, row["stage_name"])
            and condition.handler in (None, row["handler"])
        ):
            continue
        signals.append(
            Signal(
                rule.id,
                f"stage:{row['stage_id']}",
                Subject("stage", key, name),
                f"stage {row['stage_name']} of {row['pipeline_name']} failed{why}"[:1000],
                row["finished_at"],
                {
                    "pipelineId": str(row["pipeline_id"]),
                    "stageId": str(row["stage_id"]),
                    "handler": row["handler"],
                    "code": row["code"],
                    "error": row["error"],
                },
            )
        )
    return signals


async def _stages_pending(pool: asyncpg.Pool, rules: list[ActiveRule]) -> Outcome:
    signals: list[Signal] = []
    still: set[tuple[uuid.UUID, str]] = set()
    overdue: list[uuid.UUID] = []
    for rule in rules:
        condition = rule.condition
        assert isinstance(condition, c.StagePending)
        rows = await pool.fetch(
            _UNSERVED,
            rule.application_id,
            condition.minutes,
            condition.handler,
            PENDING_SOURCES,
            condition.fail_after_minutes,
        )
        for row in rows:
            handler = row["handler"]
            still.add((rule.id, handler))
            overdue += row["overdue"]
            summary = (
                f"{row['waiting']} stage(s) of {handler} waited over {condition.minutes} min "
                "with no online worker serving it"
            )
            details = {
                "handler": handler,
                "waiting": row["waiting"],
                "oldestQueuedAt": row["oldest"].isoformat(),
            }
            signals += [
                Signal(
                    rule.id,
                    f"pending:{stage_id}",
                    Subject("handler", handler, handler),
                    summary,
                    row["oldest"],
                    details,
                )
                for stage_id in row["first_ids"]
            ]
    cleared = await _no_longer(pool, "stage_pending", still)
    failed = await fail_unserved(pool, overdue) if overdue else Outcome()
    return failed + await _settle(pool, signals, cleared)


async def _backlogs(pool: asyncpg.Pool, rules: list[ActiveRule]) -> Outcome:
    signals: list[Signal] = []
    over: set[tuple[uuid.UUID, str]] = set()
    now = await pool.fetchval("SELECT now()")
    for rule in rules:
        condition = rule.condition
        assert isinstance(condition, c.QueueBacklog)
        handlers = (
            [condition.handler]
            if condition.handler
            else [row["handler"] for row in await pool.fetch(_QUEUED_HANDLERS, rule.application_id)]
        )
        above: dict[str, int] = {}
        for handler in handlers:
            depth = await pool.fetchval(_BACKLOG, rule.application_id, handler, condition.above)
            if depth > condition.above:
                above[handler] = depth
                await pool.execute(_WATCH, rule.id, handler)
        await pool.execute(_UNWATCH, rule.id, list(above))
        for row in await pool.fetch(_WATCHED, rule.id):
            handler, since = row["subject_key"], row["since"]
            if handler not in above:
                continue
            over.add((rule.id, handler))
            if now - since < dt.timedelta(minutes=condition.minutes):
                continue
            signals.append(
                Signal(
                    rule.id,
                    f"backlog:{handler}:{since.isoformat()}",
                    Subject("queue", handler, handler),
                    f"more than {condition.above} stages of {handler} queued for "
                    f"{condition.minutes} min",
                    since,
                    {"handler": handler, "above": condition.above, "since": since.isoformat()},
                )
            )
    cleared = await _no_longer(pool, "queue_backlog", over)
    return await _settle(pool, signals, cleared)


async def _workers_lost(pool: asyncpg.Pool, rules: list[ActiveRule]) -> Outcome:
    applications = list({rule.application_id for rule in rules})
    rows = await pool.fetch(_LOST_WORKERS, applications, HORIZON) if rules else []
    signals = []
    for row in rows:
        for rule in rules:
            condition = rule.condition
            assert isinstance(condition, c.WorkerLost)
            if not rule.sees(row["application_id"], row["at"]) or condition.worker not in (
                None,
                row["name"],
            ):
                continue
            signals.append(
                Signal(
                    rule.id,
                    f"worker:{row['id']}",
                    Subject("worker", row["name"], row["name"]),
                    f"worker {row['name']} stopped heartbeating holding {row['jobs']} job(s)",
                    row["last_heartbeat_at"],
                    {"workerId": str(row["id"]), "jobsLost": row["jobs"]},
                )
            )
    open_ids = [a["id"] for a in await _open(pool, "worker_lost")]
    cleared = [row["id"] for row in await pool.fetch(_WORKERS_BACK, open_ids)] if open_ids else []
    return await _settle(pool, signals, cleared)


async def _schedules_missed(pool: asyncpg.Pool, rules: list[ActiveRule]) -> Outcome:
    applications = list({rule.application_id for rule in rules})
    rows = await pool.fetch(_MISSED_FIRES, applications, HORIZON) if rules else []
    signals = []
    for row in rows:
        for rule in rules:
            condition = rule.condition
            assert isinstance(condition, c.ScheduleMissed)
            if not rule.sees(row["application_id"], row["fired_at"]) or condition.schedule not in (
                None,
                row["name"],
            ):
                continue
            if row["error"]:
                what = f"could not start its run: {row['error']}"
            elif row["kind"] == "skipped":
                what = f"skipped {row['missed']} missed fire(s)"
            else:
                what = f"ran late, once for {row['missed']} missed fire(s)"
            signals.append(
                Signal(
                    rule.id,
                    f"fire:{row['id']}",
                    Subject("schedule", str(row["schedule_id"]), row["name"]),
                    f"schedule {row['name']} {what}"[:1000],
                    row["fired_at"],
                    {
                        "scheduleId": str(row["schedule_id"]),
                        "kind": row["kind"],
                        "missed": row["missed"],
                        "dueAt": row["due_at"].isoformat(),
                    },
                )
            )
    open_ids = [a["id"] for a in await _open(pool, "schedule_missed")]
    cleared = [row["id"] for row in await pool.fetch(_SCHEDULES_BACK, open_ids)] if open_ids else []
    return await _settle(pool, signals, cleared)


# The latest quarantine version of each quarantine dataset lately written, with the version
# of the dataset it was split from that the same job wrote, and that dataset's latest.
_QUALITY = """
SELECT q.dataset_id, q.version, q.rows AS quarantined, q.written_at, c.id AS checked_id,
       c.name AS checked_name, written.rows AS passed, latest.job_id IS NOT DISTINCT FROM q.job_id
       AS latest_is_this, q.application_id
FROM (
    SELECT d.application_id, v.* FROM datasets d
    CROSS JOIN LATERAL (
        SELECT * FROM dataset_versions v WHERE v.dataset_id = d.id
        ORDER BY v.version DESC LIMIT 1
    ) v
    WHERE d.layer = 'quarantine' AND d.application_id = ANY ($1::uuid[])
      AND v.written_at > now() - $2::interval AND v.checks IS NOT NULL
) q
JOIN datasets c ON c.application_id = q.application_id AND c.uri = q.checks
LEFT JOIN dataset_versions written ON written.dataset_id = c.id AND written.job_id = q.job_id
LEFT JOIN LATERAL (
    SELECT v.job_id FROM dataset_versions v WHERE v.dataset_id = c.id
    ORDER BY v.version DESC LIMIT 1
) latest ON true
"""


async def _quality(pool: asyncpg.Pool, rules: list[ActiveRule]) -> Outcome:
    applications = list({rule.application_id for rule in rules})
    rows = await pool.fetch(_QUALITY, applications, HORIZON) if rules else []
    signals: list[Signal] = []
    over: set[tuple[uuid.UUID, str]] = set()
    for row in rows:
        checked = (row["passed"] or 0) + row["quarantined"]
        # A later check of the dataset quarantined nothing (it wrote no quarantine version).
        rate = row["quarantined"] / checked if checked and row["latest_is_this"] else 0.0
        for rule in rules:
            condition = rule.condition
            assert isinstance(condition, c.QualityFailureRate)
            if rule.application_id != row["application_id"] or condition.dataset not in (
                None,
                row["checked_name"],
            ):
                continue
            key = str(row["checked_id"])
            if rate <= condition.above:
                continue
            over.add((rule.id, key))
            if not rule.sees(row["application_id"], row["written_at"]):
                continue
            signals.append(
                Signal(
                    rule.id,
                    f"quality:{row['dataset_id']}:{row['version']}",
                    Subject("dataset", key, row["checked_name"]),
                    f"the quality check of {row['checked_name']} quarantined {rate:.1%} of "
                    f"{checked:,} rows (over {condition.above:.1%})",
                    row["written_at"],
                    {
                        "datasetId": key,
                        "quarantineId": str(row["dataset_id"]),
                        "version": row["version"],
                        "rate": rate,
                        "quarantined": row["quarantined"],
                    },
                )
            )
    cleared = await _no_longer(pool, "quality_failure_rate", over)
    return await _settle(pool, signals, cleared)


async def _risks(pool: asyncpg.Pool, rules: list[ActiveRule]) -> Outcome:
    signals: list[Signal] = []
    still: set[tuple[uuid.UUID, str]] = set()
    minute = (await pool.fetchval("SELECT date_trunc('minute', now())")).isoformat()
    for application_id in {rule.application_id for rule in rules}:
        found = await read_risks(pool, member=None, application_id=application_id)
        for risk in found:
            for rule in rules:
                condition = rule.condition
                assert isinstance(condition, c.Risk)
                if rule.application_id != application_id or not (
                    condition.matches(risk)
                    and SEVERITIES.index(risk.severity) >= SEVERITIES.index(condition.min_severity)
                ):
                    continue
                if risk.kind == "pipeline":
                    assert risk.pipeline_name is not None
                    key = risk.pipeline_name
                    subject = Subject("pipeline", key, key)
                else:
                    key = f"{risk.stage_name}{SEP}{risk.handler}"
                    subject = Subject("stage", key, f"{risk.stage_name} ({risk.handler})")
                still.add((rule.id, key))
                signals.append(
                    Signal(
                        rule.id,
                        f"risk:{risk.kind}:{key}:{minute}",
                        subject,
                        risk.sentence,
                        dt.datetime.fromisoformat(minute),
                        {
                            "kind": risk.kind,
                            "signal": risk.signal,
                            "severity": risk.severity,
                            "confidence": risk.confidence,
                            "failureRate": risk.failure_rate,
                            "anomalyScore": risk.anomaly_score,
                        },
                    )
                )
    cleared = await _no_longer(pool, "risk", still)
    return await _settle(pool, signals, cleared)


_SCANS = {
    c.PipelineFailed: _pipelines_failed,
    c.StageFailed: _stages_failed,
    c.StagePending: _stages_pending,
    c.QueueBacklog: _backlogs,
    c.WorkerLost: _workers_lost,
    c.ScheduleMissed: _schedules_missed,
    c.QualityFailureRate: _quality,
    c.Risk: _risks,
}
