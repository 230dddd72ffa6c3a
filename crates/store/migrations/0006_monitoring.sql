-- Continuous monitoring: images a registry deleted stay with their history but leave the
-- lists; registry notifications are taken once each (the registry redelivers); scans say
-- why they ran.
ALTER TABLE images ADD COLUMN deleted_at BIGINT;
CREATE INDEX images_registry ON images (registry, repository);

-- Ids of registry notification events already taken, so a redelivery queues nothing.
CREATE TABLE hook_events (
    id          TEXT PRIMARY KEY,  -- <registry>/<event id>
    received_at BIGINT NOT NULL
);
CREATE INDEX hook_events_received ON hook_events (received_at);

-- Why a scan ran: request | push | schedule | advisories.
ALTER TABLE scans ADD COLUMN reason TEXT;
