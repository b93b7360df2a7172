"""Risk: each stage against its own history, from the rollups: failure rates and their top
error, duration anomalies by robust statistics, confidence from the samples, a sentence."""

from __future__ import annotations

import asyncio
import math
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from controlplane.api.app import create_internal_app
from controlplane.engine.access.accounts import create_user
from controlplane.engine.jobpath import operations
from controlplane.engine.reads.risk import anomaly
from controlplane.engine.upkeep import rollups
from tests.dashboard import PASSWORD, Dashboard, logged_in, services_for
from tests.system import System

# One stage row per stage name; its attempts numbered 1, 2, 3... ended `hours_ago` hours ago
# after `seconds`, failed with `error` or completed.
_ATTEMPT = """
INSERT INTO stage_attempts (stage_id, attempt, pipeline_id, application_id, stage_name, handler,
                            job_id, outcome, retried, error, started_at, finished_at)
SELECT $1, coalesce((SELECT max(attempt) FROM stage_attempts WHERE stage_id = $1), 0) + 1,
       s.pipeline_id, s.application_id, s.name, s.handler, gen_random_uuid(),
       CASE WHEN $4::text IS NULL THEN 'completed' ELSE 'failed' END, false,
       CASE WHEN $4::text IS NULL THEN NULL ELSE jsonb_build_object('message', $4::text) END,
       now() - make_interval(secs => $2::float8 * 3600 + $3::float8),
       now() - make_interval(secs => $2::float8 * 3600)
FROM stages s WHERE s.id = $1
"""


@pytest.fixture
async def root(system: System) -> AsyncIterator[Dashboard]:
    await create_user(system.pool, "root@example.com", "Root", "admin", PASSWORD)
    app = create_internal_app(services_for(system.pool, system.services.broker))
    client = await logged_in(app, "root@example.com")
    yield Dashboard(client)
    await client.aclose()


async def stage(system: System, name: str) -> uuid.UUID:
    pipeline = await system.submit([{"name": name, "handler": name}], name="nightly")
    return uuid.UUID(pipeline["stages"][0]["id"])


async def attempts(
    pool: asyncpg.Pool,
    stage_id: uuid.UUID,
    count: int,
    *,
    hours_ago: tuple[float, float],
    seconds: tuple[float, float],
    errors: dict[int, str] | None = None,
) -> None:
    """``count`` attempts spread over the hours and durations given; the n-th fails with
    ``errors[n]`` where there is one."""
    rows = []
    for n in range(count):
        share = n / max(1, count - 1)
        hours = hours_ago[0] + (hours_ago[1] - hours_ago[0]) * share
        duration = seconds[0] + (seconds[1] - seconds[0]) * ((n * 7) % count) / count
        rows.append((stage_id, hours, duration, (errors or {}).get(n)))
    await pool.executemany(_ATTEMPT, rows)


async def folded(pool: asyncpg.Pool) -> None:
    # A transaction of another database on the server may hold the horizon back a moment.
    for _ in range(600):
        await rollups.fold(pool)
        unfolded = """
            SELECT (SELECT count(*) FROM stage_attempts
                    WHERE txid >= (SELECT position FROM rollup_cursors))
                 + (SELECT count(*) FROM pipeline_finishes
                    WHERE txid >= (SELECT position FROM rollup_cursors))"""
        if await pool.fetchval(unfolded) == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the attempts were not folded")


async def risks(root: Dashboard, **query: str) -> dict[str, dict[str, Any]]:
    """Stages by their name, pipelines as ``pipeline:<name>``."""
    answer = await root.client.get("/api/insights/risks", params=query)
    assert answer.status_code == 200, answer.text
    return {
        item["stageName"] if item["kind"] == "stage" else f"pipeline:{item['pipelineName']}": item
        for item in answer.json()["items"]
    }


