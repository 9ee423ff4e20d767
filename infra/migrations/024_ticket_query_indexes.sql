-- Indexes for the ticket list's two filters that scanned at 10,000 tickets (bench/tickets.py, see
-- docs/performance.md "Tickets"): due_within= and q=.

-- due_within=T: EXISTS a running timer with now() < due_at <= now() + T (api/tickets_query.py DUE_SOON).
CREATE INDEX sla_timers_running_due ON sla_timers (due_at) INCLUDE (ticket_id) WHERE state = 'running';

-- q=text: ILIKE '%...%' over title, number and description, with trigrams where pg_trgm is available
-- (as 005 does for alerts; without it q= scans). The expression is the one api/queries.py builds from
-- the ticket list's text columns.
DO $$
DECLARE
    ext_schema text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        RAISE NOTICE 'pg_trgm not available: ticket q= text search will scan';
        RETURN;
    END IF;
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'no privilege to create pg_trgm: ticket q= text search will scan';
        RETURN;
    END;
    SELECT extnamespace::regnamespace::text INTO ext_schema FROM pg_extension WHERE extname = 'pg_trgm';
    EXECUTE format(
        'CREATE INDEX tickets_text_trgm ON tickets USING gin (('
        'coalesce(title, '''') || '' '' || coalesce(number, '''') || '' '' || coalesce(description, '''')'
        ') %I.gin_trgm_ops)',
        ext_schema
    );
END $$;
