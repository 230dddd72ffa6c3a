//! The embedded advisory database: one SQLite file in the data directory, indexed by
//! (ecosystem, release, normalised package name). Imports replace a feed's records in one
//! transaction, so a failed import leaves the database as it was.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest as _, Sha256};

use crate::model::{Advisory, Ecosystem};
use crate::{AdvisoryError, FeedData};

/// Bumped whenever the tables or the stored advisory JSON change incompatibly.
pub const SCHEMA_VERSION: u32 = 6;
pub const DB_FILE: &str = "advisories.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- A feed's advisories have the consecutive seqs first_seq..=last_seq (each import appends).
CREATE TABLE IF NOT EXISTS feeds (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    records INTEGER NOT NULL,
    snapshot TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL
);
-- One row per advisory: `slim` is what matching needs (ids, scores, affected entries), as
-- MessagePack; the whole record is JSON line `part` of document block `block`. The feed
-- of a row is the one whose seq range holds it. `ratings` (MessagePack [`StoredRatings`])
-- holds the record's severity ratings, for findings of other records with the same ids.
CREATE TABLE IF NOT EXISTS advisories (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    block INTEGER NOT NULL,
    part INTEGER NOT NULL,
    slim BLOB NOT NULL,
    ratings BLOB
);
-- Whole records, JSON lines of up to BLOCK advisories compressed together (similar records
-- compress far better together); a block is named by the seq of its first advisory.
CREATE TABLE IF NOT EXISTS documents (block INTEGER PRIMARY KEY, data BLOB NOT NULL);
-- Package key to advisory, clustered on the key so that a lookup reads one short range.
-- The key is package_key(ecosystem, release, normalised name): a 64-bit hash; lookups
-- check the names in the slim record, so a collision costs a record read, not a match.
CREATE TABLE IF NOT EXISTS affects (
    key INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (key, seq)
) WITHOUT ROWID;
-- Every id an advisory is known by, its own included, as alias_key(id); `show` checks
-- the ids of the records it reads.
CREATE TABLE IF NOT EXISTS aliases (
    key INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (key, seq)
) WITHOUT ROWID;
-- What the CVE feeds (NVD, CVE JSON 5, KEV, EPSS) say about an id: key is alias_key(id),
-- data a MessagePack `CveFact`; `modified` decides between two feeds with the same record.
CREATE TABLE IF NOT EXISTS facts (
    key INTEGER NOT NULL,
    feed TEXT NOT NULL,
    record TEXT NOT NULL,
    id TEXT NOT NULL,
    modified TEXT,
    data BLOB NOT NULL,
    PRIMARY KEY (key, feed, record)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS facts_feed ON facts (feed);
-- Red Hat's repositories (content sets) and the CPEs of their product streams, as JSON
-- arrays; one feed holds them all.
CREATE TABLE IF NOT EXISTS repository_cpes (
    repo TEXT PRIMARY KEY,
    cpes TEXT NOT NULL
) WITHOUT ROWID;
-- The (ecosystem, release) pairs a feed's records name: an image of a distro release no
-- feed covers is reported as unmatched, not as free of vulnerabilities.
CREATE TABLE IF NOT EXISTS coverage (
    feed TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    release TEXT NOT NULL,
    PRIMARY KEY (feed, ecosystem, release)
) WITHOUT ROWID;
-- Every Go symbol a feed's records name as vulnerable, by package path (`net/textproto`,
-- `Reader.ReadMIMEHeader`): what a scan looks for in Go binaries, so that it keeps only
-- these of their functions.
CREATE TABLE IF NOT EXISTS go_symbols (
    feed TEXT NOT NULL,
    path TEXT NOT NULL,
    symbol TEXT NOT NULL,
    PRIMARY KEY (feed, path, symbol)
) WITHOUT ROWID;
";

/// Advisories per compressed document block.
const BLOCK: usize = 64;
/// Rows per multi-row INSERT statement.
const INSERT_CHUNK: usize = 128;
/// Largest stored document read back (a corrupt size field cannot ask for more).
const MAX_STORED: usize = crate::MAX_DOCUMENT as usize;

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
    /// The first records skipped, as (id or file and line, reason).
    pub first_skipped: Vec<crate::model::Skipped>,
}

/// What matching needs of an advisory (ids, scores, affected entries); summaries, details,
/// dates and references stay in the whole record. Serialises to JSON that reads back as an
/// [`Advisory`].
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
    affected: &'a [crate::Affected],
}

/// A block of advisories ready to store.
struct PreparedBlock {
    data: Vec<u8>,
    slims: Vec<Vec<u8>>,
    /// Each advisory's package keys, without duplicates.
    keys: Vec<Vec<i64>>,
    /// Each advisory's alias keys (its own id included), without duplicates.
    alias_keys: Vec<Vec<i64>>,
    /// Each advisory's ratings, when it has any.
    ratings: Vec<Option<Vec<u8>>>,
}

/// The ratings an advisory gives, with the ids they are for; stored beside its slim form.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredRatings {
    ids: Vec<String>,
    #[serde(default)]
    modified: Option<String>,
    ratings: Vec<ferret_model::RawRating>,
}

/// The `affects` key of a package: the first 8 bytes of SHA-256 over the ecosystem,
/// release and normalised name, each followed by a zero byte. Persisted: changing it
/// needs a new schema version.
pub fn package_key(ecosystem: Ecosystem, release: &str, normalized_name: &str) -> i64 {
    hash_key(&[ecosystem.osv_name(), release, normalized_name])
}

