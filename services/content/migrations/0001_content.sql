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

CREATE TABLE sites (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('portal', 'disclosure')),
    domain     text NOT NULL DEFAULT '',
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE site_columns (
    site_id    text NOT NULL REFERENCES sites (id),
    id         text NOT NULL,
    name       text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('column', 'special_topic')),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, id)
);

-- A post keeps what is published (title, body) apart from its working copy (draft_*), which
-- alone goes through the three reviews (review_state); a published post stays as published
-- until a change has passed them.
CREATE TABLE posts (
    id              uuid PRIMARY KEY,
    site_id         text NOT NULL,
    column_id       text NOT NULL,
    department      text NOT NULL,
    author          text NOT NULL,
    draft_title     text NOT NULL,
    draft_body      text NOT NULL,
    review_state    text NOT NULL CHECK (review_state IN ('draft', 'first_review', 'second_review', 'final_review', 'done')),
    first_reviewer  text NOT NULL DEFAULT '',
    second_reviewer text NOT NULL DEFAULT '',
    title           text NOT NULL DEFAULT '',
    body            text NOT NULL DEFAULT '',
    publish_at      timestamptz,
    withdraw_at     timestamptz,
    published_at    timestamptz,
    withdrawn_at    timestamptz,
    request_id      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (site_id, column_id) REFERENCES site_columns (site_id, id)
);
CREATE INDEX posts_public ON posts (site_id, column_id, published_at DESC, id DESC)
    WHERE published_at IS NOT NULL AND withdrawn_at IS NULL;
CREATE INDEX posts_in_review ON posts (review_state, updated_at) WHERE review_state IN ('first_review', 'second_review', 'final_review');
CREATE UNIQUE INDEX posts_by_request ON posts (author, request_id) WHERE request_id <> '';

-- Every step of every post: who, when, what, why.
CREATE TABLE post_history (
    id         bigserial PRIMARY KEY,
    post_id    uuid NOT NULL REFERENCES posts (id),
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    action     text NOT NULL,
    from_state text NOT NULL,
    to_state   text NOT NULL,
    reason     text NOT NULL DEFAULT ''
);
CREATE INDEX post_history_by_post ON post_history (post_id, id);

-- The 错敏词 dictionary.
CREATE TABLE words (
    id         uuid PRIMARY KEY,
    word       text NOT NULL UNIQUE,
    kind       text NOT NULL CHECK (kind IN ('wrong', 'sensitive', 'outdated')),
    suggestion text NOT NULL DEFAULT '',
    changed_on date,
    note       text NOT NULL DEFAULT '',
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
