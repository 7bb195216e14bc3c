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

-- Work reports as last computed, per half-year (the encoded yiwang.insight.v1.WorkReport): a
-- request within ten minutes of the computation is answered from here.
CREATE TABLE work_reports (
    year        integer NOT NULL,
    half        integer NOT NULL CHECK (half IN (1, 2)),
    computed_at timestamptz NOT NULL DEFAULT now(),
    report      bytea NOT NULL,
    PRIMARY KEY (year, half)
);
