-- 综合窗口: the hall whose comprehensive window received a case ('' when filed online or at a
-- department's own window), and the hall of each hand-over in the history.
ALTER TABLE cases ADD COLUMN hall text NOT NULL DEFAULT '';
ALTER TABLE case_transitions ADD COLUMN hall text NOT NULL DEFAULT '';
