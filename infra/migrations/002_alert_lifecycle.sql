-- Alert lifecycle: operator and timer state on alerts; who/why/status on every history entry.

ALTER TABLE alerts
    ADD COLUMN timeout           integer     NOT NULL DEFAULT 0,
    ADD COLUMN assignee          text,
    ADD COLUMN assigned_team     text,
    ADD COLUMN acked_by          text,
    ADD COLUMN acked_at          timestamptz,
    ADD COLUMN ack_until         timestamptz,
    ADD COLUMN shelved_by        text,
    ADD COLUMN shelved_until     timestamptz,
    ADD COLUMN status_changed_at timestamptz;
CREATE INDEX alerts_assignee ON alerts (assignee) WHERE assignee IS NOT NULL;

ALTER TABLE alert_history
    ADD COLUMN status          text,
    ADD COLUMN previous_status text,
    ADD COLUMN actor           text,
    ADD COLUMN reason          text NOT NULL DEFAULT '';
