-- Searching the stage logs of one's applications (GET /api/logs): by words, level, pipeline,
-- handler and time, newest first.
--
-- Each line carries its application and handler, so that who may see it and which handler
-- wrote it are read from the line itself, not from a join per line scanned. The words are
-- indexed with the 'simple' configuration: log lines are identifiers, codes and numbers, which
-- a language's stemming and stop words would mangle ("failed" stays "failed", "is" is kept).
--
-- The backfill rewrites stage_logs once; retention keeps it to a few days' lines.
ALTER TABLE stage_logs ADD COLUMN application_id uuid, ADD COLUMN handler text;
UPDATE stage_logs l SET application_id = s.application_id, handler = s.handler
FROM stages s WHERE s.id = l.stage_id;
ALTER TABLE stage_logs
    ALTER COLUMN application_id SET NOT NULL,
    ALTER COLUMN handler SET NOT NULL;

CREATE INDEX stage_logs_words ON stage_logs USING gin (to_tsvector('simple', message));
-- One application's lines, or one handler's, in a window of line ids (see log_search.py).
CREATE INDEX stage_logs_application ON stage_logs (application_id, id);
CREATE INDEX stage_logs_handler ON stage_logs (handler, id);
