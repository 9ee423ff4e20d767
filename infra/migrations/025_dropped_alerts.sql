-- Drop windows (docs/noise.md, "Drop windows"): an alert change covered by a maintenance window in
-- drop mode is decided dropped (`dropped_by` names the windows) and the alert row is marked
-- `dropped`, copied from the alert's latest decision as `muted` is (017_alert_muting.sql). The alert
-- list, count and top hide dropped alerts unless asked (`dropped=true`, `include_dropped=true`).
ALTER TABLE notification_decisions ADD COLUMN dropped_by jsonb NOT NULL DEFAULT '[]';
ALTER TABLE alert_muting ADD COLUMN dropped boolean NOT NULL DEFAULT false;
ALTER TABLE alerts ADD COLUMN dropped boolean NOT NULL DEFAULT false;
CREATE INDEX alerts_dropped ON alerts (dropped) WHERE dropped;

CREATE OR REPLACE FUNCTION alerts_take_muting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtext(TG_TABLE_SCHEMA || '.alert_muting'));
    SELECT m.muted, m.muted_by, m.dropped INTO NEW.muted, NEW.muted_by, NEW.dropped FROM alert_muting m
        WHERE m.alert_id = NEW.alert_id;
    NEW.muted := coalesce(NEW.muted, false);
    NEW.dropped := coalesce(NEW.dropped, false);
    RETURN NEW;
END
$$;
