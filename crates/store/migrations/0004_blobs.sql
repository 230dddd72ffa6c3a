-- Small blobs (SBOMs and reports up to the hub's inline limit, all JSON) kept in the
-- database, written in the transaction that stores their result: no file per blob, and
-- a result is never stored without them. Larger ones stay in the blob store.
CREATE TABLE blobs (
    digest TEXT PRIMARY KEY,
    data   TEXT NOT NULL
);
