-- Approvals: a stage (the `approval` template) waits for a person to approve or reject it
-- before a deadline. The row outlives the job that opened it: a job that replaces one whose
-- worker vanished finds it again, decided or not, with the same deadline.

CREATE TABLE approvals (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id  uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    pipeline_id     uuid NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    stage_id        uuid NOT NULL REFERENCES stages (id) ON DELETE CASCADE,
    message         text NOT NULL,
    details         jsonb,
    deadline        timestamptz NOT NULL,
    -- Past the deadline a pending approval reads as expired; it is never stored as such.
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    -- Kept as it was when they decided, should the user go.
    decided_by_name text,
    comment         text,
    decided_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
-- A stage's approvals, newest first: the job looks for the one it may reuse.
CREATE INDEX approvals_stage ON approvals (stage_id, created_at DESC);
-- What waits for people: the dashboard's list.
CREATE INDEX approvals_pending ON approvals (created_at) WHERE status = 'pending';