_RUN = """
INSERT INTO pipelines (application_id, name, created_at)
VALUES ($1, $2, now() - make_interval(secs => $3::float8 * 3600 + $4::float8))
RETURNING id
"""
_FINISH = """
UPDATE pipelines SET status = $2, finished_at = now() - make_interval(secs => $3::float8 * 3600)
WHERE id = $1
"""
# The stage a failed run failed at, and its attempt that failed for good.
_FAILED_AT = """
WITH s AS (
    INSERT INTO stages (pipeline_id, application_id, position, name, handler, status)
    SELECT id, application_id, 0, $2, $2, 'failed' FROM pipelines WHERE id = $1
    RETURNING id, pipeline_id, application_id, name, handler)
INSERT INTO stage_attempts (stage_id, attempt, pipeline_id, application_id, stage_name, handler,
                            job_id, outcome, retried, started_at, finished_at)
SELECT s.id, 1, s.pipeline_id, s.application_id, s.name, s.handler, gen_random_uuid(),
       'failed', false, now() - make_interval(secs => $3::float8 * 3600 + 1),
       now() - make_interval(secs => $3::float8 * 3600)
FROM s
"""


async def runs(
    pool: asyncpg.Pool,
    application_id: uuid.UUID,
    name: str,
    count: int,
    *,
    hours_ago: tuple[float, float],
    seconds: tuple[float, float],
    failed_at: dict[int, str] | None = None,
) -> None:
    """``count`` runs of ``name`` finished over the hours given, after the durations given;
    the n-th fails at the stage ``failed_at[n]`` where there is one."""
    for n in range(count):
        share = n / max(1, count - 1)
        hours = hours_ago[0] + (hours_ago[1] - hours_ago[0]) * share
        duration = seconds[0] + (seconds[1] - seconds[0]) * ((n * 7) % count) / count
        stage = (failed_at or {}).get(n)
        async with pool.acquire() as db, db.transaction():
            pipeline = await db.fetchval(_RUN, application_id, name, hours, duration)
            if stage is not None:
                await db.execute(_FAILED_AT, pipeline, stage, hours)
            await db.execute(_FINISH, pipeline, "failed" if stage else "completed", hours)


async def test_failures_up_from_their_history_are_told_with_their_main_error(
    system: System, root: Dashboard
) -> None:
    load = await stage(system, "load")
    # The week before: 200 attempts, 2 failures (1%). The last hour: 50, 9 failures (18%),
    # 8 of them "connection refused".
    await attempts(
        system.pool, load, 200, hours_ago=(2, 160), seconds=(9, 11), errors={5: "x", 99: "y"}
    )
    failing = {n: "connection refused" for n in range(0, 40, 5)} | {41: "timeout"}
    await attempts(system.pool, load, 50, hours_ago=(0.01, 0.9), seconds=(9, 11), errors=failing)
    await folded(system.pool)
    [risk] = (await risks(root)).values()
    assert risk["signal"] == "failures"
    assert risk["severity"] == "warning"
    assert risk["failureRate"] == pytest.approx(9 / 50)
    assert risk["baselineFailureRate"] == pytest.approx(2 / 200)
    assert risk["topError"] == "connection refused"
    assert risk["topErrorShare"] == pytest.approx(8 / 9)
    assert risk["sentence"] == (
        "`load` fails 18% of attempts in the last hour, up from 1%: "
        "89% of the errors are `connection refused`."
    )
    assert risk["confidence"] > 0.75


async def test_a_stage_slower_than_its_history_gets_an_anomaly_score(
    system: System, root: Dashboard
) -> None:
    transform = await stage(system, "transform")
    steady = await stage(system, "steady")
    await attempts(system.pool, transform, 200, hours_ago=(2, 160), seconds=(1.5, 2.5))
    await attempts(system.pool, transform, 30, hours_ago=(0.01, 0.9), seconds=(18, 22))
    # The same spread of durations as usual: nothing to say.
    await attempts(system.pool, steady, 200, hours_ago=(2, 160), seconds=(1.5, 2.5))
    await attempts(system.pool, steady, 30, hours_ago=(0.01, 0.9), seconds=(1.5, 2.5))
    await folded(system.pool)
    found = await risks(root)
    slow = found["transform"]
    assert (slow["signal"], slow["severity"]) == ("duration", "critical")
    assert slow["durationTrend"] == pytest.approx(10, rel=0.15)
    assert slow["anomalyScore"] > 6
    assert slow["sentence"].startswith("`transform` takes 19.9 s at the median in the last hour")
    assert "10.0 times its usual 2.0 s" in slow["sentence"]
    calm = found["steady"]
    assert (calm["signal"], calm["severity"]) == ("none", "none")
    assert calm["anomalyScore"] < 2
    assert calm["sentence"] == "`steady` runs as usual in the last hour."
    # The riskiest first.
    assert list(found) == ["transform", "steady"]


