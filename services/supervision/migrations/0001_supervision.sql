-- The event outbox and the consumer's record of processed events (kit::outbox::MIGRATION_SQL).
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

-- 监管事项目录: 14-digit codes, 主项 (parent_code '') and 子项.
CREATE TABLE items (
    code        text PRIMARY KEY,
    name        text NOT NULL,
    parent_code text NOT NULL DEFAULT '',
    admin_type  text NOT NULL,
    legal_basis text NOT NULL,
    department  text NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX items_department ON items (department, code);

-- 认领
CREATE TABLE claims (
    item_code  text NOT NULL REFERENCES items (code),
    department text NOT NULL,
    claimed_by text NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (item_code, department)
);
CREATE INDEX claims_department ON claims (department);

-- 检查实施清单
CREATE TABLE check_lists (
    id          uuid PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    item_code   text NOT NULL REFERENCES items (code),
    department  text NOT NULL,
    agency_uscc text NOT NULL,
    name        text NOT NULL,
    contents    text[] NOT NULL,
    methods     text[] NOT NULL,
    legal_basis text NOT NULL,
    frequency   text NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX check_lists_item ON check_lists (item_code);

-- Regulated entities. A natural person's ID number is sealed (AEAD) with a keyed lookup hash.
CREATE TABLE entities (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL,
    kind       text NOT NULL,
    uscc       text NOT NULL DEFAULT '',
    id_sealed  bytea,
    id_hash    bytea,
    id_masked  text NOT NULL DEFAULT '',
    industry   text NOT NULL,
    region     text NOT NULL,
    address    text NOT NULL DEFAULT '',
    risk_level text NOT NULL,
    source     text NOT NULL DEFAULT 'manual',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX entities_uscc ON entities (uscc) WHERE uscc <> '';
CREATE UNIQUE INDEX entities_id_hash ON entities (id_hash) WHERE id_hash IS NOT NULL;
CREATE INDEX entities_industry ON entities (industry, id);

CREATE TABLE inspectors (
    id                 bigserial PRIMARY KEY,
    name               text NOT NULL,
    department         text NOT NULL,
    certificate_number text NOT NULL UNIQUE,
    post_type          text NOT NULL,
    active             boolean NOT NULL DEFAULT true,
    user_sub           text NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inspectors_department ON inspectors (department, id);

-- Recorded relations (conflicts of interest): never paired in a draw.
CREATE TABLE relations (
    inspector_id bigint NOT NULL REFERENCES inspectors (id),
    entity_id    bigint NOT NULL REFERENCES entities (id),
    relation     text NOT NULL,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (inspector_id, entity_id)
);

-- 双随机一公开 plans. `inputs` is the published input snapshot of the draw, `picks` its result.
CREATE TABLE plans (
    id                    uuid PRIMARY KEY,
    department            text NOT NULL,
    name                  text NOT NULL,
    item_codes            text[] NOT NULL,
    entity_filter         jsonb NOT NULL,
    sample_percent        integer NOT NULL,
    sample_count          integer NOT NULL,
    inspector_filter      jsonb NOT NULL,
    inspectors_per_target integer NOT NULL,
    state                 text NOT NULL DEFAULT 'draft',
    seed                  text NOT NULL DEFAULT '',
    algorithm             text NOT NULL DEFAULT '',
    inputs                jsonb,
    picks                 jsonb,
    candidate_count       integer NOT NULL DEFAULT 0,
    inspector_count       integer NOT NULL DEFAULT 0,
    exclusion_count       integer NOT NULL DEFAULT 0,
    previous_plan_id      uuid,
    created_by            text NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    drawn_at              timestamptz,
    published_at          timestamptz
);
CREATE INDEX plans_department ON plans (department, created_at DESC, id DESC);
CREATE INDEX plans_items ON plans (item_codes, drawn_at DESC);

-- The draw's pairs, for records against a plan and for the next round's exclusions.
CREATE TABLE plan_assignments (
    plan_id      uuid NOT NULL REFERENCES plans (id),
    entity_id    bigint NOT NULL,
    inspector_id bigint NOT NULL,
    position     integer NOT NULL,
    PRIMARY KEY (plan_id, entity_id, inspector_id)
);

-- 审管联动: follow-up supervision of approved licences (one per case).
CREATE TABLE tasks (
    id            uuid PRIMARY KEY,
    source        text NOT NULL,
    case_id       uuid NOT NULL UNIQUE,
    case_number   text NOT NULL,
    item_code     text NOT NULL,
    item_name     text NOT NULL,
    department    text NOT NULL,
    entity_id     bigint NOT NULL REFERENCES entities (id),
    state         text NOT NULL DEFAULT 'open',
    inspection_id uuid,
    event_id      uuid NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    done_at       timestamptz
);
CREATE INDEX tasks_department ON tasks (department, created_at DESC, id DESC);

-- 监管行为数据
CREATE TABLE inspections (
    id                     uuid PRIMARY KEY,
    plan_id                uuid REFERENCES plans (id),
    task_id                uuid REFERENCES tasks (id),
    item_code              text NOT NULL,
    check_list_code        text NOT NULL DEFAULT '',
    department             text NOT NULL,
    entity_id              bigint NOT NULL REFERENCES entities (id),
    target_name            text NOT NULL,
    target_kind            text NOT NULL,
    target_uscc            text NOT NULL DEFAULT '',
    target_id_masked       text NOT NULL DEFAULT '',
    target_address         text NOT NULL DEFAULT '',
    target_region          text NOT NULL DEFAULT '',
    form                   text NOT NULL,
    category               text NOT NULL,
    method                 text NOT NULL,
    result                 text NOT NULL,
    result_detail          text NOT NULL DEFAULT '',
    inspected_at           timestamptz NOT NULL,
    reported_at            timestamptz NOT NULL,
    inspectors             jsonb NOT NULL,
    rectification_state    text NOT NULL DEFAULT 'none',
    rectification_deadline timestamptz,
    rectification_note     text NOT NULL DEFAULT '',
    rectified_at           timestamptz,
    created_by             text NOT NULL,
    request_id             text NOT NULL DEFAULT '',
    created_at             timestamptz NOT NULL DEFAULT now(),
    CHECK (reported_at >= inspected_at)
);
CREATE INDEX inspections_department ON inspections (department, created_at DESC, id DESC);
CREATE INDEX inspections_item ON inspections (item_code);
CREATE INDEX inspections_plan ON inspections (plan_id) WHERE plan_id IS NOT NULL;
CREATE UNIQUE INDEX inspections_request ON inspections (created_by, request_id) WHERE request_id <> '';

-- 督办: oversight notices for overdue cases (one per case).
CREATE TABLE notices (
    id               uuid PRIMARY KEY,
    case_id          uuid NOT NULL UNIQUE,
    case_number      text NOT NULL,
    item_code        text NOT NULL,
    item_name        text NOT NULL,
    department       text NOT NULL,
    deadline         timestamptz,
    state            text NOT NULL DEFAULT 'open',
    acknowledge_note text NOT NULL DEFAULT '',
    close_note       text NOT NULL DEFAULT '',
    event_id         uuid NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz,
    closed_at        timestamptz
);
CREATE INDEX notices_department ON notices (department, created_at DESC, id DESC);

-- 公示: published plans and results, and free-text supervision information.
CREATE TABLE publications (
    id           uuid PRIMARY KEY,
    kind         text NOT NULL,
    title        text NOT NULL,
    department   text NOT NULL,
    plan_id      uuid REFERENCES plans (id),
    content      text NOT NULL,
    published_by text NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX publications_time ON publications (published_at DESC, id DESC);

-- Every state change: who, when, what, before → after.
CREATE TABLE audit (
    id      bigserial PRIMARY KEY,
    actor   text NOT NULL,
    action  text NOT NULL,
    subject text NOT NULL,
    before  jsonb,
    after   jsonb,
    at      timestamptz NOT NULL DEFAULT now()
);
