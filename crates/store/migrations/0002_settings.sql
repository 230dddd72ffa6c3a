-- Hub-wide settings shared by every hub on one database (the key that signs session
-- tokens and page tokens, generated at first start).
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
