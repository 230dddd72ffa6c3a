//! Stage ⑤ wired to the database: every package of an inventory looked up (one read
//! transaction for the whole image) and matched.

use std::collections::HashMap;

use ferret_advisory::Database;
use ferret_matcher::{Finding, Fix, IgnoreRules, Unmatched, Vex, findings_with_skips, target};
pub use ferret_matcher::{Outcome, PackageMatches, Suppressed};
use ferret_model::{Ecosystem, Package};

use crate::{EngineError, Inventory};

#[derive(Debug, Clone, Copy, Default)]
pub struct MatchOptions<'a> {
    /// Hide findings with no fix (not fixed, will not fix).
    pub ignore_unfixed: bool,
    /// The user's ignore rules: matching findings are listed as suppressed.
    pub ignore: Option<&'a IgnoreRules>,
    /// The user's VEX statements: `not_affected` and `fixed` ones suppress findings.
    pub vex: Option<&'a Vex>,
    /// The vulnerable Go symbols the inventory's Go binaries were searched for
    /// ([`Inventory::go_symbols`]): a Go finding whose records name symbols, none of them
    /// in the binary, is suppressed as unreachable. `None`: no finding is
    /// (`--show-unreachable`).
    pub go_symbols: Option<&'a ferret_catalog::GoSymbolSet>,
    /// Answers of the database kept across inventories matched against the same snapshot
    /// (the hub re-judging many stored SBOMs that share packages).
    pub cache: Option<&'a MatchCache>,
}

type PackageKey = (Ecosystem, String, String);

/// The database's answers by package and by id, for one snapshot: matching many
/// inventories that share packages asks the database once per package.
#[derive(Debug, Default)]
pub struct MatchCache {
    inner: std::sync::Mutex<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    coverage: Option<std::collections::BTreeSet<(Ecosystem, String)>>,
    records: HashMap<PackageKey, Vec<ferret_advisory::Advisory>>,
    facts: HashMap<String, Vec<ferret_advisory::KnownFact>>,
}

impl MatchCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn coverage(
        &self,
        db: &Database,
    ) -> Result<std::collections::BTreeSet<(Ecosystem, String)>, EngineError> {
        let mut c = self.lock();
        if c.coverage.is_none() {
            c.coverage = Some(
                db.coverage()
                    .map_err(|e| EngineError::Advisory(e.to_string()))?,
            );
        }
        Ok(c.coverage.clone().unwrap_or_default())
    }

    fn query_many(
        &self,
        db: &Database,
        keys: &[(Ecosystem, &str, &str)],
    ) -> Result<Vec<Vec<ferret_advisory::Advisory>>, EngineError> {
        let mut c = self.lock();
        let owned = |k: &(Ecosystem, &str, &str)| (k.0, k.1.to_owned(), k.2.to_owned());
        let mut missing: Vec<(Ecosystem, &str, &str)> = keys
            .iter()
            .filter(|k| !c.records.contains_key(&owned(k)))
            .copied()
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            let answers = db
                .query_many(&missing)
                .map_err(|e| EngineError::Advisory(e.to_string()))?;
            for (k, a) in missing.iter().zip(answers) {
                c.records.insert(owned(k), a);
            }
        }
        Ok(keys
            .iter()
            .map(|k| c.records.get(&owned(k)).cloned().unwrap_or_default())
            .collect())
    }

    fn facts(
        &self,
        db: &Database,
        ids: &[&str],
    ) -> Result<Vec<ferret_advisory::KnownFact>, EngineError> {
        let mut c = self.lock();
        let mut missing: Vec<&str> = ids
            .iter()
            .filter(|id| !c.facts.contains_key(**id))
            .copied()
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            let known = db
                .facts(&missing)
                .map_err(|e| EngineError::Advisory(e.to_string()))?;
            for id in &missing {
                c.facts.entry((*id).to_owned()).or_default();
            }
            for f in known {
                c.facts.entry(f.id.clone()).or_default().push(f);
            }
        }
        let mut wanted: Vec<&str> = ids.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        Ok(wanted
            .iter()
            .flat_map(|id| c.facts.get(*id).cloned().unwrap_or_default())
            .collect())
    }
}

