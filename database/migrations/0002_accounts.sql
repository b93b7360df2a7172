-- People who use the dashboard and the internal API, their sessions, and login throttling.

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
    name          text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'developer', 'operator')),
    password_hash text NOT NULL,  -- argon2id, with its parameters and salt
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email ON users (lower(email));

-- Which applications a user sees (admins see every one).
CREATE TABLE memberships (
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, application_id)
);
CREATE INDEX memberships_application ON memberships (application_id);

-- A login. Access tokens (short JWTs) name their session, so revoking it ends them too;
-- the refresh token is stored hashed and replaced at every refresh.
CREATE TABLE sessions (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    refresh_hash bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    refreshed_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    client       text,
    user_agent   text
);
CREATE INDEX sessions_user ON sessions (user_id) WHERE revoked_at IS NULL;

-- Failed logins per key ('account:<email>' or 'client:<address>'); a run of failures
-- locks the key for a growing time. A success clears the account's row.
CREATE TABLE login_failures (
    key          text PRIMARY KEY,
    failures     integer NOT NULL,
    last_at      timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz
);
