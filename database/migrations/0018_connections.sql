-- Named database connections of an application, that dataset.ingest reads tables and
-- queries from. The password is stored sealed (AES-256-GCM under PIPELOGIQ_CONNECTION_KEY,
-- bound to the connection's id); no API answers it, but to a running ingest job of the same
-- application whose input names the connection.
CREATE TABLE connections (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id  uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$'),
    kind            text NOT NULL CHECK (kind IN ('postgresql')),
    host            text NOT NULL,
    port            integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    database        text NOT NULL,
    username        text NOT NULL,
    -- disable, require, verify-full...
    sslmode         text NOT NULL DEFAULT 'prefer',
    -- nonce (12 bytes) then ciphertext; NULL: no password.
    sealed_password bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (application_id, name)
);
