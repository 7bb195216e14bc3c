-- Security alerts (态势感知). Raw events live in monthly partitions (created on demand by the
-- service, dropped whole when older than the retention); incidents aggregate them.

-- The platform's raw events. The key is the platform's own id (source, source_ref); a replay
-- of an event carries its original occurred_at, so each monthly partition enforces the key
-- locally (a unique index on a partitioned table must include the partition key).
CREATE TABLE events (
    source           text        NOT NULL,
    source_ref       text        NOT NULL,
    occurred_at      timestamptz NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    src_ip           inet        NOT NULL,
    src_port         integer     NOT NULL,
    dst_ip           inet        NOT NULL,
    dst_port         integer     NOT NULL,
    category         text        NOT NULL,
    severity         text        NOT NULL,
    rule             text        NOT NULL,
    kill_chain_phase text        NOT NULL,
    raw              jsonb       NOT NULL,
    PRIMARY KEY (source, source_ref, occurred_at)
) PARTITION BY RANGE (occurred_at);

-- CIDR range -> owning unit (catalogue org unit code) and system.
CREATE TABLE assets (
    id          uuid PRIMARY KEY,
    cidr        cidr NOT NULL UNIQUE,
    unit_code   text NOT NULL,
    system_name text NOT NULL,
    note        text NOT NULL DEFAULT '',
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- Longest-prefix match: `cidr >>= address ORDER BY masklen(cidr) DESC`.
CREATE INDEX assets_cidr ON assets USING gist (cidr inet_ops);
CREATE INDEX assets_unit ON assets (unit_code, created_at, id);

CREATE TABLE incidents (
    id                    uuid PRIMARY KEY,
    fingerprint           text        NOT NULL,
    category              text        NOT NULL,
    rule                  text        NOT NULL,
    asset_ip              inet        NOT NULL,
    peer_ip               inet        NOT NULL,
    severity              text        NOT NULL,
    event_count           bigint      NOT NULL,
    first_seen            timestamptz NOT NULL,
    last_seen             timestamptz NOT NULL,
    state                 text        NOT NULL DEFAULT 'open',
    unit_code             text,
    system_name           text,
    asset_cidr            cidr,
    false_positive_reason text        NOT NULL DEFAULT '',
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX incidents_newest ON incidents (created_at DESC, id DESC);
CREATE INDEX incidents_by_unit ON incidents (unit_code, created_at DESC, id DESC);
-- The attribution queue: incidents no asset range covered yet.
CREATE INDEX incidents_unattributed ON incidents USING gist (asset_ip inet_ops) WHERE unit_code IS NULL;

-- The incident each fingerprint's new events currently join (while inside the window).
CREATE TABLE incident_heads (
    fingerprint text PRIMARY KEY,
    incident_id uuid NOT NULL REFERENCES incidents (id)
);

-- Events per incident, day (Asia/Shanghai) and severity: statistics without scanning raw
-- events, and kept beyond the raw events' retention.
CREATE TABLE event_counts (
    incident_id uuid   NOT NULL REFERENCES incidents (id),
    day         date   NOT NULL,
    severity    text   NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (incident_id, day, severity)
);

-- Who changed what (incidents, assets).
CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    entity     text NOT NULL,
    entity_key text NOT NULL,
    action     text NOT NULL,
    actor      text NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}',
    at         timestamptz NOT NULL DEFAULT now()
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
