-- The dataset catalog: every dataset version a job wrote, registered with the job's ack.
-- The data stays in the lake; this is what the control plane knows of it.

-- A dataset is a place in the lake (its URI), per application. Each commit there is a
-- version; rerunning a stage that writes the same URI adds a version, not a dataset.
CREATE TABLE datasets (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id   uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    uri              text NOT NULL,
    name             text NOT NULL,
    layer            text CHECK (layer IN ('bronze', 'silver', 'gold', 'quarantine')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_written_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (application_id, uri)
);
CREATE INDEX datasets_listing ON datasets (application_id, last_written_at DESC);

CREATE TABLE dataset_versions (
    dataset_id     uuid NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    version        bigint NOT NULL CHECK (version >= 0),
    rows           bigint NOT NULL CHECK (rows >= 0),
    bytes          bigint CHECK (bytes >= 0),
    -- [{name, type}] in the columns' order.
    schema         jsonb NOT NULL,
    -- [{uri, version?}]: the dataset versions (and files) the writing job read.
    reads          jsonb NOT NULL DEFAULT '[]',
    -- The writer. Names are kept too: the pipeline may be removed by retention before the
    -- version is.
    pipeline_id    uuid REFERENCES pipelines (id) ON DELETE SET NULL,
    stage_id       uuid REFERENCES stages (id) ON DELETE SET NULL,
    job_id         uuid,
    attempt        integer,
    pipeline_name  text,
    stage_name     text,
    written_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset_id, version)
);
-- Downstream datasets: versions whose reads contain a URI.
CREATE INDEX dataset_versions_reads ON dataset_versions USING gin (reads jsonb_path_ops);
-- Removing a pipeline or stage (retention) finds the versions it wrote by these.
CREATE INDEX dataset_versions_pipeline ON dataset_versions (pipeline_id);
CREATE INDEX dataset_versions_stage ON dataset_versions (stage_id);

-- Retention for the lake: each application keeps the newest N versions of each dataset (NULL:
-- PIPELOGIQ_RETAIN_DATASET_VERSIONS), and any version a retained pipeline wrote or read. The
-- built-in worker removes the others' files with Lance's cleanup and records it here.
ALTER TABLE applications ADD COLUMN retain_dataset_versions integer
    CHECK (retain_dataset_versions >= 1);
ALTER TABLE dataset_versions ADD COLUMN removed_at timestamptz;
