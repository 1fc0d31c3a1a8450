ALTER TABLE scripts DROP COLUMN usage;
ALTER TABLE trend_reports DROP COLUMN usage;
ALTER TABLE trend_reports DROP COLUMN model;
