-- Synthetic HTTP(S) checks (projections/synthetic_checks.py) from `check.*` commands on `ems.commands`:
-- one row per check, its definition as created; a delete keeps the row with `deleted_at` (version 2).
-- The runner (`ems collector synthetic`) reads the rows without `deleted_at`.

CREATE TABLE synthetic_checks (
    check_id   text        PRIMARY KEY,
    name       text        NOT NULL,
    tenant     text,
    spec       jsonb       NOT NULL, -- collectors/synthetic_checks.py CheckSpec
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL,
    deleted_at timestamptz,
    deleted_by text,
    version    integer     NOT NULL  -- 1 created, 2 deleted
);
CREATE INDEX synthetic_checks_live ON synthetic_checks (created_at DESC) WHERE deleted_at IS NULL;
