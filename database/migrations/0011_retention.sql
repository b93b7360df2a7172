-- Retention: the built-in worker deletes what has aged past its settings (see
-- controlplane/engine/retention.py). Stage logs and worker events, the tables that grow
-- fastest, become partitioned by day (UTC), so that an old day is dropped whole rather than
-- deleted row by row. The built-in worker makes each day's partition days ahead; rows of a day
-- that has none yet (no built-in worker ran for that long) land in the default partition, and
-- are moved into their day's partition when it is made.

ALTER TABLE stage_logs RENAME TO stage_logs_before_partitions;
ALTER INDEX stage_logs_stage RENAME TO stage_logs_before_partitions_stage;
ALTER TABLE stage_logs_before_partitions
    RENAME CONSTRAINT stage_logs_pkey TO stage_logs_before_partitions_pkey;
ALTER TABLE stage_logs_before_partitions
    RENAME CONSTRAINT stage_logs_stage_id_fkey TO stage_logs_before_partitions_stage_id_fkey;

CREATE TABLE stage_logs (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    stage_id    uuid NOT NULL REFERENCES stages (id) ON DELETE CASCADE,
    pipeline_id uuid NOT NULL,
    job_id      uuid,
    attempt     integer NOT NULL,
    level       text NOT NULL,
    message     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX stage_logs_stage ON stage_logs (stage_id, id);
CREATE TABLE stage_logs_default PARTITION OF stage_logs DEFAULT;

INSERT INTO stage_logs OVERRIDING SYSTEM VALUE
SELECT id, stage_id, pipeline_id, job_id, attempt, level, message, created_at
FROM stage_logs_before_partitions;
SELECT setval(pg_get_serial_sequence('stage_logs', 'id'), coalesce(max(id), 0) + 1, false)
FROM stage_logs;
DROP TABLE stage_logs_before_partitions;

ALTER TABLE worker_events RENAME TO worker_events_before_partitions;
ALTER INDEX worker_events_worker RENAME TO worker_events_before_partitions_worker;
ALTER TABLE worker_events_before_partitions
    RENAME CONSTRAINT worker_events_pkey TO worker_events_before_partitions_pkey;
ALTER TABLE worker_events_before_partitions
    RENAME CONSTRAINT worker_events_worker_id_fkey TO worker_events_before_partitions_worker_id_fkey;

CREATE TABLE worker_events (
    id              bigint GENERATED ALWAYS AS IDENTITY,
    worker_id       uuid NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
    application_id  uuid NOT NULL,
    kind            text NOT NULL,
    message         text NOT NULL DEFAULT '',
    data            jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX worker_events_worker ON worker_events (worker_id, id);
CREATE TABLE worker_events_default PARTITION OF worker_events DEFAULT;

INSERT INTO worker_events OVERRIDING SYSTEM VALUE
SELECT id, worker_id, application_id, kind, message, data, created_at
FROM worker_events_before_partitions;
SELECT setval(pg_get_serial_sequence('worker_events', 'id'), coalesce(max(id), 0) + 1, false)
FROM worker_events;
DROP TABLE worker_events_before_partitions;

-- Makes `parent`'s partition for one UTC day unless it exists; true when it made one. Built
-- apart and then attached, which locks the parent only against other schema changes, never
-- against inserts; a lock it cannot have within two seconds fails this call, not the job path.
CREATE FUNCTION pipelogiq_add_day_partition(parent text, day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    part text := parent || '_' || to_char(day, 'YYYYMMDD');
    first timestamptz := day::timestamp AT TIME ZONE 'UTC';
    after timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
    PERFORM set_config('lock_timeout', '2s', true);
    -- Two built-in workers may make the same day at once; the second finds it made.
    PERFORM pg_advisory_xact_lock(hashtext(part));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', part, parent);
    EXECUTE format(
        'WITH moved AS (DELETE FROM %I WHERE created_at >= $1 AND created_at < $2 RETURNING *)'
        ' INSERT INTO %I SELECT * FROM moved', parent || '_default', part)
        USING first, after;
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   parent, part, first, after);
    RETURN true;
END
$$;

-- Drops `parent`'s day partitions that end at or before `cutoff`; returns their names.
CREATE FUNCTION pipelogiq_drop_day_partitions(parent text, cutoff timestamptz)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    part text;
BEGIN
    PERFORM set_config('lock_timeout', '2s', true);
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = parent::regclass
          AND c.relname ~ ('^' || parent || '_[0-9]{8}$')
          AND (to_date(right(c.relname, 8), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC'
              <= cutoff
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %I', part);
        RETURN NEXT part;
    END LOOP;
END
$$;

-- Files of deleted artifacts, deleted from the store after the rows are gone: the rows and
-- this list change in one transaction, so no file is forgotten if a process dies between.
CREATE TABLE artifact_deletions (
    storage_key text PRIMARY KEY,
    queued_at   timestamptz NOT NULL DEFAULT now()
);

-- What retention looks rows up by, and what deleting a pipeline cascades to (without these,
-- each deleted pipeline would scan the whole of these tables).
CREATE INDEX approvals_pipeline ON approvals (pipeline_id);
CREATE INDEX artifacts_stage ON artifacts (stage_id);
CREATE INDEX schedule_fires_pipeline ON schedule_fires (pipeline_id) WHERE pipeline_id IS NOT NULL;
CREATE INDEX workers_last_heartbeat ON workers (last_heartbeat_at);
CREATE INDEX schedule_fires_fired ON schedule_fires USING brin (fired_at);
CREATE INDEX sessions_expires ON sessions (expires_at);
