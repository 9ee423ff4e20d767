-- Asset registry read models (projections/assets.py): current assets, their typed directed edges
-- (rows are kept with active = false once removed, so a replay gives the same rows), and the
-- change history (what caused each version; the API's ?wait= polls it by cause).

CREATE TABLE assets (
    asset_id         text        PRIMARY KEY,
    natural_key      text,
    name             text        NOT NULL,
    type             text        NOT NULL,
    vendor           text,
    model            text,
    addresses        text[]      NOT NULL,
    environment      text,
    location         text,
    contact          text,
    owner_team       text,
    tags             text[]      NOT NULL,
    attributes       jsonb       NOT NULL,
    criticality      integer,
    business_service text,
    revenue_per_hour double precision,
    users_served     integer,
    lifecycle        text        NOT NULL,
    first_seen       timestamptz,
    last_seen        timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    pinned           text[]      NOT NULL,
    version          integer     NOT NULL
);
CREATE INDEX assets_type ON assets (type);
CREATE INDEX assets_service ON assets (business_service);
CREATE INDEX assets_tags ON assets USING gin (tags);
CREATE INDEX assets_name ON assets (name, asset_id);

CREATE TABLE asset_dependencies (
    source_id  text    NOT NULL,
    type       text    NOT NULL,
    target_id  text    NOT NULL,
    origin     text    NOT NULL,
    attributes jsonb   NOT NULL,
    active     boolean NOT NULL,
    version    integer NOT NULL,
    PRIMARY KEY (source_id, type, target_id)
);
CREATE INDEX asset_dependencies_target ON asset_dependencies (target_id, type) WHERE active;

CREATE TABLE asset_changes (
    asset_id text        NOT NULL,
    version  integer     NOT NULL,
    kind     text        NOT NULL,
    cause    text        NOT NULL,
    actor    text        NOT NULL,
    reason   text        NOT NULL,
    at       timestamptz NOT NULL,
    PRIMARY KEY (asset_id, version)
);
CREATE INDEX asset_changes_cause ON asset_changes (cause);
