"""What retention deletes, each rule written once.

A :class:`Rule` is one kind of row and a SELECT of those due now (``due``: their ``key`` and
``application_id``). From it come the two statements that use it: a round deletes a batch of
the due rows at a time (:attr:`Rule.delete`), and a preview counts them all
(:attr:`Rule.count`), so that what a preview says is what the round does, by construction.
Both answer per application, with what the rows hold (``contents``: a pipeline's stages,
attempts, log lines and artifacts, which go with it).

Parameters, by name: ``:pipelines_days``, ``:logs_days``, ``:workers_days``,
``:audit_days`` (0: kept for ever), ``:sessions_days`` (after expiry), ``:minute_rollup_days``
and ``:hour_rollup_days`` (0: kept for ever), and ``:batch`` for a deletion.

Rows that an earlier step of a round deletes with something else (the log lines of a
pipeline that goes, the events of a worker that goes) are not due under their own kind, so
that a preview counts each row once, under the kind the round deletes it with.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from database.named import Named

# The pipeline ``p`` finished longer ago than its retention.
PIPELINE_DUE = """(:pipelines_days > 0
    AND p.finished_at < now() - make_interval(days => :pipelines_days))"""

# The worker ``w`` has not been heard from for longer than its retention.
_WORKER_DUE = """(:workers_days > 0
    AND w.last_heartbeat_at < now() - make_interval(days => :workers_days))"""


@dataclass(frozen=True)
class Rule:
    kind: str
    table: str
    # The table's column that ``key`` is (ctid for tables without a key of their own).
    key: str
    # SELECT key, application_id (and any column ``order`` names) of the rows due now.
    due: str
    # What a batch is taken in order of, and how its rows are locked.
    order: str = ""
    lock: str = ""
    # A SELECT over ``{rows}`` (of ``due``) of key, application_id and the ``contents``.
    measure: str = "SELECT key, application_id FROM {rows}"
    contents: tuple[str, ...] = ()
    # More CTEs of the deletion, over the batch (``doomed``), each ending with a comma.
    also: str = ""
    # A batch of this kind is this part of the round's batch (rows that cascade to many).
    batch_share: int = 1

    def _tally(self, source: str) -> str:
        sums = "".join(f", sum(m.{c})::bigint AS {c}" for c in self.contents)
        return f"SELECT m.application_id, count(*) AS n{sums} FROM {source} GROUP BY 1"

    @cached_property
    def count(self) -> Named:
        """Every row due now, counted per application, deleting nothing."""
        measured = self.measure.format(rows="due")
        return Named(
            f"WITH due AS ({self.due}), measured AS ({measured})\n" + self._tally("measured m")
        )

    @cached_property
    def delete(self) -> Named:
        """Deletes up to ``:batch`` rows due now; what went, counted per application."""
        measured = self.measure.format(rows="doomed")
        return Named(
            f"WITH doomed AS ({self.due} {self.order} LIMIT :batch {self.lock}),\n"
            f"measured AS ({measured}),\n{self.also}\n"
            f"gone AS (DELETE FROM {self.table} t USING doomed d WHERE t.{self.key} = d.key"
            " RETURNING d.key)\n" + self._tally("gone g JOIN measured m ON m.key = g.key")
        )


def arguments(statement: Named, values: dict[str, Any]) -> tuple[Any, ...]:
    """The statement's arguments out of ``values`` (which may hold more)."""
    return statement.args(**{name: values[name] for name in statement.names})


# The files of the artifacts of the pipelines in ``{rows}``.
_FILES_OF = "SELECT a.storage_key FROM artifacts a WHERE a.pipeline_id IN (SELECT key FROM {rows})"

# A finished pipeline goes with everything of it (stages, logs, attempts, context, approvals,
# artifacts: all cascade); the files of its artifacts are listed for deletion in the same
# statement, so that none is forgotten. Smaller batches keep each statement short.
PIPELINES = Rule(
    "pipelines",
    "pipelines",
    "id",
    f"SELECT p.id AS key, p.application_id, p.finished_at FROM pipelines p WHERE {PIPELINE_DUE}",
    order="ORDER BY finished_at",
    lock="FOR UPDATE SKIP LOCKED",
    # Set-wise, not a count per pipeline: a preview of a large backlog joins each table once.
    measure="""SELECT r.key, r.application_id, coalesce(s.n, 0) AS stages,
    coalesce(t.n, 0) AS attempts, coalesce(l.n, 0) AS log_lines, coalesce(a.n, 0) AS artifacts
FROM {rows} r
LEFT JOIN (SELECT s.pipeline_id, count(*) AS n FROM stages s
           WHERE s.pipeline_id IN (SELECT key FROM {rows}) GROUP BY 1) s ON s.pipeline_id = r.key
LEFT JOIN (SELECT s.pipeline_id, count(*) AS n FROM stage_attempts t
           JOIN stages s ON s.id = t.stage_id
           WHERE s.pipeline_id IN (SELECT key FROM {rows}) GROUP BY 1) t ON t.pipeline_id = r.key
LEFT JOIN (SELECT s.pipeline_id, count(*) AS n FROM stage_logs l
           JOIN stages s ON s.id = l.stage_id
           WHERE s.pipeline_id IN (SELECT key FROM {rows}) GROUP BY 1) l ON l.pipeline_id = r.key
LEFT JOIN (SELECT a.pipeline_id, count(*) AS n FROM artifacts a
           WHERE a.pipeline_id IN (SELECT key FROM {rows}) GROUP BY 1) a
       ON a.pipeline_id = r.key""",
    contents=("stages", "attempts", "log_lines", "artifacts"),
    also=f"""files AS (
    INSERT INTO artifact_deletions (storage_key) {_FILES_OF.format(rows="doomed")}
    ON CONFLICT DO NOTHING
),""",
    batch_share=10,
)

