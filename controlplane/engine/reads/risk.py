"""Risk: how each stage and handler (and each pipeline name) does lately against its own
history, from the rollups alone.

For every stage of a handler with attempts in the recent window (an hour by default), against
the week before it:

- the failure rate (failed of the attempts a handler finished) and the retry rate, now and
  then, and the error most of the recent failures share;
- the median duration now and then, and an **anomaly score**: how many robust deviations
  (1.4826 times the median absolute deviation, read from the duration buckets) the recent median
  lies above the usual one. Medians and deviations, not means: one stuck attempt does not
  make a stage "slow", nor one fast retry make it "fine";
- a **confidence** that grows with both samples (a handful of attempts says little), a
  **severity**, and a sentence a person can act on.

No model service is asked anything: these are counts the control plane keeps anyway.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

import asyncpg

from controlplane.engine.upkeep import rollups

Severity = Literal["none", "info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("none", "info", "warning", "critical")
BASELINE = dt.timedelta(days=7)
# Fewer finished attempts than this in a window: too few to call anything.
MIN_RECENT = 5
MIN_BASELINE = 20
# The robust deviation is at least this share of the median: a stage that always takes
# exactly as long would otherwise call a 1% change an anomaly.
MIN_SPREAD = 0.05

_VISIBLE = """
    ($3::uuid IS NULL OR r.application_id IN (
        SELECT m.application_id FROM memberships m WHERE m.user_id = $3))
    AND ($4::uuid IS NULL OR r.application_id = $4)
    AND ($5::text IS NULL OR r.pipeline_name = $5)
"""

# Counts per stage and handler: minute rollups from $1 (the recent window), hour rollups
# from $2 to $6 (the baseline: the week before the window's hour).
_SPANS = """
    ((r.grain = 'minute' AND r.at >= $1) OR (r.grain = 'hour' AND r.at >= $2 AND r.at < $6))
"""

_COUNTS = f"""
SELECT r.application_id, r.handler, r.stage_name, r.grain = 'minute' AS recent,
       sum(r.attempts)::bigint AS attempts, sum(r.completed)::bigint AS completed,
       sum(r.failed)::bigint AS failed, sum(r.retried)::bigint AS retried
FROM attempt_rollups r
WHERE {_SPANS} AND {_VISIBLE}
GROUP BY 1, 2, 3, 4
"""

_DURATIONS = f"""
SELECT r.application_id, r.handler, r.stage_name, r.grain = 'minute' AS recent, r.bucket,
       sum(r.n)::bigint AS n
FROM duration_rollups r
WHERE {_SPANS}
  AND ($3::uuid IS NULL OR r.application_id IN (
        SELECT m.application_id FROM memberships m WHERE m.user_id = $3))
  AND ($4::uuid IS NULL OR r.application_id = $4)
  AND ($5::text IS NULL OR (r.application_id, r.stage_name, r.handler) IN (
        SELECT p.application_id, p.stage_name, p.handler FROM attempt_rollups p
        WHERE p.grain = 'hour' AND p.at >= $2 AND p.pipeline_name = $5))
GROUP BY 1, 2, 3, 4, 5
"""

_ERRORS = """
SELECT r.application_id, r.handler, r.stage_name, r.code, r.message, sum(r.n)::bigint AS n
FROM error_rollups r
WHERE r.grain = 'minute' AND r.at >= $1
  AND ($2::uuid IS NULL OR r.application_id IN (
        SELECT m.application_id FROM memberships m WHERE m.user_id = $2))
  AND ($3::uuid IS NULL OR r.application_id = $3)
