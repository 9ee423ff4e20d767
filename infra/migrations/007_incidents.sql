-- Incidents read models (projections/incidents.py) from `ems.incidents`: the incidents, their
-- memberships (one row per incident, alert and episode; a member that moved keeps its row with
-- left_at), the timeline (one row per incident version), and each alert's current incident.

CREATE TABLE incidents (
    incident_id      text             PRIMARY KEY,
    tenant           text,
    status           text             NOT NULL,
    title            text             NOT NULL,
    severity         text             NOT NULL,
    severity_rank    integer          NOT NULL,
    opened_at        timestamptz      NOT NULL,
    updated_at       timestamptz      NOT NULL,
    resolved_at      timestamptz,
    merged_into      text,
    members_total    integer          NOT NULL,
    members_open     integer          NOT NULL,
    alerts           integer          NOT NULL,
    assets           text[]           NOT NULL,
    root_asset_id    text,
    root_cause       jsonb,
    impact_score     double precision NOT NULL,
    revenue_per_hour double precision NOT NULL,
    impact           jsonb            NOT NULL,
    version          integer          NOT NULL,
    seq              bigint           NOT NULL
);
CREATE INDEX incidents_updated ON incidents (updated_at, incident_id);
CREATE INDEX incidents_opened ON incidents (opened_at, incident_id);
CREATE INDEX incidents_impact ON incidents (impact_score, incident_id);
CREATE INDEX incidents_status ON incidents (status, severity_rank);
CREATE INDEX incidents_assets ON incidents USING gin (assets);
CREATE INDEX incidents_tenant ON incidents (tenant, updated_at);

CREATE TABLE incident_members (
    incident_id      text             NOT NULL,
    alert_id         text             NOT NULL,
    episode          integer          NOT NULL,
    fingerprint      text             NOT NULL,
    tenant           text,
    asset_id         text,
    source           text             NOT NULL,
    event            text             NOT NULL,
    resource         text             NOT NULL,
    title            text             NOT NULL,
    severity         text             NOT NULL,
    status           text             NOT NULL,
    opened_at        timestamptz      NOT NULL,
    since            timestamptz,
    ended_at         timestamptz,
    joined_at        timestamptz      NOT NULL,
    left_at          timestamptz,
    reason           text             NOT NULL,
    arrival          text             NOT NULL,
    linked_to        text,
    detail           text             NOT NULL,
    event_ids        text[]           NOT NULL,
    event_count      integer          NOT NULL,
    alert_version    integer          NOT NULL,
    impact           double precision NOT NULL,
    revenue_per_hour double precision NOT NULL,
    version          integer          NOT NULL,
    PRIMARY KEY (incident_id, alert_id, episode)
);
CREATE INDEX incident_members_alert ON incident_members (alert_id, episode);

CREATE TABLE incident_history (
    incident_id  text             NOT NULL,
    version      integer          NOT NULL,
    seq          bigint           NOT NULL,
    kind         text             NOT NULL,
    at           timestamptz      NOT NULL,
    reason       text             NOT NULL,
    status       text             NOT NULL,
    alerts       integer          NOT NULL,
    impact_score double precision NOT NULL,
    changed      jsonb            NOT NULL,
    PRIMARY KEY (incident_id, version)
);

-- Each alert's incident: the membership of its latest decision (`seq` orders the stage's decisions).
-- `pending` until the alert's row carries it (see below).
CREATE TABLE alert_incidents (
    alert_id    text    PRIMARY KEY,
    incident_id text    NOT NULL,
    episode     integer NOT NULL,
    seq         bigint  NOT NULL,
    pending     boolean NOT NULL
);
CREATE INDEX alert_incidents_pending ON alert_incidents (alert_id) WHERE pending;

ALTER TABLE alerts ADD COLUMN incident_id text;
CREATE INDEX alerts_incident ON alerts (incident_id) WHERE incident_id IS NOT NULL;

-- The alerts and incidents projections write concurrently (live, and in a replay). An alert row
-- takes its incident when it is inserted (this trigger); an incident batch sets it on the rows that
-- exist (projections/incidents.py). So that no alert falls between the two, each alert insert holds
-- a shared lock, and an incident batch takes it exclusively first: either the alert's transaction
-- committed before the batch updates its row, or its insert waits for the batch and then reads
-- alert_incidents. Shared locks do not conflict with each other: alert writers never wait on each
-- other for it.
CREATE FUNCTION alerts_take_incident() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtext(TG_TABLE_SCHEMA || '.alert_incidents'));
    SELECT ai.incident_id INTO NEW.incident_id FROM alert_incidents ai WHERE ai.alert_id = NEW.alert_id;
    RETURN NEW;
END
$$;
CREATE TRIGGER alerts_take_incident BEFORE INSERT ON alerts
    FOR EACH ROW EXECUTE FUNCTION alerts_take_incident();
