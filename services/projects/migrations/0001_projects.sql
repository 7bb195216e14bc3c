-- IT projects (政务信息化项目). The whole project (budget lines, panel, reviews, decision and the
-- stages after it) is one JSON document in `doc`, changed only under a row lock; the columns
-- beside it repeat what lists, statistics and lookups filter on.

CREATE TABLE projects (
    id                      uuid PRIMARY KEY,
    department              text NOT NULL,
    year                    int NOT NULL,
    name                    text NOT NULL,
    state                   text NOT NULL CHECK (state IN ('draft', 'submitted', 'under_review',
                                'approved', 'rejected', 'contracted', 'under_construction',
                                'accepted', 'evaluated')),
    requested_fen           bigint NOT NULL CHECK (requested_fen >= 0),
    approved_fen            bigint NOT NULL DEFAULT 0 CHECK (approved_fen >= 0 AND approved_fen <= requested_fen),
    contract_fen            bigint,
    planned_acceptance_date date,
    accepted_on             date,
    -- Experts (JWT sub) on the panel: who may see the project.
    panel_experts           text[] NOT NULL DEFAULT '{}',
    -- Where the system runs, for attributing security incidents (`inet <<= ANY(network_ranges)`).
    network_ranges          cidr[] NOT NULL DEFAULT '{}',
    doc                     jsonb NOT NULL,
    created_by              text NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX projects_newest ON projects (created_at DESC, id DESC);
CREATE INDEX projects_by_department ON projects (department, created_at DESC, id DESC);
CREATE INDEX projects_by_year ON projects (year, state);
CREATE INDEX projects_by_expert ON projects USING gin (panel_experts);

-- Every change of a project, written in the transaction of the change.
CREATE TABLE project_events (
    id          bigserial PRIMARY KEY,
    project_id  uuid NOT NULL REFERENCES projects (id),
    at          timestamptz NOT NULL DEFAULT now(),
    actor_sub   text NOT NULL,
    actor_name  text NOT NULL,
    action      text NOT NULL,
    from_state  text NOT NULL,
    to_state    text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX project_events_by_project ON project_events (project_id, id);

-- Idempotent creation: (caller, request_id) → the project created first.
CREATE TABLE project_requests (
    caller     text NOT NULL,
    request_id text NOT NULL,
    project_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, request_id)
);

CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    topic        text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE TABLE processed_events (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
