-- Silences and maintenance windows (projections/suppressions.py) from `ems.suppressions`: one row each
-- (replaced by a higher version; their status is computed when read, from the times kept here) and
-- their history (one row per version, with the actor, reason and command of each change).

CREATE TABLE silences (
    silence_id text        PRIMARY KEY,
    tenant     text,
    matchers   jsonb       NOT NULL, -- [{name, op, value}]
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    expired_at timestamptz,
    comment    text        NOT NULL,
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version    integer     NOT NULL
);
CREATE INDEX silences_created ON silences (created_at, silence_id);
CREATE INDEX silences_tenant ON silences (tenant, created_at);

CREATE TABLE maintenance_windows (
    window_id    text        PRIMARY KEY,
    tenant       text,
    title        text        NOT NULL,
    mode         text        NOT NULL,
    scope        jsonb       NOT NULL,
    schedule     jsonb       NOT NULL, -- one-off {start, end} or recurring {frequency, hours, timezone, ...}
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    cancelled_at timestamptz,
    version      integer     NOT NULL
);
CREATE INDEX maintenance_windows_created ON maintenance_windows (created_at, window_id);
CREATE INDEX maintenance_windows_tenant ON maintenance_windows (tenant, created_at);

CREATE TABLE suppression_history (
    id       text        NOT NULL, -- the silence or window id
    version  integer     NOT NULL,
    kind     text        NOT NULL, -- created, expired, updated, cancelled
    at       timestamptz NOT NULL,
    actor    text        NOT NULL,
    reason   text        NOT NULL,
    cause    text        NOT NULL,
    snapshot jsonb       NOT NULL,
    PRIMARY KEY (id, version)
);
CREATE INDEX suppression_history_cause ON suppression_history (cause);
