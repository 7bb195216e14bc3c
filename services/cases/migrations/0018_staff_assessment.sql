-- The bureau's monthly staff assessment: what each account did (transitions by actor and time),
-- and the 办不成事 complaints that name a staff member.
CREATE INDEX case_transitions_by_actor ON case_transitions (actor, at);
ALTER TABLE tickets ADD COLUMN about_staff text NOT NULL DEFAULT '';
CREATE INDEX tickets_about_staff ON tickets (about_staff, created_at) WHERE about_staff <> '';
