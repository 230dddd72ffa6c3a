//! The embedded advisory database: one SQLite file in the data directory, indexed by
//! (ecosystem, release, normalised package name). Imports replace a feed's records in one
//! transaction, so a failed import leaves the database as it was.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest as _, Sha256};

use crate::model::{Advisory, normalize_name};
use crate::{AdvisoryError, FeedData};

/// Bumped whenever the tables or the stored advisory JSON change incompatibly.
pub const SCHEMA_VERSION: u32 = 1;
pub const DB_FILE: &str = "advisories.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feeds (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    records INTEGER NOT NULL,
    snapshot TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT
);
CREATE TABLE IF NOT EXISTS advisories (
    feed TEXT NOT NULL,
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (feed, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS affects (
    ecosystem TEXT NOT NULL,
    release TEXT NOT NULL,
    name TEXT NOT NULL,
    feed TEXT NOT NULL,
    id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS affects_key ON affects (ecosystem, release, name);
CREATE INDEX IF NOT EXISTS affects_feed ON affects (feed);
CREATE TABLE IF NOT EXISTS aliases (alias TEXT NOT NULL, feed TEXT NOT NULL, id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS aliases_alias ON aliases (alias);
CREATE INDEX IF NOT EXISTS aliases_feed ON aliases (feed);
";

/// One feed as the database records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedStatus {
    pub name: String,
    pub kind: String,
    pub source: String,
    pub fetched_at: String,
    pub records: u64,
    pub snapshot: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub path: PathBuf,
    pub schema_version: u32,
    /// A hash over every feed's snapshot: names the database's content in reports.
    pub snapshot: String,
    pub feeds: Vec<FeedStatus>,
    pub size_bytes: u64,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub feed: String,
    pub records: usize,
    pub withdrawn: usize,
    pub skipped: usize,
}

/// HTTP validators remembered for conditional fetches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug)]
pub struct Database {
    conn: Connection,
    path: PathBuf,
}

fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> AdvisoryError + '_ {
    move |e| AdvisoryError::Database {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

impl Database {
    /// Opens (creating if needed) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, AdvisoryError> {
        std::fs::create_dir_all(dir).map_err(|e| AdvisoryError::io(dir, e))?;
        Self::open_file(&dir.join(DB_FILE))
    }

    pub fn open_file(path: &Path) -> Result<Self, AdvisoryError> {
        let err = db_err(path);
        let conn = Connection::open(path).map_err(&err)?;
        // A rollback journal, not WAL: `update` replaces the file whole, and a WAL file left
        // beside it would belong to the old database.
        conn.pragma_update(None, "journal_mode", "DELETE")
            .map_err(&err)?;
        conn.execute_batch(SCHEMA).map_err(&err)?;
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(&err)?;
        match version {
            None => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION.to_string()],
                )
                .map_err(&err)?;
            }
            Some(v) if v == SCHEMA_VERSION.to_string() => {}
            Some(v) => {
                return Err(AdvisoryError::Schema {
                    path: path.to_owned(),
                    found: v,
                    expected: SCHEMA_VERSION,
                });
            }
        }
        Ok(Self {
            conn,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a consistent copy of the database to `target` (which must not exist).
    pub fn copy_to(&self, target: &Path) -> Result<(), AdvisoryError> {
        let err = db_err(&self.path);
        self.conn
            .execute("VACUUM INTO ?1", [target.to_string_lossy()])
            .map_err(&err)?;
        Ok(())
    }

    /// Replaces `feed`'s records with the new ones, in one transaction. A feed with no
    /// valid record is refused and the database is left as it was (a secdb branch that
    /// lists no fixes at all is a valid, empty feed).
    pub fn import(
        &mut self,
        feed: &FeedData,
        fetched_at: &str,
        validators: &Validators,
    ) -> Result<ImportSummary, AdvisoryError> {
        let empty_secdb = feed.kind == crate::FeedKind::Secdb && feed.skipped.is_empty();
        if feed.advisories.is_empty() && !empty_secdb {
            return Err(AdvisoryError::NoValidRecords {
                feed: feed.name.clone(),
                skipped: feed.skipped.len(),
                withdrawn: feed.withdrawn,
                first_errors: feed
                    .skipped
                    .iter()
                    .take(5)
                    .map(|(id, why)| format!("{id}: {why}"))
                    .collect(),
            });
        }
        let path = self.path.clone();
        let err = db_err(&path);
        let tx = self.conn.transaction().map_err(&err)?;
        for table in ["advisories", "affects", "aliases"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE feed = ?1"),
                [&feed.name],
            )
            .map_err(&err)?;
        }
        {
            let mut put = tx
                .prepare("INSERT OR REPLACE INTO advisories (feed, id, doc) VALUES (?1, ?2, ?3)")
                .map_err(&err)?;
            let mut index = tx.prepare("INSERT INTO affects (ecosystem, release, name, feed, id) VALUES (?1, ?2, ?3, ?4, ?5)").map_err(&err)?;
            let mut alias = tx
                .prepare("INSERT INTO aliases (alias, feed, id) VALUES (?1, ?2, ?3)")
                .map_err(&err)?;
            for a in &feed.advisories {
                let doc = serde_json::to_string(a).map_err(|e| AdvisoryError::Feed {
                    path: path.clone(),
                    message: format!("{}: {e}", a.id),
                })?;
                put.execute(params![feed.name, a.id, doc]).map_err(&err)?;
                let mut keys: Vec<(&str, &str, String)> = a
                    .affected
                    .iter()
                    .map(|x| {
                        (
                            x.ecosystem.name.as_str(),
                            x.ecosystem.release.as_str(),
                            normalize_name(&x.ecosystem.name, &x.name),
                        )
                    })
                    .collect();
                keys.sort();
                keys.dedup();
                for (eco, release, name) in keys {
                    index
                        .execute(params![eco, release, name, feed.name, a.id])
                        .map_err(&err)?;
                }
                for al in a.aliases.iter().chain(std::iter::once(&a.id)) {
                    alias.execute(params![al, feed.name, a.id]).map_err(&err)?;
                }
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO feeds (name, kind, source, fetched_at, records, snapshot, etag, last_modified) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                feed.name,
                feed.kind.name(),
                feed.source,
                fetched_at,
                feed.advisories.len() as i64,
                feed.snapshot,
                validators.etag,
                validators.last_modified
            ],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(ImportSummary {
            feed: feed.name.clone(),
            records: feed.advisories.len(),
            withdrawn: feed.withdrawn,
            skipped: feed.skipped.len(),
        })
    }

    pub fn status(&self) -> Result<Status, AdvisoryError> {
        let err = db_err(&self.path);
        let mut stmt = self
            .conn
            .prepare("SELECT name, kind, source, fetched_at, records, snapshot, etag, last_modified FROM feeds ORDER BY name")
            .map_err(&err)?;
        let feeds = stmt
            .query_map([], |r| {
                Ok(FeedStatus {
                    name: r.get(0)?,
                    kind: r.get(1)?,
                    source: r.get(2)?,
                    fetched_at: r.get(3)?,
                    records: r.get::<_, i64>(4)? as u64,
                    snapshot: r.get(5)?,
                    etag: r.get(6)?,
                    last_modified: r.get(7)?,
                })
            })
            .map_err(&err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&err)?;
        let mut h = Sha256::new();
        for f in &feeds {
            h.update(f.name.as_bytes());
            h.update([0]);
            h.update(f.snapshot.as_bytes());
            h.update([0]);
        }
        let size_bytes = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        Ok(Status {
            path: self.path.clone(),
            schema_version: SCHEMA_VERSION,
            snapshot: format!("sha256:{}", hex::encode(h.finalize())),
            feeds,
            size_bytes,
        })
    }

    /// The validators stored for the feeds fetched from `source`, for a conditional fetch.
    pub fn validators(&self, feed: &str) -> Result<Validators, AdvisoryError> {
        let err = db_err(&self.path);
        Ok(self
            .conn
            .query_row(
                "SELECT etag, last_modified FROM feeds WHERE source = ?1 LIMIT 1",
                [feed],
                |r| {
                    Ok(Validators {
                        etag: r.get(0)?,
                        last_modified: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(&err)?
            .unwrap_or_default())
    }

    fn load(&self, rows: Vec<(String, String)>) -> Result<Vec<Advisory>, AdvisoryError> {
        let err = db_err(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT doc FROM advisories WHERE feed = ?1 AND id = ?2")
            .map_err(&err)?;
        let mut out = Vec::with_capacity(rows.len());
        for (feed, id) in rows {
            let doc: String = stmt
                .query_row(params![feed, id], |r| r.get(0))
                .map_err(&err)?;
            out.push(
                serde_json::from_str(&doc).map_err(|e| AdvisoryError::Database {
                    path: self.path.clone(),
                    message: format!("stored advisory {id} of {feed} is unreadable: {e}"),
                })?,
            );
        }
        Ok(out)
    }

    /// Every advisory known under `id`, as its own id or as an alias, from every feed.
    pub fn show(&self, id: &str) -> Result<Vec<Advisory>, AdvisoryError> {
        let err = db_err(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT feed, id FROM aliases WHERE alias = ?1 ORDER BY feed, id",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(&err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&err)?;
        self.load(rows)
    }

    /// The advisories that may concern a package: every record with an affected entry for
    /// (ecosystem, release, name), the name normalised per ecosystem. Sorted by feed, id.
    pub fn query(
        &self,
        ecosystem: &str,
        release: &str,
        name: &str,
    ) -> Result<Vec<Advisory>, AdvisoryError> {
        let err = db_err(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT DISTINCT feed, id FROM affects WHERE ecosystem = ?1 AND release = ?2 AND name = ?3 ORDER BY feed, id")
            .map_err(&err)?;
        let rows = stmt
            .query_map(
                params![ecosystem, release, normalize_name(ecosystem, name)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(&err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&err)?;
        self.load(rows)
    }
}
