-- Notifications: webhook subscriptions, and a durable outbox of deliveries (at least once,
-- retried with backoff, dead-lettered after too many attempts). Events are derived from
-- finished scans past a cursor (the `settings` row `notify_cursor`).
CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY,
    owner      TEXT,            -- the owner DID whose scans it sees; NULL: every owner (config)
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    filter     TEXT NOT NULL,   -- JSON: events, repository prefix, minimum severity
    created_at BIGINT NOT NULL
);

CREATE TABLE outbox (
    id            TEXT PRIMARY KEY,  -- <event id>/<webhook id>: one delivery
    event_id      TEXT NOT NULL,
    webhook_id    TEXT NOT NULL,
    payload       TEXT NOT NULL,     -- the CloudEvent, as sent
    state         TEXT NOT NULL,     -- pending | delivered | dead
    attempts      BIGINT NOT NULL,
    next_attempt  BIGINT NOT NULL,
    lease_expires BIGINT,
    last_error    TEXT,
    created_at    BIGINT NOT NULL,
    delivered_at  BIGINT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt);
CREATE INDEX scans_scanned ON scans (scanned_at);
