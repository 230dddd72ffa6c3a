//! Stage ⑤ of the pipeline: matching packages to advisories. Pure functions, no I/O:
//! whether an installed version is affected by an advisory's entry and why
//! ([`evaluate`]), how severe a finding is ([`rate`]), and how many there are
//! ([`Counts`]); and which findings a user's triage rules ignore ([`IgnoreRules`],
//! [`Vex`]).

mod evaluate;
mod ignore;
mod outcome;
mod package;
mod severity;
mod vex;

pub use evaluate::{Fix, Reason, Verdict, evaluate};
pub use ferret_advisory::FeedKind;
pub use ferret_model::{AtcrSummary, Counts};
pub use ignore::{IgnoreError, IgnoreRule, IgnoreRules};
pub use outcome::{Outcome, PackageMatches, Suppressed, UNREACHABLE};
pub use package::{
    Finding, MatchDetail, SkippedRecord, Target, Unmatched, findings, findings_with_skips,
    sort_findings, source_version, target,
};
pub use severity::{
    Rating, Severity, apply_facts, choose, decide, parse_cvss, record_ratings, vendor_rating,
};
pub use vex::{Vex, VexError};

#[cfg(test)]
mod test_support {
    use crate::{Finding, Fix, Rating, Severity};

    /// A HIGH, not fixed finding with these ids, for rules to match.
    pub(crate) fn finding(id: &str, related: &[&str]) -> Finding {
        Finding {
            id: id.into(),
            related: related.iter().map(|s| s.to_string()).collect(),
            rating: Rating {
                severity: Severity::High,
                ..Rating::unknown()
            },
            fix: Fix::NotFixed,
            matches: Vec::new(),
            kev: None,
            epss: None,
        }
    }
}
