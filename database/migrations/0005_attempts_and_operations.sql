-- The history of every attempt, operators' reruns and skips, and what the dashboard's
-- queue and insight views read.

-- One row per attempt that has ended: a stage row only holds its current attempt.
CREATE TABLE stage_attempts (
    stage_id        uuid NOT NULL REFERENCES stages (id) ON DELETE CASCADE,
    attempt         integer NOT NULL,
    pipeline_id     uuid NOT NULL,
    application_id  uuid NOT NULL,
    -- Copied so that insights group attempts without joining the stages.
    stage_name      text NOT NULL,
    handler         text NOT NULL,
    job_id          uuid NOT NULL,
    worker_id       uuid,
    -- completed | failed | lease_lost (the worker vanished or stopped) | cancelled
    -- (the pipeline was cancelled, or an operator reran or skipped the stage meanwhile)
    outcome         text NOT NULL,
    -- Whether a failure was followed by a retry.
    retried         boolean NOT NULL DEFAULT false,
    error           jsonb,
    queued_at       timestamptz,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL,
    PRIMARY KEY (stage_id, attempt)
);
-- A late ack names an old job: "which attempt was that?"
CREATE UNIQUE INDEX stage_attempts_job ON stage_attempts (job_id);
CREATE INDEX stage_attempts_finished ON stage_attempts (application_id, finished_at);

-- An attempt ends when its stage leaves `running`, by whichever statement: the ack, the
-- timeout and lease sweeps, a stopping worker, a cancel, an operator's rerun or skip. The
-- trigger records it for all of them, so no transition can forget to. It fires once per
-- statement with the changed rows as transition tables: one INSERT for a batch of acks.
CREATE FUNCTION pipelogiq_record_attempts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stage_attempts (
        stage_id, attempt, pipeline_id, application_id, stage_name, handler, job_id, worker_id,
        outcome, retried, error, queued_at, started_at, finished_at)
    SELECT n.id, o.attempt, n.pipeline_id, n.application_id, n.name, n.handler, o.job_id,
           o.worker_id,
           CASE
               WHEN n.status = 'completed' THEN 'completed'
               WHEN n.status = 'queued' OR n.error->>'code' = 'lease_expired' THEN 'lease_lost'
               WHEN n.status IN ('failed', 'retry_scheduled') THEN 'failed'
               ELSE 'cancelled'
           END,
           n.status = 'retry_scheduled',
           CASE WHEN n.status IN ('failed', 'retry_scheduled') THEN n.error END,
           o.queued_at, o.started_at, coalesce(n.finished_at, now())
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    WHERE o.status = 'running' AND n.status <> 'running'
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER stages_record_attempts
    AFTER UPDATE ON stages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION pipelogiq_record_attempts();

-- Bumped by every operator action (rerun, skip) on the rows it resets. The engine's advance
-- reads a revision with the rows it decides on and changes a row only if it is unchanged, so
-- a decision taken on a snapshot from before the operator's action is dropped, not applied.
ALTER TABLE stages ADD COLUMN revision integer NOT NULL DEFAULT 0;
ALTER TABLE pipelines ADD COLUMN revision integer NOT NULL DEFAULT 0;

-- Queue depth and the oldest waiting job per handler.
CREATE INDEX stages_queued ON stages (application_id, handler, queued_at)
    WHERE status = 'queued';
