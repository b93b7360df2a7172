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
