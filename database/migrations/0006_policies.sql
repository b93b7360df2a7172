-- Action policies: per application, aimed at a handler or a pipeline name, enforced by the
-- engine. `retry` and `timeout` shape the stages submitted while they are active;
-- `concurrency` and `rate_limit` gate every claim and hold back what is over the limit.

CREATE TABLE policies (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id  uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    name            text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('retry', 'timeout', 'concurrency', 'rate_limit')),
    target_type     text NOT NULL CHECK (target_type IN ('handler', 'pipeline')),
    target          text NOT NULL,
    config          jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'paused', 'disabled')),
    -- rate_limit's state (GCRA): the time the bucket is next empty. A claim moves it on.
    rate_tat        timestamptz,
    created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (application_id, name)
);
-- One active policy of a kind per target: which one applies is never a question.
CREATE UNIQUE INDEX policies_one_active ON policies (application_id, kind, target_type, target)
    WHERE status = 'active';

-- A queued stage over a concurrency or rate limit is held back: out of the broker, named
-- here, until the policy has room and the built-in worker releases it.
ALTER TABLE stages ADD COLUMN held_by uuid;
-- Error codes a retry policy retries (NULL: any retryable failure).
ALTER TABLE stages ADD COLUMN retry_on text[];
CREATE INDEX stages_held ON stages (held_by, queued_at) WHERE held_by IS NOT NULL;
-- A pipeline-wide limit counts the running pipelines of that name.
CREATE INDEX pipelines_running_name ON pipelines (application_id, name) WHERE status = 'running';

-- The relay republishes queued stages nobody published; held stages are not its business.
DROP INDEX stages_unpublished;
CREATE INDEX stages_unpublished ON stages (queued_at)
    WHERE status = 'queued' AND published_at IS NULL AND held_by IS NULL;

-- A policy's trail (and any one thing's) in the audit log.
CREATE INDEX audit_log_target ON audit_log (target_type, target_id, id);
