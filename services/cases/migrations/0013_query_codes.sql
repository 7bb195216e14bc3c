-- 办件查询: each case has a query code (sealed like other personal data: the applicant and the
-- department can read it again to print a receipt) with which anyone holding the case number
-- can follow its progress without an account.
ALTER TABLE cases ADD COLUMN query_code_sealed bytea;
