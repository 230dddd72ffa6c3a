//! What matching found for each package of an inventory: the findings, the ones the
//! user's triage rules suppressed, or why the package could not be looked up.

use serde::{Deserialize, Serialize};

use crate::{Finding, SkippedRecord};

/// What matching found for one package of the inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum Outcome {
    /// Looked up: its findings, most severe first (possibly none), and the ones the user's
    /// rules suppressed.
    Matched {
        findings: Vec<Finding>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        suppressed: Vec<Suppressed>,
        /// Records of this package that could not be evaluated.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        skipped: Vec<SkippedRecord>,
    },
    /// Could not be looked up, and why.
    Unmatched { reason: String },
}

/// A finding hidden from the report and the gate: by the user's triage rules, or because
/// the Go binary does not hold the vulnerable code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suppressed {
    pub finding: Finding,
    /// `ignore` (an ignore-file rule), `vex` (a VEX statement) or `reachability` (none of
    /// the vulnerable Go symbols is in the binary).
    pub by: String,
    pub reason: String,
    /// For `reachability`: the symbols looked for, none of them found
    /// (`net/textproto.Reader.ReadMIMEHeader`), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub symbols: Vec<String>,
}

/// Why a finding suppressed by reachability is.
pub const UNREACHABLE: &str = "not affected: vulnerable code not present";

/// One package's outcome; `package` indexes the inventory's package list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageMatches {
    pub package: usize,
    #[serde(flatten)]
    pub outcome: Outcome,
}
