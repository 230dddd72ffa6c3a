-- One UPDATE of the image per scan event, where schema 10 made two when a scan became READY
-- (its status, then its summary). Every UPDATE leaves a dead row version until vacuum, and
-- those spread the live images over more blocks, which a search's bitmap scan then reads.
CREATE OR REPLACE FUNCTION ferret_scan_summary() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_id  TEXT;
    ready_id TEXT;
    latest   BOOLEAN;
    ready    BOOLEAN := FALSE;
BEGIN
    -- Locked first, so that what is decided below holds for the row as it is updated.
    SELECT last_scan_id, ready_scan_id INTO last_id, ready_id
    FROM images WHERE id = NEW.image_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        latest := TRUE;
    ELSE
        latest := COALESCE(last_id = NEW.id, FALSE) AND NEW.status IS DISTINCT FROM OLD.status;
    END IF;
    IF NEW.status = 'READY' THEN
        ready := COALESCE(ready_id IS NULL OR ready_id = NEW.id
            OR NEW.created_at >= (SELECT s.created_at FROM scans s WHERE s.id = ready_id), FALSE);
    END IF;
    IF latest OR ready THEN
        UPDATE images SET
            last_scan_id = CASE WHEN TG_OP = 'INSERT' THEN NEW.id ELSE last_scan_id END,
            last_status = CASE WHEN latest THEN NEW.status ELSE last_status END,
            ready_scan_id = CASE WHEN ready THEN NEW.id ELSE ready_scan_id END,
            scanned_at = CASE WHEN ready THEN COALESCE(NEW.scanned_at, NEW.created_at) ELSE scanned_at END,
            critical = CASE WHEN ready THEN NEW.critical ELSE critical END,
            high = CASE WHEN ready THEN NEW.high ELSE high END,
            medium = CASE WHEN ready THEN NEW.medium ELSE medium END,
            low = CASE WHEN ready THEN NEW.low ELSE low END,
            negligible = CASE WHEN ready THEN NEW.negligible ELSE negligible END,
            unknown = CASE WHEN ready THEN NEW.undefined ELSE unknown END,
            kev = CASE WHEN ready THEN NEW.kev ELSE kev END
        WHERE id = NEW.image_id;
    END IF;
    RETURN NULL;
END $$;
