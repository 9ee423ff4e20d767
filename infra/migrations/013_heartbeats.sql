-- Heartbeats (projections/heartbeats.py) from `ems.heartbeats`: one row per origin and tenant, the
-- heartbeat stage's latest decision (replaced by a higher version). The status is the stage's, decided
-- in event time (ok, slow, expired), not recomputed when read.

CREATE TABLE heartbeats (
    heartbeat_id text        PRIMARY KEY,
    origin       text        NOT NULL,
    tenant       text,
    tags         jsonb       NOT NULL, -- ["dc1", ...]
    attributes   jsonb       NOT NULL,
    timeout      integer     NOT NULL, -- seconds
    created_at   timestamptz NOT NULL, -- the last beat's own time
    received_at  timestamptz NOT NULL, -- when the last beat was appended
    latency_ms   integer     NOT NULL,
    due_at       timestamptz NOT NULL,
    status       text        NOT NULL, -- ok, slow, expired
    expired_at   timestamptz,
    beats        integer     NOT NULL,
    version      integer     NOT NULL
);
CREATE INDEX heartbeats_origin ON heartbeats (origin, heartbeat_id);
CREATE INDEX heartbeats_tenant ON heartbeats (tenant, origin);
