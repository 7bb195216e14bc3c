-- A feed's event is identified by (source, source_ref) alone, whatever occurred_at a replay
-- carries. The partitioned `events` table can only enforce keys that include occurred_at, so
-- this unpartitioned table holds the identity: ingest claims a key here first (in key order,
-- so concurrent overlapping batches never deadlock) and stores only the events it claimed.
-- Keys older than the events' retention are deleted with their partitions.
CREATE TABLE event_keys (
    source      text        NOT NULL,
    source_ref  text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (source, source_ref)
);
CREATE INDEX event_keys_occurred ON event_keys USING brin (occurred_at);
INSERT INTO event_keys (source, source_ref, occurred_at)
SELECT DISTINCT ON (source, source_ref) source, source_ref, occurred_at
  FROM events ORDER BY source, source_ref, occurred_at;