/// The `aliases` key of an advisory id, made like [`package_key`]. Persisted.
pub fn alias_key(id: &str) -> i64 {
    hash_key(&[id])
}

fn hash_key(parts: &[&str]) -> i64 {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

thread_local! {
    // One context per thread: creating one costs more than compressing a record.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

fn compress(data: &[u8]) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with_borrow_mut(|c| {
        let c = match c {
            Some(c) => c,
            None => c.insert(zstd::bulk::Compressor::new(1)?),
        };
        c.compress(data)
    })
}

fn decompress(data: &[u8]) -> Result<Vec<u8>, String> {
    let size = zstd::zstd_safe::get_frame_content_size(data)
        .map_err(|_| "not a zstd frame".to_owned())?
        .ok_or("zstd frame without a content size")?;
    let size = usize::try_from(size)
        .ok()
        .filter(|s| *s <= MAX_STORED)
        .ok_or_else(|| format!("stored document declares {size} bytes"))?;
    DECOMPRESSOR.with_borrow_mut(|d| {
        let d = match d {
            Some(d) => d,
            None => d.insert(zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?),
        };
        d.decompress(data, size).map_err(|e| e.to_string())
    })
}

fn prepare_block(advisories: &[&Advisory]) -> Result<PreparedBlock, String> {
    let mut lines = Vec::new();
    let mut slims = Vec::with_capacity(advisories.len());
    let mut keys = Vec::with_capacity(advisories.len());
    let mut alias_keys = Vec::with_capacity(advisories.len());
    let mut ratings = Vec::with_capacity(advisories.len());
    for a in advisories {
        let mut own: Vec<i64> = a
            .affected
            .iter()
            .map(|x| {
                let eco = x.namespace.ecosystem;
                package_key(eco, &x.namespace.release, &eco.normalize_name(&x.name))
            })
            .collect();
        own.sort_unstable();
        own.dedup();
        keys.push(own);
        let mut ids: Vec<i64> = std::iter::once(&a.id)
            .chain(&a.aliases)
            .map(|id| alias_key(id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        alias_keys.push(ids);
        let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", a.id);
        serde_json::to_writer(&mut lines, a).map_err(|e| fail(&e))?;
        lines.push(b'\n');
        let slim = Slim {
            id: &a.id,
            feed: a.feed,
            aliases: &a.aliases,
            severity: &a.severity,
            database_severity: a.database_severity.as_deref(),
            affected: &a.affected,
        };
        let packed = rmp_serde::to_vec_named(&slim).map_err(|e| fail(&e))?;
        slims.push(packed);
        let own = crate::facts::record_ratings(a);
        ratings.push(if own.is_empty() {
            None
        } else {
            let stored = StoredRatings {
                ids: std::iter::once(&a.id).chain(&a.aliases).cloned().collect(),
                modified: a.modified.clone(),
                ratings: own,
            };
            Some(rmp_serde::to_vec_named(&stored).map_err(|e| fail(&e))?)
        });
    }
    let data = compress(&lines).map_err(|e| e.to_string())?;
    Ok(PreparedBlock {
        data,
        slims,
        keys,
        alias_keys,
        ratings,
    })
}

/// Inserts `rows` with one statement per [`INSERT_CHUNK`] rows; `head` is the statement up
/// to `VALUES` (`INSERT INTO affects`); `bind` binds one row's `width` values from
/// parameter index `at` on.
fn insert_rows<R>(
    conn: &Connection,
    head: &str,
    width: usize,
    rows: &[R],
    bind: impl Fn(&mut rusqlite::Statement<'_>, usize, &R) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    let sql = |n: usize| {
        let one = format!("({})", vec!["?"; width].join(","));
        format!("{head} VALUES {}", vec![one; n].join(","))
    };
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut stmt = conn.prepare_cached(&sql(chunk.len()))?;
        for (i, row) in chunk.iter().enumerate() {
            bind(&mut stmt, i * width + 1, row)?;
        }
        stmt.raw_execute()?;
    }
    Ok(())
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

/// What the database records about a feed besides its advisories.
#[derive(Debug, Clone, Copy)]
pub struct FeedMeta<'a> {
    pub kind: crate::FeedKind,
    pub name: &'a str,
    pub source: &'a str,
    pub snapshot: &'a str,
    pub withdrawn: usize,
    pub skipped: usize,
    pub first_skipped: &'a [crate::model::Skipped],
}

impl FeedMeta<'_> {
    /// The error for a feed that gave no valid record, naming the first ones skipped.
    fn no_valid_records(&self) -> AdvisoryError {
        AdvisoryError::NoValidRecords {
            feed: self.name.to_owned(),
            skipped: self.skipped,
            withdrawn: self.withdrawn,
            first_errors: self
                .first_skipped
                .iter()
                .take(5)
                .map(|(id, why)| format!("{id}: {why}"))
                .collect(),
        }
    }
}

/// One feed's import in progress, inside a write transaction: advisories get consecutive
/// seqs from `first` on.
#[derive(Debug)]
pub struct Import<'db> {
    tx: rusqlite::Transaction<'db>,
    path: PathBuf,
    first: i64,
    next: i64,
    /// Ids stored so far: of several records with one id, the first is kept.
    seen: HashSet<String>,
    affects: Vec<(i64, i64)>,
    aliases: Vec<(i64, i64)>,
    /// (ecosystem, release) of every affected entry stored.
    coverage: std::collections::BTreeSet<(Ecosystem, String)>,
    /// The Go symbols the stored records name: (package path, symbol).
    go_symbols: std::collections::BTreeSet<(String, String)>,
}

