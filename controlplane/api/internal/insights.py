"""/api/insights: how handlers and stages do over a time range, and the queues now."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from controlplane.api.internal.schemas import (
    BucketView,
    HotspotView,
    InsightsView,
    PipelineCountsView,
    QueueView,
    RiskPage,
    RiskView,
    RiskWindow,
    RunBucketView,
    RunHistoryRange,
    RunHistoryView,
    RunView,
    StageFiguresView,
    StageTimesView,
)
from controlplane.api.internal.session import member_scope, visible_application
from controlplane.api.wire import wire
from controlplane.engine.reads.insights import StageFigures, read_insights
from controlplane.engine.reads.risk import read_risks
from controlplane.engine.reads.run_history import run_history
from controlplane.errors import InvalidRequest, NotFound
from controlplane.services import Services
from controlplane.statuses import PIPELINE_STATUSES

LONGEST_RANGE = dt.timedelta(days=31)
RISK_WINDOWS = {
    "15m": dt.timedelta(minutes=15),
    "1h": dt.timedelta(hours=1),
    "6h": dt.timedelta(hours=6),
    "24h": dt.timedelta(hours=24),
}

# Each range of a run history, and the width of its buckets.
RUN_HISTORY_RANGES = {
    "24h": (dt.timedelta(hours=24), "hour"),
    "7d": (dt.timedelta(days=7), "day"),
    "30d": (dt.timedelta(days=30), "day"),
}
_BUCKET_SECONDS = {"hour": 3600, "day": 86_400}


def _figures(row: StageFigures, minutes: float) -> StageFiguresView:
    finished = row.completed + row.failed
    return StageFiguresView(
        application_id=row.application_id,
        application_name=row.application_name,
        handler=row.handler,
        stage_name=row.stage_name,
        attempts=row.attempts,
        completed=row.completed,
        failed=row.failed,
        failed_for_good=row.failed_for_good,
        lease_lost=row.lease_lost,
        success_rate=row.completed / finished if finished else None,
        retry_rate=row.retried / row.attempts,
        throughput_per_minute=row.completed / minutes,
        p50_seconds=row.p50_seconds,
        p95_seconds=row.p95_seconds,
    )


class InsightsController(Controller):
    path = "/insights"
    tags = ["insights"]

    @get("/", summary="Throughput, success, durations, retries and errors; queues now")
    async def read(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        start: Annotated[
            dt.datetime | None, QueryParameter(name="from", description="default: an hour ago")
        ] = None,
        end: Annotated[
            dt.datetime | None, QueryParameter(name="to", description="default: now")
        ] = None,
        application: Annotated[uuid.UUID | None, QueryParameter(name="application")] = None,
    ) -> InsightsView:
        end = end or dt.datetime.now(dt.UTC)
        if (start and start.tzinfo is None) or end.tzinfo is None:
            raise InvalidRequest("invalid_range", "give from and to with a time zone")
        try:  # the range is read by the hour in UTC: before year 1 or after 9999 there is none
            start = start or end - dt.timedelta(hours=1)
            start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
        except OverflowError:
            raise InvalidRequest(
                "invalid_range", "from and to must be in years 1 to 9999"
            ) from None
        if not start < end or end - start > LONGEST_RANGE:
            raise InvalidRequest(
                "invalid_range", "from must come before to, at most 31 days before it"
            )
        insights = await read_insights(
            services.pool,
            start=start,
            end=end,
            member=member_scope(request),
            application_id=application,
        )
        minutes = (end - start).total_seconds() / 60
        return InsightsView(
            start=start,
            end=end,
            pipelines=PipelineCountsView(
                **{status: insights.pipelines.get(status, 0) for status in PIPELINE_STATUSES}
            ),
            stages=[_figures(row, minutes) for row in insights.stages],
            hotspots=wire(insights.hotspots, list[HotspotView]),
            series=[BucketView(b.at, b.completed, b.failed) for b in insights.series],
            bucket_seconds=insights.bucket_seconds,
            queues=wire(insights.queues, list[QueueView]),
        )

    @get(
        "/risks",
        summary="How each stage and pipeline does lately against its own history, riskiest first",
    )
    async def risks(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        application: Annotated[uuid.UUID | None, QueryParameter(name="application")] = None,
        pipeline: Annotated[
            str | None,
            QueryParameter(
                max_length=200,
                description="only this pipeline name, and the stages of its runs",
            ),
        ] = None,
        window: Annotated[
            RiskWindow, QueryParameter(description="the recent window, against the week before")
        ] = "1h",
    ) -> RiskPage:
        found = await read_risks(
            services.pool,
            member=member_scope(request),
            application_id=application,
            pipeline_name=pipeline,
            window=RISK_WINDOWS[window],
        )
        return RiskPage(wire(found, list[RiskView]))

    @get(
        "/runs",
        summary="A pipeline name's run history: durations and outcomes over a range; its stages",
        opt={"errors": [404]},  # application_not_found
    )
    async def runs(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        application: Annotated[uuid.UUID, QueryParameter(name="application")],
        name: Annotated[str, QueryParameter(min_length=1, max_length=200)],
        range_: Annotated[RunHistoryRange, QueryParameter(name="range")] = "7d",
    ) -> RunHistoryView:
        await visible_application(
            request,
            application,
            NotFound("application_not_found", f"no application {application}"),
        )
        span, bucket = RUN_HISTORY_RANGES[range_]
        # Whole buckets: the first starts on its hour or day (UTC), and the last is now's.
        width = dt.timedelta(seconds=_BUCKET_SECONDS[bucket])
        now = dt.datetime.now(dt.UTC)
        end = dt.datetime.fromtimestamp(
            (now.timestamp() // width.total_seconds() + 1) * width.total_seconds(), dt.UTC
        )
        start = end - span
        history = await run_history(services.pool, application, name, start, end, bucket)
        return RunHistoryView(
            application_id=application,
            name=name,
            start=start,
            end=end,
            bucket_seconds=_BUCKET_SECONDS[bucket],
            completed=history.completed,
            failed=history.failed,
            cancelled=history.cancelled,
            success_rate=history.success_rate,
            p50_seconds=history.p50_seconds,
            p95_seconds=history.p95_seconds,
            series=wire(history.series, list[RunBucketView]),
            latest=wire(history.latest, list[RunView]),
            stages=wire(history.stages, list[StageTimesView]),
        )
