-- What an automatic entry blocks: the unit's compromised host ('host', lifted when the notice
-- is closed: the unit has rectified) or the external peer it talked to ('peer', until it
-- expires). Manual entries: ''.
ALTER TABLE blocks ADD COLUMN target text NOT NULL DEFAULT '';
UPDATE blocks SET target = 'peer' WHERE automatic;
