//! The Debian security tracker's JSON (`security-tracker.debian.org/tracker/data/json`):
//! source package → CVE → release → status, fixed version, urgency, no-DSA reason.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::model::{
    Advisory, Affected, Ecosystem, Event, FeedKind, FixState, Namespace, Range, RangeKind, Skipped,
};

/// Debian release code names and their version numbers.
pub const RELEASES: &[(&str, &str)] = &[
    ("buzz", "1.1"),
    ("rex", "1.2"),
    ("bo", "1.3"),
    ("hamm", "2.0"),
    ("slink", "2.1"),
    ("potato", "2.2"),
    ("woody", "3.0"),
    ("sarge", "3.1"),
    ("etch", "4"),
    ("lenny", "5"),
    ("squeeze", "6"),
    ("wheezy", "7"),
    ("jessie", "8"),
    ("stretch", "9"),
    ("buster", "10"),
    ("bullseye", "11"),
    ("bookworm", "12"),
    ("trixie", "13"),
    ("forky", "14"),
    ("duke", "15"),
];

/// The version number of a Debian release name; `sid` stays `sid`.
pub fn release_number(name: &str) -> Option<&'static str> {
    if name == "sid" {
        return Some("sid");
    }
    RELEASES.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

#[derive(Debug, Deserialize)]
struct RawCve {
    #[serde(default)]
    description: Option<String>,
    /// A map of release name to state; the tracker writes `[]` for none.
    #[serde(default)]
    releases: Value,
}

#[derive(Debug, Deserialize)]
struct RawRelease {
    #[serde(default)]
    status: String,
    #[serde(default)]
    fixed_version: Option<String>,
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    nodsa_reason: Option<String>,
}

/// Reads the tracker JSON. Each CVE becomes one advisory with an affected entry per
/// (source package, release); per-entry problems are returned as (id, reason).
pub(crate) fn parse(bytes: &[u8]) -> Result<(Vec<Advisory>, Vec<Skipped>), String> {
    let root: BTreeMap<String, BTreeMap<String, Value>> =
        serde_json::from_slice(bytes).map_err(|e| format!("not Debian tracker JSON: {e}"))?;
    let mut by_cve: BTreeMap<String, Advisory> = BTreeMap::new();
    let mut errors = Vec::new();
    for (package, cves) in root {
        for (cve, value) in cves {
            let raw: RawCve = match serde_json::from_value(value) {
                Ok(r) => r,
                Err(e) => {
                    errors.push((cve, format!("package {package}: {e}")));
                    continue;
                }
            };
            let advisory = by_cve.entry(cve.clone()).or_insert_with(|| Advisory {
                details: raw.description.clone(),
                ..Advisory::new(cve.clone(), FeedKind::DebianTracker)
            });
            let releases: BTreeMap<String, RawRelease> = match raw.releases {
                Value::Object(_) => match serde_json::from_value(raw.releases) {
                    Ok(r) => r,
                    Err(e) => {
                        errors.push((cve, format!("package {package}: {e}")));
                        continue;
                    }
                },
                _ => BTreeMap::new(),
            };
            for (release, r) in releases {
                let Some(number) = release_number(&release) else {
                    errors.push((
                        cve.clone(),
                        format!("package {package}: unknown Debian release {release:?}"),
                    ));
                    continue;
                };
                let (state, ranges) = match r.status.as_str() {
                    "resolved" => match r.fixed_version.as_deref() {
                        Some("0") => (FixState::NotAffected, Vec::new()),
                        Some(v) if !v.is_empty() => (
                            FixState::Fixed(v.to_owned()),
                            vec![Range {
                                kind: RangeKind::Ecosystem,
                                events: vec![
                                    Event::Introduced("0".to_owned()),
                                    Event::Fixed(v.to_owned()),
                                ],
                            }],
                        ),
                        _ => {
                            errors.push((cve.clone(), format!("package {package}: resolved in {release} without a fixed version")));
                            continue;
                        }
                    },
                    "open" | "undetermined" => {
                        let state = if r.nodsa_reason.as_deref() == Some("ignored") {
                            FixState::WillNotFix
                        } else {
                            FixState::NotFixed
                        };
                        let range = Range {
                            kind: RangeKind::Ecosystem,
                            events: vec![Event::Introduced("0".to_owned())],
                        };
                        (state, vec![range])
                    }
                    other => {
                        errors.push((
                            cve.clone(),
                            format!("package {package}: unknown status {other:?} in {release}"),
                        ));
                        continue;
                    }
                };
                advisory.affected.push(Affected {
                    namespace: Namespace::new(Ecosystem::Debian, number),
                    name: package.clone(),
                    purl: None,
                    ranges,
                    versions: Vec::new(),
                    fix_state: Some(state),
                    severity: r
                        .urgency
                        .map(|u| u.trim_end_matches('*').to_owned())
                        .filter(|u| !u.is_empty()),
                    arches: Vec::new(),
                    platforms: Vec::new(),
                    imports: Vec::new(),
                });
            }
        }
    }
    let advisories = by_cve
        .into_values()
        .filter(|a| !a.affected.is_empty())
        .collect();
    Ok((advisories, errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodsa_reasons_and_states() {
        let json = br#"{"openssl": {"CVE-2099-0001": {"releases": {
            "bookworm": {"status": "open", "urgency": "low", "nodsa": "Minor issue", "nodsa_reason": "ignored"},
            "bullseye": {"status": "open", "urgency": "low", "nodsa": "Minor issue", "nodsa_reason": "postponed"},
            "trixie": {"status": "undetermined", "urgency": "not yet assigned"},
            "forky": {"status": "resolved", "fixed_version": "0", "urgency": "unimportant"},
            "sid": {"status": "resolved", "fixed_version": "3.5.1-1", "urgency": "medium**"}
        }}}}"#;
        let (advisories, errors) = parse(json).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        let a = &advisories[0];
        let state = |release: &str| {
            a.affected
                .iter()
                .find(|x| x.namespace.release == release)
                .unwrap()
                .fix_state
                .clone()
                .unwrap()
        };
        assert_eq!(state("12"), FixState::WillNotFix);
        assert_eq!(state("11"), FixState::NotFixed);
        assert_eq!(state("13"), FixState::NotFixed);
        assert_eq!(state("14"), FixState::NotAffected);
        assert_eq!(state("sid"), FixState::Fixed("3.5.1-1".into()));
        let sid = a
            .affected
            .iter()
            .find(|x| x.namespace.release == "sid")
            .unwrap();
        assert_eq!(sid.severity.as_deref(), Some("medium"));
    }
}
