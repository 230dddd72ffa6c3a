//! CycloneDX 1.6 JSON: the image as the metadata component, the OS and packages as
//! components.

use std::collections::BTreeMap;

use ferret_matcher::{Finding, Fix, Severity};
use ferret_model::{Inventory, SourceKind};
use serde_json::{Value, json};

use crate::Tool;
use crate::ids::{package_id, uuid_for};
use crate::license::{License, classify};
use crate::scan::ScanReport;

pub(crate) fn document(inv: &Inventory, tool: &Tool) -> Value {
    let src = &inv.source;
    let root_ref = format!("source-{}", &src.digest.hex()[..16]);
    let mut root = json!({
        "bom-ref": root_ref,
        "type": if src.kind == SourceKind::Image { "container" } else { "file" },
        "name": src.name,
        "version": src.digest.to_string(),
        "hashes": [{"alg": "SHA-256", "content": src.digest.hex()}],
    });
    let mut props = Vec::new();
    if let Some(arch) = &src.architecture {
        props.push(prop("ferret:image:architecture", arch));
    }
    for t in &src.tags {
        props.push(prop("ferret:image:tag", t));
    }
    if let Some(d) = &src.config_digest {
        props.push(prop("ferret:image:config-digest", &d.to_string()));
    }
    if !props.is_empty() {
        root["properties"] = Value::Array(props);
    }

    let mut components = Vec::new();
    let mut refs = Vec::new();
    if let Some(d) = &inv.distro {
        let os_ref = format!("os-{}", d.purl_qualifier());
        let mut c = json!({"bom-ref": os_ref, "type": "operating-system", "name": d.id});
        if !d.version_id.is_empty() {
            c["version"] = json!(d.version_id);
        }
        if !d.pretty_name.is_empty() {
            c["description"] = json!(d.pretty_name);
        }
        refs.push(os_ref);
        components.push(c);
    }
    for p in &inv.packages {
        let bom_ref = format!("pkg-{}", package_id(p));
        let mut c = json!({
            "bom-ref": bom_ref,
            "type": "library",
            "name": p.name,
            "version": p.version,
            "purl": p.purl,
        });
        // CycloneDX takes either one expression or a list of licenses, not both.
        let licenses: Vec<License> = p.licenses.iter().map(|l| classify(l)).collect();
        match licenses.as_slice() {
            [] => {}
            [License::Expression(e)] => c["licenses"] = json!([{"expression": e}]),
            many => {
                c["licenses"] = Value::Array(
                    many.iter()
                        .map(|l| match l {
                            License::Id(id) => json!({"license": {"id": id}}),
                            License::Expression(e) | License::Other(e) => {
                                json!({"license": {"name": e}})
                            }
                        })
                        .collect(),
                )
            }
        }
        let mut props = vec![
            prop("ferret:package:type", p.kind.as_str()),
            prop("ferret:package:found-by", &p.found_by),
            prop("ferret:location:0:path", &format!("/{}", p.location.path)),
        ];
        if let Some(layer) = p.location.layer.as_ref().and_then(|l| l.digest.as_ref()) {
            props.push(prop("ferret:location:0:layer", &layer.to_string()));
        }
        if let Some(s) = &p.source {
            props.push(prop("ferret:package:source-name", &s.name));
            props.push(prop("ferret:package:source-version", &s.version));
        }
        if let Some(a) = &p.architecture {
            props.push(prop("ferret:package:architecture", a));
        }
        c["properties"] = Value::Array(props);
        refs.push(bom_ref);
        components.push(c);
    }
    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", uuid_for(&format!("ferret/cyclonedx/{}", src.digest))),
        "version": 1,
        "metadata": {
            "timestamp": src.created,
            "tools": {"components": [{"type": "application", "name": tool.name, "version": tool.version}]},
            "component": root,
        },
        "components": components,
        "dependencies": [{"ref": root_ref, "dependsOn": refs}],
    })
}

fn prop(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

/// CycloneDX's severity names; it has no "negligible", and "info" is the nearest.
fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
        Severity::Negligible => "info",
        Severity::Unknown => "unknown",
    }
}

fn cvss_method(version: &str) -> &'static str {
    match version {
        "2.0" => "CVSSv2",
        "3.0" => "CVSSv3",
        "3.1" => "CVSSv31",
        "4.0" => "CVSSv4",
        _ => "other",
    }
}

