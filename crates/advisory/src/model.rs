//! The advisory model: OSV schema 1.6, with the vendor's fix state kept for distro feeds.

pub use ferret_model::Ecosystem;
use serde::{Deserialize, Serialize};

/// The feed kinds Ferret imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedKind {
    Osv,
    DebianTracker,
    Secdb,
    /// NVD's CVE API 2.0 JSON feed files: CVSS ratings.
    Nvd,
    /// CVE JSON 5 records: the CNA's and CISA ADP's ratings.
    Cve5,
    /// CISA's Known Exploited Vulnerabilities catalog.
    Kev,
    /// FIRST's EPSS scores.
    Epss,
    /// OVAL definitions of RPM distros: Oracle Linux (ELSA), Azure Linux and CBL-Mariner,
    /// Photon OS (PHSA).
    Oval,
    /// Amazon Linux's ALAS advisories, as the repositories' `updateinfo.xml` holds them.
    Alas,
    /// CSAF VEX documents, one per CVE: Red Hat's and SUSE's.
    CsafVex,
    /// Red Hat's map of repositories (content sets) to the CPEs of their product streams.
    RepositoryToCpe,
}

impl FeedKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Osv => "osv",
            Self::DebianTracker => "debian-tracker",
            Self::Secdb => "secdb",
            Self::Nvd => "nvd",
            Self::Cve5 => "cve5",
            Self::Kev => "kev",
            Self::Epss => "epss",
            Self::Oval => "oval",
            Self::Alas => "alas",
            Self::CsafVex => "csaf-vex",
            Self::RepositoryToCpe => "repository-to-cpe",
        }
    }

    pub const ALL: [FeedKind; 11] = [
        Self::Osv,
        Self::DebianTracker,
        Self::Secdb,
        Self::Oval,
        Self::Alas,
        Self::CsafVex,
        Self::RepositoryToCpe,
        Self::Nvd,
        Self::Cve5,
        Self::Kev,
        Self::Epss,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Feeds about CVEs (ratings, exploitation), not about packages.
    pub fn is_cve_feed(self) -> bool {
        matches!(self, Self::Nvd | Self::Cve5 | Self::Kev | Self::Epss)
    }
}

/// An ecosystem and, for distros, its release: `Debian:12` is (Debian, `12`),
/// `Alpine:v3.18` is (Alpine, `3.18`), `Ubuntu:22.04:LTS` is (Ubuntu, `22.04`),
/// `Ubuntu:Pro:18.04:LTS` is (Ubuntu, `Pro:18.04`). Persisted as `{name, release}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Namespace {
    #[serde(rename = "name")]
    pub ecosystem: Ecosystem,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub release: String,
}

impl Namespace {
    /// Parses an OSV ecosystem string; `None` for ecosystems Ferret does not know.
    pub fn parse(s: &str) -> Option<Self> {
        let (ecosystem, release) = Ecosystem::parse_with_release(s)?;
        Some(Self { ecosystem, release })
    }

    pub fn new(ecosystem: Ecosystem, release: &str) -> Self {
        Self {
            ecosystem,
            release: release.to_owned(),
        }
    }
}

impl std::fmt::Display for Namespace {
    /// `Debian:12`, or the bare ecosystem where there is no release (`PyPI`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.release.is_empty() {
            f.write_str(self.ecosystem.osv_name())
        } else {
            write!(f, "{}:{}", self.ecosystem, self.release)
        }
    }
}

/// A range event. Semantics (OSV §evaluation): `introduced` is inclusive (`0` means from
/// the beginning), `fixed` and `limit` are exclusive, `last_affected` is inclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

/// How the versions of a range are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RangeKind {
    /// SemVer 2.0, whatever the ecosystem.
    Semver,
    /// The ecosystem's own order.
    Ecosystem,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    pub kind: RangeKind,
    pub events: Vec<Event>,
}

/// What the vendor says about a package and a vulnerability, for feeds that say it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "version")]
pub enum FixState {
    /// Fixed in this version (lower versions are affected).
    Fixed(String),
    /// Affected, with no fix yet.
    NotFixed,
    /// Affected, and the vendor will not fix it.
    WillNotFix,
    /// The vendor says this package is not affected.
    NotAffected,
}

