-- The lineage schema. Every row a stage writes carries `job_id NOT NULL REFERENCES jobs(id)`;
-- parent links are composite foreign keys `(parent_id, job_id)`, so a row can never point at a
-- parent of another job. No ON DELETE CASCADE: nothing disappears implicitly. Timestamps are
-- `TIMESTAMP` holding UTC (the application writes `Utc::now()`); money is BIGINT micro-USD.

CREATE TABLE jobs (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind              TEXT NOT NULL CHECK (kind IN ('pipeline', 'trend_refresh', 'trend_analysis')),
    status            TEXT NOT NULL CHECK (status IN ('queued', 'running', 'awaiting_review', 'approved',
                                                      'rejected', 'succeeded', 'failed', 'cancelled')),
    theme_name        TEXT NOT NULL,
    theme             JSON,
    variants          INTEGER NOT NULL DEFAULT 1 CHECK (variants BETWEEN 1 AND 10),
    client_request_id TEXT UNIQUE,
    failed_stage      TEXT,
    error             TEXT,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    finished_at       TIMESTAMP
);
CREATE INDEX jobs_status_id_idx ON jobs (status, id);
CREATE INDEX jobs_kind_id_idx ON jobs (kind, id);

CREATE TABLE job_stages (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      BIGINT NOT NULL REFERENCES jobs (id),
    stage       TEXT NOT NULL CHECK (stage IN ('trend_collection', 'trend_analysis', 'script_generation',
                                               'media_generation', 'composition', 'review')),
    attempt     INTEGER NOT NULL CHECK (attempt >= 1),
    status      TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    started_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    error       TEXT,
    output_ref  TEXT,
    UNIQUE (job_id, stage, attempt)
);

CREATE TABLE trends (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform            TEXT NOT NULL CHECK (platform IN ('tiktok', 'youtube')),
    external_id         TEXT NOT NULL,
    title               TEXT NOT NULL,
    description         TEXT NOT NULL,
    hashtags            JSON NOT NULL,
    views               BIGINT NOT NULL CHECK (views >= 0),
    likes               BIGINT NOT NULL CHECK (likes >= 0),
    comments            BIGINT NOT NULL CHECK (comments >= 0),
    shares              BIGINT NOT NULL CHECK (shares >= 0),
    duration_seconds    INTEGER NOT NULL CHECK (duration_seconds >= 0),
    creator             TEXT NOT NULL,
    sound_name          TEXT,
    video_url           TEXT NOT NULL,
    thumbnail_url       TEXT,
    posted_at           TIMESTAMP NOT NULL,
    engagement_velocity DOUBLE PRECISION NOT NULL,
    first_seen_job_id   BIGINT NOT NULL REFERENCES jobs (id),
    last_seen_job_id    BIGINT NOT NULL REFERENCES jobs (id),
    first_seen_at       TIMESTAMP NOT NULL,
    last_seen_at        TIMESTAMP NOT NULL,
    UNIQUE (platform, external_id)
);
CREATE INDEX trends_first_seen_job_id_idx ON trends (first_seen_job_id);
CREATE INDEX trends_last_seen_job_id_idx ON trends (last_seen_job_id);
CREATE INDEX trends_posted_at_idx ON trends (posted_at);

-- Every job that saw a trend, with the item's figures at that moment: a trend's first/last
-- seen jobs alone would forget the jobs in between.
CREATE TABLE trend_sightings (
    job_id              BIGINT NOT NULL REFERENCES jobs (id),
    trend_id            BIGINT NOT NULL REFERENCES trends (id),
    views               BIGINT NOT NULL,
    likes               BIGINT NOT NULL,
    comments            BIGINT NOT NULL,
    shares              BIGINT NOT NULL,
    engagement_velocity DOUBLE PRECISION NOT NULL,
    seen_at             TIMESTAMP NOT NULL,
    PRIMARY KEY (job_id, trend_id)
);
CREATE INDEX trend_sightings_trend_id_idx ON trend_sightings (trend_id);

CREATE TABLE trend_reports (
    id                      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id                  BIGINT NOT NULL REFERENCES jobs (id),
    analyst                 TEXT NOT NULL,
    window_hours            INTEGER NOT NULL CHECK (window_hours > 0),
    trends_analyzed         INTEGER NOT NULL CHECK (trends_analyzed >= 0),
    video_styles            JSON NOT NULL,
    common_patterns         JSON NOT NULL,
    avg_engagement_velocity DOUBLE PRECISION NOT NULL,
    top_hashtags            JSON NOT NULL,
    recommendations         JSON NOT NULL,
    cost_micros             BIGINT NOT NULL DEFAULT 0 CHECK (cost_micros >= 0),
    created_at              TIMESTAMP NOT NULL,
    -- one report per job: the analysis stage is idempotent
    UNIQUE (job_id),
    -- target of the composite foreign keys of children
    UNIQUE (id, job_id)
);

