//! Grype-compatible JSON (the `vulnReport` blob the ATCR protocol carries) as typed
//! structs: Grype's field names and types, filled from Ferret's findings by the writer,
//! and read back by the hub from any scanner's result. Grype's risk score, a formula of
//! its own, is left out rather than made up; EPSS and KEV are Grype's `epss` and
//! `knownExploited`.

use ferret_matcher::{Finding, Fix, Reason, Severity};
use ferret_model::{Inventory, SourceKind};
use ferret_model::{Package, PackageKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::scan::ScanReport;
use crate::{Tool, package_id};

/// Grype writes severities in title case.
fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "Critical",
        Severity::High => "High",
        Severity::Medium => "Medium",
        Severity::Low => "Low",
        Severity::Negligible => "Negligible",
        Severity::Unknown => "Unknown",
    }
}

fn fix(f: &Fix) -> FixInfo {
    let (versions, state) = match f {
        Fix::Fixed(v) => (v.clone(), "fixed"),
        Fix::NotFixed => (Vec::new(), "not-fixed"),
        Fix::WillNotFix => (Vec::new(), "wont-fix"),
    };
    FixInfo {
        state: state.to_owned(),
        versions,
    }
}

/// Where a record can be read.
pub(crate) fn data_source(m: &ferret_matcher::MatchDetail) -> String {
    match m.feed {
        ferret_matcher::FeedKind::DebianTracker => {
            format!("https://security-tracker.debian.org/tracker/{}", m.record)
        }
        _ => format!("https://osv.dev/vulnerability/{}", m.record),
    }
}

/// Grype's namespace shape: `debian:distro:debian:12`, or the ecosystem for languages.
fn namespace(m: &ferret_matcher::MatchDetail) -> String {
    match m.namespace.split_once(':') {
        Some((eco, release)) => {
            let d = eco.to_lowercase().replace(' ', "");
            format!("{d}:distro:{d}:{release}")
        }
        None => format!("osv:language:{}", m.namespace.to_lowercase()),
    }
}

fn matcher(p: &Package) -> &'static str {
    match p.kind {
        PackageKind::Deb => "dpkg-matcher",
        PackageKind::Apk => "apk-matcher",
        PackageKind::Rpm => "rpm-matcher",
        PackageKind::Python => "python-matcher",
        PackageKind::Npm => "javascript-matcher",
        PackageKind::RustCrate => "rust-matcher",
        PackageKind::GoModule => "go-module-matcher",
        PackageKind::JavaArchive => "java-matcher",
        PackageKind::Gem => "ruby-gem-matcher",
        PackageKind::Dotnet => "dotnet-matcher",
        PackageKind::PhpComposer => "stock-matcher",
    }
}

/// Grype's `artifact.language`: empty for distro packages.
fn language(p: &Package) -> &'static str {
    ferret_model::Ecosystem::of_language_kind(p.kind)
        .and_then(ferret_model::Ecosystem::language)
        .unwrap_or_default()
}

/// The CVSS ratings of one id of a finding, as Grype lists them: NVD's own as `Primary`,
/// the others as `Secondary`, each named by who rated it.
fn cvss(f: &Finding, id: &str) -> Vec<Cvss> {
    f.rating
        .cvss()
        .filter(|r| r.id == id)
        .map(|r| Cvss {
            metrics: CvssMetrics {
                base_score: r.score.unwrap_or_default(),
            },
            source: r.by.clone(),
            kind: if r.source == ferret_model::RatingSource::Nvd {
                "Primary"
            } else {
                "Secondary"
            }
            .to_owned(),
            vendor_metadata: serde_json::Map::new().into(),
            vector: r.vector.clone().unwrap_or_default(),
            version: r.cvss_version.clone().unwrap_or_default(),
        })
        .collect()
}

