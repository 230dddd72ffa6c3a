//! Stage ④ of the pipeline: advisories. Feeds are read in their native formats (OSV, the
//! Debian security tracker, Alpine/Wolfi/Chainguard secdb, the OVAL of Oracle Linux, Azure
//! Linux, CBL-Mariner and Photon OS, Amazon Linux's updateinfo), normalised into one model
//! (OSV schema 1.6 plus the vendor's fix state), and stored in an embedded SQLite database
//! indexed by (ecosystem, release, normalised package name).

mod csaf;
mod db;
mod debian;
mod facts;
mod feed;
pub mod model;
mod osv;
mod oval;
mod progress;
mod secdb;
mod update;
mod updateinfo;
mod xml;

use std::path::{Path, PathBuf};

pub use db::{
    DB_FILE, Database, FactImport, FeedMeta, FeedStatus, Import, ImportSummary, KnownFact,
    SCHEMA_VERSION, Status, Validators, alias_key, package_key,
};
pub use debian::release_number as debian_release_number;
pub use facts::{
    CISA_ADP_ORG_ID, FactRecord, FactsRead, nvd_feed_name, read_cve5, read_epss, read_kev,
    read_nvd, record_ratings,
};
pub use feed::{
    FIRST_SKIPPED, FeedData, MAX_DOCUMENT, import_feeds, import_feeds_with, read_feeds,
};
pub use ferret_model::Ecosystem;
pub use model::{
    Advisory, Affected, Event, FeedKind, FixState, GoImport, Namespace, Range, RangeKind, Score,
    ScoreKind,
};
pub use progress::{FeedEvent, Progress, no_progress};
pub use update::{
    DEFAULT_ALPINE_BRANCHES, DEFAULT_OSV_ECOSYSTEMS, FeedSource, NVD_FIRST_YEAR, UpdateOptions,
    UpdateReport, default_sources, default_sources_until, distro_sources, nvd_sources, update,
    update_with,
};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdvisoryError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Feed { path: PathBuf, message: String },
    #[error(
        "feed {feed} has no valid record ({skipped} skipped, {withdrawn} withdrawn); the database is unchanged{}",
        first_errors.iter().map(|e| format!("\n  {e}")).collect::<String>()
    )]
    NoValidRecords {
        feed: String,
        skipped: usize,
        withdrawn: usize,
        first_errors: Vec<String>,
    },
    #[error("fetching {url}: {message}; the database is unchanged")]
    Fetch { url: String, message: String },
    #[error("advisory database {path}: {message}")]
    Database { path: PathBuf, message: String },
    #[error(
        "advisory database {path} has schema version {found}; this Ferret reads version {expected} (remove it and run `ferret db update`)"
    )]
    Schema {
        path: PathBuf,
        found: String,
        expected: u32,
    },
}

impl AdvisoryError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}
