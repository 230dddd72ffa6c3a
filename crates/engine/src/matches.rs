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
        });
        false
    });
    suppressed
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

/// A package's findings and the records that could not be evaluated.
type Found = (Vec<Finding>, Vec<ferret_matcher::SkippedRecord>);

/// Matches every package of `inventory` against `db`, in the inventory's order.
pub fn match_inventory(
    inventory: &Inventory,
    db: &Database,
    options: MatchOptions<'_>,
) -> Result<Vec<PackageMatches>, EngineError> {
    let distro = inventory.distro.as_ref();
    let coverage = db
        .coverage()
        .map_err(|e| EngineError::Advisory(e.to_string()))?;
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
    let mut answers = db
        .query_many(&keys)
        .map_err(|e| EngineError::Advisory(e.to_string()))?
        .into_iter();
    // First every package's findings from its records, then one lookup of what the CVE
    // feeds say about all their ids (ratings, KEV, EPSS), then the user's triage.
    let mut matched: Vec<Result<Found, String>> = Vec::with_capacity(targets.len());
    for (t, p) in targets.iter().zip(&inventory.packages) {
        matched.push(match t {
            Err(u) => Err(u.reason.clone()),
            Ok(t) => {
                let advisories = answers.next().unwrap_or_default();
                findings_with_skips(t, &advisories).map_err(|e| e.to_string())
            }
        });
        if let Some(Ok((_, skipped))) = matched.last() {
            for s in skipped {
                tracing::warn!(package = %p.name, record = %s.record, "record skipped: {}", s.reason);
            }
        }
    }
    let ids: Vec<&str> = matched
        .iter()
        .filter_map(|m| m.as_ref().ok())
        .flat_map(|(found, _)| found.iter().flat_map(Finding::ids))
        .collect();
    let facts = db
        .facts(&ids)
        .map_err(|e| EngineError::Advisory(e.to_string()))?;
    let mut by_id: HashMap<&str, Vec<&ferret_advisory::KnownFact>> = HashMap::new();
    for f in &facts {
        by_id.entry(f.id.as_str()).or_default().push(f);
    }
    let mut out = Vec::with_capacity(targets.len());
    for (package, (m, p)) in matched.into_iter().zip(&inventory.packages).enumerate() {
        let outcome = match m {
            Err(reason) => Outcome::Unmatched { reason },
            Ok((mut found, skipped)) => {
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
                let suppressed = triage(&mut found, p, options);
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
