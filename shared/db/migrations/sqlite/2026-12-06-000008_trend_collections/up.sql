-- Trend collections (SQLite twin of the PostgreSQL migration, which says why each part exists).
CREATE TABLE trend_collections (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    sources          TEXT NOT NULL,
    region           TEXT NOT NULL,
    window_hours     INTEGER NOT NULL CHECK (window_hours > 0),
    status           TEXT NOT NULL CHECK (status IN ('collecting', 'ready', 'failed')),
    made_by_job_id   BIGINT NOT NULL REFERENCES jobs (id),
    made_by          TEXT NOT NULL CHECK (made_by IN ('job', 'schedule')),
    made_at          TEXT NOT NULL,
    finished_at      TEXT,
    claim_expires_at TEXT NOT NULL,
    trends_seen      INTEGER NOT NULL DEFAULT 0 CHECK (trends_seen >= 0),
    cost_micros      BIGINT NOT NULL DEFAULT 0 CHECK (cost_micros >= 0),
    quota            TEXT NOT NULL,
    error            TEXT
);
CREATE UNIQUE INDEX trend_collections_one_collecting_idx
    ON trend_collections (sources, region, window_hours) WHERE status = 'collecting';
CREATE INDEX trend_collections_fresh_idx ON trend_collections (sources, region, window_hours, status, made_at);
CREATE INDEX trend_collections_made_by_job_id_idx ON trend_collections (made_by_job_id);

CREATE TABLE trend_collection_uses (
    job_id              BIGINT PRIMARY KEY REFERENCES jobs (id),
    trend_collection_id BIGINT NOT NULL REFERENCES trend_collections (id),
    shared              BOOLEAN NOT NULL,
    used_at             TEXT NOT NULL
);
CREATE INDEX trend_collection_uses_collection_idx ON trend_collection_uses (trend_collection_id);

ALTER TABLE trend_sightings ADD COLUMN trend_collection_id BIGINT REFERENCES trend_collections (id);
CREATE INDEX trend_sightings_collection_idx ON trend_sightings (trend_collection_id);

ALTER TABLE trend_reports ADD COLUMN trend_collection_id BIGINT REFERENCES trend_collections (id);
ALTER TABLE trend_reports ADD COLUMN prompt_version TEXT NOT NULL DEFAULT '';
ALTER TABLE trend_reports ADD COLUMN reused_from_id BIGINT REFERENCES trend_reports (id);
CREATE INDEX trend_reports_reuse_idx ON trend_reports (trend_collection_id, analyst, model, prompt_version);

CREATE TABLE source_quota_usage (
    source TEXT NOT NULL,
    day    TEXT NOT NULL,
    used   BIGINT NOT NULL CHECK (used >= 0),
    PRIMARY KEY (source, day)
);
