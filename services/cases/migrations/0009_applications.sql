-- 一件事一次办: a bundle filed as one application. Its members are ordinary cases (one per item
-- of the bundle, at each item's department, pinned to their item versions), filed in one
-- transaction; the application's state, acceptance and deadline are derived from them. The
-- applicant's personal data lives (sealed) on the members only.
CREATE TABLE applications (
    id                 uuid PRIMARY KEY,
    application_number text NOT NULL UNIQUE,
    bundle_id          text NOT NULL,
    bundle_name        text NOT NULL,
    channel            text NOT NULL,
    owner_sub          text NOT NULL,
    filed_by           text NOT NULL,
    limit_value        int  NOT NULL,
    limit_unit         text NOT NULL,
    delivery_method    text NOT NULL DEFAULT '',
    tracking_number    text NOT NULL DEFAULT '',
    delivered_at       timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX applications_by_owner ON applications (owner_sub, created_at DESC) WHERE owner_sub <> '';

-- Idempotent filing: (caller, request_id) → the application filed first.
CREATE TABLE application_requests (
    caller         text NOT NULL,
    request_id     text NOT NULL,
    application_id uuid NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, request_id)
);

ALTER TABLE cases ADD COLUMN application_id uuid REFERENCES applications (id);
CREATE INDEX cases_by_application ON cases (application_id, id) WHERE application_id IS NOT NULL;
