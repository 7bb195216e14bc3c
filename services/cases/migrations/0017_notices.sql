-- What the inbox is told once: a case nearing its deadline (预警), an appointment on the next
-- working day (预约提醒).
ALTER TABLE cases ADD COLUMN deadline_warned boolean NOT NULL DEFAULT false;
CREATE INDEX cases_to_warn ON cases (deadline) WHERE clock = 'running' AND NOT deadline_warned;
ALTER TABLE appointments ADD COLUMN reminded_at timestamptz;
CREATE INDEX appointments_to_remind ON appointments (slot_id) WHERE state = 'booked' AND reminded_at IS NULL;
