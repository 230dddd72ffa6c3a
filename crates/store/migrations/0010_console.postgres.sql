-- PostgreSQL's triggers keeping images' scan summaries and scans' KEV counts.
CREATE FUNCTION ferret_findings_kev() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE scans SET kev = kev + 1 WHERE id = NEW.scan_id;
    RETURN NULL;
END $$;
CREATE TRIGGER findings_kev AFTER INSERT ON findings
FOR EACH ROW WHEN (NEW.kev = 1 AND NEW.suppressed IS NULL) EXECUTE FUNCTION ferret_findings_kev();

CREATE FUNCTION ferret_scan_summary() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE images SET last_scan_id = NEW.id, last_status = NEW.status WHERE id = NEW.image_id;
    ELSE
        UPDATE images SET last_status = NEW.status WHERE id = NEW.image_id AND last_scan_id = NEW.id;
    END IF;
    IF NEW.status = 'READY' THEN
        UPDATE images SET ready_scan_id = NEW.id, scanned_at = COALESCE(NEW.scanned_at, NEW.created_at),
            critical = NEW.critical, high = NEW.high, medium = NEW.medium, low = NEW.low,
            negligible = NEW.negligible, unknown = NEW.undefined, kev = NEW.kev
        WHERE id = NEW.image_id
          AND (ready_scan_id IS NULL OR ready_scan_id = NEW.id
               OR NEW.created_at >= (SELECT s.created_at FROM scans s WHERE s.id = images.ready_scan_id));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER scans_summary_insert AFTER INSERT ON scans
FOR EACH ROW WHEN (NEW.image_id IS NOT NULL) EXECUTE FUNCTION ferret_scan_summary();
CREATE TRIGGER scans_summary_update AFTER UPDATE OF status, critical, high, medium, low, negligible, undefined, kev, scanned_at ON scans
FOR EACH ROW WHEN (NEW.image_id IS NOT NULL) EXECUTE FUNCTION ferret_scan_summary();

-- Image search: a trigram index of each image's registry/repository and tags, when the
-- server has pg_trgm (PostgreSQL's contrib; trusted, so a database owner may add it).
-- Without it search still works, by scanning.
DO $$
DECLARE
    trgm_schema text;
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'pg_trgm is not available (%); image search will scan', SQLERRM;
    END;
    SELECT n.nspname INTO trgm_schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    IF trgm_schema IS NOT NULL THEN
        EXECUTE format(
            'CREATE INDEX images_text ON images USING gin ((lower(registry || %L || repository || %L || tags)) %I.gin_trgm_ops)',
            '/', ' ', trgm_schema);
    END IF;
END $$;