GROUP BY 1, 2, 3, 4, 5
ORDER BY n DESC
"""

_NAMES = "SELECT id, name FROM applications WHERE id = ANY ($1::uuid[])"


@dataclass(frozen=True)
class Risk:
    application_id: uuid.UUID
    application_name: str
    handler: str
    stage_name: str
    # What stands out: failures, duration, or nothing.
    signal: Literal["failures", "duration", "none"]
    severity: Severity
    confidence: float
    sentence: str
    attempts: int
    baseline_attempts: int
    failure_rate: float | None
    baseline_failure_rate: float | None
    retry_rate: float | None
    p50_seconds: float | None
    baseline_p50_seconds: float | None
    # The recent median over the usual one.
    duration_trend: float | None
    anomaly_score: float | None
    top_error: str | None
    top_error_share: float | None


@dataclass
class _Side:
    attempts: int = 0
    completed: int = 0
    failed: int = 0
    retried: int = 0
    histogram: dict[int, int] = field(default_factory=dict)

    @property
    def finished(self) -> int:
        return self.completed + self.failed

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.finished if self.finished else None


Key = tuple[uuid.UUID, str, str]


async def read_risks(
    pool: asyncpg.Pool,
    *,
    member: uuid.UUID | None,
    application_id: uuid.UUID | None,
    pipeline_name: str | None = None,
    window: dt.timedelta = dt.timedelta(hours=1),
    now: dt.datetime | None = None,
) -> list[Risk]:
    """Every stage and handler with recent attempts, the riskiest first."""
    now = now or dt.datetime.now(dt.UTC)
    recent_start = (now - window).astimezone(dt.UTC).replace(second=0, microsecond=0)
    # The baseline ends at the hour the window starts in (hours are what it is kept by).
    hour = recent_start.replace(minute=0)
    scope = (recent_start, hour - BASELINE, member, application_id, pipeline_name, hour)
    sides: dict[Key, dict[bool, _Side]] = defaultdict(lambda: {True: _Side(), False: _Side()})
    async with pool.acquire() as db, db.transaction(readonly=True):
        for row in await db.fetch(_COUNTS, *scope):
            side = sides[row["application_id"], row["handler"], row["stage_name"]][row["recent"]]
            side.attempts += row["attempts"]
            side.completed += row["completed"]
            side.failed += row["failed"]
            side.retried += row["retried"]
        for row in await db.fetch(_DURATIONS, *scope):
            key = (row["application_id"], row["handler"], row["stage_name"])
            if key in sides:
                histogram = sides[key][row["recent"]].histogram
                histogram[row["bucket"]] = histogram.get(row["bucket"], 0) + row["n"]
        errors: dict[Key, list[tuple[str, int]]] = defaultdict(list)
        for row in await db.fetch(_ERRORS, recent_start, member, application_id):
            label = row["message"] or row["code"]
            errors[row["application_id"], row["handler"], row["stage_name"]].append(
                (label, row["n"])
            )
        names = {
            row["id"]: row["name"]
            for row in await db.fetch(_NAMES, list({key[0] for key in sides}))
        }
    risks = [
        _judge(key, names.get(key[0], ""), both[True], both[False], errors.get(key, []), window)
        for key, both in sides.items()
        if both[True].attempts
    ]
    rank = {severity: n for n, severity in enumerate(SEVERITIES)}
    risks.sort(key=lambda r: (-rank[r.severity], -(r.anomaly_score or 0), -r.attempts))
    return risks


def _judge(
    key: Key,
    application_name: str,
    recent: _Side,
    usual: _Side,
    errors: list[tuple[str, int]],
    window: dt.timedelta,
) -> Risk:
    application_id, handler, stage = key
    p50, base_p50 = median(recent.histogram), median(usual.histogram)
    score = anomaly(recent.histogram, usual.histogram)
    confidence = _confidence(recent.finished, usual.finished)
    failures, base_failures = recent.failure_rate, usual.failure_rate
    failed_errors = sum(n for _, n in errors)
    top_error, top_share = (errors[0][0], errors[0][1] / failed_errors) if errors else (None, None)

    failure_severity = _failure_severity(failures, base_failures, recent.finished)
    duration_severity = _duration_severity(score, recent.finished, usual.finished)
    since = _window_words(window)
    name = f"`{stage}`" if stage == handler else f"`{stage}` ({handler})"
    signal: Literal["failures", "duration", "none"] = "none"
    if failure_severity != "none" and SEVERITIES.index(failure_severity) >= SEVERITIES.index(
        duration_severity
    ):
        signal, severity = "failures", failure_severity
        was = f"up from {base_failures:.0%}" if base_failures is not None else "with no history"
        sentence = f"{name} fails {failures:.0%} of attempts {since}, {was}"
        if top_error is not None and top_share is not None:
            sentence += f": {top_share:.0%} of the errors are `{top_error[:80]}`"
    elif duration_severity != "none":
        signal, severity = "duration", duration_severity
        assert p50 is not None
        assert base_p50 is not None
        assert score is not None
        sentence = (
            f"{name} takes {_seconds(p50)} at the median {since}, {p50 / base_p50:.1f} times "
            f"its usual {_seconds(base_p50)} (anomaly score {score:.1f})"
        )
    else:
        severity = "none"
        sentence = f"{name} runs as usual {since}"
        if recent.finished < MIN_RECENT or usual.finished < MIN_BASELINE:
            sentence = f"{name}: too few attempts to compare {since}"
    return Risk(
        application_id=application_id,
        application_name=application_name,
        handler=handler,
        stage_name=stage,
        signal=signal,
        severity=severity,
        confidence=round(confidence, 3),
        sentence=sentence + ".",
        attempts=recent.attempts,
        baseline_attempts=usual.attempts,
        failure_rate=failures,
        baseline_failure_rate=base_failures,
        retry_rate=recent.retried / recent.attempts if recent.attempts else None,
        p50_seconds=p50,
        baseline_p50_seconds=base_p50,
        duration_trend=p50 / base_p50 if p50 and base_p50 else None,
        anomaly_score=None if score is None else round(score, 2),
        top_error=top_error,
        top_error_share=top_share,
    )


def median(histogram: dict[int, int]) -> float | None:
    return rollups.quantile(histogram, 0.5)


def _value(bucket: int) -> float:
    """A bucket's middle, on the log scale it is cut on."""
    return rollups.SMALLEST * rollups.GROWTH ** (bucket + 0.5)