/// Moves the findings the user's ignore rules or VEX statements cover out of `found`.
fn triage(found: &mut Vec<Finding>, p: &Package, options: MatchOptions<'_>) -> Vec<Suppressed> {
    let mut suppressed = Vec::new();
    found.retain(|f| {
        let why = options
            .ignore
            .and_then(|r| r.matching(f, &p.name, &p.purl))
            .map(|r| ("ignore", r.reason.clone()))
            .or_else(|| {
                options
                    .vex
                    .and_then(|v| v.suppresses(f, &p.purl))
                    .map(|r| ("vex", r))
            });
        let Some((by, reason)) = why else {
            return true;
        };
        suppressed.push(Suppressed {
            finding: f.clone(),
            by: by.to_owned(),
            reason,
            symbols: Vec::new(),
        });
        false
    });
    suppressed
}

/// The vulnerable symbols of a Go finding, qualified and sorted, when none of them is in
/// the binary: the Go vulnerability database's records among the finding's name them
/// (`imports[].symbols`), every one was looked for and none was found. `None` when any
/// matched record's package is named without symbols (all of it is vulnerable) or no
/// record names any (other records, such as GitHub's, never suppress).
fn unreachable(
    f: &Finding,
    by_id: &HashMap<&str, Vec<&ferret_advisory::Advisory>>,
    present: &std::collections::BTreeSet<String>,
    looked_for: &ferret_catalog::GoSymbolSet,
) -> Option<Vec<String>> {
    let mut symbols = Vec::new();
    for m in &f.matches {
        let entries = by_id
            .get(m.record.as_str())
            .into_iter()
            .flatten()
            .flat_map(|a| &a.affected)
            .filter(|x| x.namespace.ecosystem == Ecosystem::Go && x.name == m.package);
        for import in entries.flat_map(|x| &x.imports) {
            if import.symbols.is_empty() {
                return None;
            }
            for s in &import.symbols {
                if !looked_for.contains(&import.path, s) {
                    return None;
                }
                symbols.push(format!("{}.{s}", import.path));
            }
        }
    }
    symbols.sort();
    symbols.dedup();
    (!symbols.is_empty() && !symbols.iter().any(|s| present.contains(s))).then_some(symbols)
}

/// Why a distro package went unmatched when no feed covers its release.
fn uncovered(t: &ferret_matcher::Target) -> String {
    let release = if t.release.is_empty() {
        t.ecosystem.to_string()
    } else {
        format!("{} {}", t.ecosystem, t.release)
    };
    format!(
        "the advisory database holds no feed for {release} (`ferret db status` lists the feeds; `ferret db update` or `ferret db import` adds one)"
    )
}

/// A package's findings, the records that could not be evaluated, and the findings whose
/// vulnerable Go code is not in the binary (by id, with the symbols looked for).
type Found = (
    Vec<Finding>,
    Vec<ferret_matcher::SkippedRecord>,
    Vec<(String, Vec<String>)>,
);