impl Import<'_> {
    /// Stores a chunk of the feed's advisories.
    pub fn add(&mut self, advisories: &[Advisory]) -> Result<(), AdvisoryError> {
        let path = self.path.clone();
        let err = db_err(&path);
        let fresh: Vec<&Advisory> = advisories
            .iter()
            .filter(|a| self.seen.insert(a.id.clone()))
            .collect();
        for a in &fresh {
            for x in &a.affected {
                let key = (x.namespace.ecosystem, x.namespace.release.clone());
                if !self.coverage.contains(&key) {
                    self.coverage.insert(key);
                }
                for i in &x.imports {
                    self.go_symbols
                        .extend(i.symbols.iter().map(|s| (i.path.clone(), s.clone())));
                }
            }
        }
        // Serialising and compressing are the costly part: done in parallel, then stored
        // by this (single) writer.
        let blocks: Vec<PreparedBlock> = fresh
            .par_chunks(BLOCK)
            .map(|chunk| {
                prepare_block(chunk).map_err(|message| AdvisoryError::Feed {
                    path: path.clone(),
                    message,
                })
            })
            .collect::<Result<_, _>>()?;
        let mut rows: Vec<AdvisoryRow<'_>> = Vec::with_capacity(fresh.len());
        let mut documents: Vec<(i64, &[u8])> = Vec::with_capacity(blocks.len());
        let mut seq = self.next;
        for (chunk, block) in fresh.chunks(BLOCK).zip(&blocks) {
            documents.push((seq, &block.data));
            let first_in_block = seq;
            for (p, a) in chunk.iter().enumerate() {
                rows.push((
                    seq,
                    &a.id,
                    first_in_block,
                    p as i64,
                    &block.slims[p],
                    block.ratings[p].as_deref(),
                ));
                self.affects.extend(block.keys[p].iter().map(|k| (*k, seq)));
                self.aliases
                    .extend(block.alias_keys[p].iter().map(|k| (*k, seq)));
                seq += 1;
            }
        }
        insert_rows(&self.tx, "INSERT INTO advisories", 6, &rows, |st, at, r| {
            st.raw_bind_parameter(at, r.0)?;
            st.raw_bind_parameter(at + 1, r.1)?;
            st.raw_bind_parameter(at + 2, r.2)?;
            st.raw_bind_parameter(at + 3, r.3)?;
            st.raw_bind_parameter(at + 4, r.4)?;
            st.raw_bind_parameter(at + 5, r.5)
        })
        .map_err(&err)?;
        insert_rows(
            &self.tx,
            "INSERT INTO documents",
            2,
            &documents,
            |st, at, r| {
                st.raw_bind_parameter(at, r.0)?;
                st.raw_bind_parameter(at + 1, r.1)
            },
        )
        .map_err(&err)?;
        self.next = seq;
        Ok(())
    }

    /// Replaces the feed's old records with the ones added, and commits.
    pub fn finish(
        mut self,
        feed: &FeedMeta<'_>,
        fetched_at: &str,
        validators: &Validators,
    ) -> Result<ImportSummary, AdvisoryError> {
        let records = (self.next - self.first) as usize;
        let empty_secdb = feed.kind == crate::FeedKind::Secdb && feed.skipped == 0;
        if records == 0 && !empty_secdb {
            // Dropping the transaction rolls it back.
            return Err(feed.no_valid_records());
        }
        let path = self.path.clone();
        let err = db_err(&path);
        let old: Option<(i64, i64)> = self
            .tx
            .query_row(
                "SELECT first_seq, last_seq FROM feeds WHERE name = ?1",
                [feed.name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(&err)?;
        if let Some((first, last)) = old {
            for (table, column) in [
                ("advisories", "seq"),
                ("documents", "block"),
                ("affects", "seq"),
                ("aliases", "seq"),
            ] {
                self.tx
                    .execute(
                        &format!("DELETE FROM {table} WHERE {column} BETWEEN ?1 AND ?2"),
                        [first, last],
                    )
                    .map_err(&err)?;
            }
        }
        // In key order, so each b-tree page is written once.
        let (mut affects, mut aliases) = (
            std::mem::take(&mut self.affects),
            std::mem::take(&mut self.aliases),
        );
        rayon::join(
            || affects.par_sort_unstable(),
            || aliases.par_sort_unstable(),
        );
        aliases.dedup();
        for (head, rows) in [
            ("INSERT INTO affects", &affects),
            ("INSERT INTO aliases", &aliases),
        ] {
            insert_rows(&self.tx, head, 2, rows, |st, at, r| {
                st.raw_bind_parameter(at, r.0)?;
                st.raw_bind_parameter(at + 1, r.1)
            })
            .map_err(&err)?;
        }
        self.tx
            .execute("DELETE FROM coverage WHERE feed = ?1", [feed.name])
            .map_err(&err)?;
        for (ecosystem, release) in &self.coverage {
            self.tx
                .execute(
                    "INSERT INTO coverage (feed, ecosystem, release) VALUES (?1, ?2, ?3)",
                    params![feed.name, ecosystem.osv_name(), release],
                )
                .map_err(&err)?;
        }
        self.tx
            .execute("DELETE FROM go_symbols WHERE feed = ?1", [feed.name])
            .map_err(&err)?;
        let symbols: Vec<&(String, String)> = self.go_symbols.iter().collect();
        insert_rows(
            &self.tx,
            "INSERT INTO go_symbols",
            3,
            &symbols,
            |st, at, (path, symbol)| {
                st.raw_bind_parameter(at, feed.name)?;
                st.raw_bind_parameter(at + 1, path.as_str())?;
                st.raw_bind_parameter(at + 2, symbol.as_str())
            },
        )
        .map_err(&err)?;
        self.tx
            .execute(
                "INSERT OR REPLACE INTO feeds (name, kind, source, fetched_at, records, snapshot, etag, last_modified, first_seq, last_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    feed.name,
                    feed.kind.name(),
                    feed.source,
                    fetched_at,
                    records as i64,
                    feed.snapshot,
                    validators.etag,
                    validators.last_modified,
                    self.first,
                    self.next - 1,
                ],
            )
            .map_err(&err)?;
        self.tx.commit().map_err(&err)?;
        Ok(ImportSummary {
            feed: feed.name.to_owned(),
            records,
            withdrawn: feed.withdrawn,
            skipped: feed.skipped,
            first_skipped: feed.first_skipped.to_vec(),
        })
    }
}

