-- What the LLM calls of analysis and planning used, beside what they cost: the report's model
-- (its `analyst` names the provider) and, for reports and scripts, the usage the provider
-- reported (tokens, calls). Media assets have had both from the start.
ALTER TABLE trend_reports ADD COLUMN model TEXT NOT NULL DEFAULT '';
ALTER TABLE trend_reports ADD COLUMN usage JSON NOT NULL DEFAULT '{}';
ALTER TABLE scripts ADD COLUMN usage JSON NOT NULL DEFAULT '{}';
