ALTER TABLE job_stages DROP COLUMN worker;
DROP INDEX jobs_claimable_idx;
ALTER TABLE jobs DROP COLUMN lease_expires_at;
ALTER TABLE jobs DROP COLUMN lease_token;
ALTER TABLE jobs DROP COLUMN lease_owner;
