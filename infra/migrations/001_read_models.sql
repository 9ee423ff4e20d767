-- Read models of the walking skeleton: event history, current alerts, alert history, checkpoints.
-- Applied inside the read-model schema (search_path is set by ems.infra.migrate).

CREATE TABLE projection_checkpoint (
    projection  text    NOT NULL,
    topic       text    NOT NULL,
    partition   integer NOT NULL,
    last_offset bigint  NOT NULL,
    PRIMARY KEY (projection, topic, partition)
);

CREATE TABLE events (
    event_id       text        PRIMARY KEY,
    fingerprint    text        NOT NULL,
    occurred_at    timestamptz NOT NULL,
    source         text        NOT NULL,
    severity       text        NOT NULL,
    event          text        NOT NULL,
    resource       text        NOT NULL,
    title          text        NOT NULL,
    text           text        NOT NULL,
    asset_id       text,
    environment    text        NOT NULL,
    service        text[]      NOT NULL,
    tags           text[]      NOT NULL,
    attributes     jsonb       NOT NULL,
    value          text,
    raw_partition  integer     NOT NULL,
    raw_offset     bigint      NOT NULL
);
CREATE INDEX events_occurred_at ON events (occurred_at DESC, event_id);
CREATE INDEX events_fingerprint ON events (fingerprint, occurred_at DESC);
CREATE INDEX events_asset ON events (asset_id, occurred_at DESC);

CREATE TABLE alerts (
    alert_id          text        PRIMARY KEY,
    fingerprint       text        NOT NULL UNIQUE,
    status            text        NOT NULL,
    severity          text        NOT NULL,
    severity_rank     integer     NOT NULL,
    previous_severity text,
    trend             text        NOT NULL,
    event_count       integer     NOT NULL,
    duplicate_count   integer     NOT NULL,
    first_seen        timestamptz NOT NULL,
    last_seen         timestamptz NOT NULL,
    last_event_id     text        NOT NULL,
    source            text        NOT NULL,
    event             text        NOT NULL,
    resource          text        NOT NULL,
    title             text        NOT NULL,
    text              text        NOT NULL,
    asset_id          text,
    environment       text        NOT NULL,
    service           text[]      NOT NULL,
    tags              text[]      NOT NULL,
    attributes        jsonb       NOT NULL,
    value             text,
    version           integer     NOT NULL
);
CREATE INDEX alerts_last_seen ON alerts (last_seen DESC, alert_id);
CREATE INDEX alerts_status_severity ON alerts (status, severity_rank, last_seen DESC);
CREATE INDEX alerts_asset ON alerts (asset_id);
CREATE INDEX alerts_source ON alerts (source);
CREATE INDEX alerts_tags ON alerts USING gin (tags);

CREATE TABLE alert_history (
    alert_id          text        NOT NULL,
    event_id          text        NOT NULL,
    kind              text        NOT NULL,
    at                timestamptz NOT NULL,
    severity          text        NOT NULL,
    previous_severity text,
    PRIMARY KEY (alert_id, event_id, kind)
);
