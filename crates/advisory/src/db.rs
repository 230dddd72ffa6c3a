//! The embedded advisory database: one SQLite file in the data directory, indexed by
//! (ecosystem, release, normalised package name). Imports replace a feed's records in one
//! transaction, so a failed import leaves the database as it was.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest as _, Sha256};

use crate::model::{Advisory, normalize_name};
use crate::{AdvisoryError, FeedData};

/// Bumped whenever the tables or the stored advisory JSON change incompatibly.
pub const SCHEMA_VERSION: u32 = 2;
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
-- The whole advisory, zstd-compressed JSON, for `show`.
CREATE TABLE IF NOT EXISTS advisories (
    feed TEXT NOT NULL,
    id TEXT NOT NULL,
    doc BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS advisories_key ON advisories (feed, id);
-- One row per (package key, advisory), carrying what matching needs: the advisory without
-- its prose, with only this package's affected entries (JSON).
CREATE TABLE IF NOT EXISTS affects (
    ecosystem TEXT NOT NULL,
    release TEXT NOT NULL,
    name TEXT NOT NULL,
    feed TEXT NOT NULL,
    id TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS affects_key ON affects (ecosystem, release, name);
CREATE INDEX IF NOT EXISTS affects_feed ON affects (feed);
CREATE TABLE IF NOT EXISTS aliases (alias TEXT NOT NULL, feed TEXT NOT NULL, id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS aliases_alias ON aliases (alias);
CREATE INDEX IF NOT EXISTS aliases_feed ON aliases (feed);
";

/// Feeds with at least this many records are loaded with the indexes dropped.
const BULK_RECORDS: usize = 20_000;

const DROP_INDEXES: &str = "
DROP INDEX IF EXISTS advisories_key;
DROP INDEX IF EXISTS affects_key;
DROP INDEX IF EXISTS affects_feed;
DROP INDEX IF EXISTS aliases_alias;
DROP INDEX IF EXISTS aliases_feed;
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

/// What an index row stores: what matching needs (ids, scores, this package's affected
/// entries); summaries, details, dates and references stay in the full record.
/// Serialises to JSON that reads back as an [`Advisory`].
#[derive(serde::Serialize)]
struct Slim<'a> {
    id: &'a str,
    feed: crate::FeedKind,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    aliases: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    severity: &'a [crate::Score],
    #[serde(skip_serializing_if = "Option::is_none")]
    database_severity: Option<&'a str>,
    affected: Vec<&'a crate::Affected>,
}

/// One advisory ready to store: its compressed document and its index rows.
struct PreparedRow {
    doc: Vec<u8>,
    keys: Vec<(String, String, String, String)>,
}

fn prepare_row(a: &Advisory) -> Result<PreparedRow, String> {
    let json = serde_json::to_vec(a).map_err(|e| format!("{}: {e}", a.id))?;
    let doc = zstd::bulk::compress(&json, 1).map_err(|e| format!("{}: {e}", a.id))?;
    let mut keys: Vec<(String, String, String)> = a
        .affected
        .iter()
        .map(|x| {
            (
                x.ecosystem.name.clone(),
                x.ecosystem.release.clone(),
                normalize_name(&x.ecosystem.name, &x.name),
            )
        })
        .collect();
    keys.sort();
    keys.dedup();
    let keys = keys
        .into_iter()
        .map(|(eco, release, name)| {
            let slim = Slim {
                id: &a.id,
                feed: a.feed,
                aliases: &a.aliases,
                severity: &a.severity,
                database_severity: a.database_severity.as_deref(),
                affected: a
                    .affected
                    .iter()
                    .filter(|x| {
                        x.ecosystem.name == eco
                            && x.ecosystem.release == release
                            && normalize_name(&eco, &x.name) == name
                    })
                    .collect(),
            };
            let doc = serde_json::to_string(&slim).map_err(|e| format!("{}: {e}", a.id))?;
            Ok((eco, release, name, doc))
        })
        .collect::<Result<_, String>>()?;
    Ok(PreparedRow { doc, keys })
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
        let has_meta: bool = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(&err)?
            > 0;
        let version: Option<String> = if has_meta {
            conn.query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(&err)?
        } else {
            None
        };
        if let Some(v) = version
            .as_ref()
            .filter(|v| **v != SCHEMA_VERSION.to_string())
        {
            return Err(AdvisoryError::Schema {
                path: path.to_owned(),
                found: v.clone(),
                expected: SCHEMA_VERSION,
            });
        }
        conn.execute_batch(SCHEMA).map_err(&err)?;
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
        // Serialising and compressing are the costly part: done for all records in
        // parallel before the (single-threaded) transaction.
        let rows: Vec<PreparedRow> = feed
            .advisories
            .par_iter()
            .map(|a| {
                prepare_row(a).map_err(|message| AdvisoryError::Feed {
                    path: path.clone(),
                    message,
                })
            })
            .collect::<Result<_, _>>()?;
        // A large page cache for the bulk insert: the indexes are written in key order
        // below, but a feed of 300,000 records still touches many pages.
        self.conn
            .pragma_update(None, "cache_size", -262_144)
            .map_err(&err)?;
        let tx = self.conn.transaction().map_err(&err)?;
        for table in ["advisories", "affects", "aliases"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE feed = ?1"),
                [&feed.name],
            )
            .map_err(&err)?;
        }
        // Bulk load: for a large feed the indexes are dropped and built again afterwards,
        // which SQLite does by sorting, much faster than keeping them up to date row by
        // row. A small feed goes through the indexes, so it does not rebuild them whole.
        let bulk = feed.advisories.len() >= BULK_RECORDS;
        if bulk {
            tx.execute_batch(DROP_INDEXES).map_err(&err)?;
        }
        {
            let mut put = tx
                .prepare("INSERT OR REPLACE INTO advisories (feed, id, doc) VALUES (?1, ?2, ?3)")
                .map_err(&err)?;
            let mut index = tx
                .prepare("INSERT INTO affects (ecosystem, release, name, feed, id, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .map_err(&err)?;
            let mut alias = tx
                .prepare("INSERT INTO aliases (alias, feed, id) VALUES (?1, ?2, ?3)")
                .map_err(&err)?;
            let mut affects: Vec<(&str, &str, &str, &str, &str)> = Vec::new();
            let mut aliases: Vec<(&str, &str)> = Vec::new();
            let mut order: Vec<usize> = (0..rows.len()).collect();
            order.sort_unstable_by(|x, y| feed.advisories[*x].id.cmp(&feed.advisories[*y].id));
            for i in order {
                let (a, row) = (&feed.advisories[i], &rows[i]);
                put.execute(params![feed.name, a.id, row.doc])
                    .map_err(&err)?;
                for (eco, release, name, doc) in &row.keys {
                    affects.push((eco, release, name, &a.id, doc));
                }
                for al in a.aliases.iter().chain(std::iter::once(&a.id)) {
                    aliases.push((al, &a.id));
                }
            }
            // In index order, so each index page is written once.
            affects.sort_unstable_by(|x, y| (x.0, x.1, x.2, x.3).cmp(&(y.0, y.1, y.2, y.3)));
            aliases.sort_unstable();
            for (eco, release, name, id, doc) in affects {
                index
                    .execute(params![eco, release, name, feed.name, id, doc])
                    .map_err(&err)?;
            }
            for (al, id) in aliases {
                alias.execute(params![al, feed.name, id]).map_err(&err)?;
            }
        }
        if bulk {
            tx.execute_batch(SCHEMA).map_err(&err)?;
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
            let doc: Vec<u8> = stmt
                .query_row(params![feed, id], |r| r.get(0))
                .map_err(&err)?;
            let unreadable = |e: String| AdvisoryError::Database {
                path: self.path.clone(),
                message: format!("stored advisory {id} of {feed} is unreadable: {e}"),
            };
            let json = zstd::stream::decode_all(&doc[..]).map_err(|e| unreadable(e.to_string()))?;
            out.push(serde_json::from_slice(&json).map_err(|e| unreadable(e.to_string()))?);
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
    /// (ecosystem, release, name), the name normalised per ecosystem, carrying only that
    /// package's affected entries, ids and scores (the summary, details, dates and
    /// references are in the full record: [`Self::show`]).
    /// Sorted by feed, id.
    pub fn query(
        &self,
        ecosystem: &str,
        release: &str,
        name: &str,
    ) -> Result<Vec<Advisory>, AdvisoryError> {
        let err = db_err(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT doc FROM affects WHERE ecosystem = ?1 AND release = ?2 AND name = ?3 ORDER BY feed, id")
            .map_err(&err)?;
        let mut rows = stmt
            .query(params![ecosystem, release, normalize_name(ecosystem, name)])
            .map_err(&err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(&err)? {
            let doc =
                row.get_ref(0)
                    .map_err(&err)?
                    .as_str()
                    .map_err(|e| AdvisoryError::Database {
                        path: self.path.clone(),
                        message: e.to_string(),
                    })?;
            out.push(
                serde_json::from_str(doc).map_err(|e| AdvisoryError::Database {
                    path: self.path.clone(),
                    message: format!("stored match record is unreadable: {e}"),
                })?,
            );
        }
        Ok(out)
    }
}
