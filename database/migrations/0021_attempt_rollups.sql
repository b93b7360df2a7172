-- Rollups of the attempts that ended, kept up to date by the built-in worker: what insights,
-- the overview and risk read instead of every attempt in a range.
--
-- Each attempt carries the id of the transaction that wrote it. The built-in worker folds
-- the attempts of every transaction older than the oldest still running (its snapshot's
-- xmin: no earlier transaction can still commit), and moves a cursor past them, in one
-- transaction: each attempt is folded exactly once, however many built-in workers run and
-- whatever order transactions commit in. Reads add the few attempts past the cursor.

ALTER TABLE stage_attempts
    ADD COLUMN txid bigint NOT NULL DEFAULT (pg_current_xact_id()::text)::bigint;
-- Rows arrive in transaction order, near enough: a BRIN index finds the unfolded tail for
-- almost nothing, and costs the job path almost nothing to keep. Each range of pages is
-- summarized as soon as the next one fills (autosummarize): an unsummarized range is read
-- by every query, and without it only vacuum would summarize them.
CREATE INDEX stage_attempts_txid ON stage_attempts USING brin (txid)
    WITH (autosummarize = on);

-- Pipelines as they finish (completed, failed, cancelled; again after a rerun reopened one),
-- written by a trigger whatever statement finishes them, and folded like the attempts.
CREATE TABLE pipeline_finishes (
    pipeline_id     uuid NOT NULL,
    application_id  uuid NOT NULL,
    status          text NOT NULL,
    finished_at     timestamptz NOT NULL,
    txid            bigint NOT NULL DEFAULT (pg_current_xact_id()::text)::bigint
);
CREATE INDEX pipeline_finishes_txid ON pipeline_finishes USING brin (txid)
    WITH (autosummarize = on);

CREATE FUNCTION pipelogiq_record_finish() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pipeline_finishes (pipeline_id, application_id, status, finished_at)
    VALUES (NEW.id, NEW.application_id, NEW.status, coalesce(NEW.finished_at, now()));
    RETURN NULL;
END
$$;

CREATE TRIGGER pipelines_record_finish
    AFTER UPDATE OF status ON pipelines
    FOR EACH ROW
    WHEN (OLD.status = 'running' AND NEW.status <> 'running')
    EXECUTE FUNCTION pipelogiq_record_finish();

CREATE TABLE pipeline_rollups (
    grain           text NOT NULL,
    at              timestamptz NOT NULL,
    application_id  uuid NOT NULL,
    status          text NOT NULL,
    n               bigint NOT NULL,
    PRIMARY KEY (grain, at, application_id, status)
);

CREATE TABLE rollup_cursors (
    name      text PRIMARY KEY,
    -- Attempts and pipeline finishes of transactions before this one are folded.
    position  bigint NOT NULL
);
INSERT INTO rollup_cursors (name, position) VALUES ('attempts', 0);

-- Per minute and per hour (grain), per application, pipeline name, stage and handler.
CREATE TABLE attempt_rollups (
    grain            text NOT NULL CHECK (grain IN ('minute', 'hour')),
    at               timestamptz NOT NULL,
    application_id   uuid NOT NULL,
    pipeline_name    text NOT NULL,
    stage_name       text NOT NULL,
    handler          text NOT NULL,
    attempts         bigint NOT NULL,
    completed        bigint NOT NULL,
    failed           bigint NOT NULL,
    failed_for_good  bigint NOT NULL,
    retried          bigint NOT NULL,
    lease_lost       bigint NOT NULL,
    -- Of the attempts a handler finished (completed or failed).
    duration_sum     double precision NOT NULL,
    PRIMARY KEY (grain, at, application_id, pipeline_name, stage_name, handler)
);
CREATE INDEX attempt_rollups_application ON attempt_rollups (application_id, grain, at);

-- How many finished attempts of a stage (of any pipeline) took how long: bucket b holds
-- durations in [0.001 * 1.1^b, 0.001 * 1.1^(b+1)) seconds (b from 0 to 220; 0 also holds anything
-- shorter). Quantiles read from it are within 5% of the exact ones.
CREATE TABLE duration_rollups (
    grain            text NOT NULL,
    at               timestamptz NOT NULL,
    application_id   uuid NOT NULL,
    stage_name       text NOT NULL,
    handler          text NOT NULL,
    bucket           smallint NOT NULL,
    n                bigint NOT NULL,
    PRIMARY KEY (grain, at, application_id, stage_name, handler, bucket)
);

-- Failures by code and message (its first 300 characters).
CREATE TABLE error_rollups (
    grain            text NOT NULL,
    at               timestamptz NOT NULL,
    application_id   uuid NOT NULL,
    handler          text NOT NULL,
    stage_name       text NOT NULL,
    code             text NOT NULL,
    message          text NOT NULL,
    n                bigint NOT NULL,
    last_seen_at     timestamptz NOT NULL,
    PRIMARY KEY (grain, at, application_id, handler, stage_name, code, message)
);

-- The overview's activity feed: the pipelines changed last. Without it, each view sorted
-- every pipeline (120 ms with 333,000 of them); a pipeline's row changes twice (created,
-- finished), so the job path pays one index entry more at each.
CREATE INDEX pipelines_updated ON pipelines (updated_at DESC, id DESC);
