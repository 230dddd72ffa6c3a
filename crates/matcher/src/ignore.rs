//! Triage rules from an ignore file (`--ignore FILE`):
//!
//! ```yaml
//! ignore:
//!   - vulnerability: CVE-2024-1234      # the finding's id or any related id
//!     package: "openssl"                # optional: a glob over the package name or purl
//!     reason: "not reachable from our code"
//!     expires: 2026-12-31               # optional: from this day on the rule stops ignoring
//! ```

use serde::{Deserialize, Serialize};

use crate::Finding;

/// One rule of an ignore file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreRule {
    pub vulnerability: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    pub reason: String,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IgnoreFile {
    #[serde(default)]
    ignore: Vec<IgnoreRule>,
}

/// Ignore rules ready to apply, as of one day.
#[derive(Debug)]
pub struct IgnoreRules {
    active: Vec<(IgnoreRule, Option<globset::GlobMatcher>)>,
    /// Rules past their `expires` date: they ignore nothing, and the caller warns.
    pub expired: Vec<IgnoreRule>,
}

/// A parse error in an ignore file, naming the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IgnoreError(String);

impl IgnoreRules {
    /// Reads an ignore file's text; `today` (`YYYY-MM-DD`) decides which rules expired.
    pub fn parse(text: &str, today: &str) -> Result<Self, IgnoreError> {
        let file: IgnoreFile = serde_norway::from_str(text)
            .map_err(|e| IgnoreError(format!("not a valid ignore file: {e}")))?;
        let mut active = Vec::new();
        let mut expired = Vec::new();
        for (i, rule) in file.ignore.into_iter().enumerate() {
            let at = || format!("rule {} ({})", i + 1, rule.vulnerability);
            if rule.vulnerability.trim().is_empty() {
                return Err(IgnoreError(format!("rule {}: no vulnerability id", i + 1)));
            }
            if rule.reason.trim().is_empty() {
                return Err(IgnoreError(format!("{}: a reason is required", at())));
            }
            if let Some(e) = &rule.expires {
                if !is_date(e) {
                    return Err(IgnoreError(format!(
                        "{}: expires {e:?} is not a YYYY-MM-DD date",
                        at()
                    )));
                }
                // ISO dates order as strings.
                if e.as_str() <= today {
                    expired.push(rule);
                    continue;
                }
            }
            let glob = match &rule.package {
                Some(p) => Some(
                    globset::Glob::new(p)
                        .map_err(|e| IgnoreError(format!("{}: package {p:?}: {e}", at())))?
                        .compile_matcher(),
                ),
                None => None,
            };
            active.push((rule, glob));
        }
        Ok(Self { active, expired })
    }

    /// The rule that ignores `finding` of the package with this name and purl, if any.
    pub fn matching(&self, finding: &Finding, name: &str, purl: &str) -> Option<&IgnoreRule> {
        self.active.iter().find_map(|(rule, glob)| {
            let id_matches =
                finding.id == rule.vulnerability || finding.related.contains(&rule.vulnerability);
            let package_matches = glob
                .as_ref()
                .is_none_or(|g| g.is_match(name) || g.is_match(purl));
            (id_matches && package_matches).then_some(rule)
        })
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::finding;

    const FILE: &str = "
ignore:
  - vulnerability: CVE-2024-1
    reason: not reachable
  - vulnerability: GHSA-xxxx
    package: 'lib*'
    reason: vendored copy, patched
  - vulnerability: CVE-2024-3
    reason: waiting for upstream
    expires: 2026-01-01
  - vulnerability: CVE-2024-4
    reason: later
    expires: 2027-01-01
";

    #[test]
    fn rules_apply_by_id_alias_and_package_glob() {
        let rules = IgnoreRules::parse(FILE, "2026-11-22").unwrap();
        assert!(
            rules
                .matching(
                    &finding("CVE-2024-1", &[]),
                    "openssl",
                    "pkg:deb/debian/openssl@1"
                )
                .is_some()
        );
        assert!(
            rules
                .matching(&finding("CVE-2024-2", &["GHSA-xxxx"]), "libfoo", "")
                .is_some()
        );
        assert!(
            rules
                .matching(
                    &finding("CVE-2024-2", &["GHSA-xxxx"]),
                    "foo",
                    "pkg:deb/debian/foo@1"
                )
                .is_none()
        );
        // Expired: ignores nothing, and is reported.
        assert!(
            rules
                .matching(&finding("CVE-2024-3", &[]), "a", "")
                .is_none()
        );
        assert_eq!(rules.expired.len(), 1);
        assert!(
            rules
                .matching(&finding("CVE-2024-4", &[]), "a", "")
                .is_some()
        );
    }

    #[test]
    fn bad_files_name_the_problem() {
        let err = |t: &str| IgnoreRules::parse(t, "2026-11-22").unwrap_err().to_string();
        assert!(err("ignore:\n  - vulnerability: CVE-1\n").contains("reason"));
        assert!(
            err("ignore:\n  - vulnerability: CVE-1\n    reason: x\n    expires: soon\n")
                .contains("YYYY-MM-DD")
        );
        assert!(
            err("ignore:\n  - vulnerability: CVE-1\n    reason: x\n    packge: y\n")
                .contains("unknown field")
        );
        assert!(
            err("ignore:\n  - vulnerability: CVE-1\n    reason: x\n    package: 'a[b'\n")
                .contains("rule 1")
        );
    }
}
