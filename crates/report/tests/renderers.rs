//! Every renderer pinned on one inventory and its findings built here (a Debian image with
//! a distro package, its source-built sibling and a Python package; a fixed, an unfixed
//! and a will-not-fix finding, CVSS-rated and vendor-rated): the SBOM formats and the scan
//! formats, as snapshots. The CLI tests keep the end-to-end cases.

#![allow(clippy::unwrap_used)]

use ferret_matcher::{PackageMatches, Severity};
use ferret_model::{
    CatalogerState, CatalogerStatus, Digest, Distro, Inventory, LayerInfo, Package, SourceInfo,
    SourceKind,
};
use ferret_report::{DatabaseInfo, Order, SbomFormat, ScanFormat, ScanReport, Tool};
use serde_json::json;

fn digest(n: u8) -> Digest {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
        .parse()
        .unwrap()
}

fn inventory() -> Inventory {
    let packages: Vec<Package> = serde_json::from_value(json!([
        {"name": "libssl3", "version": "3.0.11-1~deb12u2", "kind": "deb", "architecture": "amd64",
         "purl": "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl",
         "source": {"name": "openssl", "version": "3.0.11-1~deb12u2"}, "licenses": ["Apache-2.0"],
         "location": {"path": "var/lib/dpkg/status", "layer": {"index": 0, "digest": digest(1).to_string()}},
         "found_by": "os/dpkg", "metadata": {"type": "dpkg", "status": "install ok installed"}},
        {"name": "zlib1g", "version": "1:1.2.13.dfsg-1", "kind": "deb", "architecture": "amd64",
         "purl": "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib",
         "source": {"name": "zlib", "version": "1:1.2.13.dfsg-1"},
         "location": {"path": "var/lib/dpkg/status", "layer": {"index": 0, "digest": digest(1).to_string()}},
         "found_by": "os/dpkg", "metadata": {"type": "dpkg", "status": "install ok installed"}},
    ]))
    .unwrap();
    Inventory {
        source: SourceInfo {
            kind: SourceKind::Image,
            name: "oci:/images/app:1.0".to_owned(),
            digest: digest(9),
            config_digest: Some(digest(8)),
            index_digest: None,
            tags: vec!["1.0".to_owned()],
            architecture: Some("amd64".to_owned()),
            os: Some("linux".to_owned()),
            created: "2024-05-06T07:08:09Z".to_owned(),
            layers: vec![LayerInfo {
                index: 0,
                digest: digest(1),
                diff_id: Some(digest(2)),
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".to_owned(),
                size: Some(1234),
            }],
        },
        distro: Some(Distro {
            id: "debian".to_owned(),
            version_id: "12".to_owned(),
            codename: "bookworm".to_owned(),
            pretty_name: "Debian GNU/Linux 12 (bookworm)".to_owned(),
            ..Distro::default()
        }),
        packages,
        notes: Vec::new(),
        catalogers: vec![CatalogerStatus {
            name: "os/dpkg",
            version: 1,
            files: 1,
            packages: 2,
            notes: 0,
            state: CatalogerState::Succeeded,
            millis: 0,
        }],
        go_symbols: Default::default(),
    }
}

