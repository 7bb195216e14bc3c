-- Tickets from every door: where each came in, who registered it on the citizen's behalf (and
-- the contact, the phone sealed), and each department's part when split (分办) or transferred
-- (转办), with its own reply and deadline.
ALTER TABLE tickets ADD COLUMN source text NOT NULL DEFAULT 'app'
    CHECK (source IN ('app', 'window_complaint', 'window_enterprise', 'leader_mailbox',
                      'citizen_forum', 'hotline_12345'));
ALTER TABLE tickets ADD COLUMN registered_by text NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN contact_name text NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN contact_phone_sealed bytea;
CREATE INDEX tickets_by_registrar ON tickets (registered_by, created_at DESC, id DESC) WHERE registered_by <> '';

CREATE TABLE ticket_assignments (
    ticket_id        uuid NOT NULL REFERENCES tickets (id),
    department       text NOT NULL,
    reply_deadline   timestamptz NOT NULL,
    reply            text NOT NULL DEFAULT '',
    replied_by       text NOT NULL DEFAULT '',
    replied_at       timestamptz,
    transferred_from text NOT NULL DEFAULT '',
    overdue_notified boolean NOT NULL DEFAULT false,
    assigned_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ticket_id, department)
);
CREATE INDEX ticket_assignments_by_department ON ticket_assignments (department, ticket_id);
CREATE INDEX ticket_assignments_due ON ticket_assignments (reply_deadline)
    WHERE replied_at IS NULL AND NOT overdue_notified;
-- Tickets dispatched before: one part each, as they were.
INSERT INTO ticket_assignments (ticket_id, department, reply_deadline, reply, replied_by, replied_at,
                                overdue_notified, assigned_at)
SELECT id, department, reply_deadline, reply, replied_by, replied_at, true,
       coalesce(dispatched_at, created_at)
  FROM tickets WHERE department <> '' AND reply_deadline IS NOT NULL;
