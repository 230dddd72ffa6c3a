//! Images of the RPM families whose vendors publish OVAL or updateinfo, with real rpm
//! databases (Debian's rpm, `--justdb`), scanned against the vendors' samples: the cases
//! each family's matching turns on (Amazon's extras topics, Oracle's Ksplice builds, module
//! streams and per-architecture definitions, Microsoft's source package names), and a
//! family with no feed in the database reported as unmatched with the reason.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use ferret_testsupport::*;
use serde_json::Value;

fn samples(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(own_testdata().join("advisories").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    v.sort();
    v
}

fn os_release(id: &str, version: &str, pretty: &str) -> String {
    format!("NAME=\"{pretty}\"\nID=\"{id}\"\nVERSION_ID=\"{version}\"\nPRETTY_NAME=\"{pretty}\"\n")
}

/// One finding as the report gives it.
#[derive(Debug)]
struct Found {
    /// `name arch`
    package: String,
    id: String,
    state: String,
    versions: Vec<String>,
    severity: String,
    /// Who rated it, for a distro's own rating.
    by: String,
}

fn findings(report: &Value) -> Vec<Found> {
    let packages = report["packages"].as_array().unwrap();
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let p = &packages[f["package"].as_u64().unwrap() as usize];
            let arch = p["purl"]
                .as_str()
                .unwrap()
                .split("arch=")
                .nth(1)
                .map(|a| a.split('&').next().unwrap().to_owned())
                .unwrap_or_default();
            Found {
                package: format!("{} {arch}", p["name"].as_str().unwrap()),
                id: f["id"].as_str().unwrap().to_owned(),
                state: f["fix"]["state"].as_str().unwrap().to_owned(),
                versions: f["fix"]["versions"]
                    .as_array()
                    .map(|v| v.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
                    .unwrap_or_default(),
                severity: f["severity"].as_str().unwrap().to_owned(),
                by: f["severitySource"]["by"].as_str().unwrap_or("").to_owned(),
            }
        })
        .collect()
}

fn scan(db: &Path, root: &Path) -> Value {
    scan_json(db, &format!("dir:{}", root.display()))
}

/// (fix state, fixed versions, severity, rated by) of a package's finding.
fn has(found: &[Found], package: &str, id: &str) -> Option<(String, Vec<String>, String, String)> {
    found
        .iter()
        .find(|f| f.package == package && f.id == id)
        .map(|f| {
            (
                f.state.clone(),
                f.versions.clone(),
                f.severity.clone(),
                f.by.clone(),
            )
        })
}

