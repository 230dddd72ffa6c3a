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

fn vex_samples() -> Vec<PathBuf> {
    let own = own_testdata().join("advisories");
    let mut v = Vec::new();
    for dir in ["redhat/vex", "suse/csaf-vex"] {
        for e in std::fs::read_dir(own.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "json") {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

/// Red Hat's VEX: source packages, the release's own product streams (not EUS), module
/// streams apart, "will not fix" and "affected" statuses; SUSE's: binary packages of the
/// image's product.
#[test]
fn red_hat_and_suse_images_match_their_vex() {
    if !rpm_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    import(&db, "csaf-vex", &vex_samples());

    let root = dir.path().join("rhel9");
    rpm_root(
        &root,
        &os_release("rhel", "9.3", "Red Hat Enterprise Linux 9.3 (Plow)"),
        &[
            RpmPackage::new("libcurl", "7.76.1-26.el9_3.1", "x86_64", "curl"),
            RpmPackage::new("postgresql-server", "13.15-1.el9_4", "x86_64", "postgresql"),
            RpmPackage::new("openssl-libs", "1:3.0.7-26.el9", "x86_64", "openssl"),
            RpmPackage::new("edk2-ovmf", "20231122-6.el9", "noarch", "edk2"),
        ],
    );
    let found = findings(&scan(&db, &root));
    // 9.3's own stream fixed it in -26.el9_3.2; 9.0 EUS's fix is not this image's.
    assert_eq!(
        has(&found, "libcurl x86_64", "CVE-2023-38545"),
        Some((
            "fixed".into(),
            vec!["7.76.1-26.el9_3.2".into()],
            "HIGH".into(),
            "red hat".into()
        ))
    );
    assert_eq!(
        has(&found, "postgresql-server x86_64", "CVE-2024-7348").map(|f| f.1),
        Some(vec!["13.16-1.el9_4".into()])
    );
    assert_eq!(
        has(&found, "openssl-libs x86_64", "CVE-2023-6237").map(|f| f.1),
        Some(vec!["1:3.0.7-27.el9".into()])
    );
    assert_eq!(
        has(&found, "edk2-ovmf noarch", "CVE-2023-6237").map(|f| f.0),
        Some("not-fixed".into())
    );

    // RHEL 8: the postgresql:15 module's build is judged by that stream's fix only.
    let root = dir.path().join("rhel8");
    rpm_root(
        &root,
        &os_release("rhel", "8.10", "Red Hat Enterprise Linux 8.10 (Ootpa)"),
        &[
            RpmPackage::new(
                "postgresql-server",
                "15.7-1.module+el8.10.0+21000+00000000",
                "x86_64",
                "postgresql",
            )
            .in_module("postgresql:15:8100020240814101911:489197e6"),
            RpmPackage::new(
                "compat-libtiff3",
                "3.9.4-13.el8",
                "x86_64",
                "compat-libtiff3",
            ),
            RpmPackage::new("libtiff", "4.0.9-29.el8", "x86_64", "libtiff"),
        ],
    );
    let found = findings(&scan(&db, &root));
    assert_eq!(
        has(&found, "postgresql-server x86_64", "CVE-2024-7348").map(|f| f.1),
        Some(vec!["15.8-1.module+el8.10.0+22212+a51fe170".into()])
    );
    assert_eq!(
        has(&found, "compat-libtiff3 x86_64", "CVE-2023-6228").map(|f| f.0),
        Some("will-not-fix".into())
    );
    assert_eq!(
        has(&found, "libtiff x86_64", "CVE-2023-6228").map(|f| f.0),
        Some("not-fixed".into())
    );

    // A RHEL 9 EUS image: its content manifest names the EUS repositories, whose product
    // streams (Red Hat's repository-to-CPE map) are the only ones that judge it.
    import(
        &db,
        "repository-to-cpe",
        &[own_testdata().join("advisories/redhat/repository-to-cpe/repository-to-cpe.json")],
    );
    let root = dir.path().join("rhel9-eus");
    rpm_root(
        &root,
        &os_release("rhel", "9.0", "Red Hat Enterprise Linux 9.0 (Plow)"),
        &[RpmPackage::new(
            "libcurl",
            "7.76.1-14.el9_0.8",
            "x86_64",
            "curl",
        )],
    );
    let manifests = root.join("root/buildinfo/content_manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(
        manifests.join("ubi9-container-9.0-1.json"),
        r#"{"metadata": {"icm_version": 1}, "content_sets": ["rhel-9-for-x86_64-baseos-eus-rpms"]}"#,
    )
    .unwrap();
    let found = findings(&scan(&db, &root));
    assert_eq!(
        has(&found, "libcurl x86_64", "CVE-2023-38545").map(|f| f.1),
        Some(vec!["7.76.1-14.el9_0.9".into()])
    );
    std::fs::remove_dir_all(root.join("root")).unwrap();
    let found = findings(&scan(&db, &root));
    assert_eq!(
        has(&found, "libcurl x86_64", "CVE-2023-38545").map(|f| f.1),
        Some(vec!["7.76.1-23.el9_2.4".into(), "7.76.1-26.el9_3.2".into()]),
        "without a content manifest, the release's own streams"
    );

    // SUSE Linux Micro 6.0: the binary package of its own product.
    let root = dir.path().join("slmicro");
    rpm_root(
        &root,
        &os_release("sl-micro", "6.0", "SUSE Linux Micro 6.0"),
        &[RpmPackage::new(
            "samba-client-libs",
            "4.19.4+git.339.acf1ccaa02-1.21",
            "x86_64",
            "samba",
        )],
    );
    let found = findings(&scan(&db, &root));
    assert_eq!(
        has(&found, "samba-client-libs x86_64", "CVE-2023-5568"),
        Some((
            "fixed".into(),
            vec!["4.19.4+git.339.acf1ccaa02-1.22".into()],
            "MEDIUM".into(),
            "suse".into()
        ))
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
