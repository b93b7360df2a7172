-- A quarantine version names the dataset its rows were kept out of: released rows go there.
ALTER TABLE dataset_versions ADD COLUMN checks text;

-- Quarantine review: what a person decided for each row of a quarantine dataset version.
-- A row is its position in that version (versions never change). Released rows are appended
-- to the checked dataset by a `dataset.release` pipeline; discarded rows stay where they are,
-- decided. The audit log holds who decided what, too.
CREATE TABLE quarantine_decisions (
    dataset_id      uuid NOT NULL,
    version         bigint NOT NULL,
    row_number      bigint NOT NULL CHECK (row_number >= 0),
    action          text NOT NULL CHECK (action IN ('release', 'discard')),
    -- The columns a person fixed before releasing ({column: value}); NULL: as it was.
    fixed           jsonb,
    -- The decisions taken together; a release's pipeline has the idempotency key
    -- 'quarantine.release:<batch_id>'.
    batch_id        uuid NOT NULL,
    -- The dataset released rows go to (the one the same quality job wrote).
    target_id       uuid REFERENCES datasets (id) ON DELETE SET NULL,
    note            text,
    decided_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    decided_by_name text NOT NULL,
    decided_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset_id, version, row_number),
    FOREIGN KEY (dataset_id, version) REFERENCES dataset_versions (dataset_id, version)
        ON DELETE CASCADE
);
CREATE INDEX quarantine_decisions_batch ON quarantine_decisions (batch_id);
