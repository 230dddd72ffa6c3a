//! SARIF 2.1.0 for code-scanning dashboards: one rule per vulnerability, one result per
//! (vulnerability, package), located at the file the package was found in.

use std::collections::BTreeMap;

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
        .or(match f.rating.severity {
            Severity::Critical => Some(9.5),
            Severity::High => Some(8.0),
            Severity::Medium => Some(5.5),
            Severity::Low => Some(2.0),
            Severity::Negligible => Some(0.0),
            Severity::Unknown => None,
        });
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
            let mut h = Sha256::new();
            for part in [f.id.as_str(), &pkg.purl, &pkg.location.path] {
                h.update(part.as_bytes());
                h.update([0]);
            }
            json!({
                "ruleId": f.id,
                "ruleIndex": index[f.id.as_str()],
                "level": level(f.rating.severity),
                "message": {"text": format!(
                    "{} {} ({}) is affected by {} ({}): {}",
                    pkg.name,
                    pkg.version,
                    pkg.kind.as_str(),
                    f.id,
                    f.rating.severity.as_str().to_lowercase(),
                    fix_text(&f.fix),
                )},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": pkg.location.path},
                        "region": {"startLine": 1},
                    },
                    "logicalLocations": [{
                        "name": pkg.name,
                        "fullyQualifiedName": pkg.purl,
                        "kind": "package",
                    }],
                }],
                "partialFingerprints": {"ferret/v1": hex::encode(&h.finalize()[..16])},
            })
        })
        .collect();
    json!({
        "version": "2.1.0",
        "$schema": SCHEMA,
        "runs": [{
            "tool": {"driver": {
                "name": tool.name,
                "version": tool.version,
                "rules": rules.values().map(|f| rule(f)).collect::<Vec<_>>(),
            }},
            "automationDetails": {"id": format!("ferret/{}", inv.source.digest)},
            "results": results,
        }],
    })
}