/// An `advisories` row: seq, id, block, part, slim record, ratings.
type AdvisoryRow<'a> = (i64, &'a str, i64, i64, &'a [u8], Option<&'a [u8]>);

/// A `facts` row before its feed is bound: key, record, id, modified, data.
type FactRow = (i64, String, String, Option<String>, Vec<u8>);

/// One CVE feed's import in progress (NVD, CVE JSON 5, KEV, EPSS), inside a write
/// transaction that first removed the feed's old facts.
#[derive(Debug)]
pub struct FactImport<'db> {
    tx: rusqlite::Transaction<'db>,
    path: PathBuf,
    name: String,
    pending: Vec<FactRow>,
    records: usize,
}

impl FactImport<'_> {
    /// Stores one record's fact (buffered, written in chunks).
    pub fn add(&mut self, record: crate::FactRecord) -> Result<(), AdvisoryError> {
        let data = rmp_serde::to_vec_named(&record.fact).map_err(|e| AdvisoryError::Feed {
            path: self.path.clone(),
            message: format!("{}: {e}", record.record),
        })?;
        self.pending.push((
            alias_key(&record.id),
            record.record,
            record.id,
            record.modified,
            data,
        ));
        self.records += 1;
        if self.pending.len() >= 16 * INSERT_CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), AdvisoryError> {
        let path = self.path.clone();
        let err = db_err(&path);
        let name = self.name.clone();
        let rows = std::mem::take(&mut self.pending);
        // A record listed twice in one feed: the later one stands.
        insert_rows(
            &self.tx,
            "INSERT OR REPLACE INTO facts (key, feed, record, id, modified, data)",
            6,
            &rows,
            |st, at, r| {
                st.raw_bind_parameter(at, r.0)?;
                st.raw_bind_parameter(at + 1, &name)?;
                st.raw_bind_parameter(at + 2, &r.1)?;
                st.raw_bind_parameter(at + 3, &r.2)?;
                st.raw_bind_parameter(at + 4, &r.3)?;
                st.raw_bind_parameter(at + 5, &r.4)
            },
        )
        .map_err(&err)?;
        Ok(())
    }

    /// Records the feed and commits; a feed with no valid record is refused, and the
    /// database is left as it was.
    pub fn finish(
        mut self,
        feed: &FeedMeta<'_>,
        fetched_at: &str,
        validators: &Validators,
    ) -> Result<ImportSummary, AdvisoryError> {
        if self.records == 0 {
            return Err(feed.no_valid_records());
        }
        self.flush()?;
        let path = self.path.clone();
        let err = db_err(&path);
        // No advisories: an empty seq range.
        self.tx
            .execute(
                "INSERT OR REPLACE INTO feeds (name, kind, source, fetched_at, records, snapshot, etag, last_modified, first_seq, last_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, -1)",
                params![
                    feed.name,
                    feed.kind.name(),
                    feed.source,
                    fetched_at,
                    self.records as i64,
                    feed.snapshot,
                    validators.etag,
                    validators.last_modified,
                ],
            )
            .map_err(&err)?;
        self.tx.commit().map_err(&err)?;
        Ok(ImportSummary {
            feed: feed.name.to_owned(),
            records: self.records,
            withdrawn: feed.withdrawn,
            skipped: feed.skipped,
            first_skipped: feed.first_skipped.to_vec(),
        })
    }
}