fn one_match(p: &Package, f: &Finding, distro: Option<&SearchedDistro>) -> Match {
    let primary = f
        .matches
        .iter()
        .find(|m| m.record == f.id)
        .unwrap_or(&f.matches[0]);
    let urls: Vec<String> = f.matches.iter().map(data_source).collect();
    let upstream = p.source.as_ref().filter(|s| s.name != p.name);
    let match_details = f
        .matches
        .iter()
        .map(|m| {
            let constraint = match &m.reason {
                Reason::Range {
                    introduced, until, ..
                } => match until {
                    Some(u) => format!("introduced {introduced}, {u}"),
                    None => format!("introduced {introduced}"),
                },
                Reason::Listed => "listed version".to_owned(),
            };
            let suggested_version = match &m.fix {
                Fix::Fixed(v) => v.first().cloned().unwrap_or_default(),
                _ => String::new(),
            };
            let kind = if upstream.is_some() {
                "exact-indirect-match"
            } else {
                "exact-direct-match"
            };
            MatchDetail {
                fix: SuggestedFix { suggested_version },
                found: Found {
                    constraint,
                    vulnerability_id: m.record.clone(),
                },
                matcher: matcher(p).to_owned(),
                searched_by: SearchedBy {
                    distro: distro.cloned(),
                    namespace: namespace(m),
                    package: NameVersion {
                        name: m.package.clone(),
                        version: p.source.as_ref().map_or(&p.version, |s| &s.version).clone(),
                    },
                },
                kind: kind.to_owned(),
            }
        })
        .collect();
    let path = format!("/{}", p.location.path);
    Match {
        artifact: Artifact {
            cpes: Vec::new(),
            id: package_id(p),
            language: language(p).to_owned(),
            licenses: p.licenses.clone(),
            locations: vec![ArtifactLocation {
                access_path: path.clone(),
                layer_id: p
                    .location
                    .layer
                    .as_ref()
                    .and_then(|l| l.digest.as_ref())
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                path,
            }],
            name: p.name.clone(),
            purl: p.purl.clone(),
            kind: p.kind.as_str().to_owned(),
            upstreams: upstream
                .map(|s| {
                    vec![NameVersion {
                        name: s.name.clone(),
                        version: s.version.clone(),
                    }]
                })
                .unwrap_or_default(),
            version: p.version.clone(),
        },
        match_details,
        related_vulnerabilities: f
            .related
            .iter()
            .map(|id| RelatedVulnerability {
                cvss: cvss(f, id),
                data_source: String::new(),
                description: String::new(),
                id: id.clone(),
                namespace: namespace(primary),
                severity: severity(f.rating.severity).to_owned(),
                urls: Vec::new(),
            })
            .collect(),
        vulnerability: Vulnerability {
            advisories: Vec::new(),
            cvss: cvss(f, &f.id),
            epss: f
                .epss
                .iter()
                .map(|e| Epss {
                    cve: f.id.clone(),
                    epss: e.score,
                    percentile: e.percentile,
                    date: e.date.clone(),
                })
                .collect(),
            known_exploited: f
                .kev
                .iter()
                .map(|k| KnownExploited {
                    cve: f.id.clone(),
                    date_added: k.date_added.clone(),
                    due_date: k.due_date.clone().unwrap_or_default(),
                    known_ransomware_campaign_use: if k.ransomware { "Known" } else { "Unknown" }
                        .to_owned(),
                })
                .collect(),
            data_source: data_source(primary),
            description: String::new(),
            fix: Some(fix(&f.fix)),
            id: f.id.clone(),
            namespace: namespace(primary),
            severity: severity(f.rating.severity).to_owned(),
            severity_source: f.rating.chosen.as_ref().map(|c| c.label()),
            urls,
        },
    }
}

fn source(inv: &Inventory) -> Source {
    let s = &inv.source;
    let path = |kind: &str, prefix: &str| Source {
        target: SourceTarget::Path(s.name.strip_prefix(prefix).unwrap_or(&s.name).to_owned()),
        kind: kind.to_owned(),
    };
    match s.kind {
        SourceKind::Sbom => path("file", "sbom:"),
        SourceKind::Directory => path("directory", "dir:"),
        SourceKind::Image => Source {
            target: SourceTarget::Image(Box::new(ImageTarget {
                architecture: s.architecture.clone().unwrap_or_default(),
                config: Value::Null,
                image_id: s
                    .config_digest
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                image_size: s.layers.iter().filter_map(|l| l.size).sum::<u64>(),
                layers: s
                    .layers
                    .iter()
                    .map(|l| ImageLayer {
                        digest: l.diff_id.as_ref().unwrap_or(&l.digest).to_string(),
                        media_type: l.media_type.clone(),
                        size: l.size.unwrap_or(0),
                    })
                    .collect(),
                manifest: Value::Null,
                manifest_digest: s.digest.to_string(),
                media_type: String::new(),
                os: s.os.clone().unwrap_or_default(),
                repo_digests: Vec::new(),
                tags: s.tags.clone(),
                user_input: s.name.clone(),
            })),
            kind: "image".to_owned(),
        },
    }
}

