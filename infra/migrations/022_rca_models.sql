-- The root-cause model registry (projections/rca_models.py) from `ems.models`: one row per published
-- version (its metrics, not the model itself: that stays in the log), and the live version with the
-- ones live before it (what `ems model rollback` returns to). Shown by GET /api/v1/models.

CREATE TABLE rca_models (
    version      text        PRIMARY KEY,
    published_at timestamptz NOT NULL,
    actor        text        NOT NULL,
    sha256       text        NOT NULL,
    model_bytes  integer     NOT NULL, -- the encoded model's size on the topic
    metrics      jsonb       NOT NULL,
    training     jsonb       NOT NULL
);

CREATE TABLE rca_model_live (
    slot         text        PRIMARY KEY, -- 'active': one row
    version      text        NOT NULL,
    previous     text[]      NOT NULL,    -- oldest first
    reason       text        NOT NULL,    -- publish | activate | rollback
    actor        text        NOT NULL,
    at           timestamptz NOT NULL,
    seq          integer     NOT NULL     -- a row of a higher seq replaces it
);
