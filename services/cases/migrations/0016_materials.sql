-- Material files (材料文件) and every case's materials with their review (一次性告知).
CREATE TABLE uploads (
    id               uuid PRIMARY KEY,
    owner_sub        text NOT NULL,
    -- The client's file name, sealed (it often is the person's name).
    file_name_sealed bytea NOT NULL,
    -- receiving: bytes are arriving (or the uploader went away); stored: complete.
    state            text NOT NULL DEFAULT 'receiving' CHECK (state IN ('receiving', 'stored')),
    content_type     text NOT NULL DEFAULT '',
    size_bytes       bigint NOT NULL DEFAULT 0,
    sha256           text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- Deleted after this unless a case names it (NULL once one does).
    expires_at       timestamptz
);
CREATE INDEX uploads_expiring ON uploads (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE case_materials (
    case_id     uuid NOT NULL REFERENCES cases (id) DEFERRABLE INITIALLY DEFERRED,
    name        text NOT NULL,
    upload_id   uuid REFERENCES uploads (id),
    status      text NOT NULL DEFAULT 'provided' CHECK (status IN ('provided', 'accepted', 'rejected')),
    reason      text NOT NULL DEFAULT '',
    reviewed_by text NOT NULL DEFAULT '',
    reviewed_at timestamptz,
    PRIMARY KEY (case_id, name)
);
CREATE INDEX case_materials_by_upload ON case_materials (upload_id) WHERE upload_id IS NOT NULL;

-- The materials of cases filed before files existed: provided, by name.
INSERT INTO case_materials (case_id, name)
SELECT c.id, m.name FROM cases c, unnest(c.materials) AS m(name)
ON CONFLICT DO NOTHING;
