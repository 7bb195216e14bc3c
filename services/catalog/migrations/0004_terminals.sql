-- Self-service terminals (自助终端): registered to a hall, offering a list of items. A terminal
-- authenticates with a token of its own (role `terminal`, sub = its code, dept = its hall).
CREATE TABLE terminals (
    code       text PRIMARY KEY,
    hall_code  text NOT NULL REFERENCES halls (code),
    name       text NOT NULL,
    items      text[] NOT NULL DEFAULT '{}',
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