/// One affected package of an advisory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Affected {
    #[serde(rename = "ecosystem")]
    pub namespace: Namespace,
    /// The package name as the feed writes it.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<Range>,
    /// Explicitly listed affected versions (matched by exact membership).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix_state: Option<FixState>,
    /// A qualitative severity the feed gives for this package (Debian urgency, Ubuntu
    /// priority, GHSA severity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// The machine architectures the entry is for (an OVAL definition's per-arch branch);
    /// empty: every one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    /// The product streams the entry is for, as CPEs (a CSAF VEX platform:
    /// `cpe:/a:redhat:enterprise_linux:9::appstream`); empty: the whole release.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// For Go: the packages that hold the vulnerable code and, in each, the vulnerable
    /// functions and methods (the Go vulnerability database's
    /// `ecosystem_specific.imports`); empty: the record does not say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<GoImport>,
}

/// A Go package a record names, with its vulnerable symbols as the record writes them:
/// `Reader.ReadMIMEHeader` for a method (of `T` or `*T`), `Parse` for a function. No
/// symbols: the record names the package only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GoImport {
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub symbols: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScoreKind {
    #[serde(rename = "CVSS_V2")]
    CvssV2,
    #[serde(rename = "CVSS_V3")]
    CvssV3,
    #[serde(rename = "CVSS_V4")]
    CvssV4,
    #[serde(rename = "Ubuntu")]
    Ubuntu,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    pub kind: ScoreKind,
    pub score: String,
}

/// An advisory, normalised from any feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advisory {
    pub id: String,
    pub feed: FeedKind,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<Score>,
    /// A qualitative severity from `database_specific`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_severity: Option<String>,
    pub affected: Vec<Affected>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    /// GIT ranges are not evaluated; how many were dropped.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub git_ranges_ignored: usize,
}

/// A record a feed could not use: its id (or file and line) and the reason.
pub type Skipped = (String, String);

impl Advisory {
    /// An advisory with only its id and feed; the feed readers fill in the rest.
    pub fn new(id: impl Into<String>, feed: FeedKind) -> Self {
        Self {
            id: id.into(),
            feed,
            aliases: Vec::new(),
            related: Vec::new(),
            summary: None,
            details: None,
            published: None,
            modified: None,
            severity: Vec::new(),
            database_severity: None,
            affected: Vec::new(),
            references: Vec::new(),
            git_ranges_ignored: 0,
        }
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_with_releases() {
        let p = |s| Namespace::parse(s).map(|n| n.to_string());
        assert_eq!(p("Debian:12").as_deref(), Some("Debian:12"));
        assert_eq!(p("Alpine:v3.18").as_deref(), Some("Alpine:3.18"));
        assert_eq!(p("Ubuntu:22.04:LTS").as_deref(), Some("Ubuntu:22.04"));
        assert_eq!(
            p("Ubuntu:Pro:18.04:LTS").as_deref(),
            Some("Ubuntu:Pro:18.04")
        );
        assert_eq!(
            Namespace::parse("Rocky Linux:9"),
            Some(Namespace::new(Ecosystem::RockyLinux, "9"))
        );
        assert_eq!(p("PyPI").as_deref(), Some("PyPI"));
        assert_eq!(p("Klingon"), None);
    }

    /// The stored records' form of an affected entry's ecosystem (schema 5 and 6).
    #[test]
    fn namespace_persisted_form_v6() {
        let n = Namespace::new(Ecosystem::RockyLinux, "9");
        let json = serde_json::to_string(&n).unwrap();
        assert_eq!(json, r#"{"name":"Rocky Linux","release":"9"}"#);
        assert_eq!(serde_json::from_str::<Namespace>(&json).unwrap(), n);
        let bare = serde_json::to_string(&Namespace::new(Ecosystem::CratesIo, "")).unwrap();
        assert_eq!(bare, r#"{"name":"crates.io"}"#);
        assert!(serde_json::from_str::<Namespace>(r#"{"name":"Klingon"}"#).is_err());
    }
}
