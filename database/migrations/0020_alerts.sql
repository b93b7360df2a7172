-- Alerts: rules an application sets on what happens to its pipelines, stages, queues,
-- workers and schedules; the alerts they open, once per rule and subject; and the
-- notifications of each alert's transitions to the application's channels.

-- Where notifications go. What is secret (a webhook's signing secret, a Slack URL, an SMTP
-- password) is sealed like a connection's password (AES-256-GCM under
-- PIPELOGIQ_CONNECTION_KEY, bound to the channel's id) and never read back by any API.
CREATE TABLE alert_channels (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id         uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    name                   text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$'),
    type                   text NOT NULL CHECK (type IN ('webhook', 'slack', 'email')),
    -- What is not secret, as given (a webhook's URL, an SMTP server and its recipients).
    config                 jsonb NOT NULL DEFAULT '{}',
    sealed_secret          bytea,
    -- Messages a minute; the rest of a burst goes out as one digest when the minute is up.
    rate_limit_per_minute  integer NOT NULL DEFAULT 10 CHECK (rate_limit_per_minute BETWEEN 1 AND 1000),
    window_started_at      timestamptz,
    sent_in_window         integer NOT NULL DEFAULT 0,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (application_id, name)
);

CREATE TABLE alert_rules (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id  uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_ .-]{0,99}$'),
    -- {"type": "pipeline_failed", ...}: what the rule watches, with its own settings.
    condition       jsonb NOT NULL,
    condition_type  text NOT NULL,
    severity        text NOT NULL DEFAULT 'warning' CHECK (severity IN ('info', 'warning', 'critical')),
    channel_ids     uuid[] NOT NULL DEFAULT '{}',
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    -- Since when it has been active: what happened before (or while it was paused) opens
    -- nothing when it is resumed.
    active_since    timestamptz NOT NULL DEFAULT now(),
    created_by      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (application_id, name)
);
CREATE INDEX alert_rules_active ON alert_rules (condition_type) WHERE status = 'active';

CREATE TABLE alerts (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id   uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    -- A deleted rule's alerts stay, as history, with its name.
    rule_id          uuid REFERENCES alert_rules (id) ON DELETE SET NULL,
    rule_name        text NOT NULL,
    condition_type   text NOT NULL,
    severity         text NOT NULL,
    -- What the alert is about: a pipeline name, a stage of one, a handler, a worker...
    subject_kind     text NOT NULL,
    subject_key      text NOT NULL,
    subject_name     text NOT NULL,
    status           text NOT NULL DEFAULT 'firing'
                     CHECK (status IN ('firing', 'acknowledged', 'resolved')),
    summary          text NOT NULL,
    details          jsonb NOT NULL DEFAULT '{}',
    -- How many times the condition was met while the alert was open.
    occurrences      integer NOT NULL DEFAULT 1,
    opened_at        timestamptz NOT NULL DEFAULT now(),
    last_seen_at     timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    resolved_at      timestamptz,
    -- NULL: the condition cleared; else who resolved it by hand.
    resolved_by      text
);
-- Opened once per rule and subject: a second open while one is unresolved counts instead.
CREATE UNIQUE INDEX alerts_open ON alerts (rule_id, subject_key) WHERE status <> 'resolved';
CREATE INDEX alerts_listing ON alerts (application_id, opened_at DESC, id DESC);
CREATE INDEX alerts_opened ON alerts (opened_at DESC, id DESC);
CREATE INDEX alerts_unresolved ON alerts (condition_type) WHERE status <> 'resolved';

-- What made an alert open or count: a failed pipeline, a missed fire... each counted once
-- however many built-in workers see it.
CREATE TABLE alert_occurrences (
    rule_id     uuid NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    source_key  text NOT NULL,
    -- Set in the transaction that counts it.
    alert_id    uuid REFERENCES alerts (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, source_key)
);
CREATE INDEX alert_occurrences_alert ON alert_occurrences (alert_id, at DESC);

-- Each alert's history: opened, acknowledged, resolved, with who and why.
CREATE TABLE alert_events (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id  uuid NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    kind      text NOT NULL CHECK (kind IN ('opened', 'acknowledged', 'resolved')),
    actor     text,
    note      text,
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_events_alert ON alert_events (alert_id, id);

-- One notification of one transition to one channel: written with the transition, so that
-- it is recorded exactly once, and sent at least once by whichever built-in worker leases
-- it. Its id is the X-Pipelogiq-Delivery header the receiver deduplicates by. A digest is
-- a delivery of its own (no event) standing for the pending ones it folded in.
CREATE TABLE alert_deliveries (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_id         bigint REFERENCES alert_events (id) ON DELETE CASCADE,
    channel_id       uuid NOT NULL REFERENCES alert_channels (id) ON DELETE CASCADE,
    application_id   uuid NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'delivered', 'failed', 'digested')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_token      uuid,
    leased_until     timestamptz,
    last_error       text,
    digest_id        uuid REFERENCES alert_deliveries (id) ON DELETE SET NULL,
    -- For a digest: how many notifications it stands for.
    folded           integer NOT NULL DEFAULT 0,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, channel_id)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (channel_id, next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX alert_deliveries_leased ON alert_deliveries (leased_until) WHERE status = 'sending';
CREATE INDEX alert_deliveries_event ON alert_deliveries (event_id);
CREATE INDEX alert_deliveries_digest ON alert_deliveries (digest_id) WHERE digest_id IS NOT NULL;

-- How far each scan of finished work has read, so that a round reads only what is new (less
-- a little overlap for transactions that commit out of order; occurrences are counted once).
CREATE TABLE alert_cursors (
    source    text PRIMARY KEY,
    position  timestamptz NOT NULL
);

-- Since when a lasting condition (a backlog over its bound) has held, per rule and subject:
-- the alert opens once it has held for the rule's minutes.
CREATE TABLE alert_watches (
    rule_id      uuid NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    subject_key  text NOT NULL,
    since        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, subject_key)
);

-- The scans read the job path's own indexes (pipelines_finished, stage_attempts_finished,
-- schedule_fires_fired): alerting adds nothing to what a job's transitions write.
