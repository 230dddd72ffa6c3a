-- SQLite's triggers keeping images' scan summaries and scans' KEV counts.
CREATE TRIGGER findings_kev AFTER INSERT ON findings
WHEN NEW.kev = 1 AND NEW.suppressed IS NULL
BEGIN
    UPDATE scans SET kev = kev + 1 WHERE id = NEW.scan_id;
END;

CREATE TRIGGER scans_summary_insert AFTER INSERT ON scans
WHEN NEW.image_id IS NOT NULL
BEGIN
    UPDATE images SET last_scan_id = NEW.id, last_status = NEW.status WHERE id = NEW.image_id;
    UPDATE images SET ready_scan_id = NEW.id, scanned_at = COALESCE(NEW.scanned_at, NEW.created_at),
        critical = NEW.critical, high = NEW.high, medium = NEW.medium, low = NEW.low,
        negligible = NEW.negligible, unknown = NEW.undefined, kev = NEW.kev
    WHERE id = NEW.image_id AND NEW.status = 'READY';
END;

CREATE TRIGGER scans_summary_update AFTER UPDATE OF status, critical, high, medium, low, negligible, undefined, kev, scanned_at ON scans
WHEN NEW.image_id IS NOT NULL
BEGIN
    UPDATE images SET last_status = NEW.status WHERE id = NEW.image_id AND last_scan_id = NEW.id;
    UPDATE images SET ready_scan_id = NEW.id, scanned_at = COALESCE(NEW.scanned_at, NEW.created_at),
        critical = NEW.critical, high = NEW.high, medium = NEW.medium, low = NEW.low,
        negligible = NEW.negligible, unknown = NEW.undefined, kev = NEW.kev
    WHERE id = NEW.image_id AND NEW.status = 'READY'
      AND (ready_scan_id IS NULL OR ready_scan_id = NEW.id
           OR NEW.created_at >= (SELECT s.created_at FROM scans s WHERE s.id = images.ready_scan_id));
END;
