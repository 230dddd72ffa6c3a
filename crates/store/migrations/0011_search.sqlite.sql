-- A search finds its matches through the trigram index, by `text_rowid`. This index holds
-- all that a page filters and sorts the matches by, so each match is one lookup in a narrow
-- index rather than a second lookup into the table's wide rows.
CREATE INDEX images_text_keys ON images (text_rowid, deleted_at, owner, registry, repository, digest, id, critical, high, medium, low, scanned_at, kev);
