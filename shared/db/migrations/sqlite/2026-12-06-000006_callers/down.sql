ALTER TABLE videos DROP COLUMN reviewed_by;
ALTER TABLE jobs DROP COLUMN started_by;
