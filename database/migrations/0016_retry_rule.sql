-- Whether a failed job's stage runs again: written once, here, for every statement that ends
-- a job in failure (an ack, a timeout). A retry is left (`failures` counts the failures before
-- this one), the failure is one worth retrying, and the stage's `retry_on` codes, if it has
-- any, name its code. IMMUTABLE and a single expression, so the planner inlines it.
CREATE FUNCTION pipelogiq_may_retry(
    failures integer, max_retries integer, retry_on text[], retryable boolean, code text
) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT retryable AND failures < max_retries AND (retry_on IS NULL OR code = ANY(retry_on))
$$;
