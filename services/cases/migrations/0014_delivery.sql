-- Delivery of results: EMS to a mailing address (sealed like other personal data), with the
-- mail's state as the post reports it, and whether the mailing was free (免费邮寄); or pickup at
-- a window with a pickup code (sealed), and when it was picked up.
ALTER TABLE cases ADD COLUMN delivery_address_sealed bytea;
ALTER TABLE cases ADD COLUMN free_mailing boolean NOT NULL DEFAULT false;
ALTER TABLE cases ADD COLUMN mail_status text NOT NULL DEFAULT ''
    CHECK (mail_status IN ('', 'posted', 'delivered', 'returned'));
ALTER TABLE cases ADD COLUMN mail_status_at timestamptz;
ALTER TABLE cases ADD COLUMN pickup_code_sealed bytea;
ALTER TABLE cases ADD COLUMN picked_up_at timestamptz;
