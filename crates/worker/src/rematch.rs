//! Matching a stored scan again without the image: its SBOM read back as the inventory,
//! matched against the advisory database as it is now, rendered as a Grype-compatible
//! report. How the hub re-judges every image when advisories change, pulling nothing.
//!
//! The SBOM lacks the binaries, so Go reachability comes from the previous report: a Go
//! finding it suppressed because the binary lacked every vulnerable symbol named stays
//! suppressed while the records name no symbol outside those; anything new is kept.

use std::collections::{BTreeMap, BTreeSet};

use ferret_advisory::Database;
use ferret_engine::{GoSymbolSet, MatchOptions, ScanOptions};
use ferret_report::grype::{Document, unreachable_symbols};
use ferret_report::{DatabaseInfo, ScanReport, Tool};

/// The advisory database as a rematch reads it, opened once per worker.
#[derive(Debug)]
pub struct Snapshot {
    pub db: Database,
    pub info: DatabaseInfo,
    /// Every vulnerable Go symbol the database names, qualified (`path.Symbol`), with its
    /// parts; read when a previous report first needs it.
    go_symbols: std::sync::OnceLock<BTreeMap<String, (String, String)>>,
    /// The database's answers so far: stored SBOMs share most packages.
    cache: ferret_engine::MatchCache,
    /// How a stored SBOM is read (made once: the defaults ask the system for its cores).
    options: ScanOptions,
}

impl Snapshot {
    pub fn open(path: &std::path::Path) -> Result<Self, String> {
        let db = Database::open_file(path)
            .map_err(|e| format!("advisory database {}: {e}", path.display()))?;
        let status = db.status().map_err(|e| e.to_string())?;
        Ok(Self {
            db,
            info: DatabaseInfo {
                snapshot: status.snapshot,
                schema_version: status.schema_version,
            },
            go_symbols: std::sync::OnceLock::new(),
            cache: ferret_engine::MatchCache::default(),
            options: ScanOptions::default(),
        })
    }
}

impl Snapshot {
    fn go_symbols(&self) -> Result<&BTreeMap<String, (String, String)>, String> {
        if let Some(m) = self.go_symbols.get() {
            return Ok(m);
        }
        let read = self
            .db
            .go_symbols()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(p, s)| (format!("{p}.{s}"), (p, s)))
            .collect();
        Ok(self.go_symbols.get_or_init(|| read))
    }
}

/// The previous report's reachability verdicts: the symbols found absent, per binary.
fn absent_symbols(previous: &Document) -> BTreeMap<String, BTreeSet<String>> {
    let mut absent: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in &previous.ignored_matches {
        for symbols in m
            .applied_ignore_rules
            .iter()
            .filter_map(unreachable_symbols)
        {
            for l in &m.found.artifact.locations {
                absent
                    .entry(l.path.clone())
                    .or_default()
                    .extend(symbols.iter().cloned());
            }
        }
    }
    absent
}

/// Matches `sbom` (SPDX or CycloneDX JSON; its digest, when the caller knows it, saves
/// hashing it again) against `snapshot`; the new report keeps the previous report's
/// `source` (the image, not the SBOM).
pub fn rematch(
    snapshot: &Snapshot,
    sbom: &[u8],
    digest: Option<&str>,
    previous: &Document,
) -> Result<Document, String> {
    let digest = digest
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| ferret_model::Digest::sha256_of(sbom));
    let mut inventory =
        ferret_engine::sbom_inventory_of(sbom, "stored SBOM".to_owned(), digest, &snapshot.options)
            .map_err(|e| e.to_string())?;
    // Looked for: what the previous scan found absent somewhere (and the database still
    // names); present in each binary: the rest of those. So exactly the symbols known
    // absent from a binary count as absent there.
    let absent = absent_symbols(previous);
    let known: BTreeSet<&String> = absent.values().flatten().collect();
    let looked_for = if known.is_empty() {
        None
    } else {
        let named = snapshot.go_symbols()?;
        Some(GoSymbolSet::new(
            known.iter().filter_map(|q| named.get(*q)).cloned(),
        ))
    };
    inventory.go_symbols = absent
        .iter()
        .map(|(path, gone)| {
            let present = known
                .iter()
                .filter(|q| !gone.contains(**q))
                .map(|q| (*q).clone())
                .collect();
            (path.clone(), present)
        })
        .collect();
    let matches = ferret_engine::match_inventory(
        &inventory,
        &snapshot.db,
        MatchOptions {
            go_symbols: looked_for.as_ref(),
            cache: Some(&snapshot.cache),
            ..MatchOptions::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let report = ScanReport {
        inventory: &inventory,
        matches: &matches,
        database: snapshot.info.clone(),
        order: ferret_report::Order::Severity,
    };
    let mut doc = ferret_report::grype::document(&report, &Tool::default());
    doc.source.clone_from(&previous.source);
    doc.descriptor
        .timestamp
        .clone_from(&previous.descriptor.timestamp);
    Ok(doc)
}

/// Updates the advisory database in `dir` from `feeds` (`KIND=URL`; the default feeds when
/// empty), as `ferret db update` does: the new database is swapped in whole. How many
/// feeds were imported.
pub fn update_database(dir: &std::path::Path, feeds: &[String]) -> Result<usize, String> {
    let mut options = ferret_advisory::UpdateOptions::default();
    if !feeds.is_empty() {
        options.sources = feeds
            .iter()
            .map(|f| f.parse().map_err(|e| format!("feed {e}")))
            .collect::<Result<_, String>>()?;
    }
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let report = ferret_advisory::update(dir, &options, &now).map_err(|e| e.to_string())?;
    Ok(report.imported.len())
}
