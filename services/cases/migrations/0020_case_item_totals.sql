-- The province's figures without grouping every item counter (a province files against
-- ~600,000 department-item pairs a half-year; grouping them all took 1.9 s of a request).

-- Each item's filings across departments, a row a year: the province's top items are read from
-- the largest totals down, stopping once no item left can reach the twentieth (see stats.rs).
CREATE TABLE case_item_totals (
    year       int NOT NULL,
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
    total      bigint GENERATED ALWAYS AS (m01 + m02 + m03 + m04 + m05 + m06 + m07 + m08 + m09 + m10 + m11 + m12) STORED,
    PRIMARY KEY (year, item_code)
);
CREATE INDEX case_item_totals_by_total ON case_item_totals (year, total, item_code);

INSERT INTO case_item_totals (year, item_code, item_name, m01, m02, m03, m04, m05, m06, m07, m08, m09, m10, m11, m12)
SELECT year, item_code, max(item_name), sum(m01), sum(m02), sum(m03), sum(m04), sum(m05), sum(m06), sum(m07), sum(m08), sum(m09), sum(m10), sum(m11), sum(m12)
  FROM case_item_counts GROUP BY year, item_code;

-- The months (bit m-1 for month m) in which a department's item had filings: counting a
-- department's items with filings in a period reads one narrow index, not every counter.
ALTER TABLE case_item_counts ADD COLUMN months int GENERATED ALWAYS AS (
          ((m01 <> 0)::int << 0)
        | ((m02 <> 0)::int << 1)
        | ((m03 <> 0)::int << 2)
        | ((m04 <> 0)::int << 3)
        | ((m05 <> 0)::int << 4)
        | ((m06 <> 0)::int << 5)
        | ((m07 <> 0)::int << 6)
        | ((m08 <> 0)::int << 7)
        | ((m09 <> 0)::int << 8)
        | ((m10 <> 0)::int << 9)
        | ((m11 <> 0)::int << 10)
        | ((m12 <> 0)::int << 11)) STORED;
CREATE INDEX case_item_counts_months ON case_item_counts (year, department) INCLUDE (months);