async def test_a_few_attempts_are_too_few_to_call_and_confidence_grows_with_samples(
    system: System, root: Dashboard
) -> None:
    rare = await stage(system, "rare")
    await attempts(system.pool, rare, 3, hours_ago=(0.1, 0.5), seconds=(1, 1), errors={0: "boom"})
    # Half its attempts failing, but no week before to compare with: not a risk (the rules on
    # failed stages tell of such failures).
    new = await stage(system, "new")
    failing = {n: "boom" for n in range(0, 20, 2)}
    await attempts(system.pool, new, 20, hours_ago=(0.1, 0.5), seconds=(1, 1), errors=failing)
    often = await stage(system, "often")
    await attempts(system.pool, often, 300, hours_ago=(2, 160), seconds=(1, 2))
    await attempts(system.pool, often, 100, hours_ago=(0.01, 0.9), seconds=(1, 2))
    await folded(system.pool)
    found = await risks(root)
    assert found["rare"]["severity"] == "none"
    assert "too few attempts" in found["rare"]["sentence"]
    assert (found["new"]["severity"], found["new"]["failureRate"]) == ("none", 0.5)
    assert found["new"]["sentence"] == "`new`: too few attempts to compare in the last hour."
    assert found["rare"]["confidence"] < 0.2 < found["often"]["confidence"]
    # One pipeline's stages only, and one application's.
    assert list(await risks(root, pipeline="nightly")) == list(found)
    assert await risks(root, pipeline="elsewhere") == {}


def bucket(seconds: float) -> int:
    return int(math.log(seconds / rollups.SMALLEST) / math.log(rollups.GROWTH))


def test_the_anomaly_score_is_robust_to_one_outlier() -> None:
    usual = {bucket(2.0): 95, bucket(2.2): 5}
    stuck = {**usual, bucket(600.0): 1}  # and one attempt stuck for ten minutes
    for history in (usual, stuck):
        assert anomaly({bucket(2.1): 20}, history) < 2  # 5% slower: not worth a word
        assert anomaly({bucket(20.0): 20}, history) > 6
    # The stuck one moves the usual median by a hair, not the score.
    slow = anomaly({bucket(20.0): 20}, stuck)
    assert slow == pytest.approx(anomaly({bucket(20.0): 20}, usual), rel=0.01)