def anomaly(recent: dict[int, int], usual: dict[int, int]) -> float | None:
    """How many robust deviations the recent median lies above the usual one (below: 0)."""
    now, then = median(recent), median(usual)
    if now is None or then is None:
        return None
    deviations: dict[float, int] = defaultdict(int)
    for bucket, n in usual.items():
        deviations[abs(_value(bucket) - then)] += n
    total, seen, mad = sum(deviations.values()), 0, 0.0
    for deviation in sorted(deviations):
        seen += deviations[deviation]
        if seen >= total / 2:
            mad = deviation
            break
    spread = max(1.4826 * mad, MIN_SPREAD * then)
    return max(0.0, (now - then) / spread)


def _confidence(recent: int, usual: int) -> float:
    """Near 0 with a handful of attempts, near 1 with hundreds on both sides."""
    return (1 - math.exp(-recent / 20)) * (1 - math.exp(-usual / 100))


def _failure_severity(now: float | None, then: float | None, finished: int) -> Severity:
    if now is None or finished < MIN_RECENT or now == 0:
        return "none"
    usual = then or 0.0
    if now >= 0.5 or (now >= 0.2 and now >= 3 * usual):
        return "critical"
    if now >= 0.05 and now >= 2 * usual:
        return "warning"
    if now > usual + 0.02:
        return "info"
    return "none"


def _duration_severity(score: float | None, recent: int, usual: int) -> Severity:
    if score is None or recent < MIN_RECENT or usual < MIN_BASELINE:
        return "none"
    if score >= 6:
        return "critical"
    if score >= 3:
        return "warning"
    if score >= 2:
        return "info"
    return "none"


def _window_words(window: dt.timedelta) -> str:
    minutes = window.total_seconds() / 60
    if minutes < 60:
        return f"in the last {minutes:g} minutes"
    if minutes == 60:
        return "in the last hour"
    if minutes < 24 * 60:
        return f"in the last {minutes / 60:g} hours"
    return f"in the last {minutes / 60 / 24:g} days"


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"
