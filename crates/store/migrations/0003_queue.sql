-- The queue, made to hold under load and faults (both backends).
--
-- Picking the next job is one index seek whatever the depth: jobs are ordered by
-- priority, then a fair-share key given at enqueue (each owner's jobs take consecutive
-- keys from the priority's current head, so owners interleave), then seq. Nothing on the
-- pick path updates a shared row.
ALTER TABLE jobs ADD COLUMN fair_key BIGINT NOT NULL DEFAULT 0;
-- Leases lost without an outcome (scanner gone, lease timeout, hub died); bounded apart
-- from `attempts`, which now counts only results refused as invalid.
ALTER TABLE jobs ADD COLUMN interruptions BIGINT NOT NULL DEFAULT 0;
-- Times the job was leased.
ALTER TABLE jobs ADD COLUMN dispatches BIGINT NOT NULL DEFAULT 0;
-- The hub process holding the lease; its liveness (`hubs`) keeps the lease.
ALTER TABLE jobs ADD COLUMN lease_hub TEXT;
UPDATE jobs SET lease_hub = lease_holder WHERE state = 'leased';
DROP INDEX jobs_queue;
CREATE INDEX jobs_pick ON jobs (priority, fair_key, seq) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_hub, lease_expires) WHERE state = 'leased';

-- Per owner and priority, the next fair-share key.
CREATE TABLE fair_clock (
    owner    TEXT NOT NULL,
    priority BIGINT NOT NULL,
    next_key BIGINT NOT NULL,
    PRIMARY KEY (owner, priority)
);
CREATE INDEX fair_clock_frontier ON fair_clock (priority, next_key);
DROP TABLE owners;
DELETE FROM counters WHERE name = 'served';

-- Live hub processes: each renews its row every second; the leases of a hub whose row
-- lapsed are reclaimed by any other.
CREATE TABLE hubs (
    instance   TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    expires    BIGINT NOT NULL
);
