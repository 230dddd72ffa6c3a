//! The hub's store. One interface per aggregate — images, jobs (the durable priority queue),
//! scans with their findings, operations, accounts — over one SQL schema that runs on SQLite
//! (the default, in a data directory) and on PostgreSQL (for several hubs on one database),
//! through sqlx's runtime-generic driver. Large blobs (SBOMs, reports) go to a
//! content-addressed [`BlobStore`] on the file system.
//!
//! The schema (`migrations/`) uses only BIGINT and TEXT, so the same statements serve both
//! backends; where they must differ (row locks for concurrent hubs, SQLite's write lock)
//! the [`Backend`] decides.

mod accounts;
mod blobs;
mod jobs;
mod scans;

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, SqlStr};

pub use accounts::{Account, AccountStore, Operation, OperationStore};
pub use blobs::{BlobError, BlobStore};
pub use jobs::{Job, JobRequest, JobState, JobStore, Released, Submitted};
pub use scans::{
    Counts, Finding, FindingFilter, FindingKey, Image, ImageFilter, ImageStore, LatestScan, Scan,
    ScanFilter, ScanKey, ScanResult, ScanStatus, ScanStore, severity_rank,
};

/// The migrations, embedded in order; each is valid on both backends.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "hub", include_str!("../migrations/0001_hub.sql")),
    (
        2,
        "settings",
        include_str!("../migrations/0002_settings.sql"),
    ),
];

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: expected sqlite:… or postgres://…")]
    Url(String),
    #[error("{what} {id:?} not found")]
    NotFound { what: &'static str, id: String },
    #[error("stored {what} is corrupt: {message}")]
    Corrupt { what: &'static str, message: String },
    #[error("{0}")]
    Conflict(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The store: a connection pool over one of the backends.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Opens (creating it when it is a new SQLite file) and migrates the database at `url`:
    /// `sqlite:PATH` or `postgres://…`.
    pub async fn open(url: &str) -> Result<Self> {
        install_default_drivers();
        let (backend, url, max) = if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.trim_start_matches("//");
            let sep = if path.contains('?') { '&' } else { '?' };
            (Backend::Sqlite, format!("sqlite://{path}{sep}mode=rwc"), 8)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned(), 16)
        } else {
            return Err(StoreError::Url(url.to_owned()));
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the one writer; a busy writer is
                        // waited for rather than failed.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let store = Self { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        let migrations = MIGRATIONS
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*name),
                    MigrationType::Simple,
                    SqlStr::from_static(sql),
                    false,
                )
            })
            .collect();
        Migrator::with_migrations(migrations)
            .run(&self.pool)
            .await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a transaction that will write: on SQLite it takes the write lock at once, so
    /// two writers never deadlock upgrading read locks.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// The setting `name`, set to `make()` first if it has none. Every hub on one database
    /// gets the same value, whoever set it first.
    pub async fn setting_or_init(
        &self,
        name: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(make())
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(sqlx::Row::try_get(&row, "value")?)
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A new identifier: the kind's prefix (`img`, `scn`, `job`, `op`, `acc`), so that an id of
/// one kind is never taken for another, then 32 random hex digits.
pub(crate) fn new_id(kind: &str) -> String {
    format!("{kind}{}", uuid::Uuid::new_v4().simple())
}
