-- Messages to the 领导信箱 and the 市民心声论坛. Each becomes one ticket in the cases service
-- (request_id = the message id, so a retried forward finds the first); the contact data is
-- kept sealed only until the ticket holds it.
CREATE TABLE messages (
    id                    uuid PRIMARY KEY,
    site_id               text NOT NULL REFERENCES sites (id),
    source                text NOT NULL CHECK (source IN ('leader_mailbox', 'citizen_forum')),
    subject               text NOT NULL,
    body                  text NOT NULL,
    submitted_by          text NOT NULL,
    contact_name_sealed   bytea,
    contact_phone_sealed  bytea,
    ticket_id             uuid,
    forward_error         text NOT NULL DEFAULT '',
    answer                text NOT NULL DEFAULT '',
    answered_by           text NOT NULL DEFAULT '',
    answered_at           timestamptz,
    request_id            text NOT NULL DEFAULT '',
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_to_forward ON messages (created_at) WHERE ticket_id IS NULL;
CREATE INDEX messages_published ON messages (site_id, answered_at DESC, id DESC) WHERE answered_at IS NOT NULL;
CREATE UNIQUE INDEX messages_by_request ON messages (submitted_by, request_id) WHERE request_id <> '';
