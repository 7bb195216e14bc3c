-- 转办: a department hands a case it holds to another department. The case's department
-- changes, its deadline does not; every routing is kept for the history and the statistics.
CREATE TABLE case_routes (
    id              bigserial PRIMARY KEY,
    case_id         uuid NOT NULL REFERENCES cases (id),
    from_department text NOT NULL,
    to_department   text NOT NULL,
    reason          text NOT NULL,
    actor           text NOT NULL,
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_routes_by_case ON case_routes (case_id, id);
CREATE INDEX case_routes_by_time ON case_routes (at);
