ALTER TABLE trend_collections DROP COLUMN analysis_claim_expires_at;
ALTER TABLE trend_collections DROP COLUMN analysing_job_id;
