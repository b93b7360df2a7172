-- The latest runs of one pipeline name (a definition's, or any name's run history), newest
-- first, without reading every pipeline of the application.
CREATE INDEX pipelines_name ON pipelines (application_id, name, created_at DESC);
