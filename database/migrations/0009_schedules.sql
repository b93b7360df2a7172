-- Schedules: runs of a published pipeline definition at times given by a cron expression in
-- a time zone, or at a fixed interval, with fixed params. The built-in worker fires each due
-- time once, whatever the number of built-in workers, and records every fire.

CREATE TABLE schedules (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id   uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    definition_id    uuid NOT NULL REFERENCES definitions (id) ON DELETE CASCADE,
    name             text NOT NULL,
    -- A published version, or NULL: whichever version is the newest published at each fire.
    version          integer,
    cron             text,
    interval_seconds integer CHECK (interval_seconds >= 10),
    timezone         text NOT NULL DEFAULT 'UTC',
    params           jsonb NOT NULL DEFAULT '{}',
    -- After downtime: skip the due times missed, or run once for them.
    catch_up         text NOT NULL DEFAULT 'skip' CHECK (catch_up IN ('skip', 'once')),
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    -- The next due time; the built-in worker moves it on when it fires.
    next_fire_at     timestamptz,
    last_fired_at    timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((cron IS NULL) <> (interval_seconds IS NULL)),
    UNIQUE (application_id, name)
);
-- What is due next: the built-in worker's one statement when nothing is.
CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE status = 'active';
CREATE INDEX schedules_definition ON schedules (definition_id);

CREATE TABLE schedule_fires (
    id           bigserial PRIMARY KEY,
    schedule_id  uuid NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    -- The due time fired for (for a manual run: when it was asked for).
    due_at       timestamptz NOT NULL,
    -- scheduled: on time; catch_up: once for due times missed; skipped: missed, not run;
    -- manual: "run now".
    kind         text NOT NULL CHECK (kind IN ('scheduled', 'catch_up', 'skipped', 'manual')),
    -- Due times missed and not run (catch_up and skipped).
    missed       integer NOT NULL DEFAULT 0,
    pipeline_id  uuid REFERENCES pipelines (id) ON DELETE SET NULL,
    -- Why no pipeline started (the version was archived, the params no longer fit...).
    error        text,
    actor        text,
    fired_at     timestamptz NOT NULL DEFAULT now()
);
-- Once per due time, however many built-in workers race for it.
CREATE UNIQUE INDEX schedule_fires_once ON schedule_fires (schedule_id, due_at)
    WHERE kind <> 'manual';
CREATE INDEX schedule_fires_recent ON schedule_fires (schedule_id, id DESC);
