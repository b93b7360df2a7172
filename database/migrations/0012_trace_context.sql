-- W3C trace context: each pipeline belongs to a trace, the caller's (from the `traceparent`
-- it submitted with) or a new one, and each job carries a `traceparent` naming it. Stages
-- keep a copy of the trace id, as they do of the application, so that a claim needs no join.
-- Pipelines made before this have no trace.
ALTER TABLE pipelines ADD COLUMN trace_id uuid, ADD COLUMN parent_span_id text;
ALTER TABLE stages ADD COLUMN trace_id uuid;