/// The document for a scan report.
pub fn document(report: &ScanReport<'_>, tool: &Tool) -> Document {
    let inv = report.inventory;
    let distro = inv
        .distro
        .as_ref()
        .map_or_else(Distro::default, |d| Distro {
            channels: Vec::new(),
            id_like: d.id_like.clone(),
            name: d.id.clone(),
            version: d.version_id.clone(),
        });
    let searched = inv.distro.as_ref().map(|d| SearchedDistro {
        kind: d.id.clone(),
        version: d.version_id.clone(),
    });
    let matches = report
        .findings()
        .map(|(p, f)| one_match(&inv.packages[p], f, searched.as_ref()))
        .collect();
    // Suppressed findings, as Grype lists the matches its ignore rules and VEX documents
    // drop: the match and the rule that applied.
    let ignored_matches = report
        .suppressed()
        .map(|(p, x)| IgnoredMatch {
            applied_ignore_rules: vec![ignore_rule(x)],
            found: one_match(&inv.packages[p], &x.finding, searched.as_ref()),
        })
        .collect();
    Document {
        descriptor: Descriptor {
            db: Db {
                schema_version: report.database.schema_version,
                snapshot: report.database.snapshot.clone(),
            },
            name: tool.name.to_owned(),
            timestamp: inv.source.created.clone(),
            version: tool.version.to_owned(),
        },
        distro,
        ignored_matches,
        matches,
        source: Some(source(inv)),
    }
}

/// The rule that suppressed a finding, in Grype's terms: a Go finding whose vulnerable code
/// the binary lacks is `not_affected` with OpenVEX's `vulnerable_code_not_present`.
fn ignore_rule(x: &ferret_matcher::Suppressed) -> IgnoreRule {
    let reachability = x.by == "reachability";
    IgnoreRule {
        reason: Some(if x.symbols.is_empty() {
            x.reason.clone()
        } else {
            format!("{} ({})", x.reason, x.symbols.join(", "))
        }),
        vex_justification: reachability.then(|| "vulnerable_code_not_present".to_owned()),
        vex_status: reachability.then(|| "not_affected".to_owned()),
        vulnerability: Some(x.finding.id.clone()),
    }
}

/// The vulnerable symbols a reachability rule (written by [`ignore_rule`]) looked for and
/// the binary lacked, qualified (`path.Symbol`); `None` for any other rule.
pub fn unreachable_symbols(rule: &IgnoreRule) -> Option<Vec<String>> {
    if rule.vex_justification.as_deref() != Some("vulnerable_code_not_present") {
        return None;
    }
    let reason = rule.reason.as_deref()?;
    let (_, list) = reason.strip_suffix(')')?.rsplit_once(" (")?;
    Some(list.split(", ").map(str::to_owned).collect())
}

// The document's types. Fields are declared in the order Grype's JSON (sorted keys) has
// them, so the writer's output is stable; reading is lenient (every field but a match's
// vulnerability id and artifact name may be missing, unknown fields are skipped), so
// reports from Grype itself and from other scanners read too.

/// A Grype JSON report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Document {
    #[serde(default)]
    pub descriptor: Descriptor,
    #[serde(default)]
    pub distro: Distro,
    #[serde(
        rename = "ignoredMatches",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ignored_matches: Vec<IgnoredMatch>,
    #[serde(default)]
    pub matches: Vec<Match>,
    #[serde(default)]
    pub source: Option<Source>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(default)]
    pub db: Db,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub timestamp: String,
    #[serde(default)]
    pub version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Db {
    #[serde(rename = "schemaVersion", default)]
    pub schema_version: u32,
    #[serde(default)]
    pub snapshot: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Distro {
    #[serde(default)]
    pub channels: Vec<String>,
    #[serde(rename = "idLike", default)]
    pub id_like: Vec<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
}

/// A match an ignore rule or a VEX statement dropped, with the rules that applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IgnoredMatch {
    #[serde(rename = "appliedIgnoreRules", default)]
    pub applied_ignore_rules: Vec<IgnoreRule>,
    #[serde(flatten)]
    pub found: Match,
}

/// One rule of Grype's `ignore:` list as its report repeats it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IgnoreRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(
        rename = "vex-justification",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub vex_justification: Option<String>,
    #[serde(
        rename = "vex-status",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub vex_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vulnerability: Option<String>,
}

/// One finding: a vulnerability in an artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Match {
    pub artifact: Artifact,
    #[serde(rename = "matchDetails", default)]
    pub match_details: Vec<MatchDetail>,
    #[serde(rename = "relatedVulnerabilities", default)]
    pub related_vulnerabilities: Vec<RelatedVulnerability>,
    pub vulnerability: Vulnerability,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    #[serde(default)]
    pub cpes: Vec<String>,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub language: String,
    #[serde(default, deserialize_with = "licenses")]
    pub licenses: Vec<String>,
    #[serde(default)]
    pub locations: Vec<ArtifactLocation>,
    pub name: String,
    #[serde(default)]
    pub purl: String,
    /// `deb`, `apk`, `python`, …
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub upstreams: Vec<NameVersion>,
    #[serde(default)]
    pub version: String,
}

