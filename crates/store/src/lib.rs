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
mod console;
mod jobs;
mod monitor;
mod notify;
mod rescans;
mod row;
mod scans;
mod sqlite;
mod sqlite_ops;

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, SqlSafeStr as _};

pub use accounts::{Account, AccountStore, Operation, OperationStore, Token};
pub use blobs::{BlobError, BlobStore};
pub use console::{ConsoleSession, ImageOrder, ImageQuery, ImageSummary, JobCount};
pub use jobs::{
    Completion, Job, JobRequest, JobState, JobStore, LeaseEnd, Lessee, Limits, Released, Submitted,
};
pub use monitor::MonitorStore;
pub use notify::{Delivery, DeliveryState, Webhook};
pub use rescans::{Candidate, Rescan};
pub use scans::{
    Counts, Finding, FindingFilter, FindingKey, Image, ImageFilter, ImageStore, LatestScan, Scan,
    ScanFilter, ScanKey, ScanReason, ScanResult, ScanStatus, ScanStore, severity_rank,
};

/// The migrations, embedded in order; each is valid on both backends, with a part of its
/// own per backend where they differ (PostgreSQL numbers the job log with a sequence).
fn migrations(backend: Backend) -> Vec<(i64, &'static str, String)> {
    let queue = match backend {
        Backend::Sqlite => include_str!("../migrations/0003_queue.sqlite.sql"),
        Backend::Postgres => include_str!("../migrations/0003_queue.postgres.sql"),
    };
    let console = match backend {
        Backend::Sqlite => include_str!("../migrations/0010_console.sqlite.sql"),
        Backend::Postgres => include_str!("../migrations/0010_console.postgres.sql"),
    };
    let search = match backend {
        Backend::Sqlite => include_str!("../migrations/0011_search.sqlite.sql"),
        Backend::Postgres => include_str!("../migrations/0011_search.postgres.sql"),
    };
    vec![
        (
            1,
            "hub",
            include_str!("../migrations/0001_hub.sql").to_owned(),
        ),
        (
            2,
            "settings",
            include_str!("../migrations/0002_settings.sql").to_owned(),
        ),
        (
            3,
            "queue",
            format!("{}\n{queue}", include_str!("../migrations/0003_queue.sql")),
        ),
        (
            4,
            "blobs",
            include_str!("../migrations/0004_blobs.sql").to_owned(),
        ),
        (
            5,
            "hold",
            include_str!("../migrations/0005_hold.sql").to_owned(),
        ),
        (
            6,
            "monitoring",
            include_str!("../migrations/0006_monitoring.sql").to_owned(),
        ),
        (
            7,
            "rescans",
            include_str!("../migrations/0007_rescans.sql").to_owned(),
        ),
        (
            8,
            "notifications",
            include_str!("../migrations/0008_notifications.sql").to_owned(),
        ),
        (
            9,
            "kev",
            include_str!("../migrations/0009_kev.sql").to_owned(),
        ),
        (
            10,
            "console",
            format!(
                "{}\n{console}",
                include_str!("../migrations/0010_console.sql")
            ),
        ),
        (11, "search", search.to_owned()),
    ]
}

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
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database commit: {0}")]
    Commit(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// A deadlock or serialization failure (PostgreSQL `40P01`, `40001`) or a busy or
    /// locked database (SQLite 5, 6): the same transaction may succeed when run again.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Database(sqlx::Error::Database(e)) => matches!(
                e.code().as_deref(),
                Some("40P01" | "40001" | "5" | "6" | "517" | "261" | "262")
            ),
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            _ => false,
        }
    }
}

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The store: connection pools over one of the backends.
#[derive(Debug, Clone)]
pub struct Store {
    /// Reads (and, on PostgreSQL, everything).
    pool: AnyPool,
    /// Writes on PostgreSQL (the same pool as reads). On SQLite it only migrates the
    /// schema; every write then goes through `sqlite`.
    writer: AnyPool,
    /// SQLite: the thread that owns the write connection and commits in groups.
    sqlite: Option<std::sync::Arc<sqlite::Writer>>,
    backend: Backend,
    /// Up to how many matches a search's page is found by sorting them.
    search_sort_limit: i64,
}

