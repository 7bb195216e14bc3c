-- The e-licences the cases service issued to legal persons (events cases.licence.issued and
-- .revoked): what the register knows an entity is licensed for, and what was revoked.
CREATE TABLE entity_licences (
    number        text PRIMARY KEY,
    uscc          text NOT NULL,
    case_id       uuid NOT NULL,
    item_code     text NOT NULL,
    department    text NOT NULL,
    valid_until   timestamptz,
    issued_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    revoke_reason text NOT NULL DEFAULT ''
);
CREATE INDEX entity_licences_by_uscc ON entity_licences (uscc, number);
