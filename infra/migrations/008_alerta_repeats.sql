-- Repeats since the alert's event name or severity last changed (Alerta's duplicateCount; 0 after a
-- change). duplicate_count keeps counting every repeat since the alert opened.
ALTER TABLE alerts ADD COLUMN repeats_at_severity integer NOT NULL DEFAULT 0;

-- Rows projected before this column: an alert that never changed severity has had every repeat at
-- its severity (the same rule as AlertState reading an older record); the others start again at 0.
UPDATE alerts SET repeats_at_severity = duplicate_count WHERE previous_severity IS NULL;
