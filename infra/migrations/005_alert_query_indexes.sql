-- Indexes for the alert dashboards (api/alert_query.py), sized for 1,000,000 alerts.
-- Found with EXPLAIN (ANALYZE) of bench/alert_queries.py's queries; see README "Querying alerts".

-- Default sort and its keyset cursor: ORDER BY last_seen DESC, alert_id DESC and
-- (last_seen, alert_id) < (...). 001's (last_seen DESC, alert_id) orders ties the other way, so
-- it can serve neither; this one is scanned backwards. Also from=/to= ranges.
DROP INDEX IF EXISTS alerts_last_seen;
CREATE INDEX alerts_last_seen_id ON alerts (last_seen, alert_id);

-- sort=severity,-last_seen (most severe first, newest first within a severity).
CREATE INDEX alerts_severity_last_seen ON alerts (severity_rank, last_seen DESC, alert_id DESC);

-- sort=first_seen and top?by=standing (oldest first); sort=duplicate_count and top?by=duplicates.
CREATE INDEX alerts_first_seen_id ON alerts (first_seen, alert_id);
CREATE INDEX alerts_duplicates ON alerts (duplicate_count, alert_id);

-- /alerts/count groups by status and severity: an index-only scan.
CREATE INDEX alerts_status_severity_name ON alerts (status, severity);

-- attributes.<key>=value (@>) and attributes.<key>=* (?).
CREATE INDEX alerts_attributes ON alerts USING gin (attributes);

-- top?by=flapping: transitions within a time window, counted from the index alone.
CREATE INDEX alert_history_at ON alert_history (at) INCLUDE (kind, alert_id);

-- q=text: ILIKE '%...%' over the text columns, with trigrams where pg_trgm is available (it is
-- in PostgreSQL's contrib, not in every embedded build; without it q= scans). The expression is
-- the one api/alert_filters.py text_search() builds.
DO $$
DECLARE
    ext_schema text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        RAISE NOTICE 'pg_trgm not available: q= text search will scan';
        RETURN;
    END IF;
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'no privilege to create pg_trgm: q= text search will scan';
        RETURN;
    END;
    SELECT extnamespace::regnamespace::text INTO ext_schema FROM pg_extension WHERE extname = 'pg_trgm';
    EXECUTE format(
        'CREATE INDEX alerts_text_trgm ON alerts USING gin (('
        'coalesce(title, '''') || '' '' || coalesce(text, '''') || '' '' || coalesce(resource, '''')'
        ' || '' '' || coalesce(event, '''') || '' '' || coalesce(asset_id, '''')) %I.gin_trgm_ops)',
        ext_schema
    );
END $$;
