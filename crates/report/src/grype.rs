//! Grype-compatible JSON (the `vulnReport` blob the ATCR protocol carries): Grype's field
//! names and types, filled from Ferret's findings. Data Ferret does not have (EPSS, known
//! exploitation, Grype's risk score) is left out rather than made up.

use ferret_matcher::{Finding, Fix, MatchDetail, Reason, Severity};
use ferret_model::{Inventory, SourceKind};
use ferret_model::{Package, PackageKind};
use serde_json::{Value, json};

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

fn fix(f: &Fix) -> Value {
    match f {
        Fix::Fixed(v) => json!({"versions": v, "state": "fixed"}),
        Fix::NotFixed => json!({"versions": [], "state": "not-fixed"}),
        Fix::WillNotFix => json!({"versions": [], "state": "wont-fix"}),
    }
}

/// Where a record can be read.
pub(crate) fn data_source(m: &MatchDetail) -> String {
    match m.feed {
        ferret_matcher::FeedKind::DebianTracker => {
            format!("https://security-tracker.debian.org/tracker/{}", m.record)
        }
        _ => format!("https://osv.dev/vulnerability/{}", m.record),
    }
}

/// Grype's namespace shape: `debian:distro:debian:12`, or the ecosystem for languages.
fn namespace(m: &MatchDetail) -> String {
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
    match p.kind {
        PackageKind::Deb | PackageKind::Apk | PackageKind::Rpm => "",
        PackageKind::Python => "python",
        PackageKind::Npm => "javascript",
        PackageKind::RustCrate => "rust",
        PackageKind::GoModule => "go",
        PackageKind::JavaArchive => "java",
        PackageKind::Gem => "ruby",
        PackageKind::PhpComposer => "php",
        PackageKind::Dotnet => "dotnet",
    }
}

fn cvss(f: &Finding) -> Vec<Value> {
    f.rating
        .cvss
        .iter()
        .map(|c| {
            json!({
                "source": "",
                "type": "Primary",
                "version": c.version,
                "vector": c.vector,
                "metrics": {"baseScore": c.base_score},
                "vendorMetadata": {},
            })
        })
        .collect()
}

fn one_match(p: &Package, f: &Finding, distro: &Value) -> Value {
    let primary = f
        .matches
        .iter()
        .find(|m| m.record == f.id)
        .unwrap_or(&f.matches[0]);
    let urls: Vec<String> = f.matches.iter().map(data_source).collect();
    let upstream = p.source.as_ref().filter(|s| s.name != p.name);
    let details: Vec<Value> = f
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
            let suggested = match &m.fix {
                Fix::Fixed(v) => v.first().cloned().unwrap_or_default(),
                _ => String::new(),
            };
            json!({
                "type": if upstream.is_some() { "exact-indirect-match" } else { "exact-direct-match" },
                "matcher": matcher(p),
                "searchedBy": {
                    "distro": distro,
                    "namespace": namespace(m),
                    "package": {"name": m.package, "version": p.source.as_ref().map_or(&p.version, |s| &s.version)},
                },
                "found": {"vulnerabilityID": m.record, "constraint": constraint},
                "fix": {"suggestedVersion": suggested},
            })
        })
        .collect();
    json!({
        "vulnerability": {
            "id": f.id,
            "dataSource": data_source(primary),
            "namespace": namespace(primary),
            "severity": severity(f.rating.severity),
            "urls": urls,
            "description": "",
            "cvss": cvss(f),
            "fix": fix(&f.fix),
            "advisories": [],
        },
        "relatedVulnerabilities": f.related.iter().map(|id| json!({
            "id": id,
            "dataSource": "",
            "namespace": namespace(primary),
            "severity": severity(f.rating.severity),
            "urls": [],
            "description": "",
            "cvss": [],
        })).collect::<Vec<_>>(),
        "matchDetails": details,
        "artifact": {
            "id": package_id(p),
            "name": p.name,
            "version": p.version,
            "type": p.kind.as_str(),
            "locations": [{
                "path": format!("/{}", p.location.path),
                "accessPath": format!("/{}", p.location.path),
                "layerID": p.location.layer.as_ref().and_then(|l| l.digest.as_ref()).map(ToString::to_string).unwrap_or_default(),
            }],
            "language": language(p),
            "licenses": p.licenses,
            "cpes": [],
            "purl": p.purl,
            "upstreams": upstream.map(|s| vec![json!({"name": s.name, "version": s.version})]).unwrap_or_default(),
        },
    })
}

fn source(inv: &Inventory) -> Value {
    let s = &inv.source;
    match s.kind {
        SourceKind::Sbom => json!({
            "type": "file",
            "target": s.name.strip_prefix("sbom:").unwrap_or(&s.name),
        }),
        SourceKind::Directory => json!({
            "type": "directory",
            "target": s.name.strip_prefix("dir:").unwrap_or(&s.name),
        }),
        SourceKind::Image => json!({
            "type": "image",
            "target": {
                "userInput": s.name,
                "imageID": s.config_digest.as_ref().map(ToString::to_string).unwrap_or_default(),
                "manifestDigest": s.digest.to_string(),
                "mediaType": "",
                "tags": s.tags,
                "imageSize": s.layers.iter().filter_map(|l| l.size).sum::<u64>(),
                "layers": s.layers.iter().map(|l| json!({
                    "mediaType": l.media_type,
                    "digest": l.diff_id.as_ref().unwrap_or(&l.digest).to_string(),
                    "size": l.size.unwrap_or(0),
                })).collect::<Vec<_>>(),
                "manifest": null,
                "config": null,
                "repoDigests": [],
                "architecture": s.architecture.clone().unwrap_or_default(),
                "os": s.os.clone().unwrap_or_default(),
            },
        }),
    }
}

pub(crate) fn document(report: &ScanReport<'_>, tool: &Tool) -> Value {
    let inv = report.inventory;
    let distro = inv.distro.as_ref().map_or_else(
        || json!({"name": "", "version": "", "idLike": [], "channels": []}),
        |d| json!({"name": d.id, "version": d.version_id, "idLike": d.id_like, "channels": []}),
    );
    let searched = inv.distro.as_ref().map_or(
        Value::Null,
        |d| json!({"type": d.id, "version": d.version_id}),
    );
    let matches: Vec<Value> = report
        .findings()
        .map(|(p, f)| one_match(&inv.packages[p], f, &searched))
        .collect();
    json!({
        "matches": matches,
        "source": source(inv),
        "distro": distro,
        "descriptor": {
            "name": tool.name,
            "version": tool.version,
            "db": {
                "snapshot": report.database.snapshot,
                "schemaVersion": report.database.schema_version,
            },
            "timestamp": inv.source.created,
        },
    })
}
