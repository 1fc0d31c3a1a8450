-- One analysis of a collection at a time, on every replica: the job holding a collection's
-- analysis claim calls the analyst; a job that finds the claim held waits for that report and
-- reuses it instead of paying for the same analysis again. A claimer that died leaves its claim
-- behind: past analysis_claim_expires_at another job may take over.
ALTER TABLE trend_collections ADD COLUMN analysing_job_id BIGINT REFERENCES jobs (id);
ALTER TABLE trend_collections ADD COLUMN analysis_claim_expires_at TIMESTAMP;
