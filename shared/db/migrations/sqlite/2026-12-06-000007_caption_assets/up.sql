-- Captions of the voiceover, timed to its speech: SRT and WebVTT sidecar files of the video.
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt with the new one
-- (no table references media_assets, so nothing else changes).
CREATE TABLE media_assets_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id           BIGINT NOT NULL REFERENCES jobs (id),
    script_id        BIGINT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('clip', 'voiceover', 'music', 'captions_srt', 'captions_vtt')),
    -- 1-based scene for clips, 0 for assets of the whole video
    scene_number     INTEGER NOT NULL CHECK (scene_number >= 0),
    uri              TEXT NOT NULL,
    duration_seconds REAL NOT NULL CHECK (duration_seconds >= 0),
    size_bytes       BIGINT NOT NULL CHECK (size_bytes >= 0),
    sha256           TEXT NOT NULL,
    provider         TEXT NOT NULL,
    model            TEXT NOT NULL,
    usage            TEXT NOT NULL,
    cost_micros      BIGINT NOT NULL DEFAULT 0 CHECK (cost_micros >= 0),
    created_at       TEXT NOT NULL,
    UNIQUE (job_id, script_id, kind, scene_number),
    UNIQUE (id, job_id),
    FOREIGN KEY (script_id, job_id) REFERENCES scripts (id, job_id)
);
INSERT INTO media_assets_new SELECT * FROM media_assets;
DROP TABLE media_assets;
ALTER TABLE media_assets_new RENAME TO media_assets;
CREATE INDEX media_assets_script_job_idx ON media_assets (script_id, job_id);
