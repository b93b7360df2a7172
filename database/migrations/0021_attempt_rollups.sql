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
-- almost nothing, and costs the job path almost nothing to keep.
CREATE INDEX stage_attempts_txid ON stage_attempts USING brin (txid);

CREATE TABLE rollup_cursors (
    name      text PRIMARY KEY,
    -- Attempts of transactions before this one are folded.
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
