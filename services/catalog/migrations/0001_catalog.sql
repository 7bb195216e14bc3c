-- The service-item catalogue. Items are versioned: `item_versions` keeps every version forever;
-- `items` is one row per item with the fields search and filters need, copied from the version
-- the public sees (`current_version`).

CREATE TABLE org_units (
    code        text PRIMARY KEY,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('department', 'town', 'village')),
    region_code text NOT NULL,
    uscc        text NOT NULL DEFAULT '',
    parent      text REFERENCES org_units (code),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX org_units_by_kind ON org_units (kind, code);
CREATE INDEX org_units_by_parent ON org_units (parent, code);

CREATE TABLE items (
    code            text PRIMARY KEY,
    -- Highest version number (may be an open draft).
    latest_version  int NOT NULL,
    -- The version GetItem serves (published, suspended or retired); NULL until first published.
    current_version int,
    -- Status of current_version, or 'draft' before the first publication.
    status          text NOT NULL,
    name            text NOT NULL,
    department      text NOT NULL,
    task_type       text NOT NULL,
    level           int NOT NULL,
    channels        text[] NOT NULL DEFAULT '{}',
    online_capable  boolean NOT NULL DEFAULT false,
    full_online     boolean NOT NULL DEFAULT false,
    high_frequency  boolean NOT NULL DEFAULT false,
    -- Normalised "name \x1f material \x1f material…" and its unigrams+bigrams (see model::grams).
    search_text     text NOT NULL DEFAULT '',
    search_grams    text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX items_by_grams ON items USING gin (search_grams);
CREATE INDEX items_published_by_code ON items (code) WHERE status = 'published';
CREATE INDEX items_by_department ON items (department, code);

CREATE TABLE item_versions (
    code           text NOT NULL REFERENCES items (code),
    version        int NOT NULL,
    status         text NOT NULL CHECK (status IN ('draft', 'published', 'suspended', 'retired', 'superseded')),
    content        jsonb NOT NULL,
    effective_from timestamptz,
    effective_to   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    updated_by     text NOT NULL DEFAULT '',
    PRIMARY KEY (code, version)
);

CREATE TABLE bundles (
    id             uuid PRIMARY KEY,
    name           text NOT NULL,
    applicant_kind text NOT NULL,
    items          text[] NOT NULL,
    promised_limit jsonb NOT NULL,
    description    text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Idempotent creates: (caller, method, request_id) -> the resource created first.
CREATE TABLE create_requests (
    caller     text NOT NULL,
    method     text NOT NULL,
    request_id text NOT NULL,
    resource   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, method, request_id)
);

-- Every change: who, when, what, before and after.
CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    action     text NOT NULL,
    entity     text NOT NULL,
    entity_key text NOT NULL,
    before     jsonb,
    after      jsonb,
    reason     text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_by_entity ON audit_log (entity, entity_key, id);

-- The transactional outbox and the consumer's processed-event record (yiwang_kit::outbox).
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
