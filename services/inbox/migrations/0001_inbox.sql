-- The event outbox and the consumer's record of processed events (kit::outbox::MIGRATION_SQL).
-- The inbox publishes `inbox.notification.created` so that every replica wakes the streams of
-- the recipients concerned.
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

-- One row per recipient (`user:<sub>` or `unit:<department or hall code>`): the sequence number
-- of its newest notification. Taking the next number locks the row until the commit, so a
-- recipient's notifications become visible in the order of their numbers: a stream resuming
-- after number n misses nothing and repeats nothing.
CREATE TABLE inbox_heads (
    recipient text PRIMARY KEY,
    last_seq  bigint NOT NULL
);

CREATE TABLE notifications (
    id             uuid PRIMARY KEY,
    recipient      text NOT NULL,
    seq            bigint NOT NULL,
    event_id       uuid NOT NULL,
    topic          text NOT NULL,
    kind           text NOT NULL,
    title          text NOT NULL,
    body           text NOT NULL,
    subject_type   text NOT NULL DEFAULT '',
    subject_id     text NOT NULL DEFAULT '',
    subject_number text NOT NULL DEFAULT '',
    details        jsonb NOT NULL DEFAULT 'null',
    created_at     timestamptz NOT NULL,
    UNIQUE (recipient, seq),
    -- Once per event, recipient and kind, whatever happens to the consumer.
    UNIQUE (event_id, recipient, kind)
);
CREATE INDEX notifications_newest ON notifications (recipient, created_at DESC, id DESC);

-- Read marks per person: a unit's notice is read by each of its staff on their own.
CREATE TABLE notification_reads (
    notification_id uuid NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    reader          text NOT NULL,
    read_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (reader, notification_id)
);
