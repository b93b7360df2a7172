"""Risk: how each stage and handler, and each pipeline name, does lately against its own
history, from the rollups alone.

For every stage of a handler with attempts in the recent window (an hour by default), and for
every pipeline name with runs that finished in it, against the week before it:

- the failure rate (a stage: failed of the attempts a handler finished; a pipeline: failed of
  its runs that completed or failed) and the retry rate, now and then, and where the recent
  failures come from (a stage: its most frequent error; a pipeline: the stage most of its
  stage failures were at);
- the median duration (a pipeline: a run's, from its creation to its first finish) now and
  then, and an **anomaly score**: how many robust deviations (1.4826 times the median absolute
  deviation, read from the duration buckets) the recent median lies above the usual one.
  Medians and deviations, not means: one stuck attempt does not make a stage "slow", nor one
  fast retry make it "fine";
- a **confidence** that grows with both samples (a handful says little), a **severity**, and
  a sentence a person can act on.

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
Kind = Literal["stage", "pipeline"]
Signal = Literal["failures", "duration", "none"]
BASELINE = dt.timedelta(days=7)
# The robust deviation is at least this share of the median: a stage that always takes
# exactly as long would otherwise call a 1% change an anomaly.
MIN_SPREAD = 0.05


@dataclass(frozen=True)
class Sample:
    """How much each kind needs before it calls anything, and what confidence it gives."""

    # Finished in the window (attempts, or runs), to call a failure rate; timed, to call a
    # duration.
    min_finished: int
    min_timed: int
    # In the week before, to compare with.
    min_baseline: int
    # Confidence reaches 63% of the way at this many on each side.
    recent_scale: float
    baseline_scale: float


# A stage runs often: a handful of attempts says little. A pipeline may run once a night: one
# run that takes ten times its usual is worth saying (with a low confidence), but a failure
# rate needs a few runs (one failed run is what a pipeline_failed rule is for).
SAMPLES: dict[Kind, Sample] = {
    "stage": Sample(
        min_finished=5, min_timed=5, min_baseline=20, recent_scale=20, baseline_scale=100
    ),
    "pipeline": Sample(
        min_finished=3, min_timed=1, min_baseline=5, recent_scale=3, baseline_scale=20
    ),
}

_MEMBER = """($3::uuid IS NULL OR r.application_id IN (
        SELECT m.application_id FROM memberships m WHERE m.user_id = $3))
    AND ($4::uuid IS NULL OR r.application_id = $4)"""
_VISIBLE = f"""
    {_MEMBER}
    AND ($5::text IS NULL OR r.pipeline_name = $5)
"""

# Minute rollups from $1 (the recent window), hour rollups from $2 to $6 (the baseline: the
# week before the window's hour).
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
WHERE {_SPANS} AND {_MEMBER}
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

# Runs by pipeline name: how they ended and, for first finishes, how long they took.
_RUNS = f"""
SELECT r.application_id, r.pipeline_name, r.grain = 'minute' AS recent, r.status, r.bucket,
       sum(r.n)::bigint AS n
FROM run_rollups r
WHERE {_SPANS} AND {_VISIBLE}
GROUP BY 1, 2, 3, 4, 5
"""

# The attempts of each pipeline name's stages: its retry rate, and the stage its recent
# runs failed at.
_RUN_ATTEMPTS = f"""
SELECT r.application_id, r.pipeline_name, r.grain = 'minute' AS recent, r.stage_name,
       sum(r.attempts)::bigint AS attempts, sum(r.retried)::bigint AS retried,
       sum(r.failed_for_good)::bigint AS failed_for_good
