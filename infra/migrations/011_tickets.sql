-- Tickets read models (projections/tickets.py) from `ems.tickets`: the tickets (one row each, replaced
-- by a higher version), their comments, links, SLA timers (one row per ticket and kind, with the status
-- history they are computed from, so the API reads them live) and their history (one row per version,
-- with the actor of each change and the SLA crossings it noticed).

CREATE TABLE tickets (
    ticket_id        text        PRIMARY KEY,
    number           text        NOT NULL UNIQUE,
    type             text        NOT NULL,
    tenant           text,
    title            text        NOT NULL,
    description      text        NOT NULL,
    status           text        NOT NULL,
    pending_reason   text,
    priority         text        NOT NULL,
    impact           integer     NOT NULL,
    urgency          integer     NOT NULL,
    assignment_group text        NOT NULL,
    assignee         text,
    requester        text,
    services         text[]      NOT NULL,
    site             text,
    tags             text[]      NOT NULL,
    created_by       text        NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    resolved_at      timestamptz,
    closed_at        timestamptz,
    comments         integer     NOT NULL,
    sla_due_at       timestamptz, -- the earliest due time of a running timer
    sla_breached_at  timestamptz, -- the earliest breach known at the last change
    version          integer     NOT NULL
);
CREATE INDEX tickets_updated ON tickets (updated_at, ticket_id);
CREATE INDEX tickets_created ON tickets (created_at, ticket_id);
CREATE INDEX tickets_status ON tickets (status, priority);
CREATE INDEX tickets_assignee ON tickets (assignee, status);
CREATE INDEX tickets_group ON tickets (assignment_group, status);
CREATE INDEX tickets_due ON tickets (sla_due_at) WHERE sla_due_at IS NOT NULL;
CREATE INDEX tickets_tenant ON tickets (tenant, updated_at);

CREATE TABLE ticket_comments (
    ticket_id  text        NOT NULL,
    version    integer     NOT NULL,
    at         timestamptz NOT NULL,
    actor      text        NOT NULL,
    visibility text        NOT NULL,
    text       text        NOT NULL,
    PRIMARY KEY (ticket_id, version)
);

CREATE TABLE ticket_links (
    ticket_id text        NOT NULL,
    kind      text        NOT NULL,
    ref       text        NOT NULL,
    at        timestamptz NOT NULL,
    by        text        NOT NULL,
    PRIMARY KEY (ticket_id, kind, ref)
);
CREATE INDEX ticket_links_ref ON ticket_links (kind, ref);

CREATE TABLE sla_timers (
    ticket_id   text             NOT NULL,
    kind        text             NOT NULL,
    target_s    double precision NOT NULL,
    calendar    text             NOT NULL,
    state       text             NOT NULL,
    elapsed_s   double precision NOT NULL,
    due_at      timestamptz,
    breached_at timestamptz,
    emitted     integer[]        NOT NULL,
    history     jsonb            NOT NULL,
    version     integer          NOT NULL,
    PRIMARY KEY (ticket_id, kind)
);

CREATE TABLE ticket_history (
    ticket_id   text        NOT NULL,
    version     integer     NOT NULL,
    kind        text        NOT NULL,
    at          timestamptz NOT NULL,
    actor       text        NOT NULL,
    from_status text,
    status      text        NOT NULL,
    reason      text        NOT NULL,
    cause       text        NOT NULL,
    sla         jsonb       NOT NULL,
    PRIMARY KEY (ticket_id, version)
);
CREATE INDEX ticket_history_cause ON ticket_history (cause);