/// Matches every package of `inventory` against `db`, in the inventory's order.
pub fn match_inventory(
    inventory: &Inventory,
    db: &Database,
    options: MatchOptions<'_>,
) -> Result<Vec<PackageMatches>, EngineError> {
    let distro = inventory.distro.as_ref();
    let coverage = match options.cache {
        Some(c) => c.coverage(db)?,
        None => db
            .coverage()
            .map_err(|e| EngineError::Advisory(e.to_string()))?,
    };
    // A Red Hat image's content manifests name the repositories it was built from: their
    // product streams (Red Hat's repository-to-CPE map) replace the release's defaults.
    let streams: Vec<String> = match distro {
        Some(d) if !d.content_sets.is_empty() => db
            .repository_cpes(&d.content_sets)
            .map_err(|e| EngineError::Advisory(e.to_string()))?
            .into_iter()
            .collect(),
        _ => Vec::new(),
    };
    // A distro release no feed covers has no answer: its packages are unmatched, with the
    // reason, rather than reported free of vulnerabilities.
    let targets: Vec<Result<ferret_matcher::Target, Unmatched>> = inventory
        .packages
        .iter()
        .map(|p| {
            target(p, distro).map(|mut t| {
                if t.ecosystem == Ecosystem::RedHat && !streams.is_empty() {
                    t.platforms.clone_from(&streams);
                }
                t
            })
        })
        .map(|t| {
            t.and_then(|t| {
                if t.distro && !coverage.contains(&(t.ecosystem, t.release.clone())) {
                    Err(Unmatched {
                        reason: uncovered(&t),
                    })
                } else {
                    Ok(t)
                }
            })
        })
        .collect();
    let keys: Vec<(Ecosystem, &str, &str)> = targets
        .iter()
        .filter_map(|t| t.as_ref().ok())
        .map(|t| (t.ecosystem, t.release.as_str(), t.name.as_str()))
        .collect();
    let mut answers = match options.cache {
        Some(c) => c.query_many(db, &keys)?,
        None => db
            .query_many(&keys)
            .map_err(|e| EngineError::Advisory(e.to_string()))?,
    }
    .into_iter();
    // First every package's findings from its records, then one lookup of what the CVE
    // feeds say about all their ids (ratings, KEV, EPSS), then the user's triage.
    let mut matched: Vec<Result<Found, String>> = Vec::with_capacity(targets.len());
    for (t, p) in targets.iter().zip(&inventory.packages) {
        matched.push(match t {
            Err(u) => Err(u.reason.clone()),
            Ok(t) => {
                let advisories = answers.next().unwrap_or_default();
                findings_with_skips(t, &advisories)
                    .map(|(found, skipped)| {
                        let reach = match (
                            options.go_symbols,
                            inventory.go_symbols.get(&p.location.path),
                        ) {
                            (Some(looked_for), Some(present)) if t.ecosystem == Ecosystem::Go => {
                                let mut by_id: HashMap<&str, Vec<&ferret_advisory::Advisory>> =
                                    HashMap::new();
                                for a in &advisories {
                                    by_id.entry(a.id.as_str()).or_default().push(a);
                                }
                                found
                                    .iter()
                                    .filter_map(|f| {
                                        unreachable(f, &by_id, present, looked_for)
                                            .map(|s| (f.id.clone(), s))
                                    })
                                    .collect()
                            }
                            _ => Vec::new(),
                        };
                        (found, skipped, reach)
                    })
                    .map_err(|e| e.to_string())
            }
        });
        if let Some(Ok((_, skipped, _))) = matched.last() {
            for s in skipped {
                tracing::warn!(package = %p.name, record = %s.record, "record skipped: {}", s.reason);
            }
        }
    }
    let ids: Vec<&str> = matched
        .iter()
        .filter_map(|m| m.as_ref().ok())
        .flat_map(|(found, ..)| found.iter().flat_map(Finding::ids))
        .collect();
    let facts = match options.cache {
        Some(c) => c.facts(db, &ids)?,
        None => db
            .facts(&ids)
            .map_err(|e| EngineError::Advisory(e.to_string()))?,
    };
    let mut by_id: HashMap<&str, Vec<&ferret_advisory::KnownFact>> = HashMap::new();
    for f in &facts {
        by_id.entry(f.id.as_str()).or_default().push(f);
    }
    let mut out = Vec::with_capacity(targets.len());
    for (package, (m, p)) in matched.into_iter().zip(&inventory.packages).enumerate() {
        let outcome = match m {
            Err(reason) => Outcome::Unmatched { reason },
            Ok((mut found, skipped, out_of_reach)) => {
                for f in &mut found {
                    let known: Vec<&ferret_advisory::KnownFact> = f
                        .ids()
                        .flat_map(|id| by_id.get(id).into_iter().flatten().copied())
                        .collect();
                    ferret_matcher::apply_facts(f, known);
                }
                ferret_matcher::sort_findings(&mut found);
                if options.ignore_unfixed {
                    found.retain(|f| matches!(f.fix, Fix::Fixed(_)));
                }
                let mut suppressed = triage(&mut found, p, options);
                found.retain(|f| {
                    let Some((_, symbols)) = out_of_reach.iter().find(|(id, _)| *id == f.id) else {
                        return true;
                    };
                    suppressed.push(Suppressed {
                        finding: f.clone(),
                        by: "reachability".to_owned(),
                        reason: ferret_matcher::UNREACHABLE.to_owned(),
                        symbols: symbols.clone(),
                    });
                    false
                });
                Outcome::Matched {
                    findings: found,
                    suppressed,
                    skipped,
                }
            }
        };
        out.push(PackageMatches { package, outcome });
    }
    Ok(out)
}
