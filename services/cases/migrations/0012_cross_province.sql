-- 跨省通办: the regions the county has agreements with, and for each cross-province case the
-- partner region and the direction (received here for there, or there for here).
CREATE TABLE partner_regions (
    region_code text PRIMARY KEY,
    name        text NOT NULL,
    agreement   text NOT NULL DEFAULT '',
    since       date,
    updated_by  text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE cases ADD COLUMN partner_region text NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN cross_direction text NOT NULL DEFAULT ''
    CHECK (cross_direction IN ('', 'here_for_there', 'there_for_here'));
