"""Quarantine review: the decisions people take on the rows a quality check set aside.

A row of a quarantine dataset is its place in a version (versions never change). A person
with write access releases a row (as it is, or with some columns fixed) into the next version
of the dataset the same quality job checked, or discards it. Each row is decided once: only a
release whose pipeline failed or was cancelled may be decided again. Every decision is in the
audit log; the rows themselves never pass through here, only the fixed values a person typed.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sys
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import asyncpg
import msgspec

from controlplane.engine.access.audit import Actor, record_many
from controlplane.errors import Conflict, InvalidRequest
from controlplane.schemas import PipelineSubmit, StageSpec

Action = Literal["release", "discard"]
# What became of a decided row: discarded, or where its release stands (its pipeline's
# status; not_started while the pipeline is being created).
Outcome = Literal["discarded", "not_started", "running", "completed", "failed", "cancelled"]

# The column of a quarantine dataset that names the rules each row failed (dataset.quality).
FAILED_RULES = "_failed_rules"


_RELEASE_PREFIX = "quarantine.release:"
# The release pipeline of the batch of the decision `q`, found by its idempotency key within
# the application ($1 in each statement that uses it).
_RELEASE_OF = f"p.application_id = $1 AND p.idempotency_key = '{_RELEASE_PREFIX}' || q.batch_id"


def release_key(batch_id: uuid.UUID) -> str:
    """The idempotency key of the pipeline that releases a batch of decisions."""
    return f"{_RELEASE_PREFIX}{batch_id}"


# Where released rows go: the dataset the quarantine version says its rows were kept out of
# (`checks`), else the one the same job wrote beside it (a handler that did not say).
_TARGET = """
SELECT d.id, d.uri, d.name, d.layer, 0 AS rank
FROM dataset_versions q
JOIN datasets own ON own.id = q.dataset_id
JOIN datasets d ON d.application_id = own.application_id AND d.uri = q.checks
WHERE q.dataset_id = $1 AND q.version = $2
UNION ALL
SELECT d.id, d.uri, d.name, d.layer, 1
FROM dataset_versions q
JOIN dataset_versions c ON c.job_id = q.job_id AND c.dataset_id <> q.dataset_id
JOIN datasets d ON d.id = c.dataset_id AND d.layer IS DISTINCT FROM 'quarantine'
WHERE q.dataset_id = $1 AND q.version = $2 AND q.job_id IS NOT NULL
ORDER BY rank LIMIT 1
"""

# $1 the application: a release pipeline is looked up by its idempotency key within it.
_OUTCOME = """
CASE WHEN q.action = 'discard' THEN 'discarded' ELSE coalesce(p.status, 'not_started') END
"""
_DECISIONS = f"""
SELECT q.row_number, q.action, q.fixed, q.note, q.decided_by_name, q.decided_at,
       p.id AS pipeline_id, {_OUTCOME} AS outcome
FROM quarantine_decisions q
LEFT JOIN pipelines p ON {_RELEASE_OF}
WHERE q.dataset_id = $2 AND q.version = $3 AND q.row_number BETWEEN $4 AND $5
"""

_TALLY = f"""
SELECT {_OUTCOME} AS outcome, count(*) AS rows
FROM quarantine_decisions q
LEFT JOIN pipelines p ON {_RELEASE_OF}
WHERE q.dataset_id = $2 AND q.version = $3
GROUP BY 1
"""

# Record a batch of decisions. A row is decided once (the primary key); it may be decided
# again only when its release came to nothing: its pipeline failed or was cancelled, or was
# never created a minute after the decision (the request that decided it died on the way).
# The caller compares the rows returned with the rows asked for and rolls back on a shortfall.
_DECIDE = f"""
INSERT INTO quarantine_decisions AS q (dataset_id, version, row_number, action, fixed, batch_id,
                                       target_id, note, decided_by, decided_by_name)
SELECT $2, $3, r.row_number, r.action, r.fixed::jsonb, $4, $5, $6, $7, $8
FROM unnest($9::bigint[], $10::text[], $11::text[]) AS r(row_number, action, fixed)
ON CONFLICT (dataset_id, version, row_number) DO UPDATE
SET action = excluded.action, fixed = excluded.fixed, batch_id = excluded.batch_id,
    target_id = excluded.target_id, note = excluded.note, decided_by = excluded.decided_by,
    decided_by_name = excluded.decided_by_name, decided_at = now()
WHERE q.action = 'release' AND (
    EXISTS (SELECT 1 FROM pipelines p
            WHERE {_RELEASE_OF} AND p.status IN ('failed', 'cancelled'))
    OR (q.decided_at < now() - interval '1 minute'
        AND NOT EXISTS (SELECT 1 FROM pipelines p WHERE {_RELEASE_OF})))
RETURNING row_number
"""

# Undo a batch whose request failed before its release pipeline was stored: nothing of it may
# stay. A pipeline stored before the failure (its publish failed, or the client left) runs
# anyway, so its decisions stand: withdrawing them would let the rows be released twice.
# $1 the batch, $2 the application, $3 the release's idempotency key.
_WITHDRAW = """
DELETE FROM quarantine_decisions
WHERE batch_id = $1
  AND NOT EXISTS (SELECT 1 FROM pipelines WHERE application_id = $2 AND idempotency_key = $3)