#[test]
fn each_family_matches_as_its_vendor_keys_it() {
    if !rpm_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    import(
        &db,
        "oval",
        &[
            samples("oracle/oval"),
            samples("azurelinux/oval"),
            samples("photon/oval"),
        ]
        .concat(),
    );
    import(&db, "alas", &samples("amazon/updateinfo"));

    // Amazon Linux 2: binary names as ALAS lists them; the kernel-5.15 extras topic's fix
    // applies to a 5.15 kernel, not to the core 4.14 one.
    let root = dir.path().join("al2");
    rpm_root(
        &root,
        &os_release("amzn", "2", "Amazon Linux 2"),
        &[
            RpmPackage::new("qemu-img", "10:1.5.3-141.amzn2.5.2", "x86_64", "qemu-kvm"),
            RpmPackage::new("kernel", "5.15.43-20.122.amzn2", "x86_64", "kernel"),
            RpmPackage::new(
                "kernel-headers",
                "4.14.355-275.570.amzn2",
                "x86_64",
                "kernel",
            ),
        ],
    );
    let found = findings(&scan(&db, &root));
    assert_eq!(
        has(&found, "qemu-img x86_64", "CVE-2017-5715"),
        Some((
            "fixed".into(),
            vec!["10:1.5.3-141.amzn2.5.3".into()],
            "HIGH".into(),
            "amazon linux".into()
        ))
    );
    assert_eq!(
        has(&found, "kernel x86_64", "CVE-2022-0500").map(|f| f.1),
        Some(vec!["5.15.43-20.123.amzn2".into()])
    );
    assert!(
        !found.iter().any(|f| f.package == "kernel-headers x86_64"),
        "{found:#?}"
    );

    // Oracle Linux 8: a Ksplice build is judged by Ksplice fixes only, the ordinary build
    // not by them; the module stream's fix holds for its module build on aarch64 only.
    let root = dir.path().join("ol8");
    rpm_root(
        &root,
        &os_release("ol", "8.9", "Oracle Linux Server 8.9"),
        &[
            RpmPackage::new(
                "openssl",
                "2:1.1.1g-14.ksplice1.el8_3",
                "aarch64",
                "openssl",
            ),
            RpmPackage::new("openssl-libs", "2:1.1.1g-14.el8_3", "aarch64", "openssl"),
            RpmPackage::new(
                "hivex",
                "1.3.18-21.module+el8.7.0+20000+00000000",
                "aarch64",
                "hivex",
            ),
            RpmPackage::new(
                "hivex-devel",
                "1.3.18-21.module+el8.7.0+20000+00000000",
                "x86_64",
                "hivex",
            ),
        ],
    );
    let found = findings(&scan(&db, &root));
    assert_eq!(
        has(&found, "openssl aarch64", "CVE-2021-3449").map(|f| f.1),
        Some(vec!["2:1.1.1g-15.ksplice1.el8_3".into()])
    );
    assert!(
        !found.iter().any(|f| f.package == "openssl-libs aarch64"),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|f| f.package == "hivex aarch64"),
        "{found:#?}"
    );
    assert!(
        !found.iter().any(|f| f.package == "hivex-devel x86_64"),
        "{found:#?}"
    );

    // Azure Linux 3.0: Microsoft's OVAL names the source package.
    let root = dir.path().join("azl3");
    rpm_root(
        &root,
        &os_release("azurelinux", "3.0", "Microsoft Azure Linux 3.0"),
        &[RpmPackage::new(
            "liboath",
            "2.6.7-2.azl3",
            "x86_64",
            "oath-toolkit",
        )],
    );
    let found = findings(&scan(&db, &root));
    assert_eq!(
        has(&found, "liboath x86_64", "CVE-2024-47191"),
        Some((
            "fixed".into(),
            vec!["2.6.7-3.azl3".into()],
            "HIGH".into(),
            "azure linux".into()
        ))
    );

    // Photon OS 3.0: PHSA definitions name binary packages.
    let root = dir.path().join("photon3");
    rpm_root(
        &root,
        &os_release("photon", "3.0", "VMware Photon OS/Linux"),
        &[RpmPackage::new(
            "sqlite-libs",
            "3.27.2-4.ph3",
            "x86_64",
            "sqlite",
        )],
    );
    let found = findings(&scan(&db, &root));
    assert_eq!(
        has(&found, "sqlite-libs x86_64", "CVE-2019-16168").map(|f| f.1),
        Some(vec!["3.27.2-5.ph3".into()])
    );
}

#[test]
fn a_family_with_no_feed_in_the_database_is_unmatched_with_the_reason() {
    if !rpm_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    import(&db, "alas", &samples("amazon/updateinfo"));
    let root = dir.path().join("ol9");
    rpm_root(
        &root,
        &os_release("ol", "9.4", "Oracle Linux Server 9.4"),
        &[
            RpmPackage::new("bash", "5.1.8-9.el9", "x86_64", "bash"),
            RpmPackage::new("openssl-libs", "1:3.0.7-27.el9", "x86_64", "openssl"),
        ],
    );
    let report = scan(&db, &root);
    assert!(report["findings"].as_array().unwrap().is_empty());
    let unmatched = report["unmatched"].as_array().unwrap();
    assert_eq!(unmatched.len(), 2, "{unmatched:?}");
    for u in unmatched {
        let reason = u["reason"].as_str().unwrap();
        assert!(reason.contains("no feed for Oracle Linux 9"), "{reason}");
    }
    // The table says so too, rather than "no vulnerabilities".
    let out = succeeded(
        ferret()
            .args(["scan", "-q", "--db-dir"])
            .arg(&db)
            .arg(format!("dir:{}", root.display()))
            .output()
            .unwrap(),
    );
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("Oracle Linux 9"), "{text}");
}
