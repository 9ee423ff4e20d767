-- 1-minute rollups from the raw samples while they are kept (projections/metrics_rollup.py,
-- docs/design.md "Metric store"). A series polled once a minute had a 1m row repeating its one raw
-- sample: the rollup job wrote a row per sample, most of its writes. Now the job computes 5m straight
-- from the raw samples, and a 1m query aggregates raw minutes; `ems metrics retention` writes the 1m
-- rows of a day only when its raw partition is about to go, and records how far it has (`upto`):
-- 1m rows are complete below it, raw samples serve 1m queries from it on.
CREATE TABLE metric_rollup_archived (
    id   smallint    PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    upto timestamptz NOT NULL
);

-- An existing store: its 1m rows are complete up to where the raw samples begin (the oldest raw
-- partition; retention drops whole ones), so that is how far it counts as archived. A new store has
-- no partition yet and no row here: 1m queries read the raw samples throughout.
DO $$
DECLARE
    oldest text;
BEGIN
    SELECT min(c.relname) INTO oldest
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'metric_samples'::regclass;
    IF oldest IS NOT NULL THEN
        INSERT INTO metric_rollup_archived (id, upto)
        VALUES (1, to_date(substring(oldest FROM '_p([0-9]{8})$'), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC');
    END IF;
END $$;
