//! Findings from the real advisory database: the shared Debian tracker sample imported,
//! looked up for Debian 12 packages, matched.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use ferret_advisory::{Database, FeedKind, Validators, import_feeds};
use ferret_matcher::{Counts, Fix, Severity, findings, target};
use ferret_model::{Distro, DpkgMetadata, Location, Package, PackageKind, PackageMetadata};

fn testdata() -> PathBuf {
    std::env::var_os("FERRET_TESTDATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"),
        PathBuf::from,
    )
}

fn deb(name: &str, version: &str, source: &str) -> Package {
    Package {
        name: name.into(),
        version: version.into(),
        kind: PackageKind::Deb,
        architecture: Some("amd64".into()),
        purl: format!("pkg:deb/debian/{name}@{version}"),
        source: Some(ferret_model::SourcePackage {
            name: source.into(),
            version: version.into(),
        }),
        licenses: Vec::new(),
        location: Location {
            path: "var/lib/dpkg/status".into(),
            layer: None,
        },
        found_by: "os/dpkg".into(),
        metadata: PackageMetadata::Dpkg(DpkgMetadata::default()),
    }
}

#[test]
fn debian_tracker_findings() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Database::open(dir.path()).unwrap();
    let path = testdata().join("advisories/debian/vunnel-debian-tracker-sample.json");
    for r in import_feeds(
        &mut db,
        FeedKind::DebianTracker,
        &[path],
        None,
        "now",
        &Validators::default(),
    )
    .unwrap()
    {
        r.unwrap();
    }
    let bookworm = Distro {
        id: "debian".into(),
        version_id: "12".into(),
        codename: "bookworm".into(),
        ..Distro::default()
    };
    // sope's CVE-2025-53603 is fixed in 5.8.0-1+deb12u1 for bookworm.
    let packages = [
        deb("libsope1", "5.8.0-1", "sope"),
        deb("libsope1", "5.8.0-1+deb12u1", "sope"),
        deb("libsope1", "5.8.0-1+b2", "sope"),
    ];
    let mut all = Vec::new();
    for p in &packages {
        let t = target(p, Some(&bookworm)).unwrap();
        let advisories = db.query(t.ecosystem, &t.release, &t.name).unwrap();
        all.push(findings(&t, &advisories).unwrap());
    }
    let cve =
        |fs: &[ferret_matcher::Finding]| fs.iter().find(|f| f.id == "CVE-2025-53603").cloned();
    let unfixed = cve(&all[0]).expect("5.8.0-1 is affected");
    assert_eq!(unfixed.fix, Fix::Fixed(vec!["5.8.0-1+deb12u1".into()]));
    assert_eq!(unfixed.matches[0].namespace, "Debian:12");
    assert!(cve(&all[1]).is_none(), "the fixed version is not affected");
    // A binNMU of the unfixed source is still the unfixed source.
    assert!(cve(&all[2]).is_some());
    // The tracker's urgency is "not yet assigned": no rating of Debian's, and the sample
    // carries no CVSS, so the finding is UNKNOWN and counted as such.
    assert_eq!(unfixed.rating.severity, Severity::Unknown);
    let summary = Counts::of(all[0].iter().map(|f| f.rating.severity));
    assert_eq!(summary.total(), all[0].len() as u64);
}
