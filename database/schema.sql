-- The schema as database/migrations/ leave it: generated, not applied (`just schema` makes
-- it again; tests/test_migrations.py fails when it is out of date). The day partitions of
-- stage_logs and worker_events are made by the built-in worker, and left out.

CREATE FUNCTION public.pipelogiq_add_day_partition(parent text, day date) RETURNS boolean
    LANGUAGE plpgsql
    AS $_$
DECLARE
    part text := parent || '_' || to_char(day, 'YYYYMMDD');
    first timestamptz := day::timestamp AT TIME ZONE 'UTC';
    after timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
    PERFORM set_config('lock_timeout', '2s', true);
    -- Two built-in workers may make the same day at once; the second finds it made.
    PERFORM pg_advisory_xact_lock(hashtext(part));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', part, parent);
    EXECUTE format(
        'WITH moved AS (DELETE FROM %I WHERE created_at >= $1 AND created_at < $2 RETURNING *)'
        ' INSERT INTO %I SELECT * FROM moved', parent || '_default', part)
        USING first, after;
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   parent, part, first, after);
    RETURN true;
END
$_$;

CREATE FUNCTION public.pipelogiq_day_partitions_due(parent text, cutoff timestamp with time zone) RETURNS SETOF text
    LANGUAGE sql STABLE
    AS $_$
    SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = parent::regclass
      AND c.relname ~ ('^' || parent || '_[0-9]{8}$')
      AND (to_date(right(c.relname, 8), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC'
          <= cutoff
    ORDER BY c.relname
$_$;

CREATE FUNCTION public.pipelogiq_drop_day_partitions(parent text, cutoff timestamp with time zone) RETURNS SETOF text
    LANGUAGE plpgsql
    AS $$
DECLARE
    part text;
BEGIN
    PERFORM set_config('lock_timeout', '2s', true);
    FOR part IN SELECT pipelogiq_day_partitions_due(parent, cutoff) LOOP
        EXECUTE format('DROP TABLE %I', part);
        RETURN NEXT part;
    END LOOP;
END
$$;

CREATE FUNCTION public.pipelogiq_may_retry(failures integer, max_retries integer, retry_on text[], retryable boolean, code text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT retryable AND failures < max_retries AND (retry_on IS NULL OR code = ANY(retry_on))
$$;

CREATE FUNCTION public.pipelogiq_record_attempt() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO stage_attempts (
        stage_id, attempt, pipeline_id, application_id, stage_name, handler, job_id, worker_id,
        outcome, retried, error, queued_at, started_at, finished_at)
    VALUES (
        NEW.id, OLD.attempt, NEW.pipeline_id, NEW.application_id, NEW.name, NEW.handler,
        OLD.job_id, OLD.worker_id,
        CASE
            WHEN NEW.status = 'completed' THEN 'completed'
            WHEN NEW.status = 'queued' OR NEW.error->>'code' = 'lease_expired' THEN 'lease_lost'
            WHEN NEW.status IN ('failed', 'retry_scheduled') THEN 'failed'
            ELSE 'cancelled'
        END,
        NEW.status = 'retry_scheduled',
        CASE WHEN NEW.status IN ('failed', 'retry_scheduled') THEN NEW.error END,
        OLD.queued_at, OLD.started_at, coalesce(NEW.finished_at, now()))
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE FUNCTION public.pipelogiq_record_finish() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO pipeline_finishes (pipeline_id, application_id, status, finished_at,
                                   pipeline_name, seconds)
    VALUES (NEW.id, NEW.application_id, NEW.status, coalesce(NEW.finished_at, now()), NEW.name,
            CASE WHEN NEW.reopened_at IS NULL THEN
                extract(epoch FROM coalesce(NEW.finished_at, now()) - NEW.created_at)
            END);
    RETURN NULL;
END
$$;

CREATE FUNCTION public.pipelogiq_retry_delay(backoff text, base double precision, cap double precision, failures integer) RETURNS interval
    LANGUAGE sql
    AS $$
    SELECT make_interval(secs => CASE
        WHEN backoff = 'fixed' THEN base
        ELSE least(cap, base * power(2, greatest(failures - 1, 0))) * (0.5 + random() / 2)
    END)
$$;

CREATE TABLE public.alert_channels (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    application_id uuid NOT NULL,
    name text NOT NULL,
    type text NOT NULL,
    config jsonb DEFAULT '{}'::jsonb NOT NULL,
    sealed_secret bytea,
    rate_limit_per_minute integer DEFAULT 10 NOT NULL,
    window_started_at timestamp with time zone,
    sent_in_window integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT alert_channels_name_check CHECK ((name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$'::text)),
    CONSTRAINT alert_channels_rate_limit_per_minute_check CHECK (((rate_limit_per_minute >= 1) AND (rate_limit_per_minute <= 1000))),
    CONSTRAINT alert_channels_type_check CHECK ((type = ANY (ARRAY['webhook'::text, 'slack'::text, 'email'::text])))
);

CREATE TABLE public.alert_cursors (
    source text NOT NULL,
    "position" timestamp with time zone NOT NULL
);

CREATE TABLE public.alert_deliveries (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    event_id bigint,
    channel_id uuid NOT NULL,
    application_id uuid NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone DEFAULT now() NOT NULL,
    lease_token uuid,
    leased_until timestamp with time zone,
    last_error text,
    digest_id uuid,
    folded integer DEFAULT 0 NOT NULL,
    delivered_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT alert_deliveries_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'sending'::text, 'delivered'::text, 'failed'::text, 'digested'::text])))
);

CREATE TABLE public.alert_events (
    id bigint NOT NULL,
    alert_id uuid NOT NULL,
    kind text NOT NULL,
    actor text,
    note text,
    at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT alert_events_kind_check CHECK ((kind = ANY (ARRAY['opened'::text, 'acknowledged'::text, 'resolved'::text])))
);

ALTER TABLE public.alert_events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.alert_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.alert_occurrences (
    rule_id uuid NOT NULL,
    source_key text NOT NULL,
    alert_id uuid,
    at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.alert_rules (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    application_id uuid NOT NULL,
    name text NOT NULL,
    condition jsonb NOT NULL,
    condition_type text NOT NULL,
    severity text DEFAULT 'warning'::text NOT NULL,
    channel_ids uuid[] DEFAULT '{}'::uuid[] NOT NULL,
    status text DEFAULT 'active'::text NOT NULL,
    active_since timestamp with time zone DEFAULT now() NOT NULL,
    created_by text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT alert_rules_name_check CHECK ((name ~ '^[A-Za-z0-9][A-Za-z0-9_ .-]{0,99}$'::text)),
    CONSTRAINT alert_rules_severity_check CHECK ((severity = ANY (ARRAY['info'::text, 'warning'::text, 'critical'::text]))),
    CONSTRAINT alert_rules_status_check CHECK ((status = ANY (ARRAY['active'::text, 'paused'::text])))
);

CREATE TABLE public.alert_watches (
    rule_id uuid NOT NULL,
    subject_key text NOT NULL,
    since timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.alerts (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    application_id uuid NOT NULL,
    rule_id uuid,
    rule_name text NOT NULL,
    condition_type text NOT NULL,
    severity text NOT NULL,
    subject_kind text NOT NULL,
    subject_key text NOT NULL,
    subject_name text NOT NULL,
    status text DEFAULT 'firing'::text NOT NULL,
    summary text NOT NULL,
    details jsonb DEFAULT '{}'::jsonb NOT NULL,
    occurrences integer DEFAULT 1 NOT NULL,
    opened_at timestamp with time zone DEFAULT now() NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    acknowledged_at timestamp with time zone,
    acknowledged_by text,
    resolved_at timestamp with time zone,
    resolved_by text,
    CONSTRAINT alerts_status_check CHECK ((status = ANY (ARRAY['firing'::text, 'acknowledged'::text, 'resolved'::text])))
);

CREATE TABLE public.api_keys (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    application_id uuid NOT NULL,
    prefix text NOT NULL,
    key_hash bytea NOT NULL,
    name text DEFAULT ''::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    revoked_at timestamp with time zone,
    expires_at timestamp with time zone,
    scopes text[] DEFAULT '{submit,read,work,define}'::text[] NOT NULL,
    last_used_at timestamp with time zone,
    created_by uuid,
    CONSTRAINT api_keys_scopes_check CHECK ((scopes <@ '{submit,read,work,define}'::text[]))
);

CREATE TABLE public.applications (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    display_name text,
    retain_dataset_versions integer,
    CONSTRAINT applications_name_check CHECK ((name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'::text)),
    CONSTRAINT applications_retain_dataset_versions_check CHECK ((retain_dataset_versions >= 1))
);

CREATE TABLE public.approvals (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    application_id uuid NOT NULL,
    pipeline_id uuid NOT NULL,
    stage_id uuid NOT NULL,
    message text NOT NULL,
    details jsonb,
    deadline timestamp with time zone NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    decided_by uuid,
    decided_by_name text,
    comment text,
    decided_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT approvals_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'approved'::text, 'rejected'::text])))
);

CREATE TABLE public.artifact_deletions (
    storage_key text NOT NULL,
    queued_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.artifacts (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    application_id uuid NOT NULL,
    pipeline_id uuid NOT NULL,
    stage_id uuid NOT NULL,
    job_id uuid NOT NULL,
    attempt integer NOT NULL,
    name text NOT NULL,
    content_type text NOT NULL,
    size bigint NOT NULL,
    sha256 text NOT NULL,
    storage_key text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.attempt_rollups (
    grain text NOT NULL,
    at timestamp with time zone NOT NULL,
    application_id uuid NOT NULL,
    pipeline_name text NOT NULL,
    stage_name text NOT NULL,
    handler text NOT NULL,
    attempts bigint NOT NULL,
    completed bigint NOT NULL,
    failed bigint NOT NULL,
    failed_for_good bigint NOT NULL,
    retried bigint NOT NULL,
    lease_lost bigint NOT NULL,
    duration_sum double precision NOT NULL,
    CONSTRAINT attempt_rollups_grain_check CHECK ((grain = ANY (ARRAY['minute'::text, 'hour'::text])))
);

CREATE TABLE public.audit_log (
    id bigint NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    actor_id uuid,
    actor text NOT NULL,
    client text,
    user_agent text,
    action text NOT NULL,
    target_type text NOT NULL,
    target_id text,
    details jsonb DEFAULT '{}'::jsonb NOT NULL
);

ALTER TABLE public.audit_log ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.audit_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.connections (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    application_id uuid NOT NULL,
    name text NOT NULL,
    kind text NOT NULL,
    host text NOT NULL,
    port integer NOT NULL,
    database text NOT NULL,
    username text NOT NULL,
    sslmode text DEFAULT 'prefer'::text NOT NULL,
    sealed_password bytea,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT connections_kind_check CHECK ((kind = 'postgresql'::text)),
    CONSTRAINT connections_name_check CHECK ((name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$'::text)),
    CONSTRAINT connections_port_check CHECK (((port >= 1) AND (port <= 65535)))
);

CREATE TABLE public.context_items (
    pipeline_id uuid NOT NULL,
    key text NOT NULL,
    value jsonb NOT NULL,
    stage_id uuid,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.dataset_versions (
    dataset_id uuid NOT NULL,
    version bigint NOT NULL,
    rows bigint NOT NULL,
    bytes bigint,
    schema jsonb NOT NULL,
    reads jsonb DEFAULT '[]'::jsonb NOT NULL,
    pipeline_id uuid,
    stage_id uuid,
    job_id uuid,
    attempt integer,
    pipeline_name text,
    stage_name text,
    written_at timestamp with time zone DEFAULT now() NOT NULL,
    removed_at timestamp with time zone,
    checks text,
    CONSTRAINT dataset_versions_bytes_check CHECK ((bytes >= 0)),
    CONSTRAINT dataset_versions_rows_check CHECK ((rows >= 0)),
    CONSTRAINT dataset_versions_version_check CHECK ((version >= 0))
);

CREATE TABLE public.datasets (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    application_id uuid NOT NULL,
    uri text NOT NULL,
    name text NOT NULL,
    layer text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_written_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT datasets_layer_check CHECK ((layer = ANY (ARRAY['bronze'::text, 'silver'::text, 'gold'::text, 'quarantine'::text])))
);

CREATE TABLE public.definition_versions (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    definition_id uuid NOT NULL,
    application_id uuid NOT NULL,
    version integer NOT NULL,
    status text DEFAULT 'draft'::text NOT NULL,
    spec json NOT NULL,
    author_ids uuid[] DEFAULT '{}'::uuid[] NOT NULL,
    author_names text[] DEFAULT '{}'::text[] NOT NULL,
    submitted_at timestamp with time zone,
    reviewed_by uuid,
    reviewed_by_name text,
    review_comment text,
    reviewed_at timestamp with time zone,
    published_at timestamp with time zone,
    archived_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT definition_versions_status_check CHECK ((status = ANY (ARRAY['draft'::text, 'in_review'::text, 'published'::text, 'archived'::text]))),
    CONSTRAINT definition_versions_version_check CHECK ((version > 0))
);

CREATE TABLE public.definitions (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    application_id uuid NOT NULL,
    name text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.duration_rollups (
    grain text NOT NULL,
    at timestamp with time zone NOT NULL,
    application_id uuid NOT NULL,
    stage_name text NOT NULL,
    handler text NOT NULL,
    bucket smallint NOT NULL,
    n bigint NOT NULL
);

CREATE TABLE public.error_rollups (
    grain text NOT NULL,
    at timestamp with time zone NOT NULL,
    application_id uuid NOT NULL,
    handler text NOT NULL,
    stage_name text NOT NULL,
    code text NOT NULL,
    message text NOT NULL,
    n bigint NOT NULL,
    last_seen_at timestamp with time zone NOT NULL
);

CREATE TABLE public.login_failures (
    key text NOT NULL,
    failures integer NOT NULL,
    last_at timestamp with time zone DEFAULT now() NOT NULL,
    locked_until timestamp with time zone,
    free_failures integer DEFAULT 5 NOT NULL
);

CREATE TABLE public.memberships (
    user_id uuid NOT NULL,
    application_id uuid NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.password_resets (
    user_id uuid NOT NULL,
    token_hash bytea NOT NULL,
    created_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL
);

CREATE TABLE public.pipeline_finishes (
    pipeline_id uuid NOT NULL,
    application_id uuid NOT NULL,
    status text NOT NULL,
    finished_at timestamp with time zone NOT NULL,
    txid bigint DEFAULT ((pg_current_xact_id())::text)::bigint NOT NULL,
    pipeline_name text,
    seconds double precision
);

CREATE TABLE public.pipeline_rollups (
    grain text NOT NULL,
    at timestamp with time zone NOT NULL,
    application_id uuid NOT NULL,
    status text NOT NULL,
    n bigint NOT NULL
);

CREATE TABLE public.pipelines (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    application_id uuid NOT NULL,
    name text NOT NULL,
    status text DEFAULT 'running'::text NOT NULL,
    keywords text[] DEFAULT '{}'::text[] NOT NULL,
    idempotency_key text,
    idempotency_hash bytea,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone,
    revision integer DEFAULT 0 NOT NULL,
    definition_id uuid,
    definition_version integer,
    params jsonb,
    trace_id uuid,
    parent_span_id text,
    reopened_at timestamp with time zone,
    CONSTRAINT pipelines_status_check CHECK ((status = ANY (ARRAY['running'::text, 'completed'::text, 'failed'::text, 'cancelled'::text])))
);

CREATE TABLE public.policies (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    application_id uuid NOT NULL,
    name text NOT NULL,
    kind text NOT NULL,
    target_type text NOT NULL,
    target text NOT NULL,
    config jsonb NOT NULL,
    status text DEFAULT 'active'::text NOT NULL,
    rate_tat timestamp with time zone,
    created_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT policies_kind_check CHECK ((kind = ANY (ARRAY['retry'::text, 'timeout'::text, 'concurrency'::text, 'rate_limit'::text, 'operator_input'::text]))),
    CONSTRAINT policies_status_check CHECK ((status = ANY (ARRAY['active'::text, 'paused'::text, 'disabled'::text]))),
    CONSTRAINT policies_target_type_check CHECK ((target_type = ANY (ARRAY['handler'::text, 'pipeline'::text])))
);

CREATE TABLE public.quarantine_decisions (
    dataset_id uuid NOT NULL,
    version bigint NOT NULL,
    row_number bigint NOT NULL,
    action text NOT NULL,
    fixed jsonb,
    batch_id uuid NOT NULL,
    target_id uuid,
    note text,
    decided_by uuid,
    decided_by_name text NOT NULL,
    decided_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT quarantine_decisions_action_check CHECK ((action = ANY (ARRAY['release'::text, 'discard'::text]))),
    CONSTRAINT quarantine_decisions_row_number_check CHECK ((row_number >= 0))
);

CREATE TABLE public.rollup_cursors (
    name text NOT NULL,
    "position" bigint NOT NULL
);

CREATE TABLE public.run_rollups (
    grain text NOT NULL,
    at timestamp with time zone NOT NULL,
    application_id uuid NOT NULL,
    pipeline_name text NOT NULL,
    status text NOT NULL,
    bucket smallint NOT NULL,
    n bigint NOT NULL,
    CONSTRAINT run_rollups_grain_check CHECK ((grain = ANY (ARRAY['minute'::text, 'hour'::text])))
);

CREATE TABLE public.schedule_fires (
    id bigint NOT NULL,
    schedule_id uuid NOT NULL,
    due_at timestamp with time zone NOT NULL,
    kind text NOT NULL,
    missed integer DEFAULT 0 NOT NULL,
    pipeline_id uuid,
    error text,
    actor text,
    fired_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT schedule_fires_kind_check CHECK ((kind = ANY (ARRAY['scheduled'::text, 'catch_up'::text, 'skipped'::text, 'manual'::text])))
);

CREATE SEQUENCE public.schedule_fires_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.schedule_fires_id_seq OWNED BY public.schedule_fires.id;

CREATE TABLE public.schedules (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    application_id uuid NOT NULL,
    definition_id uuid NOT NULL,
    name text NOT NULL,
    version integer,
    cron text,
    interval_seconds integer,
    timezone text DEFAULT 'UTC'::text NOT NULL,
    params jsonb DEFAULT '{}'::jsonb NOT NULL,
    catch_up text DEFAULT 'skip'::text NOT NULL,
    status text DEFAULT 'active'::text NOT NULL,
    next_fire_at timestamp with time zone,
    last_fired_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT schedules_catch_up_check CHECK ((catch_up = ANY (ARRAY['skip'::text, 'once'::text]))),
    CONSTRAINT schedules_check CHECK (((cron IS NULL) <> (interval_seconds IS NULL))),
    CONSTRAINT schedules_interval_seconds_check CHECK ((interval_seconds >= 10)),
    CONSTRAINT schedules_status_check CHECK ((status = ANY (ARRAY['active'::text, 'paused'::text])))
);

CREATE TABLE public.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.sessions (
    id uuid NOT NULL,
    user_id uuid NOT NULL,
    refresh_hash bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    refreshed_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone,
    client text,
    user_agent text
);

CREATE TABLE public.stage_attempts (
    stage_id uuid NOT NULL,
    attempt integer NOT NULL,
    pipeline_id uuid NOT NULL,
    application_id uuid NOT NULL,
    stage_name text NOT NULL,
    handler text NOT NULL,
    job_id uuid NOT NULL,
    worker_id uuid,
    outcome text NOT NULL,
    retried boolean DEFAULT false NOT NULL,
    error jsonb,
    queued_at timestamp with time zone,
    started_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone NOT NULL,
    txid bigint DEFAULT ((pg_current_xact_id())::text)::bigint NOT NULL
);

CREATE TABLE public.stage_dependencies (
    stage_id uuid NOT NULL,
    depends_on_id uuid NOT NULL
);

CREATE TABLE public.stage_logs (
    id bigint NOT NULL,
    stage_id uuid NOT NULL,
    pipeline_id uuid NOT NULL,
    job_id uuid,
    attempt integer NOT NULL,
    level text NOT NULL,
    message text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    application_id uuid NOT NULL,
    handler text NOT NULL
)
PARTITION BY RANGE (created_at);

CREATE TABLE public.stage_logs_default (
    id bigint NOT NULL,
    stage_id uuid NOT NULL,
    pipeline_id uuid NOT NULL,
    job_id uuid,
    attempt integer NOT NULL,
    level text NOT NULL,
    message text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    application_id uuid NOT NULL,
    handler text NOT NULL
);

ALTER TABLE public.stage_logs ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.stage_logs_id_seq1
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.stages (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    pipeline_id uuid NOT NULL,
    application_id uuid NOT NULL,
    "position" integer NOT NULL,
    name text NOT NULL,
    handler text NOT NULL,
    status text DEFAULT 'not_started'::text NOT NULL,
    input jsonb,
    output jsonb,
    error jsonb,
    attempt integer DEFAULT 0 NOT NULL,
    failures integer DEFAULT 0 NOT NULL,
    lease_expiries integer DEFAULT 0 NOT NULL,
    max_retries integer DEFAULT 0 NOT NULL,
    retry_backoff text DEFAULT 'exponential'::text NOT NULL,
    retry_backoff_seconds double precision DEFAULT 1 NOT NULL,
    retry_backoff_max_seconds double precision DEFAULT 300 NOT NULL,
    timeout_seconds integer,
    job_id uuid,
    worker_id uuid,
    lease_expires_at timestamp with time zone,
    deadline_at timestamp with time zone,
    retry_at timestamp with time zone,
    queued_at timestamp with time zone,
    published_at timestamp with time zone,
    started_at timestamp with time zone,
    finished_at timestamp with time zone,
    advanced_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    revision integer DEFAULT 0 NOT NULL,
    held_by uuid,
    retry_on text[],
    trace_id uuid,
    CONSTRAINT stages_retry_backoff_check CHECK ((retry_backoff = ANY (ARRAY['fixed'::text, 'exponential'::text]))),
    CONSTRAINT stages_status_check CHECK ((status = ANY (ARRAY['not_started'::text, 'queued'::text, 'running'::text, 'completed'::text, 'failed'::text, 'retry_scheduled'::text, 'skipped'::text, 'cancelled'::text])))
)
WITH (autovacuum_vacuum_scale_factor='0.05', autovacuum_analyze_scale_factor='0.02');

CREATE TABLE public.users (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    email text NOT NULL,
    name text NOT NULL,
    role text NOT NULL,
    password_hash text NOT NULL,
    disabled boolean DEFAULT false NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    must_change_password boolean DEFAULT false NOT NULL,
    CONSTRAINT users_email_check CHECK (((length(email) >= 3) AND (length(email) <= 320))),
    CONSTRAINT users_role_check CHECK ((role = ANY (ARRAY['admin'::text, 'developer'::text, 'operator'::text])))
);

CREATE TABLE public.worker_events (
    id bigint NOT NULL,
    worker_id uuid NOT NULL,
    application_id uuid NOT NULL,
    kind text NOT NULL,
    message text DEFAULT ''::text NOT NULL,
    data jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
)
PARTITION BY RANGE (created_at);

CREATE TABLE public.worker_events_default (
    id bigint NOT NULL,
    worker_id uuid NOT NULL,
    application_id uuid NOT NULL,
    kind text NOT NULL,
    message text DEFAULT ''::text NOT NULL,
    data jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE public.worker_events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.worker_events_id_seq1
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.workers (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    application_id uuid NOT NULL,
    name text NOT NULL,
    instance_id text,
    version text,
    host_name text,
    pid integer,
    handlers text[] DEFAULT '{}'::text[] NOT NULL,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    state text DEFAULT 'online'::text NOT NULL,
    metrics jsonb,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    last_heartbeat_at timestamp with time zone DEFAULT now() NOT NULL,
    stopped_at timestamp with time zone,
    CONSTRAINT workers_state_check CHECK ((state = ANY (ARRAY['online'::text, 'draining'::text, 'offline'::text, 'stopped'::text])))
);

ALTER TABLE ONLY public.stage_logs ATTACH PARTITION public.stage_logs_default DEFAULT;

ALTER TABLE ONLY public.worker_events ATTACH PARTITION public.worker_events_default DEFAULT;

ALTER TABLE ONLY public.schedule_fires ALTER COLUMN id SET DEFAULT nextval('public.schedule_fires_id_seq'::regclass);

ALTER TABLE ONLY public.alert_channels
    ADD CONSTRAINT alert_channels_application_id_name_key UNIQUE (application_id, name);

ALTER TABLE ONLY public.alert_channels
    ADD CONSTRAINT alert_channels_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.alert_cursors
    ADD CONSTRAINT alert_cursors_pkey PRIMARY KEY (source);

ALTER TABLE ONLY public.alert_deliveries
    ADD CONSTRAINT alert_deliveries_event_id_channel_id_key UNIQUE (event_id, channel_id);

ALTER TABLE ONLY public.alert_deliveries
    ADD CONSTRAINT alert_deliveries_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.alert_events
    ADD CONSTRAINT alert_events_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.alert_occurrences
    ADD CONSTRAINT alert_occurrences_pkey PRIMARY KEY (rule_id, source_key);

ALTER TABLE ONLY public.alert_rules
    ADD CONSTRAINT alert_rules_application_id_name_key UNIQUE (application_id, name);

ALTER TABLE ONLY public.alert_rules
    ADD CONSTRAINT alert_rules_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.alert_watches
    ADD CONSTRAINT alert_watches_pkey PRIMARY KEY (rule_id, subject_key);

ALTER TABLE ONLY public.alerts
    ADD CONSTRAINT alerts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash);

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.applications
    ADD CONSTRAINT applications_name_key UNIQUE (name);

ALTER TABLE ONLY public.applications
    ADD CONSTRAINT applications_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.approvals
    ADD CONSTRAINT approvals_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.artifact_deletions
    ADD CONSTRAINT artifact_deletions_pkey PRIMARY KEY (storage_key);

ALTER TABLE ONLY public.artifacts
    ADD CONSTRAINT artifacts_job_id_name_key UNIQUE (job_id, name);

ALTER TABLE ONLY public.artifacts
    ADD CONSTRAINT artifacts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.attempt_rollups
    ADD CONSTRAINT attempt_rollups_pkey PRIMARY KEY (grain, at, application_id, pipeline_name, stage_name, handler);

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.connections
    ADD CONSTRAINT connections_application_id_name_key UNIQUE (application_id, name);

ALTER TABLE ONLY public.connections
    ADD CONSTRAINT connections_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.context_items
    ADD CONSTRAINT context_items_pkey PRIMARY KEY (pipeline_id, key);

ALTER TABLE ONLY public.dataset_versions
    ADD CONSTRAINT dataset_versions_pkey PRIMARY KEY (dataset_id, version);

ALTER TABLE ONLY public.datasets
    ADD CONSTRAINT datasets_application_id_uri_key UNIQUE (application_id, uri);

ALTER TABLE ONLY public.datasets
    ADD CONSTRAINT datasets_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.definition_versions
    ADD CONSTRAINT definition_versions_definition_id_version_key UNIQUE (definition_id, version);

ALTER TABLE ONLY public.definition_versions
    ADD CONSTRAINT definition_versions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.definitions
    ADD CONSTRAINT definitions_application_id_name_key UNIQUE (application_id, name);

ALTER TABLE ONLY public.definitions
    ADD CONSTRAINT definitions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.duration_rollups
    ADD CONSTRAINT duration_rollups_pkey PRIMARY KEY (grain, at, application_id, stage_name, handler, bucket);

ALTER TABLE ONLY public.error_rollups
    ADD CONSTRAINT error_rollups_pkey PRIMARY KEY (grain, at, application_id, handler, stage_name, code, message);

ALTER TABLE ONLY public.login_failures
    ADD CONSTRAINT login_failures_pkey PRIMARY KEY (key);

ALTER TABLE ONLY public.memberships
    ADD CONSTRAINT memberships_pkey PRIMARY KEY (user_id, application_id);

ALTER TABLE ONLY public.password_resets
    ADD CONSTRAINT password_resets_pkey PRIMARY KEY (user_id);

ALTER TABLE ONLY public.password_resets
    ADD CONSTRAINT password_resets_token_hash_key UNIQUE (token_hash);

ALTER TABLE ONLY public.pipeline_rollups
    ADD CONSTRAINT pipeline_rollups_pkey PRIMARY KEY (grain, at, application_id, status);

ALTER TABLE ONLY public.pipelines
    ADD CONSTRAINT pipelines_application_id_idempotency_key_key UNIQUE (application_id, idempotency_key);

ALTER TABLE ONLY public.pipelines
    ADD CONSTRAINT pipelines_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.policies
    ADD CONSTRAINT policies_application_id_name_key UNIQUE (application_id, name);

ALTER TABLE ONLY public.policies
    ADD CONSTRAINT policies_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.quarantine_decisions
    ADD CONSTRAINT quarantine_decisions_pkey PRIMARY KEY (dataset_id, version, row_number);

ALTER TABLE ONLY public.rollup_cursors
    ADD CONSTRAINT rollup_cursors_pkey PRIMARY KEY (name);

ALTER TABLE ONLY public.run_rollups
    ADD CONSTRAINT run_rollups_pkey PRIMARY KEY (grain, at, application_id, pipeline_name, status, bucket);

ALTER TABLE ONLY public.schedule_fires
    ADD CONSTRAINT schedule_fires_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.schedules
    ADD CONSTRAINT schedules_application_id_name_key UNIQUE (application_id, name);

ALTER TABLE ONLY public.schedules
    ADD CONSTRAINT schedules_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE ONLY public.sessions
    ADD CONSTRAINT sessions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.stage_attempts
    ADD CONSTRAINT stage_attempts_pkey PRIMARY KEY (stage_id, attempt);

ALTER TABLE ONLY public.stage_dependencies
    ADD CONSTRAINT stage_dependencies_pkey PRIMARY KEY (stage_id, depends_on_id);

ALTER TABLE ONLY public.stage_logs
    ADD CONSTRAINT stage_logs_pkey PRIMARY KEY (id, created_at);

ALTER TABLE ONLY public.stage_logs_default
    ADD CONSTRAINT stage_logs_default_pkey PRIMARY KEY (id, created_at);

ALTER TABLE ONLY public.stages
    ADD CONSTRAINT stages_pipeline_id_name_key UNIQUE (pipeline_id, name);

ALTER TABLE ONLY public.stages
    ADD CONSTRAINT stages_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.worker_events
    ADD CONSTRAINT worker_events_pkey PRIMARY KEY (id, created_at);

ALTER TABLE ONLY public.worker_events_default
    ADD CONSTRAINT worker_events_default_pkey PRIMARY KEY (id, created_at);

ALTER TABLE ONLY public.workers
    ADD CONSTRAINT workers_pkey PRIMARY KEY (id);

CREATE INDEX alert_deliveries_digest ON public.alert_deliveries USING btree (digest_id) WHERE (digest_id IS NOT NULL);

CREATE INDEX alert_deliveries_due ON public.alert_deliveries USING btree (channel_id, next_attempt_at) WHERE (status = 'pending'::text);

CREATE INDEX alert_deliveries_event ON public.alert_deliveries USING btree (event_id);

CREATE INDEX alert_deliveries_leased ON public.alert_deliveries USING btree (leased_until) WHERE (status = 'sending'::text);

CREATE INDEX alert_events_alert ON public.alert_events USING btree (alert_id, id);

CREATE INDEX alert_occurrences_alert ON public.alert_occurrences USING btree (alert_id, at DESC);

CREATE INDEX alert_rules_active ON public.alert_rules USING btree (condition_type) WHERE (status = 'active'::text);

CREATE INDEX alerts_listing ON public.alerts USING btree (application_id, opened_at DESC, id DESC);

CREATE UNIQUE INDEX alerts_open ON public.alerts USING btree (rule_id, subject_key) WHERE (status <> 'resolved'::text);

CREATE INDEX alerts_opened ON public.alerts USING btree (opened_at DESC, id DESC);

CREATE INDEX alerts_unresolved ON public.alerts USING btree (condition_type) WHERE (status <> 'resolved'::text);

CREATE INDEX api_keys_application ON public.api_keys USING btree (application_id);

CREATE INDEX approvals_pending ON public.approvals USING btree (created_at) WHERE (status = 'pending'::text);

CREATE INDEX approvals_pipeline ON public.approvals USING btree (pipeline_id);

CREATE INDEX approvals_stage ON public.approvals USING btree (stage_id, created_at DESC);

CREATE INDEX artifacts_pipeline ON public.artifacts USING btree (pipeline_id, created_at);

CREATE INDEX artifacts_stage ON public.artifacts USING btree (stage_id);

CREATE INDEX attempt_rollups_application ON public.attempt_rollups USING btree (application_id, grain, at);

CREATE INDEX audit_log_at ON public.audit_log USING btree (at DESC);

CREATE INDEX audit_log_target ON public.audit_log USING btree (target_type, target_id, id);

CREATE INDEX dataset_versions_pipeline ON public.dataset_versions USING btree (pipeline_id);

CREATE INDEX dataset_versions_reads ON public.dataset_versions USING gin (reads jsonb_path_ops);

CREATE INDEX dataset_versions_stage ON public.dataset_versions USING btree (stage_id);

CREATE INDEX datasets_listing ON public.datasets USING btree (application_id, last_written_at DESC);

CREATE UNIQUE INDEX definition_versions_one_open ON public.definition_versions USING btree (definition_id) WHERE (status = ANY (ARRAY['draft'::text, 'in_review'::text]));

CREATE INDEX definition_versions_published ON public.definition_versions USING btree (definition_id, version DESC) WHERE (status = 'published'::text);

CREATE INDEX memberships_application ON public.memberships USING btree (application_id);

CREATE INDEX pipeline_finishes_txid ON public.pipeline_finishes USING brin (txid) WITH (autosummarize='on');

CREATE INDEX pipelines_application_created ON public.pipelines USING btree (application_id, created_at DESC);

CREATE INDEX pipelines_created ON public.pipelines USING btree (created_at DESC, id DESC);

CREATE INDEX pipelines_definition ON public.pipelines USING btree (definition_id, created_at DESC) WHERE (definition_id IS NOT NULL);

CREATE INDEX pipelines_finished ON public.pipelines USING btree (finished_at DESC) WHERE (finished_at IS NOT NULL);

CREATE INDEX pipelines_name ON public.pipelines USING btree (application_id, name, created_at DESC);

CREATE INDEX pipelines_running_name ON public.pipelines USING btree (application_id, name) WHERE (status = 'running'::text);

CREATE INDEX pipelines_updated ON public.pipelines USING btree (updated_at DESC, id DESC);

CREATE UNIQUE INDEX policies_one_active ON public.policies USING btree (application_id, kind, target_type, target) WHERE (status = 'active'::text);

CREATE INDEX quarantine_decisions_batch ON public.quarantine_decisions USING btree (batch_id);

CREATE INDEX run_rollups_application ON public.run_rollups USING btree (application_id, grain, at);

CREATE INDEX schedule_fires_fired ON public.schedule_fires USING brin (fired_at);

CREATE UNIQUE INDEX schedule_fires_once ON public.schedule_fires USING btree (schedule_id, due_at) WHERE (kind <> 'manual'::text);

CREATE INDEX schedule_fires_pipeline ON public.schedule_fires USING btree (pipeline_id) WHERE (pipeline_id IS NOT NULL);

CREATE INDEX schedule_fires_recent ON public.schedule_fires USING btree (schedule_id, id DESC);

CREATE INDEX schedules_definition ON public.schedules USING btree (definition_id);

CREATE INDEX schedules_due ON public.schedules USING btree (next_fire_at) WHERE (status = 'active'::text);

CREATE INDEX sessions_expires ON public.sessions USING btree (expires_at);

CREATE INDEX sessions_user ON public.sessions USING btree (user_id) WHERE (revoked_at IS NULL);

CREATE INDEX stage_attempts_finished ON public.stage_attempts USING brin (finished_at);

CREATE UNIQUE INDEX stage_attempts_job ON public.stage_attempts USING btree (job_id);

CREATE INDEX stage_attempts_txid ON public.stage_attempts USING brin (txid) WITH (autosummarize='on');

CREATE INDEX stage_dependencies_reverse ON public.stage_dependencies USING btree (depends_on_id);

CREATE INDEX stage_logs_application ON ONLY public.stage_logs USING btree (application_id, id);

CREATE INDEX stage_logs_default_application_id_id_idx ON public.stage_logs_default USING btree (application_id, id);

CREATE INDEX stage_logs_handler ON ONLY public.stage_logs USING btree (handler, id);

CREATE INDEX stage_logs_default_handler_id_idx ON public.stage_logs_default USING btree (handler, id);

CREATE INDEX stage_logs_stage ON ONLY public.stage_logs USING btree (stage_id, id);

CREATE INDEX stage_logs_default_stage_id_id_idx ON public.stage_logs_default USING btree (stage_id, id);

CREATE INDEX stage_logs_words ON ONLY public.stage_logs USING gin (to_tsvector('simple'::regconfig, message));

CREATE INDEX stage_logs_default_to_tsvector_idx ON public.stage_logs_default USING gin (to_tsvector('simple'::regconfig, message));

CREATE INDEX stages_held ON public.stages USING btree (held_by, queued_at) WHERE (held_by IS NOT NULL);

CREATE UNIQUE INDEX stages_job ON public.stages USING btree (job_id) WHERE (job_id IS NOT NULL);

CREATE INDEX stages_pipeline ON public.stages USING btree (pipeline_id, "position");

CREATE INDEX stages_queued ON public.stages USING btree (application_id, handler, queued_at) WHERE ((status = 'queued'::text) AND (queued_at IS NOT NULL));

CREATE INDEX stages_retry_due ON public.stages USING btree (retry_at) WHERE (status = 'retry_scheduled'::text);

CREATE INDEX stages_running_deadline ON public.stages USING btree (deadline_at) WHERE ((status = 'running'::text) AND (deadline_at IS NOT NULL));

CREATE INDEX stages_running_lease ON public.stages USING btree (lease_expires_at) WHERE (status = 'running'::text);

CREATE INDEX stages_unadvanced ON public.stages USING btree (finished_at) WHERE ((advanced_at IS NULL) AND (status = ANY (ARRAY['completed'::text, 'failed'::text, 'skipped'::text, 'cancelled'::text])));

CREATE INDEX stages_unpublished ON public.stages USING btree (queued_at) WHERE ((status = 'queued'::text) AND (published_at IS NULL) AND (held_by IS NULL));

CREATE UNIQUE INDEX users_email ON public.users USING btree (lower(email));

CREATE INDEX worker_events_worker ON ONLY public.worker_events USING btree (worker_id, id);

CREATE INDEX worker_events_default_worker_id_id_idx ON public.worker_events_default USING btree (worker_id, id);

CREATE INDEX workers_application ON public.workers USING btree (application_id, started_at DESC);

CREATE INDEX workers_heartbeat ON public.workers USING btree (last_heartbeat_at) WHERE (state = ANY (ARRAY['online'::text, 'draining'::text]));

CREATE INDEX workers_last_heartbeat ON public.workers USING btree (last_heartbeat_at);

ALTER INDEX public.stage_logs_application ATTACH PARTITION public.stage_logs_default_application_id_id_idx;

ALTER INDEX public.stage_logs_handler ATTACH PARTITION public.stage_logs_default_handler_id_idx;

ALTER INDEX public.stage_logs_pkey ATTACH PARTITION public.stage_logs_default_pkey;

ALTER INDEX public.stage_logs_stage ATTACH PARTITION public.stage_logs_default_stage_id_id_idx;

ALTER INDEX public.stage_logs_words ATTACH PARTITION public.stage_logs_default_to_tsvector_idx;

ALTER INDEX public.worker_events_pkey ATTACH PARTITION public.worker_events_default_pkey;

ALTER INDEX public.worker_events_worker ATTACH PARTITION public.worker_events_default_worker_id_id_idx;

CREATE TRIGGER pipelines_record_finish AFTER UPDATE OF status ON public.pipelines FOR EACH ROW WHEN (((old.status = 'running'::text) AND (new.status <> 'running'::text))) EXECUTE FUNCTION public.pipelogiq_record_finish();

CREATE TRIGGER stages_record_attempt AFTER UPDATE OF status ON public.stages FOR EACH ROW WHEN (((old.status = 'running'::text) AND (new.status <> 'running'::text))) EXECUTE FUNCTION public.pipelogiq_record_attempt();

ALTER TABLE ONLY public.alert_channels
    ADD CONSTRAINT alert_channels_application_id_fkey FOREIGN KEY (application_id) REFERENCES public.applications(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.alert_deliveries
    ADD CONSTRAINT alert_deliveries_channel_id_fkey FOREIGN KEY (channel_id) REFERENCES public.alert_channels(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.alert_deliveries
    ADD CONSTRAINT alert_deliveries_digest_id_fkey FOREIGN KEY (digest_id) REFERENCES public.alert_deliveries(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.alert_deliveries
    ADD CONSTRAINT alert_deliveries_event_id_fkey FOREIGN KEY (event_id) REFERENCES public.alert_events(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.alert_events
    ADD CONSTRAINT alert_events_alert_id_fkey FOREIGN KEY (alert_id) REFERENCES public.alerts(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.alert_occurrences
    ADD CONSTRAINT alert_occurrences_alert_id_fkey FOREIGN KEY (alert_id) REFERENCES public.alerts(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.alert_occurrences
    ADD CONSTRAINT alert_occurrences_rule_id_fkey FOREIGN KEY (rule_id) REFERENCES public.alert_rules(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.alert_rules
    ADD CONSTRAINT alert_rules_application_id_fkey FOREIGN KEY (application_id) REFERENCES public.applications(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.alert_watches
    ADD CONSTRAINT alert_watches_rule_id_fkey FOREIGN KEY (rule_id) REFERENCES public.alert_rules(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.alerts
    ADD CONSTRAINT alerts_application_id_fkey FOREIGN KEY (application_id) REFERENCES public.applications(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.alerts
    ADD CONSTRAINT alerts_rule_id_fkey FOREIGN KEY (rule_id) REFERENCES public.alert_rules(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_application_id_fkey FOREIGN KEY (application_id) REFERENCES public.applications(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.approvals
    ADD CONSTRAINT approvals_application_id_fkey FOREIGN KEY (application_id) REFERENCES public.applications(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.approvals
    ADD CONSTRAINT approvals_decided_by_fkey FOREIGN KEY (decided_by) REFERENCES public.users(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.approvals
    ADD CONSTRAINT approvals_pipeline_id_fkey FOREIGN KEY (pipeline_id) REFERENCES public.pipelines(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.approvals
    ADD CONSTRAINT approvals_stage_id_fkey FOREIGN KEY (stage_id) REFERENCES public.stages(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.artifacts
    ADD CONSTRAINT artifacts_pipeline_id_fkey FOREIGN KEY (pipeline_id) REFERENCES public.pipelines(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.artifacts
    ADD CONSTRAINT artifacts_stage_id_fkey FOREIGN KEY (stage_id) REFERENCES public.stages(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_actor_id_fkey FOREIGN KEY (actor_id) REFERENCES public.users(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.connections
    ADD CONSTRAINT connections_application_id_fkey FOREIGN KEY (application_id) REFERENCES public.applications(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.context_items
    ADD CONSTRAINT context_items_pipeline_id_fkey FOREIGN KEY (pipeline_id) REFERENCES public.pipelines(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.dataset_versions
    ADD CONSTRAINT dataset_versions_dataset_id_fkey FOREIGN KEY (dataset_id) REFERENCES public.datasets(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.dataset_versions
    ADD CONSTRAINT dataset_versions_pipeline_id_fkey FOREIGN KEY (pipeline_id) REFERENCES public.pipelines(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.dataset_versions
    ADD CONSTRAINT dataset_versions_stage_id_fkey FOREIGN KEY (stage_id) REFERENCES public.stages(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.datasets
    ADD CONSTRAINT datasets_application_id_fkey FOREIGN KEY (application_id) REFERENCES public.applications(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.definition_versions
    ADD CONSTRAINT definition_versions_definition_id_fkey FOREIGN KEY (definition_id) REFERENCES public.definitions(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.definition_versions
    ADD CONSTRAINT definition_versions_reviewed_by_fkey FOREIGN KEY (reviewed_by) REFERENCES public.users(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.definitions
    ADD CONSTRAINT definitions_application_id_fkey FOREIGN KEY (application_id) REFERENCES public.applications(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.memberships
    ADD CONSTRAINT memberships_application_id_fkey FOREIGN KEY (application_id) REFERENCES public.applications(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.memberships
    ADD CONSTRAINT memberships_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.password_resets
    ADD CONSTRAINT password_resets_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.password_resets
    ADD CONSTRAINT password_resets_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.pipelines
    ADD CONSTRAINT pipelines_application_id_fkey FOREIGN KEY (application_id) REFERENCES public.applications(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.pipelines
    ADD CONSTRAINT pipelines_definition_id_fkey FOREIGN KEY (definition_id) REFERENCES public.definitions(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.policies
    ADD CONSTRAINT policies_application_id_fkey FOREIGN KEY (application_id) REFERENCES public.applications(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.policies
    ADD CONSTRAINT policies_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.quarantine_decisions
    ADD CONSTRAINT quarantine_decisions_dataset_id_version_fkey FOREIGN KEY (dataset_id, version) REFERENCES public.dataset_versions(dataset_id, version) ON DELETE CASCADE;

ALTER TABLE ONLY public.quarantine_decisions
    ADD CONSTRAINT quarantine_decisions_decided_by_fkey FOREIGN KEY (decided_by) REFERENCES public.users(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.quarantine_decisions
    ADD CONSTRAINT quarantine_decisions_target_id_fkey FOREIGN KEY (target_id) REFERENCES public.datasets(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.schedule_fires
    ADD CONSTRAINT schedule_fires_pipeline_id_fkey FOREIGN KEY (pipeline_id) REFERENCES public.pipelines(id) ON DELETE SET NULL;

ALTER TABLE ONLY public.schedule_fires
    ADD CONSTRAINT schedule_fires_schedule_id_fkey FOREIGN KEY (schedule_id) REFERENCES public.schedules(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.schedules
    ADD CONSTRAINT schedules_application_id_fkey FOREIGN KEY (application_id) REFERENCES public.applications(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.schedules
    ADD CONSTRAINT schedules_definition_id_fkey FOREIGN KEY (definition_id) REFERENCES public.definitions(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.sessions
    ADD CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.stage_attempts
    ADD CONSTRAINT stage_attempts_stage_id_fkey FOREIGN KEY (stage_id) REFERENCES public.stages(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.stage_dependencies
    ADD CONSTRAINT stage_dependencies_depends_on_id_fkey FOREIGN KEY (depends_on_id) REFERENCES public.stages(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.stage_dependencies
    ADD CONSTRAINT stage_dependencies_stage_id_fkey FOREIGN KEY (stage_id) REFERENCES public.stages(id) ON DELETE CASCADE;

ALTER TABLE public.stage_logs
    ADD CONSTRAINT stage_logs_stage_id_fkey FOREIGN KEY (stage_id) REFERENCES public.stages(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.stages
    ADD CONSTRAINT stages_pipeline_id_fkey FOREIGN KEY (pipeline_id) REFERENCES public.pipelines(id) ON DELETE CASCADE;

ALTER TABLE public.worker_events
    ADD CONSTRAINT worker_events_worker_id_fkey FOREIGN KEY (worker_id) REFERENCES public.workers(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.workers
    ADD CONSTRAINT workers_application_id_fkey FOREIGN KEY (application_id) REFERENCES public.applications(id) ON DELETE CASCADE;
