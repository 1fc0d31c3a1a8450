-- Who started a job and who reviewed a video: the authenticated user's name from the token
-- file; NULL where authentication is off or for jobs the scheduler started.
ALTER TABLE jobs ADD COLUMN started_by TEXT;
ALTER TABLE videos ADD COLUMN reviewed_by TEXT;
