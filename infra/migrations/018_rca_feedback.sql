-- Operator root-cause feedback (projections/rca_feedback.py) from `incident.root_cause` commands on
-- `ems.commands`: one row per command, shown by GET /api/v1/incidents/{id} as `rca_feedback`.
-- The labels `ems retrain --log` learns from are read from the log itself, not from this table.

CREATE TABLE incident_rca_feedback (
    command_id   text        PRIMARY KEY,
    incident_id  text        NOT NULL,
    tenant       text,
    asset_id     text        NOT NULL,
    alert_id     text,
    verdict      text        NOT NULL, -- confirm | correct
    comment      text        NOT NULL DEFAULT '',
    model        text,                 -- the model version whose verdict was judged
    model_asset_id text,               -- the asset it named
    actor        text        NOT NULL,
    at           timestamptz NOT NULL
);
CREATE INDEX incident_rca_feedback_incident ON incident_rca_feedback (incident_id, at);
