-- Keyword search ranks items whose *name* contains the query before items that mention it only
-- in their materials, and pages through each group in code order. Each group is one indexed
-- query that can stop after a page: the name group uses the small name n-grams below, the
-- materials group the full-text n-grams. Both columns follow search_text automatically.

-- Every character and every pair of adjacent characters of a text (as model::grams in Rust).
CREATE FUNCTION catalog_grams(t text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT coalesce(array_agg(DISTINCT g ORDER BY g), '{}')
    FROM (SELECT substr(t, i, 1) AS g FROM generate_series(1, length(t)) AS i
          UNION ALL
          SELECT substr(t, i, 2) FROM generate_series(1, length(t) - 1) AS i) AS s
$$;

ALTER TABLE items
    ADD COLUMN name_norm text GENERATED ALWAYS AS (split_part(search_text, chr(31), 1)) STORED,
    ADD COLUMN name_grams text[] GENERATED ALWAYS AS (catalog_grams(split_part(search_text, chr(31), 1))) STORED;
CREATE INDEX items_by_name_grams ON items USING gin (name_grams);

-- Finer statistics of which n-grams are common, so the planner knows when walking the code
-- index (common words: a page fills at once) beats the n-gram index (rare words).
ALTER TABLE items ALTER COLUMN search_grams SET STATISTICS 1000;
ALTER TABLE items ALTER COLUMN name_grams SET STATISTICS 1000;
ANALYZE items;
