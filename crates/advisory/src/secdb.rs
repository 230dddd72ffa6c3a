//! Alpine secdb (YAML or JSON, one file per branch and repository) and the Wolfi and
//! Chainguard secdb JSON: package → fixed version → CVE ids. A version of `0` means the
//! package was never affected.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::{
    Advisory, Affected, Ecosystem, Event, FeedKind, FixState, Namespace, Range, RangeKind, Skipped,
};

#[derive(Debug, Deserialize)]
struct RawSecdb {
    #[serde(default)]
    distroversion: Option<String>,
    #[serde(default)]
    reponame: Option<String>,
    #[serde(default)]
    urlprefix: Option<String>,
    #[serde(default)]
    packages: Vec<RawEntry>,
}

#[derive(Debug, Deserialize)]
struct RawEntry {
    pkg: RawPkg,
}

#[derive(Debug, Deserialize)]
struct RawPkg {
    name: String,
    #[serde(default)]
    secfixes: Option<BTreeMap<String, Option<Vec<Option<String>>>>>,
}

/// Reads one secdb document; returns its feed label (`alpine-3.10-main`, `wolfi-os`, …),
/// the advisories (one per vulnerability id) and per-entry problems.
pub(crate) fn parse(bytes: &[u8]) -> Result<(String, Vec<Advisory>, Vec<Skipped>), String> {
    let raw: RawSecdb = if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        serde_json::from_slice(bytes).map_err(|e| format!("not secdb JSON: {e}"))?
    } else {
        serde_norway::from_slice(bytes).map_err(|e| format!("not secdb YAML: {e}"))?
    };
    let repo = raw.reponame.clone().unwrap_or_default();
    let namespace = match &raw.distroversion {
        Some(v) => Namespace::new(Ecosystem::Alpine, v.trim_start_matches('v')),
        None => {
            let prefix = raw.urlprefix.clone().unwrap_or_default();
            if prefix.contains("cgr.dev") || repo == "chainguard" {
                Namespace::new(Ecosystem::Chainguard, "")
            } else if prefix.contains("wolfi") {
                Namespace::new(Ecosystem::Wolfi, "")
            } else {
                return Err(
                    "secdb without distroversion that is neither Wolfi nor Chainguard".to_owned(),
                );
            }
        }
    };
    let slug = namespace.ecosystem.slug();
    let label = if namespace.release.is_empty() {
        format!("{slug}-{repo}")
    } else {
        format!("{slug}-{}-{repo}", namespace.release)
    };
    let mut by_id: BTreeMap<String, Advisory> = BTreeMap::new();
    let mut errors = Vec::new();
    for entry in raw.packages {
        let name = entry.pkg.name;
        for (version, ids) in entry.pkg.secfixes.unwrap_or_default() {
            let version = version.trim().to_owned();
            let state = if version == "0" {
                FixState::NotAffected
            } else if ferret_version::Scheme::Apk.parse(&version).is_ok() {
                FixState::Fixed(version.clone())
            } else {
                errors.push((name.clone(), format!("invalid fixed version {version:?}")));
                continue;
            };
            for line in ids.unwrap_or_default().into_iter().flatten() {
                // Lines hold one or more ids, sometimes with a remark after them.
                for id in line
                    .split_whitespace()
                    .filter(|t| t.contains('-') && t.chars().any(|c| c.is_ascii_digit()))
                {
                    let id = id.trim_matches(|c: char| !c.is_ascii_alphanumeric());
                    let advisory = by_id
                        .entry(id.to_owned())
                        .or_insert_with(|| Advisory::new(id, FeedKind::Secdb));
                    let ranges = match &state {
                        FixState::Fixed(v) => vec![Range {
                            kind: RangeKind::Ecosystem,
                            events: vec![
                                Event::Introduced("0".to_owned()),
                                Event::Fixed(v.clone()),
                            ],
                        }],
                        _ => Vec::new(),
                    };
                    advisory.affected.push(Affected {
                        namespace: namespace.clone(),
                        name: name.clone(),
                        purl: None,
                        ranges,
                        versions: Vec::new(),
                        fix_state: Some(state.clone()),
                        severity: None,
                        arches: Vec::new(),
                        platforms: Vec::new(),
                        imports: Vec::new(),
                    });
                }
            }
        }
    }
    Ok((label, by_id.into_values().collect(), errors))
}
