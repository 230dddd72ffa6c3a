//! Every environment variable Ferret reads, in one place.

/// Registry password for `--username` (instead of `--password-stdin`).
pub const REGISTRY_PASSWORD: &str = "FERRET_REGISTRY_PASSWORD";
/// Log filter (`tracing` syntax), e.g. `debug` or `ferret_image=trace`.
pub const LOG: &str = "FERRET_LOG";
/// Where docker keeps `config.json`; defaults to `~/.docker`.
pub const DOCKER_CONFIG: &str = "DOCKER_CONFIG";
pub const HOME: &str = "HOME";
/// Reproducible-builds convention: the document time for sources without one.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";
/// Where the advisory database lives (`--db-dir`).
pub const DB_DIR: &str = "FERRET_DB_DIR";
/// The user's cache directory, for the default database location.
pub const XDG_CACHE_HOME: &str = "XDG_CACHE_HOME";
/// Shared secrets `ferret serve` accepts from scanners, comma-separated.
pub const SCANNER_SECRETS: &str = "FERRET_SCANNER_SECRETS";
/// The first admin's password for `ferret serve`, used when the hub has no account yet.
pub const ADMIN_PASSWORD: &str = "FERRET_ADMIN_PASSWORD";
/// Variables that start with this configure the S3 blob store (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, …).
pub const AWS_PREFIX: &str = "AWS_";
