DROP TABLE source_quota_usage;
DROP INDEX trend_reports_reuse_idx;
ALTER TABLE trend_reports DROP COLUMN reused_from_id;
ALTER TABLE trend_reports DROP COLUMN prompt_version;
ALTER TABLE trend_reports DROP COLUMN trend_collection_id;
DROP INDEX trend_sightings_collection_idx;
ALTER TABLE trend_sightings DROP COLUMN trend_collection_id;
DROP TABLE trend_collection_uses;
DROP TABLE trend_collections;
