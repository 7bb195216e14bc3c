-- Remediation notices (处置函) and the firewall blocklist.

CREATE TABLE notice_numbers (
    year integer PRIMARY KEY,
    last integer NOT NULL
);

CREATE TABLE notices (
    id               uuid PRIMARY KEY,
    number           text        NOT NULL UNIQUE,
    incident_id      uuid        NOT NULL UNIQUE REFERENCES incidents (id),
    unit_code        text        NOT NULL,
    severity         text        NOT NULL,
    state            text        NOT NULL DEFAULT 'issued',
    note             text        NOT NULL DEFAULT '',
    deadline         timestamptz NOT NULL,
    escalation_level integer     NOT NULL DEFAULT 0,
    escalated_at     timestamptz,
    report           text        NOT NULL DEFAULT '',
    commitment_letter text       NOT NULL DEFAULT '',
    reported_at      timestamptz,
    verify_note      text        NOT NULL DEFAULT '',
    sent_back        integer     NOT NULL DEFAULT 0,
    issued_by        text        NOT NULL,
    -- (issuer, request_id) of an idempotent issue.
    request_key      text UNIQUE,
    issued_at        timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz,
    verified_at      timestamptz,
    closed_at        timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notices_newest ON notices (issued_at DESC, id DESC);
CREATE INDEX notices_by_unit ON notices (unit_code, issued_at DESC, id DESC);
-- The escalation sweep: unreported notices by deadline.
CREATE INDEX notices_unreported ON notices (deadline) WHERE reported_at IS NULL AND escalation_level = 0;

CREATE TABLE blocks (
    id          uuid PRIMARY KEY,
    cidr        cidr        NOT NULL,
    reason      text        NOT NULL,
    incident_id uuid REFERENCES incidents (id),
    expires_at  timestamptz NOT NULL,
    automatic   boolean     NOT NULL DEFAULT false,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    lifted_at   timestamptz,
    lifted_by   text
);
CREATE INDEX blocks_active ON blocks (expires_at) WHERE lifted_at IS NULL;
-- One active entry per range.
CREATE UNIQUE INDEX blocks_one_active ON blocks (cidr) WHERE lifted_at IS NULL;
