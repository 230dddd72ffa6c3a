-- The hub's schema, valid on SQLite and PostgreSQL alike: BIGINT and TEXT only (booleans
-- are 0/1, times are Unix milliseconds), so one set of statements serves both.

-- Named counters: `seq` numbers the job log, `served` orders owners for fair share.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('seq', 0);
INSERT INTO counters (name, value) VALUES ('served', 0);

CREATE TABLE images (
    id         TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    registry   TEXT NOT NULL,
    repository TEXT NOT NULL,
    digest     TEXT NOT NULL,
    tags       TEXT NOT NULL,      -- JSON array, sorted
    size       BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (owner, registry, repository, digest)
);

-- One row per queued or leased job; finished ones stay as history.
CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    digest        TEXT NOT NULL,
    registry      TEXT NOT NULL,
    repository    TEXT NOT NULL,
    tag           TEXT,
    owner         TEXT NOT NULL,
    hold_did      TEXT NOT NULL,
    hold_endpoint TEXT NOT NULL,
    priority      BIGINT NOT NULL,
    seq           BIGINT NOT NULL,
    state         TEXT NOT NULL,   -- queued | leased | done | error
    attempts      BIGINT NOT NULL,
    lease_holder  TEXT,
    leased_at     BIGINT,
    lease_expires BIGINT,
    last_error    TEXT,
    scan_id       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
-- A digest has at most one job waiting or running.
CREATE UNIQUE INDEX jobs_active_digest ON jobs (digest) WHERE state IN ('queued', 'leased');
CREATE INDEX jobs_queue ON jobs (state, priority, seq);
CREATE INDEX jobs_lease ON jobs (lease_holder);

-- When each owner was last served, for round-robin within a priority.
CREATE TABLE owners (
    owner       TEXT PRIMARY KEY,
    last_served BIGINT NOT NULL
);

CREATE TABLE scans (
    id              TEXT PRIMARY KEY,
    image_id        TEXT,
    job_id          TEXT NOT NULL,
    owner           TEXT NOT NULL,
    registry        TEXT NOT NULL,
    repository      TEXT NOT NULL,
    digest          TEXT NOT NULL,
    status          TEXT NOT NULL, -- RUNNING | READY | ERROR
    error           TEXT,
    scanner_version TEXT,
    sbom_blob       TEXT,
    report_blob     TEXT,
    critical        BIGINT NOT NULL,
    high            BIGINT NOT NULL,
    medium          BIGINT NOT NULL,
    low             BIGINT NOT NULL,
    negligible      BIGINT NOT NULL,
    undefined       BIGINT NOT NULL,
    total           BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    scanned_at      BIGINT
);
CREATE INDEX scans_digest ON scans (digest, created_at);
CREATE INDEX scans_image ON scans (image_id, created_at);
CREATE INDEX scans_repository ON scans (registry, repository, created_at);

-- A scan's findings, one row per (vulnerability, package), in report order.
CREATE TABLE findings (
    scan_id       TEXT NOT NULL,
    ord           BIGINT NOT NULL,
    vulnerability TEXT NOT NULL,
    severity      TEXT NOT NULL,
    severity_rank BIGINT NOT NULL,
    package       TEXT NOT NULL,
    version       TEXT NOT NULL,
    fixed_by      TEXT,
    source        TEXT NOT NULL,
    link          TEXT,
    origin        TEXT,
    kind          TEXT,
    PRIMARY KEY (scan_id, ord)
);
CREATE INDEX findings_severity ON findings (scan_id, severity_rank, ord);

-- The latest finished scan per digest, shaped like io.atcr.hold.scan (rescans replace it).
CREATE TABLE latest_scans (
    digest  TEXT PRIMARY KEY,
    scan_id TEXT NOT NULL,
    record  TEXT NOT NULL
);

CREATE TABLE operations (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    description TEXT NOT NULL,
    scan_id     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    admin         BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY,   -- SHA-256 of the token; the token itself is never stored
    account_id TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
