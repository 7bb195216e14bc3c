-- 督办 of overdue tickets as well as cases: a notice is about a case or a ticket (`subject`;
-- `case_id` holds the ticket's id then, `item_name` its subject) and one department's part of
-- it, once each.
ALTER TABLE notices ADD COLUMN subject text NOT NULL DEFAULT 'case' CHECK (subject IN ('case', 'ticket'));
ALTER TABLE notices DROP CONSTRAINT notices_case_id_key;
CREATE UNIQUE INDEX notices_one_per_part ON notices (case_id, department);
