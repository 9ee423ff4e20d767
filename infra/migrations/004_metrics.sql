-- Metric time series (projections/metrics.py): a series dimension, raw samples and 1m/5m/1h rollups,
-- each range-partitioned by time. Partitions are created on demand by metric_partitions_for() inside
-- the projection's batch transaction and dropped by `ems metrics retention`.

CREATE TABLE metric_series (
    series_id  bigint           PRIMARY KEY,   -- hash of (asset_id, name, labels), see series_id()
    asset_id   text             NOT NULL,
    name       text             NOT NULL,
    labels     jsonb            NOT NULL,
    last_ts    timestamptz      NOT NULL,      -- the latest sample of the series ...
    last_value double precision NOT NULL       -- ... and its value (versioned by last_ts)
);
CREATE INDEX metric_series_asset_name ON metric_series (asset_id, name);
CREATE INDEX metric_series_name ON metric_series (name);

CREATE TABLE metric_samples (
    series_id bigint           NOT NULL,
    ts        timestamptz      NOT NULL,
    value     double precision NOT NULL,
    PRIMARY KEY (series_id, ts)
) PARTITION BY RANGE (ts);

-- Rollups: `sum` is numeric so merging partial sums is exact and order-independent (a replay with other
-- batch boundaries gives the same rows); avg = sum / count.
CREATE TABLE metric_rollup_1m (
    series_id bigint           NOT NULL,
    bucket    timestamptz      NOT NULL,
    count     bigint           NOT NULL,
    sum       numeric          NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    last      double precision NOT NULL,
    last_ts   timestamptz      NOT NULL,
    PRIMARY KEY (series_id, bucket)
) PARTITION BY RANGE (bucket);
CREATE TABLE metric_rollup_5m (LIKE metric_rollup_1m INCLUDING ALL) PARTITION BY RANGE (bucket);
CREATE TABLE metric_rollup_1h (LIKE metric_rollup_1m INCLUDING ALL) PARTITION BY RANGE (bucket);

-- One partition of `parent` covering `at`: [date_bin(span, at, epoch), + span), named <parent>_pYYYYMMDD.
-- Spans are whole hours (no calendar arithmetic, so the session time zone never matters). Creation is
-- serialized by an advisory lock and re-checked under it, so concurrent runners never collide; callers
-- run it before writing any metric row in their transaction (lock order: advisory lock, then tables).
CREATE FUNCTION metric_partition(parent text, span interval, at timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    lo    timestamptz := date_bin(span, at, timestamptz '2000-01-03 00:00:00+00');
    child text := parent || '_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD');
    qualified text := format('%I.%I', current_schema(), child);
BEGIN
    IF to_regclass(qualified) IS NOT NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext(current_schema() || '.metric_partitions'));
    -- Re-check in pg_class itself: to_regclass may answer from a stale negative cache entry made
    -- before the lock, while the lock holder we waited for has committed the partition since.
    IF NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE c.relname = child AND n.nspname = current_schema()) THEN
        EXECUTE format('CREATE TABLE %s PARTITION OF %I.%I FOR VALUES FROM (%L) TO (%L)',
                       qualified, current_schema(), parent, lo, lo + span);
    END IF;
END $$;

-- Every partition a sample at `at` and its rollups need (spans: see ems.projections.metrics.RESOLUTIONS).
CREATE FUNCTION metric_partitions_for(at timestamptz) RETURNS void
LANGUAGE sql AS $$
    SELECT metric_partition('metric_samples', interval '24 hours', at);
    SELECT metric_partition('metric_rollup_1m', interval '24 hours', at);
    SELECT metric_partition('metric_rollup_5m', interval '168 hours', at);
    SELECT metric_partition('metric_rollup_1h', interval '720 hours', at);
$$;
