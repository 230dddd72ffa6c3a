//! Stage ⑤ wired to the database: every package of an inventory looked up (one read
//! transaction for the whole image) and matched.

use ferret_advisory::Database;
use ferret_matcher::{Finding, Fix, Unmatched, findings, target};
use serde::{Deserialize, Serialize};

use crate::{EngineError, Inventory};

/// What matching found for one package of the inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum Outcome {
    /// Looked up: its findings, most severe first (possibly none).
    Matched { findings: Vec<Finding> },
    /// Could not be looked up, and why.
    Unmatched { reason: String },
}

/// One package's outcome; `package` indexes the inventory's package list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageMatches {
    pub package: usize,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchOptions {
    /// Hide findings with no fix (not fixed, will not fix).
    pub ignore_unfixed: bool,
}

/// Matches every package of `inventory` against `db`, in the inventory's order.
pub fn match_inventory(
    inventory: &Inventory,
    db: &Database,
    options: MatchOptions,
) -> Result<Vec<PackageMatches>, EngineError> {
    let distro = inventory.distro.as_ref();
    let targets: Vec<Result<ferret_matcher::Target, Unmatched>> = inventory
        .packages
        .iter()
        .map(|p| target(p, distro))
        .collect();
    let keys: Vec<(&str, &str, &str)> = targets
        .iter()
        .filter_map(|t| t.as_ref().ok())
        .map(|t| (t.ecosystem.as_str(), t.release.as_str(), t.name.as_str()))
        .collect();
    let mut answers = db
        .query_many(&keys)
        .map_err(|e| EngineError::Advisory(e.to_string()))?
        .into_iter();
    let mut out = Vec::with_capacity(targets.len());
    for (package, t) in targets.into_iter().enumerate() {
        let outcome = match t {
            Err(u) => Outcome::Unmatched { reason: u.reason },
            Ok(t) => {
                let advisories = answers.next().unwrap_or_default();
                match findings(&t, &advisories) {
                    Ok(mut found) => {
                        if options.ignore_unfixed {
                            found.retain(|f| matches!(f.fix, Fix::Fixed(_)));
                        }
                        Outcome::Matched { findings: found }
                    }
                    Err(e) => Outcome::Unmatched {
                        reason: e.to_string(),
                    },
                }
            }
        };
        out.push(PackageMatches { package, outcome });
    }
    Ok(out)
}
