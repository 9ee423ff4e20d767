-- Rollups out of the ingest transaction (projections/metrics_rollup.py, docs/design.md "Metric store").
-- The metrics projection now writes only samples and series, plus one row here per 1-minute bucket a
-- batch touched (`touched_at`: when, wall clock). The rollup job recomputes each pending bucket once it
-- is closed (its end at or before the watermark, and untouched for a quiet period) from the finer
-- data: 1m from the raw samples, 5m from 1m, 1h from 5m, and marks the coarser bucket pending in turn.
-- A bucket is always recomputed whole, never merged, so a late or repeated sample only makes its bucket
-- pending again. Queries read rollup rows only below the earliest
-- pending bucket (of that resolution or a finer one) and aggregate the raw samples from there on.
CREATE TABLE metric_rollup_pending (
    res    text        NOT NULL CHECK (res IN ('1m', '5m', '1h')),
    bucket timestamptz NOT NULL,
    touched_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (res, bucket)
);

-- One row: the event time up to which buckets count as closed (monotonic; only the job writes it).
CREATE TABLE metric_rollup_state (
    id        smallint    PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    watermark timestamptz NOT NULL
);

-- The job reads a bucket's finer rows by time: BRIN on the time columns, nearly free to maintain on
-- append-ordered data (the primary keys lead with series_id and cannot serve a time range).
CREATE INDEX metric_samples_ts_brin ON metric_samples USING brin (ts);
CREATE INDEX metric_rollup_1m_bucket_brin ON metric_rollup_1m USING brin (bucket);
CREATE INDEX metric_rollup_5m_bucket_brin ON metric_rollup_5m USING brin (bucket);

-- The series row no longer carries the newest sample: every poll rewrote it (one update per sample,
-- the largest write left once the rollups moved out). `/latest` reads the newest sample from
-- metric_samples through its (series_id, ts) key instead; the row is written once and never updated.
ALTER TABLE metric_series DROP COLUMN last_ts, DROP COLUMN last_value;
ALTER TABLE metric_series SET (fillfactor = 100);