"""


@dataclass(frozen=True)
class Target:
    """The dataset released rows are appended to."""

    id: uuid.UUID
    uri: str
    name: str
    layer: str | None


@dataclass(frozen=True)
class Decision:
    row: int
    action: Action
    # {column: value} for a release with fixes; None for one as it was, or a discard.
    fixed: dict[str, Any] | None = None


@dataclass(frozen=True)
class Decided:
    """A decision as the review shows it."""

    row_number: int
    action: Action
    fixed: dict[str, Any] | None
    note: str | None
    decided_by_name: str
    decided_at: dt.datetime
    pipeline_id: uuid.UUID | None
    outcome: Outcome


async def target_of(pool: asyncpg.Pool, dataset_id: uuid.UUID, version: int) -> Target | None:
    row = await pool.fetchrow(_TARGET, dataset_id, version)
    return Target(row["id"], row["uri"], row["name"], row["layer"]) if row else None


async def decisions_between(
    pool: asyncpg.Pool,
    application_id: uuid.UUID,
    dataset_id: uuid.UUID,
    version: int,
    rows: range,
) -> dict[int, Decided]:
    """The decisions on the rows ``rows`` of the version, by row."""
    if not rows:
        return {}
    found = await pool.fetch(_DECISIONS, application_id, dataset_id, version, rows[0], rows[-1])
    return {row["row_number"]: Decided(**dict(row)) for row in found}


async def tally(
    pool: asyncpg.Pool, application_id: uuid.UUID, dataset_id: uuid.UUID, version: int
) -> dict[str, int]:
    """How many rows of the version came to each outcome."""
    found = await pool.fetch(_TALLY, application_id, dataset_id, version)
    return {row["outcome"]: row["rows"] for row in found}


@dataclass(frozen=True)
class Batch:
    id: uuid.UUID
    application_id: uuid.UUID
    dataset_id: uuid.UUID
    version: int
    target: Target | None
    note: str | None


async def record_decisions(
    pool: asyncpg.Pool, actor: Actor, batch: Batch, decisions: list[Decision]
) -> None:
    """Record the decisions and audit each, all or none: a row decided already refuses the
    whole batch."""
    async with pool.acquire() as connection, connection.transaction():
        taken = await connection.fetch(
            _DECIDE,
            batch.application_id,
            batch.dataset_id,
            batch.version,
            batch.id,
            batch.target.id if batch.target else None,
            batch.note,
            actor.user_id,
            actor.name,
            [d.row for d in decisions],
            [d.action for d in decisions],
            [None if d.fixed is None else msgspec.json.encode(d.fixed).decode() for d in decisions],
        )
        if len(taken) < len(decisions):
            done = sorted({d.row for d in decisions} - {row["row_number"] for row in taken})
            raise Conflict(
                "already_decided",
                f"{len(done)} of the rows were decided already (rows {_shown(done)}); nothing "
                "was recorded",
                rows=done[:100],
            )
        await record_many(
            connection,
            actor,
            [
                (
                    f"quarantine.{d.action}",
                    "dataset",
                    batch.dataset_id,
                    _audit_details(batch, d),
                )
                for d in decisions
            ],
        )


def _audit_details(batch: Batch, decision: Decision) -> dict[str, Any]:
    details: dict[str, Any] = {
        "version": batch.version,
        "row": decision.row,
        "batchId": str(batch.id),
    }
    if decision.action == "release" and batch.target is not None:
        details["targetDatasetId"] = str(batch.target.id)
        details["fixed"] = decision.fixed
    if batch.note:
        details["note"] = batch.note
    return details


async def withdraw(pool: asyncpg.Pool, actor: Actor, batch: Batch, reason: str) -> bool:
    """Take back a batch whose release was never stored, audited; False when its release
    was stored after all (it runs, and the decisions stand)."""
    async with pool.acquire() as connection, connection.transaction():
        taken = await connection.execute(
            _WITHDRAW, batch.id, batch.application_id, release_key(batch.id)
        )
        if taken == "DELETE 0":
            return False
        await record_many(
            connection,
            actor,
            [
                (
                    "quarantine.withdrawn",
                    "dataset",
                    batch.dataset_id,
                    {"batchId": str(batch.id), "reason": reason[:500]},
                )
            ],
        )
    return True


def _shown(rows: list[int]) -> str:
    head = ", ".join(str(row) for row in rows[:10])
    return head + (", ..." if len(rows) > 10 else "")


# --- Fixed values: checked here against the version's column types, so that a release job
# does not fail on a value a person mistyped. The worker casts them to the column's type.

_INTEGER = re.compile(r"^(u?)int(8|16|32|64)$")
# The largest finite value of each float type.
_FLOATS = {
    "halffloat": 65504.0,
    "float16": 65504.0,
    "float": 3.4028234663852886e38,
    "float32": 3.4028234663852886e38,
    "double": sys.float_info.max,
    "float64": sys.float_info.max,
}
_DECIMAL = re.compile(r"^decimal(?:32|64|128|256)\((\d+), ?(\d+)\)$")
_TEXT = ("string", "large_string", "utf8", "large_utf8", "string_view")
_DATE = re.compile(r"^date(32|64)")
_TIMESTAMP = re.compile(r"^timestamp\[(s|ms|us|ns)")
# ISO 8601 as a form shows it: a calendar date, and for a time hours and minutes at least,
# with an optional offset (a time with an offset is kept as UTC in a column without a zone).
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$"
)
# Nanoseconds since 1970 in 64 bits reach from 1677-09-21 to 2262-04-11.
_NANOSECOND_YEARS = range(1678, 2262)
# The longest text a person may type into a fixed value.
MAX_TEXT = 10_000


def check_fixed(columns: dict[str, str], fixed: dict[str, Any], row: int) -> None:
    """Refuse fixed values the version's columns could not hold (422 ``invalid_fix``)."""
    for name, value in fixed.items():
        if name == FAILED_RULES or name not in columns:
            raise InvalidRequest(
                "invalid_fix", f"row {row}: the quarantine has no column {name!r} to fix"
            )
        problem = _problem(columns[name], value)
        if problem is not None:
            raise InvalidRequest("invalid_fix", f"row {row}, column {name!r}: {problem}")


