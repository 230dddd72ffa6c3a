//! Severity on an Alpine image: Alpine's secdb rates nothing, so with the NVD, CVE JSON 5
//! and GitHub samples loaded, every finding whose CVE they rate takes NVD's, the CNA's or
//! CISA ADP's rating — never UNKNOWN.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use ferret_testsupport::*;
use serde_json::Value;

/// (origin package, CVEs) of the secdb YAML, read line by line (its layout is fixed:
/// `- pkg:`, `name:`, `secfixes:`, fixed versions, `- CVE-…`).
fn secfixes(path: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut name = String::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let t = line.trim();
        if let Some(n) = t.strip_prefix("name: ") {
            name = n.trim().to_owned();
        } else if let Some(id) = t.strip_prefix("- ") {
            let id = id.split_whitespace().next().unwrap_or("");
            if id.starts_with("CVE-") && !name.is_empty() {
                out.entry(name.clone()).or_default().push(id.to_owned());
            }
        }
    }
    out
}

#[test]
fn an_alpine_image_has_no_unknown_finding_the_samples_rate() {
    let dir = tempfile::tempdir().unwrap();
    let branch = testdata().join("advisories/alpine-secdb/v3.10");
    let repos = [branch.join("main.yaml"), branch.join("community.yaml")];
    let rated = rated_in_samples();
    // Every package of the branch one of whose CVEs is rated, installed far below its fixes.
    let chosen: Vec<String> = repos
        .iter()
        .flat_map(|r| secfixes(r))
        .filter(|(_, cves)| cves.iter().any(|c| rated.contains(c)))
        .map(|(name, _)| name)
        .collect();
    assert!(chosen.len() >= 5, "{chosen:?}");
    let root = dir.path().join("root");
    let installed: String = chosen
        .iter()
        .map(|n| format!("P:{n}\nV:0.0.1-r0\nA:x86_64\no:{n}\n\n"))
        .collect();
    alpine_3_10_root(&root, &installed);

    let db = dir.path().join("db");
    import(&db, "secdb", &repos);
    import_rating_samples(&db);
    let out = succeeded(
        ferret()
            .args(["scan", "-q", "-f", "json", "--db-dir"])
            .arg(&db)
            .arg(format!("dir:{}", root.display()))
            .output()
            .unwrap(),
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut checked = 0;
    for f in report["findings"].as_array().unwrap() {
        let id = f["id"].as_str().unwrap();
        if !rated.contains(id) {
            continue;
        }
        checked += 1;
        assert_ne!(f["severity"], "UNKNOWN", "{f}");
        let source = f["severitySource"]["source"].as_str().unwrap();
        assert!(
            ["nvd", "cna", "cisa-adp", "ghsa"].contains(&source),
            "Alpine rates nothing, yet {id} is rated by {source}"
        );
        // Every rating of the samples for the id is listed, not only the chosen one.
        assert!(!f["ratings"].as_array().unwrap().is_empty());
    }
    assert!(checked >= 5, "only {checked} rated findings");
    eprintln!("Alpine 3.10: {checked} findings rated by the samples, none UNKNOWN");
}
