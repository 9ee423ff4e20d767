-- Ticket attachments (links to files kept elsewhere) and a change's window (projections/tickets.py),
-- from the `ticket.attach` / `ticket.detach` / `ticket.change_window` changes on `ems.tickets`.

CREATE TABLE ticket_attachments (
    ticket_id     text        NOT NULL,
    attachment_id text        NOT NULL,
    name          text        NOT NULL,
    url           text        NOT NULL,
    content_type  text,
    size          bigint,
    at            timestamptz NOT NULL, -- attached
    by            text        NOT NULL,
    removed_at    timestamptz,          -- detached (the row stays)
    removed_by    text,
    version       integer     NOT NULL, -- the ticket version that attached or detached it
    PRIMARY KEY (ticket_id, attachment_id)
);

-- A change's window: {start, end, window_id (the maintenance window while scheduled), cancelled_at}.
ALTER TABLE tickets ADD COLUMN change_window jsonb;
