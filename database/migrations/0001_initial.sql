-- The whole job path: applications and their keys, pipelines as DAGs of stages, and the
-- workers that run them. Every stage transition is one guarded UPDATE in the engine; the
-- partial indexes below are shaped after those statements' WHERE clauses, so each claim and
-- sweep touches only the rows it is looking for.

CREATE TABLE applications (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Part of every queue name ({application}.stage.{handler}), so it never changes.
    name        text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id  uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    -- The first characters of the key, kept to tell keys apart in listings.
    prefix          text NOT NULL,
    -- SHA-256 of the whole key. Keys are 256-bit random tokens, so a fast hash is the right
    -- one here (a slow password hash would guard nothing and cost every request).
    key_hash        bytea NOT NULL UNIQUE,
    name            text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);

CREATE TABLE pipelines (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id   uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    name             text NOT NULL,
    status           text NOT NULL DEFAULT 'running'
                     CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    keywords         text[] NOT NULL DEFAULT '{}',
    idempotency_key  text,
    -- Hash of the request that used the key: the same key with a different request is a
    -- client bug, answered with 409 rather than a silent replay of another pipeline.
    idempotency_hash bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    UNIQUE (application_id, idempotency_key)
);
CREATE INDEX pipelines_application_created ON pipelines (application_id, created_at DESC);

CREATE TABLE stages (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    pipeline_id            uuid NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    -- Copied from the pipeline: queue names and ownership checks need it on every claim/ack.
    application_id         uuid NOT NULL,
    position               integer NOT NULL,
    name                   text NOT NULL,
    handler                text NOT NULL,
    status                 text NOT NULL DEFAULT 'not_started'
                           CHECK (status IN ('not_started', 'queued', 'running', 'completed',
                                             'failed', 'retry_scheduled', 'skipped', 'cancelled')),
    input                  jsonb,
    output                 jsonb,
    error                  jsonb,
    -- How many times the stage was handed to a worker. A broker message names the attempt
    -- it was published for; a message for any other attempt is stale and claims nothing.
    attempt                integer NOT NULL DEFAULT 0,
    failures               integer NOT NULL DEFAULT 0,
    lease_expiries         integer NOT NULL DEFAULT 0,
    max_retries            integer NOT NULL DEFAULT 0,
    retry_backoff          text NOT NULL DEFAULT 'exponential'
                           CHECK (retry_backoff IN ('fixed', 'exponential')),
    retry_backoff_seconds  double precision NOT NULL DEFAULT 1,
    retry_backoff_max_seconds double precision NOT NULL DEFAULT 300,
    timeout_seconds        integer,
    job_id                 uuid,
    worker_id              uuid,
    lease_expires_at       timestamptz,
    deadline_at            timestamptz,
    retry_at               timestamptz,
    queued_at              timestamptz,
    published_at           timestamptz,
    started_at             timestamptz,
    finished_at            timestamptz,
    -- Set once the consequences of a finished stage (dependents queued, pipeline status)
    -- are applied. A finished stage left unadvanced is picked up by a sweep.
    advanced_at            timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pipeline_id, name)
);
-- Every job changes its stage row several times: vacuum and analyse it more eagerly than the
-- defaults (20% / 10% of the table), so dead rows and stale statistics do not pile up.
ALTER TABLE stages SET (autovacuum_vacuum_scale_factor = 0.05,
                        autovacuum_analyze_scale_factor = 0.02);
CREATE INDEX stages_pipeline ON stages (pipeline_id, position);
CREATE UNIQUE INDEX stages_job ON stages (job_id) WHERE job_id IS NOT NULL;
-- Sweeps: each matches one watchdog statement.
CREATE INDEX stages_unpublished ON stages (queued_at)
    WHERE status = 'queued' AND published_at IS NULL;
CREATE INDEX stages_running_lease ON stages (lease_expires_at) WHERE status = 'running';
CREATE INDEX stages_running_deadline ON stages (deadline_at)
    WHERE status = 'running' AND deadline_at IS NOT NULL;
CREATE INDEX stages_retry_due ON stages (retry_at) WHERE status = 'retry_scheduled';
CREATE INDEX stages_unadvanced ON stages (finished_at)
    WHERE advanced_at IS NULL AND status IN ('completed', 'failed', 'skipped', 'cancelled');

CREATE TABLE stage_dependencies (
    stage_id       uuid NOT NULL REFERENCES stages (id) ON DELETE CASCADE,
    depends_on_id  uuid NOT NULL REFERENCES stages (id) ON DELETE CASCADE,
    PRIMARY KEY (stage_id, depends_on_id)
);
-- "Which stages wait on this one?" is asked each time a stage finishes.
CREATE INDEX stage_dependencies_reverse ON stage_dependencies (depends_on_id);

CREATE TABLE context_items (
    pipeline_id  uuid NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    key          text NOT NULL,
    value        jsonb NOT NULL,
    stage_id     uuid,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pipeline_id, key)
);

CREATE TABLE stage_logs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stage_id    uuid NOT NULL REFERENCES stages (id) ON DELETE CASCADE,
    pipeline_id uuid NOT NULL,
    job_id      uuid,
    attempt     integer NOT NULL,
    level       text NOT NULL,
    message     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stage_logs_stage ON stage_logs (stage_id, id);

CREATE TABLE workers (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id     uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    name               text NOT NULL,
    instance_id        text,
    version            text,
    host_name          text,
    pid                integer,
    handlers           text[] NOT NULL DEFAULT '{}',
    metadata           jsonb NOT NULL DEFAULT '{}',
    state              text NOT NULL DEFAULT 'online'
                       CHECK (state IN ('online', 'draining', 'offline', 'stopped')),
    metrics            jsonb,
    started_at         timestamptz NOT NULL DEFAULT now(),
    last_heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    stopped_at         timestamptz
);
CREATE INDEX workers_application ON workers (application_id, started_at DESC);
CREATE INDEX workers_heartbeat ON workers (last_heartbeat_at) WHERE state IN ('online', 'draining');

CREATE TABLE worker_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    worker_id       uuid NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
    application_id  uuid NOT NULL,
    kind            text NOT NULL,
    message         text NOT NULL DEFAULT '',
    data            jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX worker_events_worker ON worker_events (worker_id, id);

-- The wait before retry number `failures` (1 for the first retry). Exponential backoff doubles
-- from `base` up to `cap` and takes "equal jitter" (a random 50-100% of that), so that stages
-- failing together do not all come back at the same instant.
CREATE FUNCTION pipelogiq_retry_delay(
    backoff text, base double precision, cap double precision, failures integer
) RETURNS interval LANGUAGE sql VOLATILE AS $$
    SELECT make_interval(secs => CASE
        WHEN backoff = 'fixed' THEN base
        ELSE least(cap, base * power(2, greatest(failures - 1, 0))) * (0.5 + random() / 2)
    END)
$$;
