-- Rerunning a stage with a new input is for developers and admins; an `operator_input`
-- policy lets operators do it too, for its handler or pipeline.
ALTER TABLE policies DROP CONSTRAINT policies_kind_check;
ALTER TABLE policies ADD CONSTRAINT policies_kind_check
    CHECK (kind IN ('retry', 'timeout', 'concurrency', 'rate_limit', 'operator_input'));
