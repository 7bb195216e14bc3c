-- Pre-aggregated counts for statistics at province scale (tens of millions of cases): what
-- GetCaseStats counts, per Beijing month and department, so a half-year's figures read a few
-- hundred thousand counters instead of every case.
--
-- Exact and never stale: statement-level triggers turn every change of cases, evaluations and
-- deliveries into signed deltas (`case_count_deltas`, insert-only, so concurrent filings never
-- wait on a shared counter row); a sweeper folds them into `case_counts`; a reader adds the
-- counters and the deltas not yet folded in one statement. What counts is defined once, in
-- `case_count_parts` — the statistics' raw path (partial months) uses the same function.

-- Office time from acceptance to decision, computed with the legal calendar when the case is
-- decided (NULL before, or when the calendar could not tell).
ALTER TABLE cases ADD COLUMN handling_office_secs bigint;

CREATE TABLE case_counts (
    -- filed: key channel|state|partner_region:direction, by month filed
    -- (item deltas, key item_code|item_name, fold into case_item_counts below)
    -- decided: key on_time | late | none (no deadline), by month decided
    -- evaluation: key the level, by month evaluated
    -- free_mailing: key '', by month delivered
    bucket      text NOT NULL,
    month       date NOT NULL,
    department  text NOT NULL,
    key         text NOT NULL,
    n           bigint NOT NULL,
    -- decided only: cases with a handling time, and the sum of it (office seconds).
    handled     bigint NOT NULL DEFAULT 0,
    office_secs bigint NOT NULL DEFAULT 0,
    -- The county (the department code's region part), for a county's figures.
    region      text GENERATED ALWAYS AS (split_part(department, '-', 1)) STORED,
    PRIMARY KEY (bucket, month, department, key)
);
CREATE INDEX case_counts_by_region ON case_counts (bucket, region, month);

-- Filings per item: a county files against thousands of items a month, too many for a row per
-- month at province scale, so an item has one row a year per department, a column per month.
CREATE TABLE case_item_counts (
    year       int NOT NULL,
    department text NOT NULL,
    item_code  text NOT NULL,
    -- The name it was last filed under.
    item_name  text NOT NULL,
    m01        bigint NOT NULL DEFAULT 0,
    m02        bigint NOT NULL DEFAULT 0,
    m03        bigint NOT NULL DEFAULT 0,
    m04        bigint NOT NULL DEFAULT 0,
    m05        bigint NOT NULL DEFAULT 0,
    m06        bigint NOT NULL DEFAULT 0,
    m07        bigint NOT NULL DEFAULT 0,
    m08        bigint NOT NULL DEFAULT 0,
    m09        bigint NOT NULL DEFAULT 0,
    m10        bigint NOT NULL DEFAULT 0,
    m11        bigint NOT NULL DEFAULT 0,
    m12        bigint NOT NULL DEFAULT 0,
    region     text GENERATED ALWAYS AS (split_part(department, '-', 1)) STORED,
    PRIMARY KEY (year, department, item_code)
);
CREATE INDEX case_item_counts_by_region ON case_item_counts (region, year);

CREATE TABLE case_count_deltas (
    id          bigserial PRIMARY KEY,
    bucket      text NOT NULL,
    month       date NOT NULL,
    department  text NOT NULL,
    key         text NOT NULL,
    n           bigint NOT NULL,
    handled     bigint NOT NULL,
    office_secs bigint NOT NULL,
    region      text GENERATED ALWAYS AS (split_part(department, '-', 1)) STORED
);
-- Readers find a bucket's pending deltas by index: a seq scan would read every page the fold
-- has emptied since the last vacuum (a bulk load leaves millions). A queue table: vacuumed
-- after every few thousand deleted rows rather than a fifth of the table.
CREATE INDEX case_count_deltas_by_bucket ON case_count_deltas (bucket, month);
ALTER TABLE case_count_deltas SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000);

-- The raw path's edges (partial months) find their cases by time.
CREATE INDEX cases_by_created ON cases (created_at);
CREATE INDEX cases_by_decided ON cases (decided_at) WHERE decided_at IS NOT NULL;
CREATE INDEX case_transitions_deliveries ON case_transitions (at) WHERE action = 'deliver';
CREATE INDEX evaluations_by_time ON evaluations (created_at);
-- Decided cases whose handling time is still to be computed (the service fills them).
CREATE INDEX cases_handling_unknown ON cases (id)
    WHERE handling_office_secs IS NULL AND accepted_at IS NOT NULL AND decided_at IS NOT NULL;

