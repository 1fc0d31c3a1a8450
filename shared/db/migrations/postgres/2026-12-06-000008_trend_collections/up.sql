-- Trend collections: one provider round (its sources, region and window) is a row of its own,
-- made by one job (a pipeline job, or the schedule's refresh job) and used by every job that
-- starts while it is fresh, so provider quotas and costs are paid per collection, not per job.
CREATE TABLE trend_collections (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- the platforms collected, sorted and comma-joined: with region and window, the reuse key
    sources          TEXT NOT NULL,
    region           TEXT NOT NULL,
    window_hours     INTEGER NOT NULL CHECK (window_hours > 0),
    status           TEXT NOT NULL CHECK (status IN ('collecting', 'ready', 'failed')),
    made_by_job_id   BIGINT NOT NULL REFERENCES jobs (id),
    made_by          TEXT NOT NULL CHECK (made_by IN ('job', 'schedule')),
    made_at          TIMESTAMP NOT NULL,
    finished_at      TIMESTAMP,
    -- a maker that died leaves its claim behind: past this moment another job may take over
    claim_expires_at TIMESTAMP NOT NULL,
    trends_seen      INTEGER NOT NULL DEFAULT 0 CHECK (trends_seen >= 0),
    cost_micros      BIGINT NOT NULL DEFAULT 0 CHECK (cost_micros >= 0),
    -- what each source's quota was charged, e.g. {"youtube": 101}
    quota            JSON NOT NULL,
    error            TEXT
);
-- At most one collection of a key is being made at a time, on every replica: the database
-- refuses a second claim, and its job waits for the first's collection instead of paying again.
CREATE UNIQUE INDEX trend_collections_one_collecting_idx
    ON trend_collections (sources, region, window_hours) WHERE status = 'collecting';
CREATE INDEX trend_collections_fresh_idx ON trend_collections (sources, region, window_hours, status, made_at);
CREATE INDEX trend_collections_made_by_job_id_idx ON trend_collections (made_by_job_id);

-- Which collection each job used (its maker's too): the job's lineage points at it.
CREATE TABLE trend_collection_uses (
    job_id              BIGINT PRIMARY KEY REFERENCES jobs (id),
    trend_collection_id BIGINT NOT NULL REFERENCES trend_collections (id),
    -- another job made (and paid for) the collection
    shared              BOOLEAN NOT NULL,
    used_at             TIMESTAMP NOT NULL
);
CREATE INDEX trend_collection_uses_collection_idx ON trend_collection_uses (trend_collection_id);

-- A collection owns the sightings its maker wrote (NULL on rows from before collections).
ALTER TABLE trend_sightings ADD COLUMN trend_collection_id BIGINT REFERENCES trend_collections (id);
CREATE INDEX trend_sightings_collection_idx ON trend_sightings (trend_collection_id);

-- A report is of one collection and one analyst setting; a job that reuses another's report has
-- a copy of its own (its scripts' foreign keys stay within the job) naming the original, at no cost.
ALTER TABLE trend_reports ADD COLUMN trend_collection_id BIGINT REFERENCES trend_collections (id);
ALTER TABLE trend_reports ADD COLUMN prompt_version TEXT NOT NULL DEFAULT '';
ALTER TABLE trend_reports ADD COLUMN reused_from_id BIGINT REFERENCES trend_reports (id);
CREATE INDEX trend_reports_reuse_idx ON trend_reports (trend_collection_id, analyst, model, prompt_version);

-- Each source's daily quota (YouTube units, Apify runs), charged before a provider is called,
-- shared by every replica.
CREATE TABLE source_quota_usage (
    source TEXT NOT NULL,
    day    TEXT NOT NULL,
    used   BIGINT NOT NULL CHECK (used >= 0),
    PRIMARY KEY (source, day)
);

GRANT SELECT, INSERT, UPDATE ON trend_collections, source_quota_usage TO shortline_orchestrator;
GRANT SELECT, INSERT ON trend_collection_uses TO shortline_orchestrator;
DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SEQUENCE %s TO shortline_orchestrator',
                   pg_get_serial_sequence('trend_collections', 'id'));
END
$$;