/// Grype writes licenses as strings; newer Syft-based output as objects with a `value`.
fn licenses<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum License {
        Name(String),
        Object {
            #[serde(default)]
            value: String,
        },
    }
    Ok(Vec::<License>::deserialize(d)?
        .into_iter()
        .map(|l| match l {
            License::Name(n) | License::Object { value: n } => n,
        })
        .collect())
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArtifactLocation {
    #[serde(rename = "accessPath", default)]
    pub access_path: String,
    #[serde(rename = "layerID", default)]
    pub layer_id: String,
    #[serde(default)]
    pub path: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NameVersion {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchDetail {
    #[serde(default)]
    pub fix: SuggestedFix,
    #[serde(default)]
    pub found: Found,
    #[serde(default)]
    pub matcher: String,
    #[serde(rename = "searchedBy", default)]
    pub searched_by: SearchedBy,
    #[serde(rename = "type", default)]
    pub kind: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Found {
    #[serde(default)]
    pub constraint: String,
    #[serde(rename = "vulnerabilityID", default)]
    pub vulnerability_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SuggestedFix {
    #[serde(rename = "suggestedVersion", default)]
    pub suggested_version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchedBy {
    /// `null` for language packages.
    #[serde(default)]
    pub distro: Option<SearchedDistro>,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub package: NameVersion,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchedDistro {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vulnerability {
    #[serde(default)]
    pub advisories: Vec<Value>,
    #[serde(default)]
    pub cvss: Vec<Cvss>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub epss: Vec<Epss>,
    #[serde(
        rename = "knownExploited",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub known_exploited: Vec<KnownExploited>,
    #[serde(rename = "dataSource", default)]
    pub data_source: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub fix: Option<FixInfo>,
    pub id: String,
    #[serde(default)]
    pub namespace: String,
    /// Title case: `Critical`, `High`, `Medium`, `Low`, `Negligible`, `Unknown`.
    #[serde(default)]
    pub severity: String,
    /// Who rated the severity (`debian`, `nvd 3.1`, `ghsa`): Ferret's addition, which Grype's
    /// readers pass over.
    #[serde(
        rename = "severitySource",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub severity_source: Option<String>,
    #[serde(default)]
    pub urls: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelatedVulnerability {
    #[serde(default)]
    pub cvss: Vec<Cvss>,
    #[serde(rename = "dataSource", default)]
    pub data_source: String,
    #[serde(default)]
    pub description: String,
    pub id: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub severity: String,
    #[serde(default)]
    pub urls: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cvss {
    #[serde(default)]
    pub metrics: CvssMetrics,
    #[serde(default)]
    pub source: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(rename = "vendorMetadata", default)]
    pub vendor_metadata: Value,
    #[serde(default)]
    pub vector: String,
    #[serde(default)]
    pub version: String,
}

/// Grype's `vulnerability.epss[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Epss {
    #[serde(default)]
    pub cve: String,
    #[serde(default)]
    pub epss: f64,
    #[serde(default)]
    pub percentile: f64,
    #[serde(default)]
    pub date: String,
}

/// Grype's `vulnerability.knownExploited[]` (CISA KEV).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnownExploited {
    #[serde(default)]
    pub cve: String,
    #[serde(rename = "dateAdded", default)]
    pub date_added: String,
    #[serde(rename = "dueDate", default)]
    pub due_date: String,
    #[serde(rename = "knownRansomwareCampaignUse", default)]
    pub known_ransomware_campaign_use: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CvssMetrics {
    #[serde(rename = "baseScore", default)]
    pub base_score: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FixInfo {
    /// `fixed`, `not-fixed`, `wont-fix`, `unknown`.
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub versions: Vec<String>,
}

/// `{type, target}`: a path for files and directories, the image's details for images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    #[serde(default)]
    pub target: SourceTarget,
    #[serde(rename = "type", default)]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SourceTarget {
    Image(Box<ImageTarget>),
    Path(String),
    Other(Value),
}

impl Default for SourceTarget {
    fn default() -> Self {
        Self::Other(Value::Null)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageTarget {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub config: Value,
    #[serde(rename = "imageID", default)]
    pub image_id: String,
    #[serde(rename = "imageSize", default)]
    pub image_size: u64,
    #[serde(default)]
    pub layers: Vec<ImageLayer>,
    #[serde(default)]
    pub manifest: Value,
    #[serde(rename = "manifestDigest", default)]
    pub manifest_digest: String,
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    #[serde(default)]
    pub os: String,
    #[serde(rename = "repoDigests", default)]
    pub repo_digests: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(rename = "userInput", default)]
    pub user_input: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageLayer {
    #[serde(default)]
    pub digest: String,
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    #[serde(default)]
    pub size: u64,
}