FROM attempt_rollups r
WHERE {_SPANS} AND {_VISIBLE}
GROUP BY 1, 2, 3, 4
"""

_NAMES = "SELECT id, name FROM applications WHERE id = ANY ($1::uuid[])"


@dataclass(frozen=True)
class Risk:
    application_id: uuid.UUID
    application_name: str
    kind: Kind
    # A stage's: its handler and name. A pipeline's: its name.
    handler: str | None
    stage_name: str | None
    pipeline_name: str | None
    signal: Signal
    severity: Severity
    confidence: float
    sentence: str
    # A stage's attempts; a pipeline's: the attempts of its stages.
    attempts: int
    baseline_attempts: int
    # A pipeline's runs that finished (completed, failed or cancelled); a stage: None.
    runs: int | None
    baseline_runs: int | None
    failure_rate: float | None
    baseline_failure_rate: float | None
    retry_rate: float | None
    p50_seconds: float | None
    baseline_p50_seconds: float | None
    # The recent median over the usual one.
    duration_trend: float | None
    anomaly_score: float | None
    # A stage's most frequent recent error, and its share of the stage's errors.
    top_error: str | None
    top_error_share: float | None
    # A pipeline's: the stage most of its stages' recent failures (for good) were at, and its
    # share of them (that stage's own risk, listed too, names the error).
    failed_at_stage: str | None
    failed_at_stage_share: float | None


@dataclass
class _Side:
    """One side of the comparison (the window, or the week before it)."""

    # What is compared: a stage's attempts, or a pipeline's finished runs.
    n: int = 0
    completed: int = 0
    failed: int = 0
    attempts: int = 0
    retried: int = 0
    histogram: dict[int, int] = field(default_factory=dict)

    @property
    def finished(self) -> int:
        return self.completed + self.failed

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.finished if self.finished else None

    def count(self, bucket: int, n: int) -> None:
        self.histogram[bucket] = self.histogram.get(bucket, 0) + n


def _sides() -> dict[bool, _Side]:
    return {True: _Side(), False: _Side()}


@dataclass(frozen=True)
class _Subject:
    kind: Kind
    application_id: uuid.UUID
    # A stage's handler and name, or a pipeline's name (handler None).
    handler: str | None
    name: str

    @property
    def label(self) -> str:
        if self.handler is None or self.name == self.handler:
            return f"`{self.name}`"
        return f"`{self.name}` ({self.handler})"


async def read_risks(
    pool: asyncpg.Pool,
    *,
    member: uuid.UUID | None,
    application_id: uuid.UUID | None,
    pipeline_name: str | None = None,
    window: dt.timedelta = dt.timedelta(hours=1),
    now: dt.datetime | None = None,
) -> list[Risk]:
    """Every stage and handler with recent attempts, and every pipeline name with recent
    runs, the riskiest first."""
    now = now or dt.datetime.now(dt.UTC)
    recent_start = (now - window).astimezone(dt.UTC).replace(second=0, microsecond=0)
    # The baseline ends at the hour the window starts in (hours are what it is kept by).
    hour = recent_start.replace(minute=0)
    scope = (recent_start, hour - BASELINE, member, application_id, pipeline_name, hour)
    sides: dict[_Subject, dict[bool, _Side]] = defaultdict(_sides)
    errors: dict[_Subject, list[tuple[str, int]]] = defaultdict(list)
    async with pool.acquire() as db, db.transaction(readonly=True):
        for row in await db.fetch(_COUNTS, *scope):
            subject = _Subject("stage", row["application_id"], row["handler"], row["stage_name"])
            side = sides[subject][row["recent"]]
            side.n += row["attempts"]
            side.attempts += row["attempts"]
            side.completed += row["completed"]
            side.failed += row["failed"]
            side.retried += row["retried"]
        for row in await db.fetch(_DURATIONS, *scope):
            subject = _Subject("stage", row["application_id"], row["handler"], row["stage_name"])
            if subject in sides:
                sides[subject][row["recent"]].count(row["bucket"], row["n"])
        # Errors are rolled up by code and message; a person reads the message (the code when
        # there is none): the same message under two codes is one error to them.
        by_label: dict[_Subject, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for row in await db.fetch(_ERRORS, recent_start, member, application_id):
            subject = _Subject("stage", row["application_id"], row["handler"], row["stage_name"])
            by_label[subject][row["message"] or row["code"]] += row["n"]
        for subject, labels in by_label.items():
            errors[subject].extend(labels.items())
        for row in await db.fetch(_RUNS, *scope):
            subject = _Subject("pipeline", row["application_id"], None, row["pipeline_name"])
            side = sides[subject][row["recent"]]
            side.n += row["n"]
            if row["status"] == "completed":
                side.completed += row["n"]
                if row["bucket"] >= 0:
                    side.count(row["bucket"], row["n"])
            elif row["status"] == "failed":
                side.failed += row["n"]
        for row in await db.fetch(_RUN_ATTEMPTS, *scope):
            subject = _Subject("pipeline", row["application_id"], None, row["pipeline_name"])
            if subject not in sides:
                continue
            side = sides[subject][row["recent"]]
            side.attempts += row["attempts"]
            side.retried += row["retried"]
            if row["recent"] and row["failed_for_good"]:
                errors[subject].append((row["stage_name"], row["failed_for_good"]))
        names = {
            row["id"]: row["name"]
            for row in await db.fetch(_NAMES, list({key.application_id for key in sides}))
        }
    risks = [
        _judge(
            subject,
            names.get(subject.application_id, ""),
            both[True],
            both[False],
            sorted(errors.get(subject, []), key=lambda error: -error[1]),
            window,
        )
        for subject, both in sides.items()
        if both[True].n
    ]
    rank = {severity: n for n, severity in enumerate(SEVERITIES)}
    risks.sort(key=lambda r: (-rank[r.severity], -(r.anomaly_score or 0), -r.attempts))
    return risks


def _judge(
    subject: _Subject,
    application_name: str,
    recent: _Side,
    usual: _Side,
    errors: list[tuple[str, int]],
    window: dt.timedelta,
) -> Risk:
    sample = SAMPLES[subject.kind]
    p50, base_p50 = median(recent.histogram), median(usual.histogram)
    score = anomaly(recent.histogram, usual.histogram)
    timed, base_timed = sum(recent.histogram.values()), sum(usual.histogram.values())
    confidence = _confidence(recent.finished, usual.finished, sample)
    failures, base_failures = recent.failure_rate, usual.failure_rate
    # A stage's errors, or a pipeline's stages that failed for good.
    failed_errors = sum(n for _, n in errors)
    top, top_share = (errors[0][0], errors[0][1] / failed_errors) if errors else (None, None)

    failures_compared = (
        recent.finished >= sample.min_finished and usual.finished >= sample.min_baseline
    )
    failure_severity = _failure_severity(failures, base_failures, enough=failures_compared)
    durations_compared = timed >= sample.min_timed and base_timed >= sample.min_baseline
    duration_severity = _duration_severity(score, enough=durations_compared)
    since = _window_words(window)
    name = subject.label
    signal: Signal = "none"
    if failure_severity != "none" and SEVERITIES.index(failure_severity) >= SEVERITIES.index(
        duration_severity
    ):
        signal, severity = "failures", failure_severity
        was = f"up from {base_failures:.0%}"
        if subject.kind == "pipeline":
            sentence = f"{name} fails {failures:.0%} of its runs {since}, {was}"
            if top is not None and failed_errors == 1:
                sentence += f": its one stage failure was at `{top}`"
            elif top is not None:
                sentence += (
                    f": {errors[0][1]:,} of its {failed_errors:,} stage failures were at `{top}`"
                )
        else:
            sentence = f"{name} fails {failures:.0%} of attempts {since}, {was}"
            if top is not None and top_share is not None:
                sentence += f": {top_share:.0%} of the errors are `{top[:80]}`"
    elif duration_severity != "none":
        signal, severity = "duration", duration_severity
        assert p50 is not None
        assert base_p50 is not None
        assert score is not None
        if subject.kind == "pipeline" and timed == 1:
            took = f"A run of {name} took {_seconds(p50)} {since}"
        else:
            what = "A run of " if subject.kind == "pipeline" else ""
            took = f"{what}{name} takes {_seconds(p50)} at the median {since}"
        sentence = (
            f"{took}, {p50 / base_p50:.1f} times its usual {_seconds(base_p50)} "
            f"(anomaly score {score:.1f})"
        )
    else:
        severity = "none"
        sentence = f"{name} runs as usual {since}"
        if not (failures_compared or durations_compared):
            things = "runs" if subject.kind == "pipeline" else "attempts"
            sentence = f"{name}: too few {things} to compare {since}"
    stage = subject.kind == "stage"
    return Risk(
        application_id=subject.application_id,
        application_name=application_name,
        kind=subject.kind,
        handler=subject.handler,
        stage_name=subject.name if stage else None,
        pipeline_name=None if stage else subject.name,
        signal=signal,
        severity=severity,
        confidence=round(confidence, 3),
        sentence=sentence + ".",
        attempts=recent.attempts,
        baseline_attempts=usual.attempts,
        runs=None if stage else recent.n,
        baseline_runs=None if stage else usual.n,
        failure_rate=failures,
        baseline_failure_rate=base_failures,
        retry_rate=recent.retried / recent.attempts if recent.attempts else None,
        p50_seconds=p50,
        baseline_p50_seconds=base_p50,
        duration_trend=p50 / base_p50 if p50 and base_p50 else None,
        anomaly_score=None if score is None else round(score, 2),
        top_error=top if stage else None,
        top_error_share=top_share if stage else None,
        failed_at_stage=None if stage else top,
        failed_at_stage_share=None if stage else top_share,
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


def _confidence(recent: int, usual: int, sample: Sample) -> float:
    """Near 0 with a handful on either side, near 1 with many on both (for a stage: hundreds
    of attempts; for a pipeline: dozens of runs)."""
    return (1 - math.exp(-recent / sample.recent_scale)) * (
        1 - math.exp(-usual / sample.baseline_scale)
    )


def _failure_severity(now: float | None, then: float | None, *, enough: bool) -> Severity:
    if now is None or not enough or now == 0:
        return "none"
    usual = then or 0.0
    if now >= 0.5 or (now >= 0.2 and now >= 3 * usual):
        return "critical"
    if now >= 0.05 and now >= 2 * usual:
        return "warning"
    if now > usual + 0.02:
        return "info"
    return "none"


def _duration_severity(score: float | None, *, enough: bool) -> Severity:
    if score is None or not enough:
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
