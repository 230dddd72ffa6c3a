-- Hub-wide settings shared by every hub on one database (the key that signs session
-- tokens and page tokens, generated at first start).
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- A job's scans (one per owner who asked) are found by the job when its result arrives.
CREATE INDEX scans_job ON scans (job_id);
