-- High-frequency 一件事 are listed first to applicants and counted apart in the bureau's report.
ALTER TABLE bundles ADD COLUMN high_frequency boolean NOT NULL DEFAULT false;
CREATE INDEX bundles_kind ON bundles (applicant_kind, high_frequency);