-- What one case counts for, signed (+1 as it is now, -1 as it was). Columns, not the row: an
-- inlined function over a whole-row value trips PostgreSQL 15's planner.
CREATE FUNCTION case_count_parts(s int, filed_at timestamptz, dept text, channel text, state text,
                                 partner text, direction text, item text, item_name text,
                                 decided_at timestamptz, deadline timestamptz, secs bigint)
RETURNS TABLE (bucket text, month date, department text, key text, n bigint, handled bigint, office_secs bigint)
LANGUAGE sql STABLE AS $$
    SELECT 'filed', date_trunc('month', filed_at AT TIME ZONE 'Asia/Shanghai')::date, dept,
           channel || '|' || state || '|' || CASE WHEN partner <> '' THEN partner || ':' || direction ELSE '' END,
           s::bigint, 0::bigint, 0::bigint
    UNION ALL
    SELECT 'item', date_trunc('month', filed_at AT TIME ZONE 'Asia/Shanghai')::date, dept,
           item || '|' || item_name, s::bigint, 0::bigint, 0::bigint
    UNION ALL
    SELECT 'decided', date_trunc('month', decided_at AT TIME ZONE 'Asia/Shanghai')::date, dept,
           CASE WHEN deadline IS NULL THEN 'none' WHEN decided_at <= deadline THEN 'on_time' ELSE 'late' END,
           s::bigint, CASE WHEN secs IS NULL THEN 0 ELSE s END::bigint, s::bigint * coalesce(secs, 0)
     WHERE decided_at IS NOT NULL
$$;

CREATE FUNCTION case_counts_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Each branch names only the transition tables its operation has.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO case_count_deltas (bucket, month, department, key, n, handled, office_secs)
        SELECT p.bucket, p.month, p.department, p.key, sum(p.n), sum(p.handled), sum(p.office_secs)
          FROM new_rows r CROSS JOIN LATERAL case_count_parts(1,
               r.created_at, r.department, r.channel, r.state, r.partner_region, r.cross_direction,
               r.item_code, r.item_name, r.decided_at, r.deadline, r.handling_office_secs) p
         GROUP BY 1, 2, 3, 4;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO case_count_deltas (bucket, month, department, key, n, handled, office_secs)
        SELECT p.bucket, p.month, p.department, p.key, sum(p.n), sum(p.handled), sum(p.office_secs)
          FROM (SELECT q.* FROM new_rows r CROSS JOIN LATERAL case_count_parts(1,
               r.created_at, r.department, r.channel, r.state, r.partner_region, r.cross_direction,
               r.item_code, r.item_name, r.decided_at, r.deadline, r.handling_office_secs) q
                UNION ALL
                SELECT q.* FROM old_rows r CROSS JOIN LATERAL case_count_parts(-1,
               r.created_at, r.department, r.channel, r.state, r.partner_region, r.cross_direction,
               r.item_code, r.item_name, r.decided_at, r.deadline, r.handling_office_secs) q) p
         GROUP BY 1, 2, 3, 4
        HAVING sum(p.n) <> 0 OR sum(p.handled) <> 0 OR sum(p.office_secs) <> 0;
    ELSE
        INSERT INTO case_count_deltas (bucket, month, department, key, n, handled, office_secs)
        SELECT p.bucket, p.month, p.department, p.key, sum(p.n), sum(p.handled), sum(p.office_secs)
          FROM old_rows r CROSS JOIN LATERAL case_count_parts(-1,
               r.created_at, r.department, r.channel, r.state, r.partner_region, r.cross_direction,
               r.item_code, r.item_name, r.decided_at, r.deadline, r.handling_office_secs) p
         GROUP BY 1, 2, 3, 4;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER cases_counted_insert AFTER INSERT ON cases
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION case_counts_track();
CREATE TRIGGER cases_counted_update AFTER UPDATE ON cases
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION case_counts_track();
CREATE TRIGGER cases_counted_delete AFTER DELETE ON cases
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION case_counts_track();