fn matches() -> Vec<PackageMatches> {
    serde_json::from_value(json!([
        {"package": 0, "outcome": "matched", "findings": [
            {"id": "CVE-2024-0727", "related": ["DSA-5639-1"],
             "rating": {"severity": "HIGH",
                        "chosen": {"source": "nvd", "by": "nvd@nist.gov", "id": "CVE-2024-0727", "severity": "HIGH", "cvss_version": "3.1",
                                   "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", "score": 7.5, "qualitative": "HIGH"},
                        "ratings": [
                            {"source": "nvd", "by": "nvd@nist.gov", "id": "CVE-2024-0727", "severity": "HIGH", "cvss_version": "3.1",
                             "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", "score": 7.5, "qualitative": "HIGH"},
                            {"source": "cna", "by": "openssl", "id": "CVE-2024-0727", "severity": "LOW", "qualitative": "Low"},
                            {"source": "ghsa", "by": "GHSA-9v9h-cgj8-h64p", "id": "DSA-5639-1", "severity": "MEDIUM", "cvss_version": "3.1",
                             "vector": "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H", "score": 5.5}]},
             "kev": {"date_added": "2024-03-01", "due_date": "2024-03-22", "ransomware": false},
             "epss": {"score": 0.0213, "percentile": 0.874, "date": "2025-03-14"},
             "fix": {"state": "fixed", "versions": ["3.0.13-1~deb12u1"]},
             "matches": [{"record": "CVE-2024-0727", "feed": "debian-tracker", "namespace": "Debian:12", "package": "openssl",
                          "reason": {"kind": "range", "range_type": "ECOSYSTEM", "introduced": "0", "until": "fixed 3.0.13-1~deb12u1"},
                          "fix": {"state": "fixed", "versions": ["3.0.13-1~deb12u1"]}}]},
            {"id": "CVE-2023-50782", "related": [],
             "rating": {"severity": "MEDIUM",
                        "chosen": {"source": "vendor", "by": "debian", "id": "CVE-2023-50782", "severity": "MEDIUM", "qualitative": "medium"},
                        "ratings": [{"source": "vendor", "by": "debian", "id": "CVE-2023-50782", "severity": "MEDIUM", "qualitative": "medium"}]},
             "epss": {"score": 0.5, "percentile": 0.98, "date": "2025-03-14"},
             "fix": {"state": "not-fixed"},
             "matches": [{"record": "CVE-2023-50782", "feed": "debian-tracker", "namespace": "Debian:12", "package": "openssl",
                          "reason": {"kind": "range", "range_type": "ECOSYSTEM", "introduced": "0"},
                          "fix": {"state": "not-fixed"}}]}
        ]},
        {"package": 1, "outcome": "matched", "findings": [
            {"id": "CVE-2023-45853", "related": [],
             "rating": {"severity": "UNKNOWN", "ratings": []},
             "fix": {"state": "will-not-fix"},
             "matches": [{"record": "CVE-2023-45853", "feed": "debian-tracker", "namespace": "Debian:12", "package": "zlib",
                          "reason": {"kind": "range", "range_type": "ECOSYSTEM", "introduced": "0"},
                          "fix": {"state": "will-not-fix"}}]}
        ]}
    ]))
    .unwrap()
}

fn scan_report<'a>(inventory: &'a Inventory, matches: &'a [PackageMatches]) -> ScanReport<'a> {
    ScanReport {
        inventory,
        matches,
        database: DatabaseInfo {
            snapshot: digest(7).to_string(),
            schema_version: 3,
        },
        order: Order::Severity,
    }
}

const TOOL: Tool = Tool {
    name: "ferret",
    version: "0.0.0-test",
};

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

#[test]
fn sbom_renderers_are_pinned() {
    let inv = inventory();
    for (name, format) in [
        ("sbom_table", SbomFormat::Table),
        ("sbom_json", SbomFormat::Json),
        ("sbom_spdx", SbomFormat::SpdxJson),
        ("sbom_cyclonedx", SbomFormat::CycloneDxJson),
    ] {
        let mut out = Vec::new();
        ferret_report::write_sbom(&inv, format, &TOOL, &mut out).unwrap();
        insta::assert_snapshot!(name, text(out));
    }
}

#[test]
fn scan_renderers_are_pinned() {
    let (inv, matches) = (inventory(), matches());
    let report = scan_report(&inv, &matches);
    let counts = report.summary();
    assert_eq!(
        (counts.high, counts.medium, counts.unknown, counts.total()),
        (1, 1, 1, 3)
    );
    assert_eq!(counts.at_or_above(Severity::Medium), 2);
    for (name, format) in [
        ("scan_table", ScanFormat::Table),
        ("scan_json", ScanFormat::Json),
        ("scan_grype", ScanFormat::GrypeJson),
        ("scan_sarif", ScanFormat::Sarif),
        ("scan_cyclonedx", ScanFormat::CycloneDxJson),
    ] {
        let mut out = Vec::new();
        ferret_report::write_scan(&report, format, &TOOL, &mut out).unwrap();
        insta::assert_snapshot!(name, text(out));
    }
}

/// The Grype document reads back into its types as it was written.
#[test]
fn the_grype_document_reads_back() {
    let (inv, matches) = (inventory(), matches());
    let report = scan_report(&inv, &matches);
    let mut out = Vec::new();
    ferret_report::write_scan(&report, ScanFormat::GrypeJson, &TOOL, &mut out).unwrap();
    let doc: ferret_report::grype::Document = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc.matches.len(), 3);
    assert_eq!(doc.matches[0].vulnerability.severity, "High");
    assert_eq!(
        serde_json::to_value(&doc).unwrap(),
        serde_json::from_slice::<serde_json::Value>(&out).unwrap()
    );
}
