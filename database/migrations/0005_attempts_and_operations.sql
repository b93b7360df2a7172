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
-- Insights read attempts by the time they ended. Rows arrive in that order, so a BRIN index
-- finds a range for almost nothing, and costs the job path almost nothing to keep.
CREATE INDEX stage_attempts_finished ON stage_attempts USING brin (finished_at);

-- An attempt ends when its stage leaves `running`, by whichever statement: the ack, the
-- timeout and lease sweeps, a stopping worker, a cancel, an operator's rerun or skip. The
-- trigger records it for all of them, so no transition can forget to. Its WHEN clause is
-- checked without calling the function, so the job path's other updates (claims, lease
-- extensions, publish records) do not pay for it.
CREATE FUNCTION pipelogiq_record_attempt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stage_attempts (
        stage_id, attempt, pipeline_id, application_id, stage_name, handler, job_id, worker_id,
        outcome, retried, error, queued_at, started_at, finished_at)
    VALUES (
        NEW.id, OLD.attempt, NEW.pipeline_id, NEW.application_id, NEW.name, NEW.handler,
        OLD.job_id, OLD.worker_id,
        CASE
            WHEN NEW.status = 'completed' THEN 'completed'
            WHEN NEW.status = 'queued' OR NEW.error->>'code' = 'lease_expired' THEN 'lease_lost'
            WHEN NEW.status IN ('failed', 'retry_scheduled') THEN 'failed'
            ELSE 'cancelled'
        END,
        NEW.status = 'retry_scheduled',
        CASE WHEN NEW.status IN ('failed', 'retry_scheduled') THEN NEW.error END,
        OLD.queued_at, OLD.started_at, coalesce(NEW.finished_at, now()))
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER stages_record_attempt
    AFTER UPDATE OF status ON stages
    FOR EACH ROW
    WHEN (OLD.status = 'running' AND NEW.status <> 'running')
    EXECUTE FUNCTION pipelogiq_record_attempt();

-- Bumped by every operator action (rerun, skip) on the rows it resets. The engine's advance
-- reads a revision with the rows it decides on and changes a row only if it is unchanged, so
-- a decision taken on a snapshot from before the operator's action is dropped, not applied.
ALTER TABLE stages ADD COLUMN revision integer NOT NULL DEFAULT 0;
ALTER TABLE pipelines ADD COLUMN revision integer NOT NULL DEFAULT 0;

-- Queue depth and the oldest waiting job per handler. The predicate names queued_at (always
-- set on a queued stage) so that only queries that say so can use this index: with
-- `status = 'queued'` alone, the claim's planner took it for a scan of the whole queue
-- instead of one primary-key lookup per job, and throughput halved under a backlog.
CREATE INDEX stages_queued ON stages (application_id, handler, queued_at)
    WHERE status = 'queued' AND queued_at IS NOT NULL;
