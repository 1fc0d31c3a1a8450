-- Leases: a worker owns a running job until `lease_expires_at`; it renews the lease while it
-- works. `lease_token` changes on every claim and fences out a stale owner: every write a worker
-- makes for a job first checks that the job still carries its token.
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_token TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_at TEXT;
CREATE INDEX jobs_claimable_idx ON jobs (status, lease_expires_at, id);

-- Which worker made each attempt, for the audit trail.
ALTER TABLE job_stages ADD COLUMN worker TEXT;
