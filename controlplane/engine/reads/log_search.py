"""Searching the stage logs of one's applications: by words, level, pipeline, handler and
time, newest first, a page at a time; and the lines that came after a given one (a live tail).

The words go through PostgreSQL's full-text search (``websearch_to_tsquery``: ``timeout``,
``"connection refused"``, ``timeout -retry``, ``disk or memory``) over the GIN index of
migration 0025.

Newest first is the hard part. Asked for "the newest 100 lines with these words" at once, the
planner bets on one of two plans: walk the lines back from the newest until 100 match, or look
the words up in the index and sort what it finds. Each is right for some words and ruinous for
others (walking back for words that match nothing reads every line; looking up a word in a
third of the lines sorts millions), and its guess of how often words match, which decides the
bet, is poor for more than one word. So a search walks back in windows of line ids instead,
the newest window first, each four times the last: in a window every match is fetched, with
no limit to bet on, and the planner picks the cheaper way for that window alone. Common words
fill the page from the first, small window; rare ones reach the big windows, where the index
is the cheap way. Each statement is put together from the conditions asked for, and only
those, and planned for its own values.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg

from controlplane.errors import InvalidRequest, Unavailable

# A search that takes longer is given up: it is too broad to answer.
SEARCH_TIMEOUT = "10s"
FIRST_WINDOW = 5_000  # line ids
WINDOW_GROWTH = 4

# Each condition a search may ask for, with the parameter it takes. The words match the
# expression of the index stage_logs_words exactly, or the index is not used; a pipeline's
# lines are found through its stages (the index stage_logs_stage).
_CONDITIONS = {
    "member": "l.application_id IN (SELECT application_id FROM memberships WHERE user_id = {})",
    "application_id": "l.application_id = {}",
    "words": "to_tsvector('simple', l.message) @@ websearch_to_tsquery('simple', {})",
    "levels": "l.level = ANY({}::text[])",
    "pipeline_id": "l.stage_id IN (SELECT id FROM stages WHERE pipeline_id = {})",
    "handler": "l.handler = {}",
    "since": "l.created_at >= {}",
    "until": "l.created_at < {}",
}

# The newest line a search may find: where its walk back starts.
_NEWEST = """
SELECT max(l.id) FROM stage_logs l
WHERE ($1::timestamptz IS NULL OR l.created_at >= $1)
  AND ($2::timestamptz IS NULL OR l.created_at < $2)
  AND ($3::bigint IS NULL OR l.id < $3)
"""

# Every match in one window, then the newest of them named. MATERIALIZED keeps the limit out
# of the window's plan: the window is planned for all of it.
_WINDOW = """
WITH found AS MATERIALIZED (
    SELECT l.id, l.created_at, l.level, l.message, l.application_id, l.pipeline_id,
           l.stage_id, l.handler, l.attempt, l.job_id
    FROM stage_logs l
    WHERE {conditions}
)
SELECT f.*, p.name AS pipeline_name, s.name AS stage_name
FROM (SELECT * FROM found ORDER BY id DESC LIMIT {limit}) f
JOIN pipelines p ON p.id = f.pipeline_id JOIN stages s ON s.id = f.stage_id
ORDER BY f.id DESC
"""

# Words that leave no word to look for ("!!!", "-", a lone quote) are said to be so, rather
# than matching nothing in silence.
_HAS_WORDS = "SELECT numnode(websearch_to_tsquery('simple', $1)) > 0"


@dataclass(frozen=True)
class LogSearch:
    member: uuid.UUID | None = None  # only this user's applications (None: every one)
    application_id: uuid.UUID | None = None
    words: str | None = None
    levels: list[str] | None = None
    pipeline_id: uuid.UUID | None = None
    handler: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    before: int | None = None  # a line id: the page of older lines
    after: int | None = None  # a line id: the lines that came since (a live tail)
    limit: int = 100


@dataclass(frozen=True)
class FoundLine:
    id: int
    created_at: dt.datetime
    level: str
    message: str
    application_id: uuid.UUID
    pipeline_id: uuid.UUID
    pipeline_name: str
    stage_id: uuid.UUID
    stage_name: str
    handler: str
    attempt: int
    job_id: uuid.UUID | None


def _window_statement(search: LogSearch) -> tuple[str, list[object]]:
    """The statement of a window, its last three parameters left: the window's newest line,
    the line before its oldest, and how many lines are still wanted."""
    conditions, values = [], []
    for name, condition in _CONDITIONS.items():
        value = getattr(search, name)
        if value is not None:
            values.append(value)
            conditions.append(condition.format(f"${len(values)}"))
    count = len(values)
    conditions += [f"l.id <= ${count + 1}", f"l.id > ${count + 2}"]
    query = _WINDOW.format(conditions="\n      AND ".join(conditions), limit=f"${count + 3}")
    return query, values


async def search_logs(pool: asyncpg.Pool, search: LogSearch) -> list[FoundLine]:
    """The lines that match, newest first."""
    if search.words is not None:
        try:
            has_words = await pool.fetchval(_HAS_WORDS, search.words)
        except asyncpg.InternalServerError as error:
            # "---…-a" nests a "not" per minus: past 32, PostgreSQL cannot parse it (and says
            # so as an internal error, XX000); a lost connection is not this, and stays a 503.
            raise InvalidRequest(
                "invalid_search", f"the search cannot be read: {error.args[0]}"
            ) from None
        if not has_words:
            raise InvalidRequest("invalid_search", f"{search.words!r} holds no word to look for")
    query, values = _window_statement(search)
    found: list[FoundLine] = []
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        # Each window planned for its own bounds, not once for any.
        await connection.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        await connection.execute(f"SET LOCAL statement_timeout = '{SEARCH_TIMEOUT}'")
        try:
            newest = await connection.fetchval(_NEWEST, search.since, search.until, search.before)
            oldest = search.after or 0  # the line before the oldest one it may find
            top, window = newest or 0, FIRST_WINDOW
            while top > oldest and len(found) < search.limit:
                bottom = max(top - window, oldest)
                rows = await connection.fetch(
                    query, *values, top, bottom, search.limit - len(found)
                )
                found += [FoundLine(**dict(row)) for row in rows]
                top, window = bottom, window * WINDOW_GROWTH
        except asyncpg.QueryCanceledError:
            raise Unavailable(
                "search_timeout",
                f"the search took over {SEARCH_TIMEOUT}: narrow it (a time range, an "
                "application, a pipeline or a handler)",
            ) from None
    return found
