//! SARIF 2.1.0 for code-scanning dashboards: one rule per vulnerability, one result per
//! (vulnerability, package), located at the file the package was found in.

use std::collections::BTreeMap;
use std::str::FromStr;

use ferret_matcher::{Finding, Fix, Severity};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::Tool;
use crate::scan::ScanReport;

const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// SARIF levels: errors fail code-scanning gates, so only the severe ones are errors.
fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Negligible | Severity::Unknown => "note",
    }
}

fn fix_text(f: &Fix) -> String {
    match f {
        Fix::Fixed(v) => format!("fixed in {}", v.join(", ")),
        Fix::NotFixed => "no fix yet".to_owned(),
        Fix::WillNotFix => "the distro will not fix it".to_owned(),
    }
}

fn rule(f: &Finding) -> Value {
    let severity = f.rating.severity.as_str().to_lowercase();
    let mut properties = json!({"tags": ["security", "vulnerability", severity]});
    // GitHub code scanning reads `security-severity` as a CVSS-like number: the chosen
    // rating's score, else the middle of its severity's band.
    let score = f
        .rating
        .chosen
        .as_ref()
        .and_then(|c| c.score)
        .or_else(|| band_score(f.rating.severity));
    if let Some(score) = score {
        properties["security-severity"] = json!(format!("{score:.1}"));
    }
    if let Some(c) = &f.rating.chosen {
        properties["ferret-severity-source"] = json!(c.label());
    }
    if let Some(k) = &f.kev {
        properties["kev"] = json!({"dateAdded": k.date_added, "dueDate": k.due_date, "knownRansomwareCampaignUse": if k.ransomware { "Known" } else { "Unknown" }});
        properties["tags"]
            .as_array_mut()
            .expect("an array")
            .push(json!("known-exploited"));
    }
    if let Some(e) = &f.epss {
        properties["epss"] = json!({"score": e.score, "percentile": e.percentile, "date": e.date});
    }
    let related = if f.related.is_empty() {
        String::new()
    } else {
        format!(" (also {})", f.related.join(", "))
    };
    json!({
        "id": f.id,
        "name": f.id,
        "shortDescription": {"text": format!("{} {} vulnerability{related}", f.id, severity)},
        "help": {
            "text": format!("Vulnerability {}{related}\nSeverity: {severity}", f.id),
            "markdown": format!("**Vulnerability {}**{related}\n\nSeverity: {severity}", f.id),
        },
        "properties": properties,
    })
}

pub(crate) fn document(report: &ScanReport<'_>, tool: &Tool) -> Value {
    let inv = report.inventory;
    // One rule per vulnerability, in id order; the most severe rating of it wins.
    let mut rules: BTreeMap<&str, &Finding> = BTreeMap::new();
    for (_, f) in report.findings() {
        rules
            .entry(&f.id)
            .and_modify(|r| {
                if f.rating.severity > r.rating.severity {
                    *r = f;
                }
            })
            .or_insert(f);
    }
    let index: BTreeMap<&str, usize> = rules.keys().enumerate().map(|(i, k)| (*k, i)).collect();
    let results: Vec<Value> = report
        .findings()
        .map(|(p, f)| {
            let pkg = &inv.packages[p];
            result(
                &f.id,
                index[f.id.as_str()],
                f.rating.severity,
                &Located {
                    name: &pkg.name,
                    version: &pkg.version,
                    kind: pkg.kind.as_str(),
                    purl: &pkg.purl,
                    path: &pkg.location.path,
                },
                &fix_text(&f.fix),
            )
        })
        .collect();
    run(
        tool,
        rules.values().map(|f| rule(f)).collect(),
        &inv.source.digest.to_string(),
        results,
    )
}

/// Where a result points: the package and the file it was found in.
struct Located<'a> {
    name: &'a str,
    version: &'a str,
    kind: &'a str,
    purl: &'a str,
    path: &'a str,
}

fn result(id: &str, rule_index: usize, severity: Severity, at: &Located<'_>, fix: &str) -> Value {
    let mut h = Sha256::new();
    for part in [id, at.purl, at.path] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    json!({
        "ruleId": id,
        "ruleIndex": rule_index,
        "level": level(severity),
        "message": {"text": format!(
            "{} {} ({}) is affected by {id} ({}): {fix}",
            at.name,
            at.version,
            at.kind,
            severity.as_str().to_lowercase(),
        )},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": at.path},
                "region": {"startLine": 1},
            },
            "logicalLocations": [{
                "name": at.name,
                "fullyQualifiedName": at.purl,
                "kind": "package",
            }],
        }],
        "partialFingerprints": {"ferret/v1": hex::encode(&h.finalize()[..16])},
    })
}

