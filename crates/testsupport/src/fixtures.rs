//! The Debian example image's root and its advisory feed; the rating feed samples.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::*;

/// A Debian 12 root with five packages; `libfoo1` is a binNMU of `foo`.
pub fn debian_fixture_root(dir: &Path) {
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::create_dir_all(dir.join("var/lib/dpkg")).unwrap();
    std::fs::write(dir.join("etc/os-release"), DEBIAN_OS_RELEASE).unwrap();
    let status = dpkg_entry("openssl", "3.0.11-1~deb12u2", None)
        + &dpkg_entry("libfoo1", "1.0-1+b1", Some("foo (1.0-1)"))
        + &dpkg_entry("bar", "2.0-1", None)
        + &dpkg_entry("baz", "1.5-1", None)
        + &dpkg_entry("qux", "0.9-3", None);
    std::fs::write(dir.join("var/lib/dpkg/status"), status).unwrap();
}

pub fn release(status: &str, fixed: Option<&str>, urgency: &str) -> Value {
    let mut r = json!({"status": status, "repositories": {"bookworm": "x"}, "urgency": urgency});
    if let Some(f) = fixed {
        r["fixed_version"] = json!(f);
    }
    r
}

/// Tracker records: package → CVE → bookworm's state.
pub fn debian_fixture_tracker(path: &Path) {
    let doc = json!({
        "openssl": {
            // Fixed above the installed version: affected, fixed.
            "CVE-2024-0001": {"releases": {"bookworm": release("resolved", Some("3.0.13-1~deb12u1"), "high")}},
            // Fixed at the installed version: not affected.
            "CVE-2024-0002": {"releases": {"bookworm": release("resolved", Some("3.0.11-1~deb12u2"), "medium")}},
            // Fixed below: not affected.
            "CVE-2023-0003": {"releases": {"bookworm": release("resolved", Some("3.0.9-1"), "low")}},
            // `0`: never affected.
            "CVE-2024-0004": {"releases": {"bookworm": release("resolved", Some("0"), "high")}},
        },
        "foo": {
            // The binNMU's source 1.0-1 is below the fix.
            "CVE-2024-0005": {"releases": {"bookworm": release("resolved", Some("1.0-2"), "unimportant")}},
        },
        "bar": {
            // Open: not fixed.
            "CVE-2024-0006": {"releases": {"bookworm": release("open", None, "medium")}},
        },
        "baz": {
            // No DSA, ignored: will not fix.
            "CVE-2024-0007": {"releases": {"bookworm": {
                "status": "open", "repositories": {"bookworm": "x"}, "urgency": "low",
                "nodsa": "Minor issue", "nodsa_reason": "ignored"
            }}},
        },
    });
    std::fs::write(path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

/// Ferret's own samples of the rating feeds (NVD, CVE JSON 5, GitHub's advisories):
/// `testdata/advisories/<feed>`.
pub fn rating_sample(feed: &str) -> PathBuf {
    crate::own_testdata().join("advisories").join(feed)
}

/// The `.json` files of a directory, sorted.
fn json_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

/// Loads the rating samples (NVD, CVE JSON 5, GitHub's advisories) into a database.
pub fn import_rating_samples(db: &Path) {
    crate::import(
        db,
        "nvd",
        &[rating_sample("nvd").join("nvdcve-2.0-sample.json")],
    );
    crate::import(db, "cve5", &[rating_sample("cve5")]);
    crate::import(db, "osv", &json_in(&rating_sample("ghsa")));
}

/// Every id the rating samples rate with a CVSS vector or a qualitative rating: NVD
/// records with metrics, CVE JSON 5 records with CNA or CISA ADP metrics, GitHub
/// advisories with a severity (under their aliases too).
pub fn rated_in_samples() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let nvd: Value = serde_json::from_slice(
        &std::fs::read(rating_sample("nvd").join("nvdcve-2.0-sample.json")).unwrap(),
    )
    .unwrap();
    for v in nvd["vulnerabilities"].as_array().unwrap() {
        let metrics = v["cve"]["metrics"].as_object();
        if v["cve"]["vulnStatus"] != "Rejected"
            && metrics.is_some_and(|m| m.keys().any(|k| k.starts_with("cvssMetric")))
        {
            out.insert(v["cve"]["id"].as_str().unwrap().to_owned());
        }
    }
    for f in json_in(&rating_sample("cve5")) {
        let r: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let cvss = |c: &Value| {
            c["metrics"].as_array().into_iter().flatten().any(|m| {
                ["cvssV4_0", "cvssV3_1", "cvssV3_0", "cvssV2_0"]
                    .iter()
                    .any(|k| m.get(*k).is_some())
            })
        };
        let adp = r["containers"]["adp"].as_array().into_iter().flatten();
        if r["cveMetadata"]["state"] != "REJECTED"
            && (cvss(&r["containers"]["cna"])
                || adp
                    .filter(|a| a["providerMetadata"]["shortName"] == "CISA-ADP")
                    .any(cvss))
        {
            out.insert(r["cveMetadata"]["cveId"].as_str().unwrap().to_owned());
        }
    }
    for f in json_in(&rating_sample("ghsa")) {
        let r: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let rated = r["severity"].as_array().is_some_and(|s| !s.is_empty())
            || r["database_specific"]["severity"].is_string();
        if rated && r.get("withdrawn").is_none() {
            out.insert(r["id"].as_str().unwrap().to_owned());
            out.extend(
                r["aliases"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str().map(str::to_owned)),
            );
        }
    }
    out
}
