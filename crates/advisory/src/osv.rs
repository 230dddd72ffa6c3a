//! OSV records (schema 1.6) as osv.dev publishes them: raw serde types, validated into the
//! model by [`convert`].

use std::collections::BTreeMap;

use ferret_version::Scheme;
use serde::Deserialize;
use serde::de::IgnoredAny;

/// A field that is a string in well-formed records; anything else is ignored rather than
/// buffered.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Text {
    Str(String),
    Other(IgnoredAny),
}

impl Text {
    fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            Self::Other(_) => None,
        }
    }
}

/// The parts of `database_specific` / `ecosystem_specific` Ferret reads.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Specific {
    #[serde(default)]
    severity: Option<Text>,
    #[serde(default)]
    urgency: Option<Text>,
    #[serde(default)]
    priority: Option<Text>,
    /// The Go vulnerability database's packages and symbols.
    #[serde(default)]
    imports: Option<Imports>,
}

/// `ecosystem_specific.imports`: a list of packages in well-formed Go records; anything
/// else is ignored.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Imports {
    List(Vec<RawImport>),
    Other(IgnoredAny),
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawImport {
    path: String,
    #[serde(default)]
    symbols: Vec<String>,
}

/// The packages and symbols a Go record names for one affected module, sorted; an entry
/// without a path is dropped (it names nothing to look for).
fn go_imports(v: &Option<Specific>) -> Vec<GoImport> {
    let Some(Imports::List(list)) = v.as_ref().and_then(|s| s.imports.as_ref()) else {
        return Vec::new();
    };
    let mut out: Vec<GoImport> = list
        .iter()
        .filter(|i| !i.path.is_empty())
        .map(|i| {
            let mut symbols = i.symbols.clone();
            symbols.sort();
            symbols.dedup();
            GoImport {
                path: i.path.clone(),
                symbols,
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

use crate::model::{
    Advisory, Affected, Event, FeedKind, GoImport, Namespace, Range, RangeKind, Score, ScoreKind,
};

#[derive(Debug, Deserialize)]
pub(crate) struct RawRecord {
    pub id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub related: Vec<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default)]
    pub published: Option<Text>,
    #[serde(default)]
    pub modified: Option<Text>,
    #[serde(default)]
    pub withdrawn: Option<Text>,
    #[serde(default)]
    pub severity: Vec<RawSeverity>,
    #[serde(default)]
    pub affected: Vec<RawAffected>,
    #[serde(default)]
    pub references: Vec<RawReference>,
    #[serde(default)]
    pub database_specific: Option<Specific>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawSeverity {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawReference {
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawPackage {
    #[serde(default)]
    pub ecosystem: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub purl: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawAffected {
    #[serde(default)]
    pub package: Option<RawPackage>,
    #[serde(default)]
    pub ranges: Vec<RawRange>,
    #[serde(default)]
    pub versions: Vec<String>,
    #[serde(default)]
    pub severity: Vec<RawSeverity>,
    #[serde(default)]
    pub ecosystem_specific: Option<Specific>,
    #[serde(default)]
    pub database_specific: Option<Specific>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawRange {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub events: Vec<BTreeMap<String, String>>,
}

/// Why a record was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    Withdrawn,
    Invalid(String),
}

fn as_text(v: &Option<Text>) -> Option<String> {
    v.as_ref().and_then(Text::as_str).map(str::to_owned)
}

fn score(s: &RawSeverity) -> Option<Score> {
    let kind = match s.kind.as_str() {
        "CVSS_V2" => ScoreKind::CvssV2,
        "CVSS_V3" => ScoreKind::CvssV3,
        "CVSS_V4" => ScoreKind::CvssV4,
        "Ubuntu" => ScoreKind::Ubuntu,
        _ => return None,
    };
    Some(Score {
        kind,
        score: s.score.clone(),
    })
}

/// A qualitative severity in a `*_specific` object: `severity` (GHSA, PyPA), `urgency`
/// (Debian) or `priority` (Ubuntu).
fn qualitative(v: &Option<Specific>) -> Option<String> {
    let s = v.as_ref()?;
    [&s.severity, &s.urgency, &s.priority]
        .into_iter()
        .find_map(|t| t.as_ref().and_then(Text::as_str))
        .map(str::to_owned)
}

/// Checks a range for events that cannot be: a fix (or limit, or last affected version)
/// lower than every introduction before it.
fn check_range(scheme: Option<Scheme>, events: &[Event]) -> Result<(), String> {
    let Some(scheme) = scheme else { return Ok(()) };
    let mut introduced: Vec<&str> = Vec::new();
    for e in events {
        match e {
            Event::Introduced(v) => introduced.push(v),
            Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => {
                if v == "*" || introduced.is_empty() || introduced.contains(&"0") {
                    continue;
                }
                let ok = introduced.iter().any(|i| {
                    scheme
                        .compare(i, v)
                        .map(|o| o != std::cmp::Ordering::Greater)
                        .unwrap_or(true)
                });
                if !ok {
                    return Err(format!(
                        "impossible range: {v:?} comes before introduced {:?}",
                        introduced.join(", ")
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Converts a raw record into the model. Withdrawn records and records with no affected
/// package Ferret can evaluate are rejected with the reason.
pub(crate) fn convert(raw: RawRecord) -> Result<Advisory, Rejection> {
    if raw.id.trim().is_empty() {
        return Err(Rejection::Invalid("record without an id".to_owned()));
    }
    if raw.withdrawn.is_some() {
        return Err(Rejection::Withdrawn);
    }
    let mut affected = Vec::new();
    let mut git_ranges = 0;
    let mut unknown = Vec::new();
    for a in raw.affected {
        let Some(pkg) = a.package else { continue };
        let Some(namespace) = Namespace::parse(&pkg.ecosystem) else {
            unknown.push(pkg.ecosystem);
            continue;
        };
        if pkg.name.is_empty() {
            return Err(Rejection::Invalid(
                "affected package without a name".to_owned(),
            ));
        }
        let scheme = Scheme::of(namespace.ecosystem);
        let namespace_is_go = namespace.ecosystem == ferret_model::Ecosystem::Go;
        let mut ranges = Vec::new();
        for r in a.ranges {
            let kind = match r.kind.as_str() {
                "SEMVER" => RangeKind::Semver,
                "ECOSYSTEM" => RangeKind::Ecosystem,
                "GIT" => {
                    git_ranges += 1;
                    continue;
                }
                other => return Err(Rejection::Invalid(format!("unknown range type {other:?}"))),
            };
            let mut events = Vec::new();
            for ev in r.events {
                for (k, v) in ev {
                    events.push(match k.as_str() {
                        "introduced" => Event::Introduced(v),
                        "fixed" => Event::Fixed(v),
                        "last_affected" => Event::LastAffected(v),
                        "limit" => Event::Limit(v),
                        other => {
                            return Err(Rejection::Invalid(format!(
                                "unknown range event {other:?}"
                            )));
                        }
                    });
                }
            }
            let range_scheme = match kind {
                RangeKind::Semver => Some(Scheme::Semver),
                RangeKind::Ecosystem => scheme,
            };
            check_range(range_scheme, &events).map_err(Rejection::Invalid)?;
            ranges.push(Range { kind, events });
        }
        let severity = qualitative(&a.ecosystem_specific)
            .or_else(|| qualitative(&a.database_specific))
            .or_else(|| {
                a.severity
                    .iter()
                    .find(|s| s.kind == "Ubuntu")
                    .map(|s| s.score.clone())
            });
        affected.push(Affected {
            namespace,
            name: pkg.name,
            purl: pkg.purl,
            ranges,
            versions: a.versions,
            fix_state: None,
            severity,
            arches: Vec::new(),
            platforms: Vec::new(),
            imports: if namespace_is_go {
                go_imports(&a.ecosystem_specific)
            } else {
                Vec::new()
            },
        });
    }
    // A record that names no package Ferret matches may still rate its CVE: it is kept for
    // its ratings (it matches nothing).
    let rates = !raw.severity.is_empty() || qualitative(&raw.database_specific).is_some();
    if affected.is_empty() && !rates {
        let reason = if unknown.is_empty() {
            "no affected package".to_owned()
        } else {
            format!("unknown ecosystem {:?}", unknown.join(", "))
        };
        return Err(Rejection::Invalid(reason));
    }
    let mut aliases = raw.aliases;
    aliases.sort();
    aliases.dedup();
    Ok(Advisory {
        id: raw.id,
        feed: FeedKind::Osv,
        aliases,
        related: raw.related,
        summary: raw.summary,
        details: raw.details,
        published: as_text(&raw.published),
        modified: as_text(&raw.modified),
        severity: raw.severity.iter().filter_map(score).collect(),
        database_severity: qualitative(&raw.database_specific),
        affected,
        references: raw.references.into_iter().filter_map(|r| r.url).collect(),
        git_ranges_ignored: git_ranges,
    })
}
