-- Passwords someone else chose, and one-time links to choose one's own.
--
-- A password printed by the first start, or set by an admin who asked for it, is known to
-- more than its user: until they choose their own, the API serves them nothing but that
-- choice (and who they are, and logging out).
ALTER TABLE users ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;

-- An admin's one-time link for a user to set a new password: only a hash of its secret is
-- kept. One live link per user: a new one replaces the one before, and using it deletes it.
CREATE TABLE password_resets (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE,
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
