-- Artifacts: files a job attaches to its stage's result (a report, a plot, a sample). The
-- bytes live in the artifact store (the data dir, or an S3-compatible bucket); this is what
-- the control plane knows of them.

CREATE TABLE artifacts (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id  uuid NOT NULL,
    pipeline_id     uuid NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    stage_id        uuid NOT NULL REFERENCES stages (id) ON DELETE CASCADE,
    -- The job (attempt) that attached it.
    job_id          uuid NOT NULL,
    attempt         integer NOT NULL,
    name            text NOT NULL,
    content_type    text NOT NULL,
    size            bigint NOT NULL,
    sha256          text NOT NULL,
    -- Where the store keeps the bytes.
    storage_key     text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Sending a file again (an upload retried after a lost answer) finds the first.
    UNIQUE (job_id, name)
);
CREATE INDEX artifacts_pipeline ON artifacts (pipeline_id, created_at);