def _problem(type_: str, value: Any) -> str | None:
    if value is None:
        return None
    integer = _INTEGER.match(type_)
    if integer:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"a {type_} column takes a whole number"
        bits = int(integer.group(2))
        signed = not integer.group(1)
        low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        if not low <= value <= high:
            return f"{value} is out of the range of {type_}"
        return None
    if type_ in _FLOATS:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"a {type_} column takes a number"
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        return None if abs(number) <= _FLOATS[type_] else f"{value} is out of the range of {type_}"
    decimal = _DECIMAL.match(type_)
    if decimal:
        return _decimal_problem(value, int(decimal.group(1)), int(decimal.group(2)), type_)
    if type_ in ("bool", "boolean"):
        return None if isinstance(value, bool) else "a bool column takes true or false"
    if type_ in _TEXT:
        if not isinstance(value, str):
            return f"a {type_} column takes text"
        if "\x00" in value:
            return "text must not contain NUL characters"
        return f"longer than {MAX_TEXT} characters" if len(value) > MAX_TEXT else None
    if _DATE.match(type_):
        if not isinstance(value, str) or not _ISO_DATE.match(value):
            return "a date column takes YYYY-MM-DD"
        return _parses(value, dt.date.fromisoformat, "a date column takes YYYY-MM-DD")
    timestamp = _TIMESTAMP.match(type_)
    if timestamp:
        expected = "a timestamp column takes an ISO 8601 time, 2026-12-04T10:30:00[+01:00]"
        if not isinstance(value, str) or not _ISO_TIME.match(value):
            return expected
        problem = _parses(value, dt.datetime.fromisoformat, expected)
        if (
            problem is None
            and timestamp.group(1) == "ns"
            and int(value[:4]) not in _NANOSECOND_YEARS
        ):
            return f"a {type_} column holds times from 1678 to 2261"
        return problem
    return f"a {type_} column cannot be fixed in the review: release the row as it is"


def _decimal_problem(value: Any, precision: int, scale: int, type_: str) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return f"a {type_} column takes a number, or one written as text (12.50)"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return f"a {type_} column takes a number, or one written as text (12.50)"
    if not number.is_finite():
        return "the number is not finite"
    # 12.500 is 12.5: trailing zeros take no place.
    _, digits, exponent = number.normalize().as_tuple()
    decimals = max(0, -int(exponent))
    whole = len(digits) + int(exponent)
    if decimals > scale:
        return f"{value} has more than {scale} decimals"
    if max(whole, 0) > precision - scale:
        return f"{value} has more than {precision - scale} digits before the point"
    return None


def _parses(value: str, parse: Any, expected: str) -> str | None:
    try:
        parse(value)
    except ValueError:
        return expected
    return None


def release_request(
    quarantine_uri: str, version: int, target: Target, batch: Batch, releases: list[Decision]
) -> PipelineSubmit:
    """The one-stage pipeline that appends the released rows to the target: a job of the
    built-in ``dataset.release`` template, retried twice (it appends once per batch)."""
    rows = [{"row": d.row, "values": d.fixed} for d in releases]
    return PipelineSubmit(
        name=f"quarantine release: {len(rows)} rows into {target.name}"[:200],
        stages=[
            StageSpec(
                name="release",
                handler="dataset.release",
                input={
                    "quarantine": {"uri": quarantine_uri, "version": version},
                    "target": target.uri,
                    "layer": target.layer,
                    "batch": str(batch.id),
                    "rows": rows,
                },
                depends_on=[],
                max_retries=2,
                timeout_seconds=900,
            )
        ],
        keywords=["catalog", "quarantine"],
        idempotency_key=release_key(batch.id),
    )
