-- Pipeline definitions: named DAGs an application designs once, reviews, versions and starts
-- by name. A version moves draft -> in_review -> published (and archived); a published version
-- never changes, so a run can always say exactly what it ran.

CREATE TABLE definitions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id  uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    name            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (application_id, name)
);

CREATE TABLE definition_versions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    definition_id   uuid NOT NULL REFERENCES definitions (id) ON DELETE CASCADE,
    -- Copied from the definition, for ownership checks without a join.
    application_id  uuid NOT NULL,
    version         integer NOT NULL CHECK (version > 0),
    status          text NOT NULL DEFAULT 'draft'
                    CHECK (status IN ('draft', 'in_review', 'published', 'archived')),
    -- The document as saved, in its own key order (json, not jsonb): export gives it back
    -- exactly as it came in.
    spec            json NOT NULL,
    -- Everyone who wrote this version (their user ids, or null for an API key or the CLI,
    -- named in author_names): none of them may approve it.
    author_ids      uuid[] NOT NULL DEFAULT '{}',
    author_names    text[] NOT NULL DEFAULT '{}',
    submitted_at    timestamptz,
    reviewed_by     uuid REFERENCES users (id) ON DELETE SET NULL,
    reviewed_by_name text,
    review_comment  text,
    reviewed_at     timestamptz,
    published_at    timestamptz,
    archived_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (definition_id, version)
);
-- At most one version in the works per definition: edits always land in the same draft.
CREATE UNIQUE INDEX definition_versions_one_open ON definition_versions (definition_id)
    WHERE status IN ('draft', 'in_review');
-- "The latest published version" for every run started by name.
CREATE INDEX definition_versions_published ON definition_versions (definition_id, version DESC)
    WHERE status = 'published';

-- Each run remembers what it ran: the definition, the version and the params it was given.
ALTER TABLE pipelines ADD COLUMN definition_id uuid REFERENCES definitions (id) ON DELETE SET NULL;
ALTER TABLE pipelines ADD COLUMN definition_version integer;
ALTER TABLE pipelines ADD COLUMN params jsonb;
CREATE INDEX pipelines_definition ON pipelines (definition_id, created_at DESC)
    WHERE definition_id IS NOT NULL;

-- API keys may save definitions (drafts only: people review and publish them).
ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_check
    CHECK (scopes <@ '{submit,read,work,define}'::text[]);
ALTER TABLE api_keys ALTER COLUMN scopes SET DEFAULT '{submit,read,work,define}';