fn run(tool: &Tool, rules: Vec<Value>, digest: &str, results: Vec<Value>) -> Value {
    json!({
        "version": "2.1.0",
        "$schema": SCHEMA,
        "runs": [{
            "tool": {"driver": {
                "name": tool.name,
                "version": tool.version,
                "rules": rules,
            }},
            "automationDetails": {"id": format!("ferret/{digest}")},
            "results": results,
        }],
    })
}

/// SARIF of a stored Grype-shaped report (the hub keeps reports so): the same rules and
/// results as a scan writes, with what the report carries of each rating.
pub fn from_grype(doc: &crate::grype::Document, tool: &Tool) -> Value {
    let severity_of = |m: &crate::grype::Match| {
        Severity::from_str(&m.vulnerability.severity.to_lowercase()).unwrap_or(Severity::Unknown)
    };
    let mut rules: BTreeMap<&str, &crate::grype::Match> = BTreeMap::new();
    for m in &doc.matches {
        rules
            .entry(&m.vulnerability.id)
            .and_modify(|r| {
                if severity_of(m) > severity_of(r) {
                    *r = m;
                }
            })
            .or_insert(m);
    }
    let index: BTreeMap<&str, usize> = rules.keys().enumerate().map(|(i, k)| (*k, i)).collect();
    let results = doc
        .matches
        .iter()
        .map(|m| {
            let (a, v) = (&m.artifact, &m.vulnerability);
            let fix = match &v.fix {
                Some(f) if !f.versions.is_empty() => format!("fixed in {}", f.versions.join(", ")),
                Some(f) if f.state == "wont-fix" => "the distro will not fix it".to_owned(),
                _ => "no fix yet".to_owned(),
            };
            // Grype's paths are absolute in the image; SARIF's are relative to its root.
            let path = a
                .locations
                .first()
                .map_or("", |l| l.path.trim_start_matches('/'));
            result(
                &v.id,
                index[v.id.as_str()],
                severity_of(m),
                &Located {
                    name: &a.name,
                    version: &a.version,
                    kind: &a.kind,
                    purl: &a.purl,
                    path,
                },
                &fix,
            )
        })
        .collect();
    let rules = rules
        .values()
        .map(|m| {
            let v = &m.vulnerability;
            let severity = severity_of(m);
            let label = severity.as_str().to_lowercase();
            let mut properties = json!({"tags": ["security", "vulnerability", label]});
            let score = v
                .cvss
                .iter()
                .map(|c| c.metrics.base_score)
                .fold(None, |a: Option<f64>, s| Some(a.map_or(s, |a| a.max(s))))
                .or_else(|| band_score(severity));
            if let Some(score) = score {
                properties["security-severity"] = json!(format!("{score:.1}"));
            }
            if let Some(s) = &v.severity_source {
                properties["ferret-severity-source"] = json!(s);
            }
            if !v.known_exploited.is_empty() {
                properties["tags"]
                    .as_array_mut()
                    .expect("an array")
                    .push(json!("known-exploited"));
            }
            if let Some(e) = v.epss.first() {
                properties["epss"] =
                    json!({"score": e.epss, "percentile": e.percentile, "date": e.date});
            }
            json!({
                "id": v.id,
                "name": v.id,
                "shortDescription": {"text": format!("{} {label} vulnerability", v.id)},
                "help": {
                    "text": format!("Vulnerability {}\nSeverity: {label}", v.id),
                    "markdown": format!("**Vulnerability {}**\n\nSeverity: {label}", v.id),
                },
                "properties": properties,
            })
        })
        .collect();
    let digest = match doc.source.as_ref().map(|s| &s.target) {
        Some(crate::grype::SourceTarget::Image(i)) => i.manifest_digest.clone(),
        _ => String::new(),
    };
    run(tool, rules, &digest, results)
}

/// The middle of a severity's CVSS band, for a rule with no score.
fn band_score(s: Severity) -> Option<f64> {
    match s {
        Severity::Critical => Some(9.5),
        Severity::High => Some(8.0),
        Severity::Medium => Some(5.5),
        Severity::Low => Some(2.0),
        Severity::Negligible => Some(0.0),
        Severity::Unknown => None,
    }
}
