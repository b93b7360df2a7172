"""Retention: delete what has aged past its settings, a bounded batch at a time.

The built-in worker runs a round (:func:`run_round`) every few minutes, and an admin may run
one at once from the dashboard. Rows are deleted in batches of ``batch`` per statement with
``SKIP LOCKED``, so a round never waits on, nor holds for long, a row the job path is using.
The two tables that grow fastest, ``stage_logs`` and ``worker_events``, are partitioned by
day: old days are dropped whole, and days ahead are made in time. Dataset versions are
removed from the lake with Lance's cleanup, off the event loop.

What is due is decided by the rules of :mod:`.rules`, each written once: a round deletes
what they select, and :func:`preview` counts it, in one snapshot, deleting nothing.

One round at a time: a round holds a transaction-level advisory lock for its whole length,
and a round that finds it taken does not run (a built-in worker tries again at its next
round; a run from the dashboard is refused). Its statements would be safe side by side, but
what each round answers it deleted would be only a part.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from controlplane import lake
from controlplane.artifact_store import ArtifactStore
from controlplane.engine.access.audit import Actor, record
from controlplane.engine.upkeep import rules
from controlplane.engine.upkeep.rollups import MINUTES_KEPT
from controlplane.errors import Conflict
from controlplane.metrics import RETENTION_DELETED
from controlplane.settings import Settings

# Days ahead whose partitions exist at all times: a built-in worker may be down that long
# before rows start to land in the default partition (from which they are moved, not lost).
DAYS_AHEAD = 3
PARTITIONED = ("stage_logs", "worker_events")
# Hourly rollups are kept at least this long: the longest range insights read.
ROLLUP_HOURS_DAYS = 31
# Sessions are history this long after they expired: nobody can refresh them any more.
SESSIONS_DAYS = 1
# The datasets a round looks at per query; it goes on until it has looked at every one.
DATASETS_PER_QUERY = 100
# Any number, the same in every process (the migrator's is another).
_ROUND_LOCK = 0x706C712D72746E31


@dataclass(frozen=True)
class Retention:
    """How many days each kind of row is kept; 0 keeps it for ever."""

    pipelines_days: int = 30
    logs_days: int = 14
    workers_days: int = 7
    audit_days: int = 365
    # The newest versions of each dataset kept, for applications that set no number of
    # their own (0: every version).
    dataset_versions: int = 0

    @classmethod
    def of(cls, settings: Settings) -> Retention:
        return cls(
            pipelines_days=settings.retain_pipelines_days,
            logs_days=settings.retain_logs_days,
            workers_days=settings.retain_workers_days,
            audit_days=settings.retain_audit_days,
            dataset_versions=settings.retain_dataset_versions,
        )

    @property
    def hour_rollup_days(self) -> int:
        """Hourly rollups live as long as the pipelines (for ever when those do)."""
        return self.pipelines_days and max(ROLLUP_HOURS_DAYS, self.pipelines_days)

    def parameters(self) -> dict[str, Any]:
        """The named parameters of the rules."""
        return {
            "pipelines_days": self.pipelines_days,
            "logs_days": self.logs_days,
            "workers_days": self.workers_days,
            "audit_days": self.audit_days,
            "sessions_days": SESSIONS_DAYS,
            "minute_rollup_days": MINUTES_KEPT.days,
            "hour_rollup_days": self.hour_rollup_days,
        }

    def days_of(self, kind: Kind) -> int | None:
        """The days ``kind`` is kept (0: for ever), or None for a kind not kept by age."""
        return None if kind.setting is None else getattr(self, kind.setting)

    def cutoff(self, kind: Kind, now: dt.datetime) -> dt.datetime | None:
        """What is older than this (by the kind's own time) is due, if the kind goes by age."""
        if kind.name == "sessions":
            return now - dt.timedelta(days=SESSIONS_DAYS)
        if kind.name == "rollups":
            days = self.hour_rollup_days
        elif kind.name in ("files", "dataset_versions"):
            return None
        else:
            days = self.days_of(kind) or 0
        if not days:
            return None
        cutoff = now - dt.timedelta(days=days)
        if kind.name.endswith("_partitions"):  # whole UTC days only
            cutoff = cutoff.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return cutoff


@dataclass(frozen=True)
class Kind:
    name: str
    # The field of Retention that decides it, if one does.
    setting: str | None
    what: str


KINDS = (
    Kind(
        "pipelines",
        "pipelines_days",
        "Finished pipelines, with their stages, attempts, log lines, approvals and artifacts",
    ),
    Kind("schedule_fires", "pipelines_days", "Schedule fires, kept as long as pipelines"),
    Kind("workers", "workers_days", "Workers not heard from, with their events"),
    Kind("audit", "audit_days", "Audit log entries"),
    Kind("sessions", None, "Sessions a day past their expiry"),
    Kind("stage_logs_partitions", "logs_days", "Whole days of stage log lines"),
    Kind(
        "stage_logs",
        "logs_days",
        "Stage log lines of days that had no partition yet (in the default partition)",
    ),
    Kind("worker_events_partitions", "workers_days", "Whole days of worker events"),
    Kind(
        "worker_events",
        "workers_days",
        "Worker events of days that had no partition yet (in the default partition)",
    ),
    Kind("files", None, "Files of deleted artifacts, deleted from the artifact store"),
    Kind(
        "rollups",
        "pipelines_days",
        f"Insights rollups: by the minute after {MINUTES_KEPT.days} days, by the hour as long"
        f" as pipelines (at least {ROLLUP_HOURS_DAYS} days)",
    ),
    Kind(
        "dataset_versions",
        "dataset_versions",
        "Dataset versions past the newest N of each dataset that no kept pipeline wrote or "
        "read, removed from the lake",
    ),
)
KIND_NAMES = tuple(kind.name for kind in KINDS)


@dataclass
class Tally:
    """What retention deletes (or would) of one kind."""

    count: int = 0
    applications: Counter[uuid.UUID] = field(default_factory=Counter)
    # What the rows held, which went with them: a pipeline's stages, a worker's events...
    contents: Counter[str] = field(default_factory=Counter)
    # The day partitions, by name.
    items: list[str] = field(default_factory=list)

    def add(self, rows: Iterable[asyncpg.Record], contents: Sequence[str] = ()) -> int:
        """Adds counts per application (``n``, and each of ``contents``); returns their sum."""
        added = 0
        for row in rows:
            n = row["n"]
            added += n
            if row["application_id"] is not None:
                self.applications[row["application_id"]] += n
            for name in contents:
                self.contents[name] += row[name]
        self.count += added
        return added


@dataclass
class Report:
    """What a round deleted, or what one would delete now (a preview)."""

    # The database's time: of the preview, or when the round began.
    at: dt.datetime
    kinds: dict[str, Tally]
    # The names of the applications counted.
    application_names: dict[uuid.UUID, str] = field(default_factory=dict)
    # A round's: when it ended, the day partitions it made ahead, and what it could not do.
    finished_at: dt.datetime | None = None
    partitions_made: int = 0
    problems: list[str] = field(default_factory=list)

    def counts(self) -> Counter[str]:
        return counts(self.kinds)


def counts(kinds: dict[str, Tally]) -> Counter[str]:
    """How many of each kind, as pipelogiq_retention_deleted counts them (not zeros)."""
    counted: Counter[str] = Counter()
    for name, tally in kinds.items():
        counted["partitions_dropped" if name.endswith("_partitions") else name] += tally.count
    return +counted


def _tallies() -> dict[str, Tally]:
    return {name: Tally() for name in KIND_NAMES}


# -- a preview -------------------------------------------------------------------------------


async def preview(pool: asyncpg.Pool, retention: Retention) -> Report:
    """What a round would delete now, by the rules a round deletes by; deletes nothing.

    Counted in one snapshot, as if the round ran in it: the pipelines and workers due count
    with what goes with them, and the dataset versions that only pipelines due kept count
    as removable. Dataset versions a round cannot reach in the lake then stay."""
    values = retention.parameters()
    kinds = _tallies()
    async with pool.acquire() as db, db.transaction(isolation="repeatable_read", readonly=True):
        at: dt.datetime = await db.fetchval("SELECT now()")
        for rule in rules.RULES:
            counted = await db.fetch(rule.count.sql, *rules.arguments(rule.count, values))
            kinds[rule.kind].add(counted, rule.contents)
        for table, days in _partitioned(retention):
            due = rules.PARTITIONS_DUE
            names = [r[0] for r in await db.fetch(due.sql, *due.args(table=table, days=days))]
            kinds[f"{table}_partitions"].count += len(names)
            kinds[f"{table}_partitions"].items.extend(names)
        kinds["files"].count = await db.fetchval(
            rules.FILES_DUE.sql, *rules.arguments(rules.FILES_DUE, values)
        )
        versions = rules.VERSIONS_DUE
        arguments = _dataset_arguments(retention, tried=[], datasets=None, ahead=True)
        kinds["dataset_versions"].add(await db.fetch(versions.sql, *versions.args(**arguments)))
        names = await _application_names(db, kinds.values())
    return Report(at, kinds, names)


# -- a round ---------------------------------------------------------------------------------

_TRY_ROUND_LOCK = "SELECT pg_try_advisory_xact_lock($1)"


async def run_round(
    pool: asyncpg.Pool,
    store: ArtifactStore,
    retention: Retention,
    *,
    batch: int = 500,
    remove_versions: Callable[[str, list[int]], list[int]] = lake.remove_versions,
) -> Report | None:
    """Delete whatever retention says is due, make the day partitions ahead, and remove the
    dataset versions due from the lake; what it did, or None if another round is running."""
    async with pool.acquire() as holder, holder.transaction():
        # The lock lasts as long as this transaction, which waits idle while the round's
        # statements run on other connections: no server timeout may end it half-way.
        await holder.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
        if not await holder.fetchval(_TRY_ROUND_LOCK, _ROUND_LOCK):
            return None
        at: dt.datetime = await pool.fetchval("SELECT statement_timestamp()")
        problems: list[str] = []
        try:
            made = await add_partitions(pool)
        except asyncpg.LockNotAvailableError:
            made = 0
            problems.append(_BUSY.format(what="the days ahead were not all made"))
        kinds = await sweep(pool, store, retention, batch=batch, problems=problems)
        problems += await remove_dataset_versions(
            pool, retention, kinds["dataset_versions"], remove_versions
        )
        names = await _application_names(pool, kinds.values())
        finished_at: dt.datetime = await pool.fetchval("SELECT statement_timestamp()")
    done = Report(at, kinds, names, finished_at, made, problems)
    for kind, count in done.counts().items():
        RETENTION_DELETED.labels(kind).inc(count)
    return done


async def run_now(
    pool: asyncpg.Pool,
    store: ArtifactStore,
    retention: Retention,
    actor: Actor,
    *,
    remove_versions: Callable[[str, list[int]], list[int]] = lake.remove_versions,
) -> Report:
    """A round at once, someone's, audited; 409 ``retention_running`` while another runs."""
    done = await run_round(pool, store, retention, remove_versions=remove_versions)
    if done is None:
        raise Conflict(
            "retention_running",
            "a retention round is running now (a built-in worker's, or someone else's); "
            "try again when it has ended",
        )
    details = {"deleted": dict(done.counts()), "problems": done.problems}
    async with pool.acquire() as connection:
        await record(connection, actor, "retention.run", "retention", None, details)
    return done


async def add_partitions(pool: asyncpg.Pool, days_ahead: int = DAYS_AHEAD) -> int:
    """Make the day partitions from today to ``days_ahead`` days on; returns how many."""
    made = 0
    for table in PARTITIONED:
        made += await pool.fetchval(_ADD_PARTITIONS, table, days_ahead)
    return made


_ADD_PARTITIONS = """
SELECT count(*) FILTER (WHERE pipelogiq_add_day_partition($1, current_date + ahead))
FROM generate_series(0, $2 - 1) AS ahead
"""


# Making or dropping a day partition waits 2 s at most for its table (see migration 0011).
_BUSY = "{what}: a table was busy for 2 s; tried again next round"


async def sweep(
    pool: asyncpg.Pool,
    store: ArtifactStore,
    retention: Retention,
    *,
    batch: int = 500,
    problems: list[str] | None = None,
) -> dict[str, Tally]:
    """Delete the rows, day partitions and files retention says are due (all but dataset
    versions); returns what went, by kind. A table too busy to drop its old days is said in
    ``problems`` and the rest goes on (without ``problems``, it fails the sweep)."""
    values = retention.parameters()
    kinds = _tallies()
    for rule in rules.RULES:
        await _delete_due(pool, rule, values, batch, kinds[rule.kind])
    for table, days in _partitioned(retention):
        drop = rules.DROP_PARTITIONS
        try:
            dropped = [r[0] for r in await pool.fetch(drop.sql, *drop.args(table=table, days=days))]
        except asyncpg.LockNotAvailableError:
            if problems is None:
                raise
            problems.append(_BUSY.format(what=f"old days of {table} were not dropped"))
            continue
        kinds[f"{table}_partitions"].count += len(dropped)
        kinds[f"{table}_partitions"].items.extend(dropped)
    kinds["files"].count = await delete_files(pool, store, batch)
    return kinds


async def enforce(
    pool: asyncpg.Pool, store: ArtifactStore, retention: Retention, *, batch: int = 500
) -> Counter[str]:
    """:func:`sweep`, counted as the metrics count; returns only what is not zero."""
    return counts(await sweep(pool, store, retention, batch=batch))


async def _delete_due(
    pool: asyncpg.Pool, rule: rules.Rule, values: dict[str, Any], batch: int, tally: Tally
) -> None:
    """Run the rule's bounded DELETE until it deletes less than a batch."""
    size = max(1, batch // rule.batch_share)
    statement = rule.delete
    arguments = rules.arguments(statement, {**values, "batch": size})
    while tally.add(await pool.fetch(statement.sql, *arguments), rule.contents) >= size:
        pass


def _partitioned(retention: Retention) -> list[tuple[str, int]]:
    """The partitioned tables whose days are not kept for ever, with their days."""
    days = {"stage_logs": retention.logs_days, "worker_events": retention.workers_days}
    return [(table, days[table]) for table in PARTITIONED if days[table]]


async def delete_files(pool: asyncpg.Pool, store: ArtifactStore, batch: int = 500) -> int:
    """Delete the stored files of deleted artifacts; returns how many."""
    done = 0
    while keys := [r["storage_key"] for r in await pool.fetch(rules.FILES_TO_DELETE, batch)]:
        for key in keys:
            await store.delete(key)  # a file already gone is not an error
        await pool.execute(rules.FILES_DELETED, keys)
        done += len(keys)
        if len(keys) < batch:
            break
    return done


# -- dataset versions ------------------------------------------------------------------------


async def remove_dataset_versions(
    pool: asyncpg.Pool,
    retention: Retention,
    tally: Tally,
    remove_versions: Callable[[str, list[int]], list[int]] = lake.remove_versions,
) -> list[str]:
    """Remove the dataset versions due from the lake and record them removed (the catalog
    keeps their rows), adding them to ``tally``; returns what could not be done, by dataset.

    Each dataset is looked at once per round: one whose lake cannot be reached is tried
    again at the next round, not again and again in this one."""
    problems: list[str] = []
    tried: list[uuid.UUID] = []
    statement = rules.REMOVABLE_VERSIONS
    while True:
        arguments = _dataset_arguments(
            retention, tried=tried, datasets=DATASETS_PER_QUERY, ahead=False
        )
        doomed = await pool.fetch(statement.sql, *statement.args(**arguments))
        if not doomed:
            return problems
        for dataset in doomed:
            tried.append(dataset["dataset_id"])
            try:
                # Lance's cleanup lists and deletes files: off the event loop.
                gone = await asyncio.to_thread(
                    remove_versions, dataset["uri"], list(dataset["versions"])
                )
            except lake.LakeUnreachable as error:
                problems.append(str(error))
                continue
            status = await pool.execute(rules.RECORD_REMOVED, dataset["dataset_id"], gone)
            removed = int(status.rsplit(" ", 1)[1])
            tally.count += removed
            tally.applications[dataset["application_id"]] += removed


def _dataset_arguments(
    retention: Retention, *, tried: list[uuid.UUID], datasets: int | None, ahead: bool
) -> dict[str, Any]:
    return {
        "keep": retention.dataset_versions,
        "pipelines_days": retention.pipelines_days,
        "tried": tried,
        "datasets": datasets,
        "ahead": ahead,
    }


_NAMES = "SELECT id, name FROM applications WHERE id = ANY($1::uuid[])"


async def _application_names(
    db: asyncpg.Pool | asyncpg.Connection, tallies: Iterable[Tally]
) -> dict[uuid.UUID, str]:
    ids = {application for tally in tallies for application in tally.applications}
    return {row["id"]: row["name"] for row in await db.fetch(_NAMES, list(ids))}