/// One rating per source that rated the vulnerability (CycloneDX `ratings[]`); the chosen
/// one first.
fn ratings(f: &Finding) -> Vec<Value> {
    let mut out: Vec<Value> = f
        .rating
        .ratings
        .iter()
        .map(|r| {
            let mut v = json!({
                "source": {"name": r.by},
                "severity": severity(r.severity),
                "method": r.cvss_version.as_deref().map_or("other", cvss_method),
            });
            if let Some(score) = r.score {
                v["score"] = json!(score);
            }
            if let Some(vector) = &r.vector {
                v["vector"] = json!(vector);
            }
            if r.vector.is_none()
                && let Some(q) = &r.qualitative
            {
                v["justification"] = json!(format!("{} rates it {q}", r.source));
            }
            v
        })
        .collect();
    if out.is_empty() {
        out.push(json!({"severity": "unknown"}));
    }
    out
}

/// KEV and EPSS as CycloneDX properties of a vulnerability (the format has no fields for
/// them), named in Ferret's namespace.
fn signal_properties(f: &Finding) -> Vec<Value> {
    let mut props = Vec::new();
    if let Some(c) = &f.rating.chosen {
        props.push(json!({"name": "ferret:severity:source", "value": c.label()}));
    }
    if let Some(k) = &f.kev {
        props.push(json!({"name": "ferret:kev:dateAdded", "value": k.date_added}));
        if let Some(d) = &k.due_date {
            props.push(json!({"name": "ferret:kev:dueDate", "value": d}));
        }
        props.push(json!({"name": "ferret:kev:knownRansomwareCampaignUse", "value": if k.ransomware { "Known" } else { "Unknown" }}));
    }
    if let Some(e) = &f.epss {
        props.push(json!({"name": "ferret:epss:score", "value": format!("{}", e.score)}));
        props.push(json!({"name": "ferret:epss:percentile", "value": format!("{}", e.percentile)}));
        props.push(json!({"name": "ferret:epss:date", "value": e.date}));
    }
    props
}

/// The SBOM plus a `vulnerabilities` section: one entry per vulnerability, affecting every
/// package it was found in.
pub(crate) fn scan_document(report: &ScanReport<'_>, tool: &Tool) -> Value {
    let inv = report.inventory;
    let mut doc = document(inv, tool);
    doc["serialNumber"] = json!(format!(
        "urn:uuid:{}",
        uuid_for(&format!(
            "ferret/cyclonedx-scan/{}/{}",
            inv.source.digest, report.database.snapshot
        ))
    ));
    let mut by_id: BTreeMap<&str, Vec<(usize, &Finding)>> = BTreeMap::new();
    for (p, f) in report.findings() {
        by_id.entry(f.id.as_str()).or_default().push((p, f));
    }
    let vulnerabilities: Vec<Value> = by_id
        .into_iter()
        .map(|(id, hits)| {
            // The most severe sighting speaks for the vulnerability.
            let (_, first) = hits
                .iter()
                .max_by_key(|(_, f)| f.rating.severity)
                .copied()
                .unwrap_or(hits[0]);
            let primary = first
                .matches
                .iter()
                .find(|m| m.record == first.id)
                .unwrap_or(&first.matches[0]);
            let mut related: Vec<&str> = hits
                .iter()
                .flat_map(|(_, f)| f.related.iter().map(String::as_str))
                .collect();
            related.sort_unstable();
            related.dedup();
            let mut affects: Vec<(String, &str)> = hits
                .iter()
                .map(|(p, _)| {
                    let pkg = &inv.packages[*p];
                    (format!("pkg-{}", package_id(pkg)), pkg.version.as_str())
                })
                .collect();
            affects.sort();
            affects.dedup();
            let mut advice: Vec<String> = hits
                .iter()
                .map(|(p, f)| {
                    let name = &inv.packages[*p].name;
                    match &f.fix {
                        Fix::Fixed(v) => format!("upgrade {name} to {}", v.join(" or ")),
                        Fix::NotFixed => format!("{name}: no fix yet"),
                        Fix::WillNotFix => format!("{name}: the distro will not fix it"),
                    }
                })
                .collect();
            advice.sort();
            advice.dedup();
            let mut v = json!({
                "bom-ref": format!("vuln-{id}"),
                "id": id,
                "source": {
                    "name": primary.namespace,
                    "url": crate::grype::data_source(primary),
                },
                "references": related.iter().map(|r| json!({
                    "id": r,
                    "source": {"name": primary.namespace},
                })).collect::<Vec<_>>(),
                "ratings": ratings(first),
                "recommendation": advice.join("; "),
                "affects": affects.iter().map(|(r, version)| json!({
                    "ref": r,
                    "versions": [{"version": version, "status": "affected"}],
                })).collect::<Vec<_>>(),
            });
            let props = signal_properties(first);
            if !props.is_empty() {
                v["properties"] = Value::Array(props);
            }
            v
        })
        .collect();
    doc["vulnerabilities"] = Value::Array(vulnerabilities);
    doc
}
