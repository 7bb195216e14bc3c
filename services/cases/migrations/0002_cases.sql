-- Cases (办件). Applicants' ID and phone numbers are stored sealed (AEAD, key from
-- configuration) with a keyed hash beside them for exact lookup; a legal person's USCC is public
-- register data and stored as is.

CREATE TABLE cases (
    id                 uuid PRIMARY KEY,
    case_number        text NOT NULL UNIQUE,
    item_code          text NOT NULL,
    item_version       int NOT NULL,
    item_name          text NOT NULL,
    department         text NOT NULL,
    task_type          text NOT NULL,
    channel            text NOT NULL,
    applicant_kind     text NOT NULL CHECK (applicant_kind IN ('person', 'legal_person')),
    applicant_name     text NOT NULL,
    applicant_id_sealed bytea,
    applicant_id_hash  bytea,
    applicant_uscc     text NOT NULL DEFAULT '',
    applicant_phone_sealed bytea NOT NULL,
    applicant_phone_hash bytea NOT NULL,
    -- The account that filed for itself (citizen / enterprise), '' when staff filed at a window.
    owner_sub          text NOT NULL,
    filed_by           text NOT NULL,
    materials          text[] NOT NULL,
    required_materials text[] NOT NULL,
    state              text NOT NULL,
    -- Where a submitted correction returns to.
    resume_state       text NOT NULL DEFAULT '',
    limit_value        int NOT NULL,
    limit_unit         text NOT NULL,
    deadline           timestamptz,
    clock              text NOT NULL DEFAULT 'none' CHECK (clock IN ('none', 'running', 'stopped')),
    clock_stopped_at   timestamptz,
    calendar_complete  boolean NOT NULL DEFAULT true,
    outcome_reason     text NOT NULL DEFAULT '',
    delivery_method    text NOT NULL DEFAULT '',
    tracking_number    text NOT NULL DEFAULT '',
    overdue_notified   boolean NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    accepted_at        timestamptz,
    decided_at         timestamptz
);
CREATE INDEX cases_by_owner ON cases (owner_sub, created_at DESC, id DESC);
CREATE INDEX cases_by_department ON cases (department, created_at DESC, id DESC);
CREATE INDEX cases_by_applicant_id ON cases (applicant_id_hash);
CREATE INDEX cases_running_deadline ON cases (deadline) WHERE clock = 'running';

-- Every transition of a case: who, when, why, from → to.
CREATE TABLE case_transitions (
    id         bigserial PRIMARY KEY,
    case_id    uuid NOT NULL REFERENCES cases (id),
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    action     text NOT NULL,
    from_state text NOT NULL,
    to_state   text NOT NULL,
    reason     text NOT NULL DEFAULT ''
);
CREATE INDEX case_transitions_by_case ON case_transitions (case_id, id);

-- Daily case-number sequences. Taken in a statement of its own (not in the filing transaction),
-- so the row is locked for microseconds, never for a whole filing; a failed filing leaves a gap.
CREATE TABLE case_number_days (
    region text NOT NULL,
    day    date NOT NULL,
    last   int NOT NULL,
    PRIMARY KEY (region, day)
);

-- Idempotent filing: (caller, request_id) → the case filed first.
CREATE TABLE case_requests (
    caller     text NOT NULL,
    request_id text NOT NULL,
    case_id    uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, request_id)
);