CREATE TABLE trend_report_items (
    job_id              BIGINT NOT NULL REFERENCES jobs (id),
    trend_report_id     BIGINT NOT NULL,
    trend_id            BIGINT NOT NULL REFERENCES trends (id),
    rank                INTEGER NOT NULL CHECK (rank >= 1),
    engagement_velocity DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (trend_report_id, trend_id),
    UNIQUE (trend_report_id, rank),
    FOREIGN KEY (trend_report_id, job_id) REFERENCES trend_reports (id, job_id)
);
CREATE INDEX trend_report_items_job_id_idx ON trend_report_items (job_id);
CREATE INDEX trend_report_items_report_job_idx ON trend_report_items (trend_report_id, job_id);
CREATE INDEX trend_report_items_trend_id_idx ON trend_report_items (trend_id);

CREATE TABLE scripts (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id           BIGINT NOT NULL REFERENCES jobs (id),
    trend_report_id  BIGINT NOT NULL,
    variant          INTEGER NOT NULL CHECK (variant >= 1),
    title            TEXT NOT NULL,
    duration_seconds DOUBLE PRECISION NOT NULL CHECK (duration_seconds > 0),
    plan             JSON NOT NULL,
    theme            JSON NOT NULL,
    planner          TEXT NOT NULL,
    model            TEXT NOT NULL,
    cost_micros      BIGINT NOT NULL DEFAULT 0 CHECK (cost_micros >= 0),
    created_at       TIMESTAMP NOT NULL,
    UNIQUE (job_id, variant),
    UNIQUE (id, job_id),
    FOREIGN KEY (trend_report_id, job_id) REFERENCES trend_reports (id, job_id)
);
CREATE INDEX scripts_report_job_idx ON scripts (trend_report_id, job_id);

CREATE TABLE media_assets (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id           BIGINT NOT NULL REFERENCES jobs (id),
    script_id        BIGINT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('clip', 'voiceover', 'music')),
    -- 1-based scene for clips, 0 for assets of the whole video
    scene_number     INTEGER NOT NULL CHECK (scene_number >= 0),
    uri              TEXT NOT NULL,
    duration_seconds DOUBLE PRECISION NOT NULL CHECK (duration_seconds >= 0),
    size_bytes       BIGINT NOT NULL CHECK (size_bytes >= 0),
    sha256           TEXT NOT NULL,
    provider         TEXT NOT NULL,
    model            TEXT NOT NULL,
    usage            JSON NOT NULL,
    cost_micros      BIGINT NOT NULL DEFAULT 0 CHECK (cost_micros >= 0),
    created_at       TIMESTAMP NOT NULL,
    UNIQUE (job_id, script_id, kind, scene_number),
    UNIQUE (id, job_id),
    FOREIGN KEY (script_id, job_id) REFERENCES scripts (id, job_id)
);
CREATE INDEX media_assets_script_job_idx ON media_assets (script_id, job_id);

CREATE TABLE videos (
    id                           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id                       BIGINT NOT NULL REFERENCES jobs (id),
    script_id                    BIGINT NOT NULL,
    -- the script's variant, kept here so a video reads whole without another service
    variant                      INTEGER NOT NULL CHECK (variant >= 1),
    status                       TEXT NOT NULL CHECK (status IN ('generated', 'approved', 'rejected')),
    uri                          TEXT NOT NULL,
    thumbnail_uri                TEXT NOT NULL,
    duration_seconds             DOUBLE PRECISION NOT NULL CHECK (duration_seconds > 0),
    size_bytes                   BIGINT NOT NULL CHECK (size_bytes > 0),
    sha256                       TEXT NOT NULL,
    width                        INTEGER NOT NULL CHECK (width > 0),
    height                       INTEGER NOT NULL CHECK (height > 0),
    llm_cost_micros              BIGINT NOT NULL CHECK (llm_cost_micros >= 0),
    tts_cost_micros              BIGINT NOT NULL CHECK (tts_cost_micros >= 0),
    video_generation_cost_micros BIGINT NOT NULL CHECK (video_generation_cost_micros >= 0),
    generation_log               JSON NOT NULL,
    review_note                  TEXT,
    reviewed_at                  TIMESTAMP,
    created_at                   TIMESTAMP NOT NULL,
    updated_at                   TIMESTAMP NOT NULL,
    -- one video per script (a script is one variant of the job); job_id leads so that a row
    -- naming another job's script fails its foreign key instead of matching this key
    UNIQUE (job_id, script_id),
    UNIQUE (id, job_id),
    FOREIGN KEY (script_id, job_id) REFERENCES scripts (id, job_id)
);
CREATE INDEX videos_script_job_idx ON videos (script_id, job_id);
CREATE INDEX videos_status_idx ON videos (status);