/// What a feed says about an id the database was asked about.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownFact {
    /// The id asked about.
    pub id: String,
    /// The feed's name (`nvd-2024`, `kev`, the OSV feed of a GHSA record).
    pub feed: String,
    pub kind: crate::FeedKind,
    /// The record it came from.
    pub record: String,
    pub fact: ferret_model::CveFact,
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
        // Another import in progress holds the write lock: wait for it rather than fail.
        conn.busy_timeout(std::time::Duration::from_secs(60))
            .map_err(&err)?;
        // Reads through a memory map: no system call per page on lookups.
        conn.pragma_update(None, "mmap_size", 1i64 << 30)
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
    /// lists no fixes at all is a valid, empty feed). Of several records with one id, the
    /// first is kept.
    pub fn import(
        &mut self,
        feed: &FeedData,
        fetched_at: &str,
        validators: &Validators,
    ) -> Result<ImportSummary, AdvisoryError> {
        let mut import = self.begin_import()?;
        import.add(&feed.advisories)?;
        import.finish(
            &FeedMeta {
                kind: feed.kind,
                name: &feed.name,
                source: &feed.source,
                snapshot: &feed.snapshot,
                withdrawn: feed.withdrawn,
                skipped: feed.skipped,
                first_skipped: &feed.first_skipped,
            },
            fetched_at,
            validators,
        )
    }

    /// Starts replacing one feed's records: add them in chunks with [`Import::add`], then
    /// [`Import::finish`]. Nothing is visible, and the database is unchanged, until
    /// `finish` commits; dropping the import abandons it.
    pub fn begin_import(&mut self) -> Result<Import<'_>, AdvisoryError> {
        let path = self.path.clone();
        let err = db_err(&path);
        // 64 MiB of page cache: a big feed touches many pages before it commits; more
        // buys little speed for much memory (bench/README.md).
        self.conn
            .pragma_update(None, "cache_size", -65_536)
            .map_err(&err)?;
        // Immediate: the write lock is taken now, so the seqs counted below stay free.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&err)?;
        let first: i64 = tx
            .query_row(
                "SELECT coalesce(max(seq), 0) + 1 FROM advisories",
                [],
                |r| r.get(0),
            )
            .map_err(&err)?;
        Ok(Import {
            tx,
            path: self.path.clone(),
            first,
            next: first,
            seen: HashSet::new(),
            affects: Vec::new(),
            aliases: Vec::new(),
            coverage: std::collections::BTreeSet::new(),
            go_symbols: std::collections::BTreeSet::new(),
        })
    }

    /// The (ecosystem, release) pairs the imported feeds cover (`("Oracle Linux", "8")`).
    pub fn coverage(
        &self,
    ) -> Result<std::collections::BTreeSet<(Ecosystem, String)>, AdvisoryError> {
        let err = db_err(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT DISTINCT ecosystem, release FROM coverage")
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))
            .map_err(&err)?;
        let mut out = std::collections::BTreeSet::new();
        for row in rows {
            let (ecosystem, release) = row.map_err(&err)?;
            let ecosystem = ecosystem
                .parse::<Ecosystem>()
                .map_err(|e| self.unreadable("coverage", e))?;
            out.insert((ecosystem, release));
        }
        Ok(out)
    }

    /// Every Go symbol the stored records name as vulnerable, as (package path, symbol):
    /// (`net/textproto`, `Reader.ReadMIMEHeader`). What to look for in Go binaries.
    pub fn go_symbols(
        &self,
    ) -> Result<std::collections::BTreeSet<(String, String)>, AdvisoryError> {
        let err = db_err(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT DISTINCT path, symbol FROM go_symbols")
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(&err)?;
        rows.collect::<Result<_, _>>().map_err(&err)
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

    fn unreadable(&self, what: &str, e: impl std::fmt::Display) -> AdvisoryError {
        AdvisoryError::Database {
            path: self.path.clone(),
            message: format!("stored {what} is unreadable: {e}"),
        }
    }

    /// The feeds' seq ranges, sorted, to name the feed of a stored advisory.
    fn feed_ranges(&self, conn: &Connection) -> Result<Vec<(i64, i64, String)>, AdvisoryError> {
        let err = db_err(&self.path);
        let mut stmt = conn
            .prepare_cached("SELECT first_seq, last_seq, name FROM feeds WHERE last_seq >= first_seq ORDER BY first_seq")
            .map_err(&err)?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(&err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&err)
    }

    /// Replaces Red Hat's repository-to-CPE map with `map`, recording the feed.
    pub fn import_repository_cpes(
        &mut self,
        feed: &FeedMeta<'_>,
        map: &std::collections::BTreeMap<String, Vec<String>>,
        fetched_at: &str,
        validators: &Validators,
    ) -> Result<ImportSummary, AdvisoryError> {
        if map.is_empty() {
            return Err(feed.no_valid_records());
        }
        let path = self.path.clone();
        let err = db_err(&path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&err)?;
        tx.execute("DELETE FROM repository_cpes", [])
            .map_err(&err)?;
        {
            let mut st = tx
                .prepare("INSERT INTO repository_cpes (repo, cpes) VALUES (?1, ?2)")
                .map_err(&err)?;
            for (repo, cpes) in map {
                let cpes = serde_json::to_string(cpes).map_err(|e| AdvisoryError::Database {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                st.execute(params![repo, cpes]).map_err(&err)?;
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO feeds (name, kind, source, fetched_at, records, snapshot, etag, last_modified, first_seq, last_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, -1)",
            params![
                feed.name,
                feed.kind.name(),
                feed.source,
                fetched_at,
                map.len() as i64,
                feed.snapshot,
                validators.etag,
                validators.last_modified,
            ],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(ImportSummary {
            feed: feed.name.to_owned(),
            records: map.len(),
            withdrawn: 0,
            skipped: feed.skipped,
            first_skipped: feed.first_skipped.to_vec(),
        })
    }

    /// The CPEs of the product streams the given repositories (content sets) belong to,
    /// sorted; repositories the map does not know add nothing.
    pub fn repository_cpes(
        &self,
        repos: &[String],
    ) -> Result<std::collections::BTreeSet<String>, AdvisoryError> {
        let err = db_err(&self.path);
        let mut st = self
            .conn
            .prepare_cached("SELECT cpes FROM repository_cpes WHERE repo = ?1")
            .map_err(&err)?;
        let mut out = std::collections::BTreeSet::new();
        for repo in repos {
            let cpes: Option<String> = st
                .query_row([repo], |r| r.get(0))
                .optional()
                .map_err(&err)?;
            if let Some(cpes) = cpes {
                let list: Vec<String> = serde_json::from_str(&cpes)
                    .map_err(|e| self.unreadable("repository CPEs", e))?;
                out.extend(list);
            }
        }
        Ok(out)
    }

    /// Starts replacing one CVE feed's facts (`kind` is NVD, CVE JSON 5, KEV or EPSS):
    /// add them with [`FactImport::add`], then [`FactImport::finish`]. Nothing is visible
    /// until `finish` commits.
    pub fn begin_facts(&mut self, name: &str) -> Result<FactImport<'_>, AdvisoryError> {
        let path = self.path.clone();
        let err = db_err(&path);
        self.conn
            .pragma_update(None, "cache_size", -65_536)
            .map_err(&err)?;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&err)?;
        tx.execute("DELETE FROM facts WHERE feed = ?1", [name])
            .map_err(&err)?;
        Ok(FactImport {
            tx,
            path: self.path.clone(),
            name: name.to_owned(),
            pending: Vec::new(),
            records: 0,
        })
    }

    /// Everything the feeds say about each of `ids`: the CVE feeds' facts and the ratings
    /// of advisories known by the id. Of two feeds of one kind with the same record (NVD's
    /// yearly and `modified` files), the one with the newer record counts. Sorted by id,
    /// feed, record.
    pub fn facts(&self, ids: &[&str]) -> Result<Vec<KnownFact>, AdvisoryError> {
        let err = db_err(&self.path);
        let tx = self.conn.unchecked_transaction().map_err(&err)?;
        let kinds: std::collections::HashMap<String, crate::FeedKind> = {
            let mut stmt = tx
                .prepare_cached("SELECT name, kind FROM feeds")
                .map_err(&err)?;
            stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(&err)?
                .filter_map(|r| match r {
                    Ok((n, k)) => crate::FeedKind::parse(&k).map(|k| Ok((n, k))),
                    Err(e) => Some(Err(e)),
                })
                .collect::<Result<_, _>>()
                .map_err(&err)?
        };
        let feeds = self.feed_ranges(&tx)?;
        let mut from_facts = tx
            .prepare_cached("SELECT feed, record, id, modified, data FROM facts WHERE key = ?1")
            .map_err(&err)?;
        let mut from_records = tx
            .prepare_cached(
                "SELECT a.seq, a.id, a.ratings FROM aliases l JOIN advisories a ON a.seq = l.seq
                 WHERE l.key = ?1 AND a.ratings IS NOT NULL",
            )
            .map_err(&err)?;
        let mut ids: Vec<&str> = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        // (id, kind, record, variant) -> (modified, fact)
        type Slot = (Option<String>, KnownFact);
        let mut best: std::collections::BTreeMap<(String, String, String, u8), Slot> =
            std::collections::BTreeMap::new();
        let mut keep = |modified: Option<String>, fact: KnownFact| {
            let variant = match fact.fact {
                ferret_model::CveFact::Ratings(_) => 0,
                ferret_model::CveFact::Kev(_) => 1,
                ferret_model::CveFact::Epss(_) => 2,
            };
            let key = (
                fact.id.clone(),
                fact.kind.name().to_owned(),
                fact.record.clone(),
                variant,
            );
            match best.get(&key) {
                Some((m, f)) if (m, &f.feed) >= (&modified, &fact.feed) => {}
                _ => {
                    best.insert(key, (modified, fact));
                }
            }
        };
        for id in ids {
            let key = alias_key(id);
            let mut rows = from_facts.query([key]).map_err(&err)?;
            while let Some(row) = rows.next().map_err(&err)? {
                let stored_id: String = row.get(2).map_err(&err)?;
                if stored_id != id {
                    continue;
                }
                let feed: String = row.get(0).map_err(&err)?;
                let Some(kind) = kinds.get(&feed).copied() else {
                    continue;
                };
                let data = row
                    .get_ref(4)
                    .map_err(&err)?
                    .as_blob()
                    .map_err(|e| self.unreadable("fact", e))?;
                let fact: ferret_model::CveFact =
                    rmp_serde::from_slice(data).map_err(|e| self.unreadable("fact", e))?;
                keep(
                    row.get(3).map_err(&err)?,
                    KnownFact {
                        id: id.to_owned(),
                        feed,
                        kind,
                        record: row.get(1).map_err(&err)?,
                        fact,
                    },
                );
            }
            let mut rows = from_records.query([key]).map_err(&err)?;
            while let Some(row) = rows.next().map_err(&err)? {
                let seq: i64 = row.get(0).map_err(&err)?;
                let record: String = row.get(1).map_err(&err)?;
                let data = row
                    .get_ref(2)
                    .map_err(&err)?
                    .as_blob()
                    .map_err(|e| self.unreadable("ratings", e))?;
                let stored: StoredRatings =
                    rmp_serde::from_slice(data).map_err(|e| self.unreadable("ratings", e))?;
                if !stored.ids.iter().any(|x| x == id) {
                    continue;
                }
                let feed = feed_of(&feeds, seq).to_owned();
                let kind = kinds.get(&feed).copied().unwrap_or(crate::FeedKind::Osv);
                keep(
                    stored.modified,
                    KnownFact {
                        id: id.to_owned(),
                        feed,
                        kind,
                        record,
                        fact: ferret_model::CveFact::Ratings(stored.ratings),
                    },
                );
            }
        }
        let mut out: Vec<KnownFact> = best.into_values().map(|(_, f)| f).collect();
        out.sort_by(|a, b| (&a.id, &a.feed, &a.record).cmp(&(&b.id, &b.feed, &b.record)));
        Ok(out)
    }

    /// Every advisory known under `id`, as its own id or as an alias, from every feed;
    /// sorted by feed, id.
    pub fn show(&self, id: &str) -> Result<Vec<Advisory>, AdvisoryError> {
        let err = db_err(&self.path);
        let tx = self.conn.unchecked_transaction().map_err(&err)?;
        let feeds = self.feed_ranges(&tx)?;
        let mut stmt = tx
            .prepare_cached(
                "SELECT a.seq, a.id, d.data, a.part FROM aliases l
                 JOIN advisories a ON a.seq = l.seq
                 JOIN documents d ON d.block = a.block
                 WHERE l.key = ?1",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map([alias_key(id)], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .map_err(&err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&err)?;
        let mut out = Vec::with_capacity(rows.len());
        for (seq, stored_id, data, part) in rows {
            let what = format!("advisory {stored_id}");
            let lines = decompress(&data).map_err(|e| self.unreadable(&what, e))?;
            let line = usize::try_from(part)
                .ok()
                .and_then(|p| lines.split(|b| *b == b'\n').nth(p))
                .ok_or_else(|| self.unreadable(&what, "not in its block"))?;
            let a: Advisory =
                serde_json::from_slice(line).map_err(|e| self.unreadable(&what, e))?;
            // Another id with the same key.
            if a.id == id || a.aliases.iter().any(|x| *x == id) {
                out.push((feed_of(&feeds, seq), a));
            }
        }
        out.sort_by(|x, y| (x.0, &x.1.id).cmp(&(y.0, &y.1.id)));
        Ok(out.into_iter().map(|(_, a)| a).collect())
    }

    /// The advisories that may concern a package: every record with an affected entry for
    /// (ecosystem, release, name), the name normalised per ecosystem, carrying only that
    /// package's affected entries, ids and scores (the summary, details, dates and
    /// references are in the whole record: [`Self::show`]). Sorted by feed, id.
    pub fn query(
        &self,
        ecosystem: Ecosystem,
        release: &str,
        name: &str,
    ) -> Result<Vec<Advisory>, AdvisoryError> {
        Ok(self
            .query_many(&[(ecosystem, release, name)])?
            .pop()
            .unwrap_or_default())
    }

    /// [`Self::query`] for many packages at once, answers in the order of `keys`: one read
    /// transaction for all, which is what makes a whole image's lookups cheap.
    pub fn query_many(
        &self,
        keys: &[(Ecosystem, &str, &str)],
    ) -> Result<Vec<Vec<Advisory>>, AdvisoryError> {
        let err = db_err(&self.path);
        let tx = self.conn.unchecked_transaction().map_err(&err)?;
        let feeds = self.feed_ranges(&tx)?;
        let mut stmt = tx
            .prepare_cached(
                "SELECT a.seq, a.slim FROM affects f JOIN advisories a ON a.seq = f.seq
                 WHERE f.key = ?1",
            )
            .map_err(&err)?;
        let hashed: Vec<(i64, String)> = keys
            .iter()
            .map(|(e, r, n)| {
                let n = e.normalize_name(n);
                (package_key(*e, r, &n), n)
            })
            .collect();
        // In key order: neighbouring lookups then share b-tree pages.
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by_key(|i| hashed[*i].0);
        // The reads are sequential; decoding the records is spread over the cores.
        let mut raw: Vec<(usize, i64, Vec<u8>)> = Vec::new();
        for i in order {
            let mut rows = stmt.query([hashed[i].0]).map_err(&err)?;
            while let Some(row) = rows.next().map_err(&err)? {
                let seq: i64 = row.get(0).map_err(&err)?;
                let slim = row
                    .get_ref(1)
                    .map_err(&err)?
                    .as_blob()
                    .map_err(|e| self.unreadable("match record", e))?;
                raw.push((i, seq, slim.to_vec()));
            }
        }
        let path = &self.path;
        let decoded: Vec<(usize, &str, Advisory)> = raw
            .par_iter()
            .filter_map(|(i, seq, slim)| {
                let (ecosystem, release, _) = keys[*i];
                let name = &hashed[*i].1;
                let mut a: Advisory = match rmp_serde::from_slice(slim) {
                    Ok(a) => a,
                    Err(e) => {
                        return Some(Err(AdvisoryError::Database {
                            path: path.clone(),
                            message: format!("stored match record is unreadable: {e}"),
                        }));
                    }
                };
                a.affected.retain(|x| {
                    x.namespace.ecosystem == ecosystem
                        && x.namespace.release == release
                        && ecosystem.normalize_name(&x.name) == *name
                });
                // Empty: another package with the same key.
                (!a.affected.is_empty()).then(|| Ok((*i, feed_of(&feeds, *seq), a)))
            })
            .collect::<Result<_, _>>()?;
        let mut found: Vec<Vec<(&str, Advisory)>> = vec![Vec::new(); keys.len()];
        for (i, feed, a) in decoded {
            found[i].push((feed, a));
        }
        Ok(found
            .into_iter()
            .map(|mut f| {
                f.sort_by(|x, y| (x.0, &x.1.id).cmp(&(y.0, &y.1.id)));
                f.into_iter().map(|(_, a)| a).collect()
            })
            .collect())
    }
}

/// The name of the feed whose seq range holds `seq`.
fn feed_of(feeds: &[(i64, i64, String)], seq: i64) -> &str {
    let i = feeds.partition_point(|(first, _, _)| *first <= seq);
    match i.checked_sub(1).map(|i| &feeds[i]) {
        Some((_, last, name)) if seq <= *last => name,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys are persisted: these values may only change with a new schema version.
    #[test]
    fn keys_are_stable() {
        assert_eq!(
            package_key(Ecosystem::PyPI, "", "requests"),
            5_333_087_332_787_579_031
        );
        assert_eq!(
            package_key(Ecosystem::Debian, "12", "openssl"),
            3_063_253_907_945_704_601
        );
        assert_eq!(alias_key("CVE-2024-3094"), -4_768_827_727_347_593_343);
        assert_eq!(SCHEMA_VERSION, 6);
    }

    /// The stored form of an advisory's match record (MessagePack, named fields) at schema
    /// 6 (a record without Go symbols is stored as at 5): changing it needs a new schema
    /// version.
    #[test]
    fn stored_match_record_v6() {
        use crate::model::{Affected, Event, FeedKind, FixState, Namespace, Range, RangeKind};
        let mut a = Advisory::new("CVE-2024-7348", FeedKind::CsafVex);
        a.aliases = vec!["GHSA-0000-0000-0000".to_owned()];
        a.affected = vec![Affected {
            namespace: Namespace::new(Ecosystem::RedHat, ""),
            name: "postgresql:15/postgresql".to_owned(),
            purl: None,
            ranges: vec![Range {
                kind: RangeKind::Ecosystem,
                events: vec![
                    Event::Introduced("0".to_owned()),
                    Event::Fixed("15.8-1.module+el8.10.0".to_owned()),
                ],
            }],
            versions: Vec::new(),
            fix_state: Some(FixState::Fixed("15.8-1.module+el8.10.0".to_owned())),
            severity: Some("Important".to_owned()),
            arches: vec!["x86_64".to_owned()],
            platforms: vec!["cpe:/a:redhat:enterprise_linux:8::appstream".to_owned()],
            imports: Vec::new(),
        }];
        let slim = Slim {
            id: &a.id,
            feed: a.feed,
            aliases: &a.aliases,
            severity: &a.severity,
            database_severity: a.database_severity.as_deref(),
            affected: &a.affected,
        };
        let packed = rmp_serde::to_vec_named(&slim).unwrap();
        assert_eq!(hex::encode(&packed), STORED_V5);
        let back: Advisory = rmp_serde::from_slice(&packed).unwrap();
        assert_eq!(back, a);

        // A Go record's packages and symbols (schema 6).
        let mut go = Advisory::new("GO-2023-1704", FeedKind::Osv);
        go.affected = vec![Affected {
            namespace: Namespace::new(Ecosystem::Go, ""),
            name: "stdlib".to_owned(),
            purl: None,
            ranges: vec![Range {
                kind: RangeKind::Semver,
                events: vec![
                    Event::Introduced("0".to_owned()),
                    Event::Fixed("1.19.9".to_owned()),
                ],
            }],
            versions: Vec::new(),
            fix_state: None,
            severity: None,
            arches: Vec::new(),
            platforms: Vec::new(),
            imports: vec![crate::model::GoImport {
                path: "net/textproto".to_owned(),
                symbols: vec!["Reader.ReadMIMEHeader".to_owned()],
            }],
        }];
        let slim = Slim {
            id: &go.id,
            feed: go.feed,
            aliases: &go.aliases,
            severity: &go.severity,
            database_severity: None,
            affected: &go.affected,
        };
        let packed = rmp_serde::to_vec_named(&slim).unwrap();
        assert_eq!(hex::encode(&packed), STORED_GO_V6);
        let back: Advisory = rmp_serde::from_slice(&packed).unwrap();
        assert_eq!(back, go);
    }

    const STORED_GO_V6: &str = concat!(
        "83a26964ac474f2d323032332d31373034a466656564a36f7376a861666665637465649184a96563",
        "6f73797374656d81a46e616d65a2476fa46e616d65a67374646c6962a672616e6765739182a46b69",
        "6e64a653454d564552a66576656e74739281aa696e74726f6475636564a13081a56669786564a631",
        "2e31392e39a7696d706f7274739182a470617468ad6e65742f7465787470726f746fa773796d626f",
        "6c7391b55265616465722e526561644d494d45486561646572",
    );

    const STORED_V5: &str = concat!(
        "84a26964ad4356452d323032342d37333438a466656564a8637361662d766578a7616c6961736573",
        "91b3474853412d303030302d303030302d30303030a861666665637465649187a965636f73797374",
        "656d81a46e616d65a752656420486174a46e616d65b8706f737467726573716c3a31352f706f7374",
        "67726573716ca672616e6765739182a46b696e64a945434f53595354454da66576656e74739281aa",
        "696e74726f6475636564a13081a56669786564b631352e382d312e6d6f64756c652b656c382e3130",
        "2e30a96669785f737461746582a57374617465a56669786564a776657273696f6eb631352e382d31",
        "2e6d6f64756c652b656c382e31302e30a87365766572697479a9496d706f7274616e74a661726368",
        "657391a67838365f3634a9706c6174666f726d7391d92b6370653a2f613a7265646861743a656e74",
        "657270726973655f6c696e75783a383a3a61707073747265616d",
    );

    #[test]
    fn feed_of_finds_the_range() {
        let feeds = vec![(1, 10, "a".to_owned()), (11, 20, "b".to_owned())];
        assert_eq!(feed_of(&feeds, 1), "a");
        assert_eq!(feed_of(&feeds, 10), "a");
        assert_eq!(feed_of(&feeds, 11), "b");
        assert_eq!(feed_of(&feeds, 21), "");
        assert_eq!(feed_of(&feeds, 0), "");
    }
}
