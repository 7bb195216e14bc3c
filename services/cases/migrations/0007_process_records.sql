-- The provincial exchange (办件过程信息): every transition carries its code of the national
-- exchange model (0: not an exchange record, e.g. a helper assigned) and the id of the
-- transaction that wrote it. Readers take records only below the oldest transaction still
-- running (every one below it has finished, so nothing can appear there later) in (xid, id)
-- order: a cursor over that order resumes exactly where it stopped, never skipping a record
-- committed late.
ALTER TABLE case_transitions ADD COLUMN code int NOT NULL DEFAULT 0;
ALTER TABLE case_transitions ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
UPDATE case_transitions SET code = CASE action
    WHEN 'file' THEN 1
    WHEN 'withdraw' THEN CASE WHEN from_state = 'received' THEN 2 ELSE 14 END
    WHEN 'accept' THEN 3
    WHEN 'accept_on_receipt' THEN 3
    WHEN 'reject' THEN 5
    WHEN 'request_correction' THEN 6
    WHEN 'submit_correction' THEN 7
    WHEN 'start_handling' THEN 8
    WHEN 'start_special' THEN 9
    WHEN 'end_special' THEN 10
    WHEN 'decide' THEN CASE to_state WHEN 'approved' THEN 11 WHEN 'approved_with_tolerance' THEN 12 ELSE 13 END
    WHEN 'revoke' THEN 15
    WHEN 'deliver' THEN 16
    ELSE 0 END;
CREATE INDEX case_transitions_exchange ON case_transitions (xid, id) WHERE code > 0;
-- The sweeper of 行政许可法 Art. 32 (received cases nobody answered within 5 working days).
CREATE INDEX cases_received ON cases (created_at) WHERE state = 'received';
