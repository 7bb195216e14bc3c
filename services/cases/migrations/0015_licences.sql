-- E-licences (电子证照) issued on approving licence items; the document is what is signed.
CREATE TABLE licence_numbers (
    year integer PRIMARY KEY,
    last integer NOT NULL
);
CREATE TABLE licences (
    number        text PRIMARY KEY,
    case_id       uuid NOT NULL UNIQUE REFERENCES cases (id),
    owner_sub     text NOT NULL,
    document      text NOT NULL,
    signature     text NOT NULL,
    valid_until   timestamptz NOT NULL,
    revoked_at    timestamptz,
    revoke_reason text NOT NULL DEFAULT ''
);
CREATE INDEX licences_by_owner ON licences (owner_sub, number DESC) WHERE owner_sub <> '';
