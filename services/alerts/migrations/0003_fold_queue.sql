-- Incidents are folded from new events asynchronously, in large chunks: ingest only stores the
-- event and queues what folding needs, in the same statement; a folder (one at a time across
-- replicas) deletes a chunk from the queue and applies it to the incidents in one transaction,
-- so every event is folded exactly once.
CREATE TABLE fold_queue (
    seq         bigserial PRIMARY KEY,
    fingerprint text        NOT NULL,
    category    text        NOT NULL,
    rule        text        NOT NULL,
    asset_ip    inet        NOT NULL,
    peer_ip     inet        NOT NULL,
    severity    text        NOT NULL,
    occurred_at timestamptz NOT NULL
);
