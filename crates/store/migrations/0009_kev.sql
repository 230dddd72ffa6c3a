-- Whether a finding's vulnerability is in CISA's Known Exploited Vulnerabilities catalog:
-- webhooks can ask for those alone.
ALTER TABLE findings ADD COLUMN kev BIGINT NOT NULL DEFAULT 0;
