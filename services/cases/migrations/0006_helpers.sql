-- 帮办代办: a helper (staff or volunteer) assigned to a case or an appointment.
ALTER TABLE cases ADD COLUMN helper text NOT NULL DEFAULT '', ADD COLUMN helper_kind text NOT NULL DEFAULT '';
ALTER TABLE appointments ADD COLUMN helper text NOT NULL DEFAULT '', ADD COLUMN helper_kind text NOT NULL DEFAULT '';
