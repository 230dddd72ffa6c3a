-- Advisory-driven rescans: a scan may be a stored SBOM matched again against a newer
-- advisory snapshot, with what changed since the scan before it; the digest's latest scan
-- remembers which snapshot it was last judged against; one hub at a time does the work.
ALTER TABLE scans ADD COLUMN snapshot TEXT;
ALTER TABLE scans ADD COLUMN diff TEXT;
ALTER TABLE latest_scans ADD COLUMN judged_scan_id TEXT;
ALTER TABLE latest_scans ADD COLUMN judged_snapshot TEXT;

-- Named leases held by one hub at a time (the rescanner), until they expire.
CREATE TABLE leases (
    name    TEXT PRIMARY KEY,
    holder  TEXT NOT NULL,
    expires BIGINT NOT NULL
);
