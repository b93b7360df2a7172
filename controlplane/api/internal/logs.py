"""/api/logs: search the stage logs of one's applications, newest first; tail them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from controlplane.api.internal.schemas import FoundLineView, LogSearchPage
from controlplane.api.internal.session import member_scope
from controlplane.engine.reads.log_search import FoundLine, LogSearch, search_logs
from controlplane.errors import InvalidRequest
from controlplane.schemas import MAX_ID, LogLevel
from controlplane.services import Services

_LINE_ID = QueryParameter(ge=1, le=MAX_ID)


def _line_view(line: FoundLine) -> FoundLineView:
    return FoundLineView(
        id=line.id,
        attempt=line.attempt,
        job_id=line.job_id,
        level=line.level,
        message=line.message,
        at=line.created_at,
        application_id=line.application_id,
        pipeline_id=line.pipeline_id,
        pipeline_name=line.pipeline_name,
        stage_id=line.stage_id,
        stage_name=line.stage_name,
        handler=line.handler,
    )


def _aware(moment: dt.datetime | None, name: str) -> dt.datetime | None:
    """``moment`` in UTC; it must say its time zone, and be in years 1 to 9999 in UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise InvalidRequest("invalid_range", f"give {name} with a time zone")
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise InvalidRequest("invalid_range", f"{name} must be in years 1 to 9999") from None


class LogController(Controller):
    path = "/logs"
    tags = ["logs"]

    @get(
        "/",
        summary="Stage log lines of your applications that match, newest first",
        description=(
            "`q` is searched as words (PostgreSQL's websearch syntax: `timeout`, "
            '`"connection refused"`, `timeout -retry`, `disk or memory`), whole words, '
            "any case. `after` gives the lines that came after that line id, for a live tail. "
            "A search over 10 s is given up (503 search_timeout): narrow it."
        ),
    )
    async def search(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        q: Annotated[str | None, QueryParameter(min_length=1, max_length=500)] = None,
        level: Annotated[
            list[LogLevel] | None, QueryParameter(description="one or more", max_items=4)
        ] = None,
        pipeline_id: Annotated[uuid.UUID | None, QueryParameter(name="pipelineId")] = None,
        handler: Annotated[str | None, QueryParameter(min_length=1, max_length=200)] = None,
        application: Annotated[uuid.UUID | None, QueryParameter(name="application")] = None,
        start: Annotated[
            dt.datetime | None, QueryParameter(name="from", description="inclusive")
        ] = None,
        end: Annotated[dt.datetime | None, QueryParameter(name="to", description="exclusive")] = (
            None
        ),
        before: Annotated[int | None, _LINE_ID] = None,
        after: Annotated[int | None, _LINE_ID] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> LogSearchPage:
        start, end = _aware(start, "from"), _aware(end, "to")
        if start is not None and end is not None and not start < end:
            raise InvalidRequest("invalid_range", "from must come before to")
        found = await search_logs(
            services.pool,
            LogSearch(
                member=member_scope(request),
                application_id=application,
                words=q,
                levels=sorted(set(level)) if level else None,
                pipeline_id=pipeline_id,
                handler=handler,
                since=start,
                until=end,
                before=before,
                after=after,
                limit=limit,
            ),
        )
        next_before = found[-1].id if len(found) == limit else None
        return LogSearchPage([_line_view(line) for line in found], next_before)
