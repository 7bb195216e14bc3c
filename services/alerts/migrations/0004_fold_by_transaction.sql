-- Folding reads the stored events themselves instead of a queue of copies: each event carries
-- the id of the transaction that stored it, and the folder works through transaction ids in
-- order, up to the oldest one still running (everything below it has committed or aborted), with
-- its position kept in fold_state and moved in the same transaction as the incidents it updates.
-- One index entry per event replaces a queued row written, deleted and vacuumed per event.
ALTER TABLE events ADD COLUMN ingest_xid bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX events_by_ingest_xid ON events (ingest_xid);

CREATE TABLE fold_state (
    id       integer PRIMARY KEY CHECK (id = 1),
    next_xid bigint NOT NULL
);
INSERT INTO fold_state (id, next_xid) VALUES (1, 0);

DROP TABLE fold_queue;
