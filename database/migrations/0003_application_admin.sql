-- Applications get a display name (their `name` is part of queue names and never changes);
-- API keys get an expiry, scopes, and the time they were last used.

ALTER TABLE applications ADD COLUMN display_name text;

ALTER TABLE api_keys
    ADD COLUMN expires_at   timestamptz,
    -- What the key may do on the external API: submit (create and cancel pipelines), read
    -- (read pipelines), work (pull, ack, logs, worker calls).
    ADD COLUMN scopes       text[] NOT NULL DEFAULT '{submit,read,work}'
        CHECK (scopes <@ '{submit,read,work}'::text[]),
    ADD COLUMN last_used_at timestamptz,
    ADD COLUMN created_by   uuid REFERENCES users (id) ON DELETE SET NULL;

CREATE INDEX api_keys_application ON api_keys (application_id);

-- Every change made through the internal API or the command line: who, what, when, from where.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    actor       text NOT NULL,  -- the user's email then, or 'cli'
    client      text,
    user_agent  text,
    action      text NOT NULL,  -- e.g. 'application.created', 'key.revoked', 'user.changed'
    target_type text NOT NULL,
    target_id   text,
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at DESC);
