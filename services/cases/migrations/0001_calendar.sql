-- The legal working-day calendar (法定节假日与调休): each loaded year's official arrangement.
-- A year with a row in calendar_years is "loaded"; days not listed follow Monday–Friday.

CREATE TABLE calendar_years (
    year       int PRIMARY KEY,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL
);

CREATE TABLE calendar_days (
    date date PRIMARY KEY,
    year int NOT NULL REFERENCES calendar_years (year) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('holiday', 'workday')),
    name text NOT NULL DEFAULT '',
    CHECK (extract(year FROM date) = year)
);
CREATE INDEX calendar_days_by_year ON calendar_days (year, date);

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