async def test_a_run_far_longer_than_its_pipelines_history_is_told_even_alone(
    system: System, root: Dashboard
) -> None:
    app = system.application.id
    # A nightly run: a week of runs of about a minute, then one of ten.
    await runs(system.pool, app, "nightly", 7 * 4, hours_ago=(2, 160), seconds=(50, 70))
    await runs(system.pool, app, "nightly", 1, hours_ago=(0.5, 0.5), seconds=(600, 600))
    # Hourly runs as usual, and one rerun days after its first run: a rerun's finish has no
    # run time, so it does not read as a run of three days.
    await runs(system.pool, app, "hourly", 100, hours_ago=(2, 160), seconds=(8, 12))
    await runs(system.pool, app, "hourly", 6, hours_ago=(0.05, 0.9), seconds=(8, 12))
    rerun = await system.pool.fetchval(_RUN, app, "hourly", 72, 10)
    await system.pool.execute(_FINISH, rerun, "failed", 72)
    await system.pool.execute(operations._REOPEN, rerun)  # as a rerun does
    await system.pool.execute(_FINISH, rerun, "completed", 0.2)
    # A skip in a run still going reopens nothing: its finish keeps its run time.
    skipped = await system.pool.fetchval(_RUN, app, "skipped", 0.3, 20)
    await system.pool.execute(operations._REOPEN, skipped)
    await system.pool.execute(_FINISH, skipped, "completed", 0.3)
    # One run as long as usual; one run of a pipeline with no history.
    await runs(system.pool, app, "daily", 10, hours_ago=(2, 160), seconds=(28, 32))
    await runs(system.pool, app, "daily", 1, hours_ago=(0.3, 0.3), seconds=(30, 30))
    await runs(system.pool, app, "fresh", 1, hours_ago=(0.3, 0.3), seconds=(30, 30))
    await folded(system.pool)

    found = await risks(root)
    nightly = found["pipeline:nightly"]
    assert (nightly["kind"], nightly["handler"], nightly["stageName"]) == ("pipeline", None, None)
    assert (nightly["signal"], nightly["severity"]) == ("duration", "critical")
    assert (nightly["runs"], nightly["baselineRuns"]) == (1, 28)
    assert nightly["durationTrend"] == pytest.approx(10, rel=0.15)
    # Within the buckets' 5%: about ten minutes, ten times its usual minute.
    assert re.fullmatch(
        r"A run of `nightly` took (9\.[5-9]|10\.[0-5]) min in the last hour, "
        r"(9\.[5-9]|10\.\d|11\.0) times its usual (5[5-9]|6[0-5])\.\d s "
        r"\(anomaly score \d+\.\d\)\.",
        nightly["sentence"],
    ), nightly["sentence"]
    # One run against 28: something to say, not something to be sure of.
    assert 0.1 < nightly["confidence"] < 0.5
    hourly = found["pipeline:hourly"]
    assert (hourly["signal"], hourly["severity"]) == ("none", "none")
    assert hourly["runs"] == 7
    assert hourly["p50Seconds"] == pytest.approx(10, rel=0.2)
    assert next(iter(found)) == "pipeline:nightly"  # the riskiest first
    assert found["pipeline:daily"]["sentence"] == "`daily` runs as usual in the last hour."
    assert found["pipeline:fresh"]["sentence"] == (
        "`fresh`: too few runs to compare in the last hour."
    )
    assert set(await risks(root, pipeline="hourly")) == {"pipeline:hourly"}
    # The rerun's second finish is counted without a run time (bucket -1); the skipped
    # run's with its own.
    untimed = "SELECT sum(n) FROM run_rollups WHERE grain = 'hour' AND bucket = -1 AND "
    assert await system.pool.fetchval(untimed + "pipeline_name = 'hourly'") == 1
    assert await system.pool.fetchval(untimed + "pipeline_name = 'skipped'") is None
    assert found["pipeline:skipped"]["p50Seconds"] == pytest.approx(20, rel=0.1)


async def test_a_pipeline_failing_more_than_usual_names_the_stage_its_runs_failed_at(
    system: System, root: Dashboard
) -> None:
    app = system.application.id
    await runs(
        system.pool, app, "etl", 100, hours_ago=(2, 160), seconds=(5, 6), failed_at={50: "load"}
    )
    failing = {0: "load", 2: "load", 4: "load", 6: "extract"}
    await runs(
        system.pool, app, "etl", 10, hours_ago=(0.05, 0.9), seconds=(5, 6), failed_at=failing
    )
    await folded(system.pool)
    found = await risks(root, pipeline="etl")
    etl = found["pipeline:etl"]
    assert (etl["signal"], etl["severity"]) == ("failures", "critical")
    assert etl["failureRate"] == pytest.approx(0.4)
    assert etl["baselineFailureRate"] == pytest.approx(0.01)
    assert (etl["failedAtStage"], etl["failedAtStageShare"]) == ("load", pytest.approx(0.75))
    assert (etl["topError"], etl["topErrorShare"]) == (None, None)
    assert etl["sentence"] == (
        "`etl` fails 40% of its runs in the last hour, up from 1%: "
        "3 of its 4 stage failures were at `load`."
    )
    # Its stages are listed beside it, with their own figures.
    assert found["load"]["kind"] == "stage"
    assert found["load"]["pipelineName"] is None
    assert found["load"]["attempts"] == 3


async def test_one_message_under_two_codes_is_one_error(system: System, root: Dashboard) -> None:
    load = await stage(system, "load")
    await attempts(system.pool, load, 100, hours_ago=(2, 160), seconds=(1, 2))
    failing = {n: "connection refused" for n in range(10)}
    await attempts(system.pool, load, 20, hours_ago=(0.05, 0.9), seconds=(1, 2), errors=failing)
    # Half of them with a code, half without: rolled up apart, read as one.
    await system.pool.execute(
        'UPDATE stage_attempts SET error = error || \'{"code": "CONN"}\' '
        "WHERE outcome = 'failed' AND attempt % 2 = 0"
    )
    await folded(system.pool)
    risk = (await risks(root))["load"]
    assert (risk["topError"], risk["topErrorShare"]) == ("connection refused", 1.0)
    assert risk["sentence"].endswith(": 100% of the errors are `connection refused`.")