# Fires are history of their schedule; they go with the pipelines they started.
SCHEDULE_FIRES = Rule(
    "schedule_fires",
    "schedule_fires",
    "id",
    """SELECT f.id AS key, s.application_id FROM schedule_fires f
JOIN schedules s ON s.id = f.schedule_id
WHERE :pipelines_days > 0 AND f.fired_at < now() - make_interval(days => :pipelines_days)""",
)

# A worker not heard from for that long is gone; its events go with it.
WORKERS = Rule(
    "workers",
    "workers",
    "id",
    f"SELECT w.id AS key, w.application_id FROM workers w WHERE {_WORKER_DUE}",
    lock="FOR UPDATE SKIP LOCKED",
    measure="""SELECT r.key, r.application_id,
    (SELECT count(*) FROM worker_events e WHERE e.worker_id = r.key) AS events
FROM {rows} r""",
    contents=("events",),
)

AUDIT = Rule(
    "audit",
    "audit_log",
    "id",
    """SELECT a.id AS key, NULL::uuid AS application_id, a.at FROM audit_log a
WHERE :audit_days > 0 AND a.at < now() - make_interval(days => :audit_days)""",
    order="ORDER BY at",
)

# Sessions end by expiry; a day after it nobody can refresh them, so they are history.
SESSIONS = Rule(
    "sessions",
    "sessions",
    "id",
    """SELECT s.id AS key, NULL::uuid AS application_id FROM sessions s
WHERE s.expires_at < now() - make_interval(days => :sessions_days)""",
)

# Old rows that landed in a default partition (before their day had a partition); those of
# a pipeline or worker that goes are deleted with it.
STAGE_LOG_ROWS = Rule(
    "stage_logs",
    "stage_logs_default",
    "id",
    f"""SELECT l.id AS key, p.application_id FROM stage_logs_default l
LEFT JOIN pipelines p ON p.id = l.pipeline_id
WHERE :logs_days > 0 AND l.created_at < now() - make_interval(days => :logs_days)
  AND NOT coalesce({PIPELINE_DUE}, false)""",
)

WORKER_EVENT_ROWS = Rule(
    "worker_events",
    "worker_events_default",
    "id",
    f"""SELECT e.id AS key, e.application_id FROM worker_events_default e
LEFT JOIN workers w ON w.id = e.worker_id
WHERE :workers_days > 0 AND e.created_at < now() - make_interval(days => :workers_days)
  AND NOT coalesce({_WORKER_DUE}, false)""",
)

# Minute rollups serve the edges of recent ranges, hour rollups live as long as the pipelines
# (at least as long as the longest range insights read); none go while pipelines are kept
# for ever. Finishes are folded within seconds; those past the minute rollups are of no more
# use, once folded.
ROLLUP_TABLES = (
    "attempt_rollups",
    "duration_rollups",
    "error_rollups",
    "pipeline_rollups",
    "run_rollups",
)
ROLLUPS = (
    *(
        Rule(
            "rollups",
            table,
            "ctid",
            f"""SELECT r.ctid AS key, r.application_id FROM {table} r
WHERE :hour_rollup_days > 0
  AND ((r.grain = 'minute' AND r.at < now() - make_interval(days => :minute_rollup_days))
    OR (r.grain = 'hour' AND r.at < now() - make_interval(days => :hour_rollup_days)))""",
        )
        for table in ROLLUP_TABLES
    ),
    Rule(
        "rollups",
        "pipeline_finishes",
        "ctid",
        """SELECT f.ctid AS key, f.application_id FROM pipeline_finishes f
WHERE :hour_rollup_days > 0
  AND f.finished_at < now() - make_interval(days => :minute_rollup_days)
  AND f.txid < (SELECT position FROM rollup_cursors WHERE name = 'attempts')""",
    ),
)

