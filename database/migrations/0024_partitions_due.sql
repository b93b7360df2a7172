-- Which day partitions retention drops, as a rule of its own: the drop and a preview of
-- retention (what a round would delete now) both read it, so that they cannot disagree.

-- `parent`'s day partitions that end at or before `cutoff`, oldest first.
CREATE FUNCTION pipelogiq_day_partitions_due(parent text, cutoff timestamptz)
RETURNS SETOF text LANGUAGE sql STABLE AS $$
    SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = parent::regclass
      AND c.relname ~ ('^' || parent || '_[0-9]{8}$')
      AND (to_date(right(c.relname, 8), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC'
          <= cutoff
    ORDER BY c.relname
$$;

-- Drops `parent`'s day partitions that end at or before `cutoff`; returns their names.
CREATE OR REPLACE FUNCTION pipelogiq_drop_day_partitions(parent text, cutoff timestamptz)
RETURNS SETOF text LANGUAGE plpgsql AS $$
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