-- An evaluation counts for the department that held the case when it was given.
CREATE FUNCTION evaluation_counts_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO case_count_deltas (bucket, month, department, key, n, handled, office_secs)
        SELECT 'evaluation', date_trunc('month', e.created_at AT TIME ZONE 'Asia/Shanghai')::date,
               c.department, e.level::text, count(*), 0, 0
          FROM new_rows e JOIN cases c ON c.id = e.case_id
         GROUP BY 1, 2, 3, 4;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO case_count_deltas (bucket, month, department, key, n, handled, office_secs)
        SELECT 'evaluation', m, department, level, sum(s), 0, 0
          FROM (SELECT date_trunc('month', e.created_at AT TIME ZONE 'Asia/Shanghai')::date AS m,
                       c.department, e.level::text AS level, 1 AS s
                  FROM new_rows e JOIN cases c ON c.id = e.case_id
                UNION ALL
                SELECT date_trunc('month', e.created_at AT TIME ZONE 'Asia/Shanghai')::date,
                       c.department, e.level::text, -1
                  FROM old_rows e JOIN cases c ON c.id = e.case_id) p
         GROUP BY 1, 2, 3, 4 HAVING sum(s) <> 0;
    ELSE
        INSERT INTO case_count_deltas (bucket, month, department, key, n, handled, office_secs)
        SELECT 'evaluation', date_trunc('month', e.created_at AT TIME ZONE 'Asia/Shanghai')::date,
               c.department, e.level::text, -count(*), 0, 0
          FROM old_rows e JOIN cases c ON c.id = e.case_id
         GROUP BY 1, 2, 3, 4;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER evaluations_counted_insert AFTER INSERT ON evaluations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION evaluation_counts_track();
CREATE TRIGGER evaluations_counted_update AFTER UPDATE ON evaluations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION evaluation_counts_track();
CREATE TRIGGER evaluations_counted_delete AFTER DELETE ON evaluations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION evaluation_counts_track();

-- A free mailing counts when the case is delivered (the history is append-only), for the
-- department that held it then. A row trigger with a WHEN: the other history rows (every
-- filing writes one) cost nothing.
CREATE FUNCTION delivery_counts_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_count_deltas (bucket, month, department, key, n, handled, office_secs)
    SELECT 'free_mailing', date_trunc('month', NEW.at AT TIME ZONE 'Asia/Shanghai')::date,
           c.department, '', 1, 0, 0
      FROM cases c WHERE c.id = NEW.case_id AND c.free_mailing;
    RETURN NULL;
END
$$;

CREATE TRIGGER deliveries_counted AFTER INSERT ON case_transitions
    FOR EACH ROW WHEN (NEW.action = 'deliver') EXECUTE FUNCTION delivery_counts_track();

-- Counters for what is already there.
INSERT INTO case_count_deltas (bucket, month, department, key, n, handled, office_secs)
SELECT p.bucket, p.month, p.department, p.key, sum(p.n), sum(p.handled), sum(p.office_secs)
  FROM cases r CROSS JOIN LATERAL case_count_parts(1,
               r.created_at, r.department, r.channel, r.state, r.partner_region, r.cross_direction,
               r.item_code, r.item_name, r.decided_at, r.deadline, r.handling_office_secs) p
 GROUP BY 1, 2, 3, 4;
INSERT INTO case_count_deltas (bucket, month, department, key, n, handled, office_secs)
SELECT 'evaluation', date_trunc('month', e.created_at AT TIME ZONE 'Asia/Shanghai')::date,
       c.department, e.level::text, count(*), 0, 0
  FROM evaluations e JOIN cases c ON c.id = e.case_id
 GROUP BY 1, 2, 3, 4;
INSERT INTO case_count_deltas (bucket, month, department, key, n, handled, office_secs)
SELECT 'free_mailing', date_trunc('month', t.at AT TIME ZONE 'Asia/Shanghai')::date,
       c.department, '', count(*), 0, 0
  FROM case_transitions t JOIN cases c ON c.id = t.case_id
 WHERE t.action = 'deliver' AND c.free_mailing
 GROUP BY 1, 2, 3, 4;
