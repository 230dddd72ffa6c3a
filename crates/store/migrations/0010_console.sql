-- The operator's console. Findings keep what the console shows of them (fix state, the
-- source of the severity, EPSS, the layer that brought the package) and the suppressed
-- ones with why (`suppressed` not NULL: kept for the record, never counted or listed by
-- the APIs). Images carry their newest scan's summary, kept by triggers on every write
-- path, so that a page of 100,000 images sorts and filters on indexed columns.
ALTER TABLE findings ADD COLUMN fix_state TEXT;
ALTER TABLE findings ADD COLUMN severity_source TEXT;
-- EPSS probability and percentile in millionths, to stay with BIGINT and TEXT.
ALTER TABLE findings ADD COLUMN epss BIGINT;
ALTER TABLE findings ADD COLUMN epss_percentile BIGINT;
ALTER TABLE findings ADD COLUMN layer TEXT;
ALTER TABLE findings ADD COLUMN suppressed TEXT;

-- Known exploited findings per scan (kept by a trigger on findings).
ALTER TABLE scans ADD COLUMN kev BIGINT NOT NULL DEFAULT 0;
UPDATE scans SET kev = (SELECT COUNT(*) FROM findings f WHERE f.scan_id = scans.id AND f.kev = 1)
WHERE EXISTS (SELECT 1 FROM findings f WHERE f.scan_id = scans.id AND f.kev = 1);

-- The newest scan (any status) and the newest READY scan's time and counts.
ALTER TABLE images ADD COLUMN last_scan_id TEXT;
ALTER TABLE images ADD COLUMN last_status TEXT;
ALTER TABLE images ADD COLUMN ready_scan_id TEXT;
ALTER TABLE images ADD COLUMN scanned_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE images ADD COLUMN critical BIGINT NOT NULL DEFAULT 0;
ALTER TABLE images ADD COLUMN high BIGINT NOT NULL DEFAULT 0;
ALTER TABLE images ADD COLUMN medium BIGINT NOT NULL DEFAULT 0;
ALTER TABLE images ADD COLUMN low BIGINT NOT NULL DEFAULT 0;
ALTER TABLE images ADD COLUMN negligible BIGINT NOT NULL DEFAULT 0;
ALTER TABLE images ADD COLUMN unknown BIGINT NOT NULL DEFAULT 0;
ALTER TABLE images ADD COLUMN kev BIGINT NOT NULL DEFAULT 0;

UPDATE images SET last_scan_id = (
    SELECT s.id FROM scans s WHERE s.image_id = images.id ORDER BY s.created_at DESC, s.id DESC LIMIT 1);
UPDATE images SET last_status = (SELECT s.status FROM scans s WHERE s.id = images.last_scan_id);
UPDATE images SET ready_scan_id = (
    SELECT s.id FROM scans s WHERE s.image_id = images.id AND s.status = 'READY'
    ORDER BY s.created_at DESC, s.id DESC LIMIT 1);
UPDATE images SET
    scanned_at = COALESCE((SELECT COALESCE(s.scanned_at, s.created_at) FROM scans s WHERE s.id = images.ready_scan_id), 0),
    critical = COALESCE((SELECT s.critical FROM scans s WHERE s.id = images.ready_scan_id), 0),
    high = COALESCE((SELECT s.high FROM scans s WHERE s.id = images.ready_scan_id), 0),
    medium = COALESCE((SELECT s.medium FROM scans s WHERE s.id = images.ready_scan_id), 0),
    low = COALESCE((SELECT s.low FROM scans s WHERE s.id = images.ready_scan_id), 0),
    negligible = COALESCE((SELECT s.negligible FROM scans s WHERE s.id = images.ready_scan_id), 0),
    unknown = COALESCE((SELECT s.undefined FROM scans s WHERE s.id = images.ready_scan_id), 0),
    kev = COALESCE((SELECT s.kev FROM scans s WHERE s.id = images.ready_scan_id), 0)
WHERE ready_scan_id IS NOT NULL;

-- The console's orders, each for one owner and for everyone (admins).
CREATE INDEX images_name ON images (owner, registry, repository, digest, id) WHERE deleted_at IS NULL;
CREATE INDEX images_name_all ON images (registry, repository, digest, id) WHERE deleted_at IS NULL;
CREATE INDEX images_risk ON images (owner, critical, high, medium, low, id) WHERE deleted_at IS NULL;
CREATE INDEX images_risk_all ON images (critical, high, medium, low, id) WHERE deleted_at IS NULL;
CREATE INDEX images_recent ON images (owner, scanned_at, id) WHERE deleted_at IS NULL;
CREATE INDEX images_recent_all ON images (scanned_at, id) WHERE deleted_at IS NULL;
-- Search by the start of a digest; an image's history; an owner's scans.
CREATE INDEX images_digest ON images (digest) WHERE deleted_at IS NULL;
CREATE INDEX scans_owner ON scans (owner, created_at);
-- Recent failures on the queue page.
CREATE INDEX jobs_failed ON jobs (updated_at) WHERE state = 'error';

-- Tokens get a public id to be listed and revoked by; older ones take one made of their
-- hash's first half (the hash of a 256-bit secret says nothing about it).
ALTER TABLE tokens ADD COLUMN id TEXT;
ALTER TABLE tokens ADD COLUMN last_used_at BIGINT;
UPDATE tokens SET id = 'tok_' || substr(hash, 1, 32) WHERE id IS NULL;
CREATE UNIQUE INDEX tokens_id ON tokens (id);
CREATE INDEX tokens_account ON tokens (account_id, created_at);

-- A password change refuses session JWTs issued before it.
ALTER TABLE accounts ADD COLUMN password_changed_at BIGINT NOT NULL DEFAULT 0;

-- Console logins: only the SHA-256 of the cookie is kept.
CREATE TABLE console_sessions (
    id_hash    TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_account ON console_sessions (account_id);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