# In the order a round deletes them: what cascades first, so that the later rules find
# what is left.
RULES = (
    PIPELINES,
    SCHEDULE_FIRES,
    WORKERS,
    AUDIT,
    SESSIONS,
    STAGE_LOG_ROWS,
    WORKER_EVENT_ROWS,
    *ROLLUPS,
)

# -- files ------------------------------------------------------------------------------

# The files waiting for deletion, and those of the pipelines due, which a round lists when it
# deletes them.
FILES_DUE = Named(f"""
SELECT count(*) FROM (
    SELECT storage_key FROM artifact_deletions
    UNION
    {_FILES_OF.format(rows=f"(SELECT p.id AS key FROM pipelines p WHERE {PIPELINE_DUE}) due")}
) f
""")

FILES_TO_DELETE = "SELECT storage_key FROM artifact_deletions ORDER BY queued_at LIMIT $1"

FILES_DELETED = "DELETE FROM artifact_deletions WHERE storage_key = ANY($1)"

# -- day partitions ---------------------------------------------------------------------

# Days older than their retention, whole (see migration 0023).
_PARTITION_CUTOFF = "date_trunc('day', now() - make_interval(days => :days))"
PARTITIONS_DUE = Named(f"SELECT pipelogiq_day_partitions_due(:table, {_PARTITION_CUTOFF})")
DROP_PARTITIONS = Named(f"SELECT pipelogiq_drop_day_partitions(:table, {_PARTITION_CUTOFF})")

# -- dataset versions -------------------------------------------------------------------

# The pipeline ``{id}`` is kept: there is one, and it is not among those due when ``:ahead``
# (a preview: the round deletes the pipelines due before it looks at the lake).
_KEPT = (
    """({id} IS NOT NULL AND NOT (:ahead AND {id} IN (
    SELECT p.id FROM pipelines p WHERE """
    + PIPELINE_DUE
    + ")))"
)

# An application keeps the newest N versions of each dataset (its own N, or :keep; 0 keeps
# all), and any version a kept pipeline wrote (the writer's pipeline_id is set to NULL when
# retention deletes it) or read, to write a dataset or otherwise (the lineage a stage's
# output declares). The others, per dataset, up to :datasets datasets (NULL: all) not among
# :tried, in a random order so that datasets whose cleanup keeps failing do not hold up the
# others.
_REMOVABLE = f"""
WITH ranked AS (
    SELECT v.dataset_id, v.version, v.pipeline_id, d.uri, d.application_id,
           coalesce(a.retain_dataset_versions, :keep) AS keep,
           row_number() OVER (PARTITION BY v.dataset_id ORDER BY v.version DESC) AS rank
    FROM dataset_versions v
    JOIN datasets d ON d.id = v.dataset_id
    JOIN applications a ON a.id = d.application_id
    WHERE v.removed_at IS NULL AND coalesce(a.retain_dataset_versions, :keep) > 0
)
SELECT r.dataset_id, r.uri, r.application_id, array_agg(r.version ORDER BY r.version) AS versions
FROM ranked r
WHERE r.rank > r.keep AND NOT {_KEPT.format(id="r.pipeline_id")}
  AND r.dataset_id <> ALL(:tried::uuid[])
  AND NOT EXISTS (
      SELECT 1 FROM dataset_versions reader
      JOIN datasets rd ON rd.id = reader.dataset_id AND rd.application_id = r.application_id
      WHERE {_KEPT.format(id="reader.pipeline_id")}
        AND reader.reads @> jsonb_build_array(
                jsonb_build_object('uri', r.uri, 'version', r.version)))
  AND NOT EXISTS (
      SELECT 1 FROM stages s
      WHERE s.application_id = r.application_id AND s.output IS NOT NULL
        AND {_KEPT.format(id="s.pipeline_id")}
        AND s.output @> jsonb_build_object('lineage', jsonb_build_object('reads',
                jsonb_build_array(jsonb_build_object('uri', r.uri, 'version', r.version)))))
GROUP BY r.dataset_id, r.uri, r.application_id
ORDER BY random()
LIMIT :datasets
"""
REMOVABLE_VERSIONS = Named(_REMOVABLE)

# Every version due, counted per application.
VERSIONS_DUE = Named(f"""
SELECT application_id, sum(cardinality(versions))::bigint AS n
FROM ({_REMOVABLE}) due GROUP BY application_id
""")

# Only versions not recorded as removed yet: two rounds finishing the same cleanup record it
# once.
RECORD_REMOVED = """
UPDATE dataset_versions SET removed_at = now()
WHERE dataset_id = $1 AND version = ANY($2::bigint[]) AND removed_at IS NULL
"""