impl Store {
    /// Opens (creating it when it is a new SQLite file) and migrates the database at `url`:
    /// `sqlite:PATH` or `postgres://…`.
    pub async fn open(url: &str) -> Result<Self> {
        install_default_drivers();
        let mut file = None;
        let (backend, url, max) = if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.trim_start_matches("//");
            file = Some(std::path::PathBuf::from(
                path.split_once('?').map_or(path, |(p, _)| p),
            ));
            let sep = if path.contains('?') { '&' } else { '?' };
            (Backend::Sqlite, format!("sqlite://{path}{sep}mode=rwc"), 8)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned(), 16)
        } else {
            return Err(StoreError::Url(url.to_owned()));
        };
        let connect = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            // WAL lets readers run beside the one writer; another process's
                            // writer (`ferret user add`) is waited for rather than failed.
                            sqlx::query("PRAGMA journal_mode = WAL")
                                .execute(&mut *conn)
                                .await?;
                            sqlx::query("PRAGMA busy_timeout = 10000")
                                .execute(&mut *conn)
                                .await?;
                            sqlx::query("PRAGMA synchronous = NORMAL")
                                .execute(&mut *conn)
                                .await?;
                            // Reads see the file through a map rather than copying
                            // pages into each connection's small cache: a page of a
                            // broad search, which reads thousands of rows, takes half
                            // the time. After another connection commits, a reader's
                            // first query maps its pages again (SQLite drops the map
                            // then), which costs about what copying them would.
                            sqlx::query("PRAGMA mmap_size = 268435456")
                                .execute(&mut *conn)
                                .await?;
                        }
                        Ok(())
                    })
                })
                .connect(&url)
        };
        let writer = connect(if backend == Backend::Sqlite { 1 } else { max }).await?;
        let pool = match backend {
            Backend::Sqlite => connect(max).await?,
            Backend::Postgres => writer.clone(),
        };
        let mut store = Self {
            pool,
            writer,
            sqlite: None,
            backend,
            search_sort_limit: console::SEARCH_SORT_LIMIT,
        };
        store.migrate().await?;
        if let Some(file) = file {
            store.writer.close().await;
            store.sqlite = Some(std::sync::Arc::new(sqlite::Writer::start(&file)?));
        }
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        let migrations = migrations(self.backend)
            .into_iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(name),
                    MigrationType::Simple,
                    sqlx::AssertSqlSafe(sql).into_sql_str(),
                    false,
                )
            })
            .collect();
        Migrator::with_migrations(migrations)
            .run(&self.writer)
            .await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// This store, finding a search's page by sorting its matches only up to `n` of them
    /// (tests use it to take both ways over the same images).
    #[doc(hidden)]
    #[must_use]
    pub fn with_search_sort_limit(mut self, n: i64) -> Self {
        self.search_sort_limit = n;
        self
    }

    /// Starts a transaction that will write (PostgreSQL; SQLite writes go through its
    /// writer thread).
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(self.writer.begin().await?)
    }

    /// The setting `name`, set to `make()` first if it has none. Every hub on one database
    /// gets the same value, whoever set it first.
    pub async fn setting_or_init(
        &self,
        name: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String> {
        self.exec(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            vec![name.into(), make().into()],
        )
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

    /// Locks the rows a SELECT reads until the transaction ends (PostgreSQL; SQLite's write
    /// transaction holds the whole database already).
    pub(crate) fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// As [`Store::for_update`], passing over rows another transaction holds.
    pub(crate) fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// The database's clock in Unix milliseconds, as SQL: hubs on one PostgreSQL judge each
    /// other's liveness by one clock.
    pub(crate) fn db_now(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        }
    }

    /// The pool writes go through (see [`Store::writer`]'s field).
    pub(crate) fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Runs `op` again when the database gave up on it to break a deadlock or a
    /// serialization conflict (PostgreSQL), or found the database busy past its timeout
    /// (SQLite). Lock order makes these rare; this is the last line.
    pub(crate) async fn retrying<T, F>(&self, op: impl Fn() -> F) -> Result<T>
    where
        F: std::future::Future<Output = Result<T>>,
    {
        let mut delay = std::time::Duration::from_millis(2);
        for _ in 0..8 {
            match op().await {
                Err(e) if e.is_transient() => {
                    tracing::debug!(error = %e, "retrying a transaction");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                other => return other,
            }
        }
        op().await
    }

    /// Runs `statements` in one transaction, on either backend, when the first changes a
    /// row; when it changes none, nothing is written and `false` comes back (the first is
    /// the guard: it checks what the rest rely on, and writes only when it holds).
    /// `lane` says whether it is work someone waits for (SQLite's writer lets background
    /// work wait for that).
    pub(crate) async fn exec_guarded_in(
        &self,
        lane: sqlite::Lane,
        statements: Vec<(String, Vec<row::Arg>)>,
    ) -> Result<bool> {
        match &self.sqlite {
            Some(w) => {
                w.run_in(lane, move |tx| {
                    for (i, (sql, args)) in statements.iter().enumerate() {
                        let mut st = tx.prepare_cached(&sqlite::sql(sql))?;
                        let n = st.execute(rusqlite::params_from_iter(args.iter()))?;
                        // The guard changed nothing: nothing else runs, nothing to undo.
                        if i == 0 && n == 0 {
                            return Ok(false);
                        }
                    }
                    Ok(true)
                })
                .await
            }
            None => {
                let mut tx = self.begin_write().await?;
                for (i, (sql, args)) in statements.iter().enumerate() {
                    let n = row::bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.as_str())), args)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if i == 0 && n == 0 {
                        tx.rollback().await?;
                        return Ok(false);
                    }
                }
                tx.commit().await?;
                Ok(true)
            }
        }
    }

    /// Runs `statements` in one transaction, on either backend, in `lane`.
    pub(crate) async fn exec_all_in(
        &self,
        lane: sqlite::Lane,
        statements: Vec<(String, Vec<row::Arg>)>,
    ) -> Result<()> {
        if statements.is_empty() {
            return Ok(());
        }
        match &self.sqlite {
            Some(w) => {
                w.run_in(lane, move |tx| {
                    for (sql, args) in &statements {
                        tx.prepare_cached(&sqlite::sql(sql))?
                            .execute(rusqlite::params_from_iter(args.iter()))?;
                    }
                    Ok(())
                })
                .await
            }
            None => {
                let mut tx = self.begin_write().await?;
                for (sql, args) in &statements {
                    row::bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.as_str())), args)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    }

    /// Takes (or renews) the lease `name` for `holder` for `ttl_ms`, unless another holder
    /// has it unexpired; whether `holder` has it now.
    pub async fn take_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<bool> {
        let now = now_ms();
        let n = self
            .exec(
                "INSERT INTO leases (name, holder, expires) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
                 WHERE leases.holder = excluded.holder OR leases.expires < $4",
                vec![name.into(), holder.into(), now.saturating_add(ttl_ms).into(), now.into()],
            )
            .await?;
        Ok(n == 1)
    }

    /// Gives the lease `name` up, if `holder` has it.
    pub async fn drop_lease(&self, name: &str, holder: &str) -> Result<()> {
        self.exec(
            "DELETE FROM leases WHERE name = $1 AND holder = $2",
            vec![name.into(), holder.into()],
        )
        .await?;
        Ok(())
    }

    /// Runs one statement that writes, on either backend; the rows it changed.
    pub(crate) async fn exec(&self, sql: &'static str, args: Vec<row::Arg>) -> Result<u64> {
        match &self.sqlite {
            Some(w) => {
                w.run(move |tx| {
                    let mut st = tx.prepare_cached(&sqlite::sql(sql))?;
                    Ok(st.execute(rusqlite::params_from_iter(args.iter()))? as u64)
                })
                .await
            }
            None => Ok(row::bind_all(sqlx::query(sql), &args)
                .execute(&self.writer)
                .await?
                .rows_affected()),
        }
    }

    pub async fn close(&self) {
        if let Some(w) = &self.sqlite {
            let w = w.clone();
            // Joining the thread blocks; it has at most one batch left.
            let _ = tokio::task::spawn_blocking(move || w.close()).await;
        }
        self.writer.close().await;
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
/// one kind is never taken for another, then 32 hex digits of a UUIDv7 (time, then 74
/// random bits). Time first keeps each new row's index entries next to the last one's, so
/// a burst of results writes a few index pages, not one at random per row.
pub(crate) fn new_id(kind: &str) -> String {
    format!("{kind}{}", uuid::Uuid::now_v7().simple())
}

/// Notifications on one PostgreSQL channel (`LISTEN`), for hubs that share a database to
/// wake each other.
#[derive(Debug)]
pub struct Listener(sqlx::postgres::PgListener);

impl Listener {
    pub async fn connect(url: &str, channel: &str) -> Result<Self> {
        let mut l = sqlx::postgres::PgListener::connect(url).await?;
        l.listen(channel).await?;
        Ok(Self(l))
    }

    /// The next notification's payload; `None` when the connection was lost and has been
    /// made again (notifications sent meanwhile are gone).
    pub async fn recv(&mut self) -> Result<Option<String>> {
        Ok(self.0.try_recv().await?.map(|n| n.payload().to_owned()))
    }
}

impl Store {
    /// Sends `payload` to the listeners of `channel` (PostgreSQL; nothing on SQLite, where
    /// no other hub can listen).
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(&self.writer)
                .await?;
        }
        Ok(())
    }
}
