-- Tickets: enterprise requests (涉企诉求), "办不成事" complaints, website messages (网民留言).

CREATE TABLE tickets (
    id                 uuid PRIMARY KEY,
    kind               text NOT NULL CHECK (kind IN ('enterprise_request', 'complaint', 'web_message')),
    subject            text NOT NULL,
    body               text NOT NULL,
    state              text NOT NULL CHECK (state IN ('received', 'dispatched', 'replied', 'called_back', 'closed')),
    submitted_by       text NOT NULL,
    request_id         text NOT NULL DEFAULT '',
    department         text NOT NULL DEFAULT '',
    dispatched_by      text NOT NULL DEFAULT '',
    dispatched_at      timestamptz,
    reply_deadline     timestamptz,
    reply              text NOT NULL DEFAULT '',
    replied_by         text NOT NULL DEFAULT '',
    replied_at         timestamptz,
    callback_note      text NOT NULL DEFAULT '',
    callback_satisfied boolean NOT NULL DEFAULT false,
    called_back_at     timestamptz,
    close_note         text NOT NULL DEFAULT '',
    closed_at          timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tickets_by_submitter ON tickets (submitted_by, created_at DESC, id DESC);
CREATE INDEX tickets_by_department ON tickets (department, created_at DESC, id DESC);
CREATE INDEX tickets_by_time ON tickets (created_at DESC, id DESC);
CREATE UNIQUE INDEX tickets_by_request ON tickets (submitted_by, request_id) WHERE request_id <> '';

CREATE TABLE ticket_events (
    id        bigserial PRIMARY KEY,
    ticket_id uuid NOT NULL REFERENCES tickets (id),
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,
    action    text NOT NULL,
    from_state text NOT NULL,
    to_state  text NOT NULL,
    note      text NOT NULL DEFAULT ''
);
CREATE INDEX ticket_events_by_ticket ON ticket_events (ticket_id, id);
