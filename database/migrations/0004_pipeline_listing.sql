-- The dashboard lists pipelines across applications, newest first, or finished ones by time.
CREATE INDEX pipelines_created ON pipelines (created_at DESC, id DESC);
CREATE INDEX pipelines_finished ON pipelines (finished_at DESC) WHERE finished_at IS NOT NULL;
