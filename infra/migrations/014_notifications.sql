-- Notifications (projections/notifications.py) from `ems.notifications`: one row per decision (an alert
-- change notified or muted, and by what) and one per delivery attempt (attempt 0 = queued when decided).

CREATE TABLE notification_decisions (
    alert_id      text        NOT NULL,
    version       integer     NOT NULL,
    kind          text        NOT NULL, -- firing, resolved
    at            timestamptz NOT NULL, -- the alert change's event time
    notify        boolean     NOT NULL,
    suppressed_by jsonb       NOT NULL, -- [window id]
    silenced_by   jsonb       NOT NULL, -- [silence id]
    inhibited_by  jsonb       NOT NULL, -- [{rule_id, source_id}]
    flapping      boolean     NOT NULL,
    reasons       jsonb       NOT NULL, -- [text]
    receivers     jsonb       NOT NULL, -- [receiver name]
    PRIMARY KEY (alert_id, version)
);

CREATE TABLE notification_attempts (
    key      text        NOT NULL, -- the idempotency key: <alert id>:<version>:<receiver>
    attempt  integer     NOT NULL, -- 0: queued (decided), then 1, 2, ... per try
    alert_id text        NOT NULL,
    receiver text        NOT NULL,
    outcome  text        NOT NULL, -- queued, delivered, retried, failed
    reason   text        NOT NULL,
    at       timestamptz NOT NULL,
    PRIMARY KEY (key, attempt)
);
CREATE INDEX notification_attempts_alert ON notification_attempts (alert_id, at);
