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

-- Image search: a trigram index (case-insensitive substrings of three characters or more)
-- of each image's registry/repository and tags. Its rows are numbered by `text_rowid`, a
-- number of the image's own that VACUUM leaves alone (unlike an implicit rowid).
ALTER TABLE images ADD COLUMN text_rowid INTEGER;
CREATE VIRTUAL TABLE images_text USING fts5(image_id UNINDEXED, text, tokenize = 'trigram');
UPDATE images SET text_rowid = rowid;
CREATE UNIQUE INDEX images_text_rowid ON images (text_rowid);
INSERT INTO images_text (rowid, image_id, text)
    SELECT text_rowid, id, registry || '/' || repository || ' ' || tags FROM images;

CREATE TRIGGER images_text_insert AFTER INSERT ON images
BEGIN
    UPDATE images SET text_rowid = (SELECT COALESCE(MAX(text_rowid), 0) + 1 FROM images)
    WHERE id = NEW.id;
    INSERT INTO images_text (rowid, image_id, text)
    VALUES ((SELECT text_rowid FROM images WHERE id = NEW.id), NEW.id,
            NEW.registry || '/' || NEW.repository || ' ' || NEW.tags);
END;

CREATE TRIGGER images_text_update AFTER UPDATE OF registry, repository, tags ON images
BEGIN
    DELETE FROM images_text WHERE rowid = OLD.text_rowid;
    INSERT INTO images_text (rowid, image_id, text)
    VALUES (NEW.text_rowid, NEW.id, NEW.registry || '/' || NEW.repository || ' ' || NEW.tags);
END;

CREATE TRIGGER images_text_delete AFTER DELETE ON images
BEGIN
    DELETE FROM images_text WHERE rowid = OLD.text_rowid;
END;
