-- Service halls (政务服务大厅: the county hall, town centres, village stations), their windows,
-- and the items each hall's comprehensive window receives (进驻事项) for any department.
CREATE TABLE halls (
    code        text PRIMARY KEY,
    name        text NOT NULL,
    level       text NOT NULL CHECK (level IN ('county', 'town', 'village')),
    region_code text NOT NULL,
    address     text NOT NULL DEFAULT '',
    -- [{number, name, kind, department}]
    windows     jsonb NOT NULL DEFAULT '[]',
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE hall_items (
    hall_code text NOT NULL REFERENCES halls (code),
    item_code text NOT NULL,
    PRIMARY KEY (hall_code, item_code)
);
