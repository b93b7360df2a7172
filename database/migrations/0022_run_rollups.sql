-- Runs of each pipeline name as they finish, by status and by how long they took: what risk
-- reads to say "`nightly` fails 30% of its runs" or "`nightly` took three times its usual
-- time", per definition and not only per stage.
--
-- The finish log row carries the pipeline's name and its run time, so the fold needs no join.
-- A run's time is from its creation to its first finish: a rerun reopens a finished pipeline
-- hours or days later, and that gap is nobody's run time, so a finish after a reopening is
-- counted without one. (An operator's rerun or skip in a pipeline still running reopens
-- nothing: its finish keeps its run time.)

-- When a finished pipeline was last reopened (by a rerun or a skip).
ALTER TABLE pipelines ADD COLUMN reopened_at timestamptz;

ALTER TABLE pipeline_finishes
    ADD COLUMN pipeline_name text,
    ADD COLUMN seconds double precision;

CREATE OR REPLACE FUNCTION pipelogiq_record_finish() RETURNS trigger LANGUAGE plpgsql AS $$
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

-- Per minute and per hour (grain), per application, pipeline name and final status. bucket:
-- the run's time, cut as duration_rollups cuts an attempt's; -1 for a finish after a
-- reopening, which has none.
CREATE TABLE run_rollups (
    grain           text NOT NULL CHECK (grain IN ('minute', 'hour')),
    at              timestamptz NOT NULL,
    application_id  uuid NOT NULL,
    pipeline_name   text NOT NULL,
    status          text NOT NULL,
    bucket          smallint NOT NULL,
    n               bigint NOT NULL,
    PRIMARY KEY (grain, at, application_id, pipeline_name, status, bucket)
);
CREATE INDEX run_rollups_application ON run_rollups (application_id, grain, at);

-- The history so far, so that risk has a baseline from the first day: every finished
-- pipeline except those the fold is still to count (their finish is logged past the cursor).
-- A transaction finishing one now cannot be seen here, and its finish log row is past the
-- cursor: counted once either way. The minute grain only for the days minutes are kept.
INSERT INTO run_rollups (grain, at, application_id, pipeline_name, status, bucket, n)
SELECT g.grain, date_trunc(g.grain, p.finished_at, 'UTC'), p.application_id, p.name, p.status,
       -- pipelines.revision moved when an operator reran or skipped: whether the pipeline
       -- had finished then is not known, so its run time is not either.
       CASE WHEN p.revision = 0 THEN least(220, greatest(0, floor(
           ln(greatest(extract(epoch FROM p.finished_at - p.created_at), 0.001) / 0.001)
           / ln(1.1))))::smallint
       ELSE -1 END,
       count(*)
FROM pipelines p
CROSS JOIN (VALUES ('minute'), ('hour')) AS g (grain)
WHERE p.status <> 'running' AND p.finished_at IS NOT NULL
  AND (g.grain = 'hour' OR p.finished_at >= now() - interval '2 days')
  AND NOT EXISTS (
      SELECT 1 FROM pipeline_finishes f
      WHERE f.pipeline_id = p.id
        AND f.txid >= (SELECT position FROM rollup_cursors WHERE name = 'attempts'))
GROUP BY 1, 2, 3, 4, 5, 6;
