-- The bureau's register of window staff and their monthly assessment: the windows each served
-- (history), the month's weights and manual scores, awards, and 办件质量检查 samples with their
-- findings. Case figures are not copied here: they are read from the cases service per month.
CREATE TABLE staff (
    account      text PRIMARY KEY,
    name         text NOT NULL,
    employment   text NOT NULL CHECK (employment IN ('department', 'outsourced')),
    employer     text NOT NULL,
    post         text NOT NULL,
    party_member boolean NOT NULL DEFAULT false,
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   text NOT NULL
);

CREATE TABLE staff_postings (
    id            bigserial PRIMARY KEY,
    account       text NOT NULL REFERENCES staff (account),
    hall          text NOT NULL,
    window_number text NOT NULL,
    from_date     date NOT NULL,
    -- The last day served; NULL while serving.
    to_date       date,
    posted_by     text NOT NULL,
    posted_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (to_date IS NULL OR to_date >= from_date)
);
-- One open posting per person: a second concurrent posting fails on this, never doubles.
CREATE UNIQUE INDEX staff_postings_open ON staff_postings (account) WHERE to_date IS NULL;
CREATE INDEX staff_postings_by_window ON staff_postings (hall, window_number, from_date);

CREATE TABLE assessment_weights (
    month   text PRIMARY KEY,
    weights jsonb NOT NULL,
    set_by  text NOT NULL,
    set_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE manual_scores (
    month       text NOT NULL,
    account     text NOT NULL REFERENCES staff (account),
    item        text NOT NULL CHECK (item IN ('inspection', 'attendance')),
    score       double precision NOT NULL CHECK (score BETWEEN 0 AND 100),
    note        text NOT NULL DEFAULT '',
    recorded_by text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (month, account, item)
);

CREATE TABLE awards (
    id            uuid PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('red_flag_window', 'advanced_individual', 'party_vanguard')),
    month         text NOT NULL,
    account       text NOT NULL DEFAULT '',
    hall          text NOT NULL DEFAULT '',
    window_number text NOT NULL DEFAULT '',
    reason        text NOT NULL,
    awarded_by    text NOT NULL,
    request_id    text NOT NULL DEFAULT '',
    awarded_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX awards_once ON awards (kind, month, account, hall, window_number);
CREATE INDEX awards_by_month ON awards (month, kind);

CREATE TABLE quality_checks (
    id         uuid PRIMARY KEY,
    month      text NOT NULL,
    seed       bigint NOT NULL,
    size       integer NOT NULL,
    population bigint NOT NULL,
    method     text NOT NULL,
    started_by text NOT NULL,
    request_id text NOT NULL DEFAULT '',
    started_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX quality_checks_by_request ON quality_checks (started_by, request_id) WHERE request_id <> '';
CREATE INDEX quality_checks_by_month ON quality_checks (month);

CREATE TABLE quality_check_cases (
    check_id    uuid NOT NULL REFERENCES quality_checks (id),
    position    integer NOT NULL,
    case_id     uuid NOT NULL,
    case_number text NOT NULL,
    department  text NOT NULL,
    item_name   text NOT NULL,
    received_by text NOT NULL,
    accepted_by text NOT NULL,
    decided_by  text NOT NULL,
    finding     text NOT NULL DEFAULT '' CHECK (finding IN ('', 'pass', 'minor', 'major')),
    note        text NOT NULL DEFAULT '',
    reviewed_by text NOT NULL DEFAULT '',
    reviewed_at timestamptz,
    PRIMARY KEY (check_id, case_id)
);
