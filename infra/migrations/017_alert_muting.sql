-- Muting on the alert list (projections/notifications.py): each alert's latest notification
-- decision (highest alert version) says whether it is muted and by what, copied onto `alerts` so
-- `GET /api/v1/alerts` shows it and filters on it (`muted=true`). `pending` until the alert's row
-- carries it (a decision may be projected before the alert's row exists).
CREATE TABLE alert_muting (
    alert_id text        PRIMARY KEY,
    version  integer     NOT NULL, -- the alert version decided
    at       timestamptz NOT NULL, -- its event time
    muted    boolean     NOT NULL,
    muted_by jsonb       NOT NULL, -- {windows: [id], silences: [id], inhibitions: [{rule_id, source_id}], flapping}
    pending  boolean     NOT NULL
);
CREATE INDEX alert_muting_pending ON alert_muting (alert_id) WHERE pending;

ALTER TABLE alerts ADD COLUMN muted boolean NOT NULL DEFAULT false;
ALTER TABLE alerts ADD COLUMN muted_by jsonb; -- null: no decision yet
CREATE INDEX alerts_muted ON alerts (muted) WHERE muted;

-- As for incidents (007_incidents.sql): the alerts and notifications projections write
-- concurrently, live and in a replay. An alert row takes its muting when it is inserted (this
-- trigger); a notifications batch sets it on the rows that exist. Each alert insert holds a shared
-- lock and a notifications batch takes it exclusively first, so no alert falls between the two.
CREATE FUNCTION alerts_take_muting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtext(TG_TABLE_SCHEMA || '.alert_muting'));
    SELECT m.muted, m.muted_by INTO NEW.muted, NEW.muted_by FROM alert_muting m
        WHERE m.alert_id = NEW.alert_id;
    NEW.muted := coalesce(NEW.muted, false);
    RETURN NEW;
END
$$;
CREATE TRIGGER alerts_take_muting BEFORE INSERT ON alerts
    FOR EACH ROW EXECUTE FUNCTION alerts_take_muting();
