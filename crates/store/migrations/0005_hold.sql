-- The hub's pull-through endpoint serves a repository while one of its jobs is leased:
-- each request looks the leased jobs of the repository up.
CREATE INDEX jobs_leased_repository ON jobs (repository) WHERE state = 'leased';
