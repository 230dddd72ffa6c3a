//! The RPM distros' own feeds in their native formats (testdata/advisories): OVAL of
//! Oracle Linux (ELSA), Azure Linux, CBL-Mariner and Photon OS (PHSA), Amazon Linux's
//! updateinfo; what they normalise to, and bad input refused with the database unchanged.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};

use ferret_advisory::{
    Advisory, Database, Ecosystem, Event, FeedKind, FixState, Validators, import_feeds,
};

fn own(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/advisories")
        .join(p)
}

fn files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(own(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    v.sort();
    v
}

fn import(db: &mut Database, kind: FeedKind, paths: &[PathBuf]) -> Vec<(String, usize, usize)> {
    import_feeds(
        db,
        kind,
        paths,
        None,
        "2026-12-02T00:00:00Z",
        &Validators::default(),
    )
    .unwrap()
    .into_iter()
    .map(|r| {
        let s = r.unwrap();
        (s.feed, s.records, s.skipped)
    })
    .collect()
}

/// The entries of a record for one (ecosystem, release, package).
fn entries<'a>(
    records: &'a [Advisory],
    ecosystem: &str,
    release: &str,
    name: &str,
) -> Vec<&'a ferret_advisory::Affected> {
    records
        .iter()
        .flat_map(|a| &a.affected)
        .filter(|x| {
            x.namespace.ecosystem.osv_name() == ecosystem
                && x.namespace.release == release
                && x.name == name
        })
        .collect()
}

fn fixed(x: &ferret_advisory::Affected) -> Option<&str> {
    match &x.fix_state {
        Some(FixState::Fixed(v)) => Some(v),
        _ => None,
    }
}

#[test]
fn oval_of_every_vendor_imports_one_record_per_cve() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Database::open(dir.path()).unwrap();
    let mut counts = import(&mut db, FeedKind::Oval, &files("oracle/oval"));
    counts.extend(import(&mut db, FeedKind::Oval, &files("azurelinux/oval")));
    counts.extend(import(&mut db, FeedKind::Oval, &files("photon/oval")));
    counts.sort();
    assert_eq!(
        counts,
        [
            ("oval-azure-linux-3".to_owned(), 92, 0),
            ("oval-cbl-mariner-1".to_owned(), 40, 0),
            ("oval-cbl-mariner-2".to_owned(), 60, 0),
            ("oval-oracle-linux".to_owned(), 7, 0),
            ("oval-photon-os-3".to_owned(), 178, 0),
        ]
    );

    // ELSA-2018-1196-1: kernel on OL5, its CVE the record, the ELSA a related id.
    let r = db.show("CVE-2017-5715").unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].feed, FeedKind::Oval);
    assert_eq!(r[0].related, ["ELSA-2018-1196-1"]);
    let kernel = entries(&r, "Oracle Linux", "5", "kernel");
    assert_eq!(kernel.len(), 1);
    assert_eq!(fixed(kernel[0]), Some("2.6.18-419.0.0.0.10.el5"));
    assert_eq!(kernel[0].severity.as_deref(), Some("IMPORTANT"));

    // ELSA-2007-0057: epoch 30, per-architecture branches.
    let r = db.show("CVE-2007-0493").unwrap();
    let bind = entries(&r, "Oracle Linux", "5", "bind");
    assert!(!bind.is_empty());
    assert!(bind.iter().all(|x| fixed(x) == Some("30:9.3.3-8.el5")));
    assert!(bind.iter().all(|x| !x.arches.is_empty()), "{bind:?}");

    // ELSA-2021-9151: Ksplice userspace builds, OL8 aarch64.
    let r = db.show("CVE-2021-3449").unwrap();
    let openssl = entries(&r, "Oracle Linux", "8", "openssl");
    assert_eq!(fixed(openssl[0]), Some("2:1.1.1g-15.ksplice1.el8_3"));

    // Azure Linux: "less than" is a fix, the release from the dist tag.
    let r = db.show("CVE-2024-47191").unwrap();
    let oath = entries(&r, "Azure Linux", "3", "oath-toolkit");
    assert_eq!(fixed(oath[0]), Some("2.6.7-3.azl3"));
    assert_eq!(oath[0].severity.as_deref(), Some("High"));

    // CBL-Mariner: "less than or equal" with no patch is affected, not fixed.
    let r = db.show("CVE-2023-23915").unwrap();
    let cmake = entries(&r, "CBL-Mariner", "1", "cmake");
    assert_eq!(cmake[0].fix_state, Some(FixState::NotFixed));
    assert!(
        cmake[0].ranges[0]
            .events
            .contains(&Event::LastAffected("3.21.4-3.cm1".to_owned())),
        "{cmake:?}"
    );

    // Photon OS: PHSA definitions name their CVEs as references.
    let r = db.show("CVE-2019-16168").unwrap();
    let sqlite = entries(&r, "Photon OS", "3", "sqlite-libs");
    assert_eq!(fixed(sqlite[0]), Some("3.27.2-5.ph3"));
    assert_eq!(r[0].related, ["PHSA-2020:00001"]);

    let coverage = db.coverage().unwrap();
    for (e, r) in [
        ("Oracle Linux", "5"),
        ("Oracle Linux", "8"),
        ("Azure Linux", "3"),
        ("CBL-Mariner", "1"),
        ("CBL-Mariner", "2"),
        ("Photon OS", "3"),
    ] {
        assert!(
            coverage.contains(&(e.parse().unwrap(), r.to_owned())),
            "{e} {r}"
        );
    }
}

#[test]
fn updateinfo_keys_alas_by_release_and_extras_topic() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Database::open(dir.path()).unwrap();
    let mut counts = import(&mut db, FeedKind::Alas, &files("amazon/updateinfo"));
    counts.sort();
    assert_eq!(
        counts,
        [
            ("alas-1".to_owned(), 1, 0),
            ("alas-2".to_owned(), 30, 0),
            ("alas-2022".to_owned(), 4, 0),
            ("alas-2023".to_owned(), 4, 0),
        ]
    );
    // Two ALAS fix CVE-2017-5715 in AL2: both are related ids, each package fixed.
    let r = db.show("CVE-2017-5715").unwrap();
    assert_eq!(r[0].related, ["ALAS2-2018-939", "ALAS2-2018-942"]);
    assert_eq!(
        fixed(entries(&r, "Amazon Linux", "2", "qemu-img")[0]),
        Some("10:1.5.3-141.amzn2.5.3")
    );
    assert_eq!(
        entries(&r, "Amazon Linux", "2", "kernel")[0]
            .severity
            .as_deref(),
        Some("critical")
    );
    // The kernel-5.15 extras topic: its fix holds from 5.15 on, not for the core kernel.
    let r = db.show("CVE-2022-0500").unwrap();
    let kernel = entries(&r, "Amazon Linux", "2", "kernel");
    assert_eq!(
        kernel[0].ranges[0].events,
        [
            Event::Introduced("5.15".to_owned()),
            Event::Fixed("5.15.43-20.123.amzn2".to_owned())
        ]
    );
    // A livepatch package of that topic is not versioned by it.
    let livepatch = entries(&r, "Amazon Linux", "2", "kernel-livepatch-5.15.43-20.123");
    assert_eq!(
        livepatch[0].ranges[0].events[0],
        Event::Introduced("0".to_owned())
    );
    // Epochs kept; AL1's ALAS ids without a release number.
    let r = db.show("CVE-2011-3192").unwrap();
    assert_eq!(
        fixed(entries(&r, "Amazon Linux", "1", "httpd-devel")[0]),
        Some("2.2.21-1.18.amzn1")
    );
    let r = db.show("CVE-2021-3778").unwrap();
    assert_eq!(
        fixed(entries(&r, "Amazon Linux", "2022", "vim-minimal")[0]),
        Some("2:8.2.3512-1.amzn2022")
    );
}

#[test]
fn compressed_inputs_read_by_their_magic_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let raw = std::fs::read(own("oracle/oval/elsa-2018-1196-1.xml")).unwrap();
    let bz = dir.path().join("com.oracle.elsa-2018.xml.bz2");
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    enc.write_all(&raw).unwrap();
    std::fs::write(&bz, enc.finish().unwrap()).unwrap();
    let raw = std::fs::read(own(
        "amazon/updateinfo/al2023_ALAS2023-2023-001.updateinfo.xml",
    ))
    .unwrap();
    let gz = dir.path().join("updateinfo.xml.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&raw).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let mut db = Database::open(&dir.path().join("db")).unwrap();
    assert_eq!(
        import(&mut db, FeedKind::Oval, &[bz]),
        [("oval-oracle-linux".to_owned(), 1, 0)]
    );
    assert_eq!(
        import(&mut db, FeedKind::Alas, &[gz]),
        [("alas-2023".to_owned(), 2, 0)]
    );
}

#[test]
fn bad_xml_is_refused_naming_the_file_and_the_database_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Database::open(&dir.path().join("db")).unwrap();
    import(&mut db, FeedKind::Oval, &files("oracle/oval"));
    let before = db.status().unwrap();
    let write = |name: &str, body: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    let whole = std::fs::read(own("oracle/oval/elsa-2018-1196-1.xml")).unwrap();
    let cases: Vec<(FeedKind, PathBuf, &str)> = vec![
        (
            FeedKind::Oval,
            write("cut.xml", &whole[..whole.len() / 2]),
            "not well-formed XML",
        ),
        (
            FeedKind::Oval,
            write("unclosed.xml", b"<oval_definitions><definitions>"),
            "ends inside <oval_definitions><definitions>",
        ),
        (
            FeedKind::Oval,
            write("broken.xml", b"<oval_definitions><definitions></oval_definitions>"),
            "not well-formed XML",
        ),
        (
            FeedKind::Oval,
            write("other.xml", b"<updates><update/></updates>"),
            "not an OVAL definitions document",
        ),
        (
            FeedKind::Oval,
            write(
                "redhat.xml",
                br#"<oval_definitions><definitions><definition id="oval:com.redhat.rhsa:def:20231" class="patch"><metadata><title>RHSA</title></metadata><criteria/></definition></definitions></oval_definitions>"#,
            ),
            "no Oracle Linux, Azure Linux, CBL-Mariner or Photon OS definition",
        ),
        (
            FeedKind::Oval,
            write("json.xml", b"{\"not\": \"xml\"}"),
            "not an XML document",
        ),
        (
            FeedKind::Alas,
            write("not-updateinfo.xml", &whole),
            "not an updateinfo document",
        ),
        (
            FeedKind::Alas,
            write("bad.xml.gz", b"\x1f\x8b\x08\x00garbage"),
            "not readable gzip",
        ),
    ];
    for (kind, path, why) in cases {
        let e = import_feeds(
            &mut db,
            kind,
            std::slice::from_ref(&path),
            None,
            "2026-12-03T00:00:00Z",
            &Validators::default(),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            e.contains(why) && e.contains(&*path.file_name().unwrap().to_string_lossy()),
            "{}: {e}",
            path.display()
        );
    }
    // A definition whose test is missing is skipped with the reason; the others stand.
    let dangling = String::from_utf8(whole).unwrap().replacen(
        "oval:com.oracle.elsa:tst:201811961002\"",
        "oval:com.oracle.elsa:tst:999\"",
        1,
    );
    let path = write("dangling.xml", dangling.as_bytes());
    let results = import_feeds(
        &mut db,
        FeedKind::Oval,
        &[path],
        None,
        "2026-12-03T00:00:00Z",
        &Validators::default(),
    )
    .unwrap();
    let e = results[0].as_ref().unwrap_err().to_string();
    assert!(
        e.contains("no valid record") && e.contains("not defined"),
        "{e}"
    );
    assert_eq!(db.status().unwrap().snapshot, before.snapshot);
}

fn json_in(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(own(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

#[test]
fn csaf_vex_keys_red_hat_by_source_and_module_stream_and_suse_by_binary() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Database::open(dir.path()).unwrap();
    let mut counts = import(&mut db, FeedKind::CsafVex, &json_in("redhat/vex"));
    counts.extend(import(
        &mut db,
        FeedKind::CsafVex,
        &json_in("suse/csaf-vex"),
    ));
    assert_eq!(
        counts,
        [
            ("csaf-vex-redhat".to_owned(), 6, 0),
            ("csaf-vex-suse".to_owned(), 1, 0)
        ]
    );
    let r = db.show("CVE-2024-7348").unwrap();
    let of = |name: &str| -> Vec<&ferret_advisory::Affected> {
        r.iter()
            .flat_map(|a| &a.affected)
            .filter(|x| x.name == name)
            .collect()
    };
    // The module's package under its stream, with the stream's fix and its platform.
    let pg15 = of("postgresql:15/postgresql");
    let main8 = pg15
        .iter()
        .find(|x| {
            x.platforms
                .contains(&"cpe:/a:redhat:enterprise_linux:8::appstream".to_owned())
        })
        .unwrap();
    assert_eq!(fixed(main8), Some("15.8-1.module+el8.10.0+22212+a51fe170"));
    assert_eq!(main8.severity.as_deref(), Some("Important"));
    // The release's own package, by source name; RHEL 6 out of support, 7 affected.
    let pg = of("postgresql");
    assert!(pg.iter().any(|x| fixed(x) == Some("13.16-1.el9_4")));
    assert!(pg.iter().any(|x| x.fix_state == Some(FixState::WillNotFix)
        && x.platforms == ["cpe:/o:redhat:enterprise_linux:6"]));
    assert!(pg.iter().any(|x| x.fix_state == Some(FixState::NotFixed)
        && x.platforms == ["cpe:/o:redhat:enterprise_linux:7"]));
    // Epochs kept; binaries are not keys.
    let r2 = db.show("CVE-2023-6237").unwrap();
    assert!(
        r2[0]
            .affected
            .iter()
            .any(|x| x.name == "openssl" && fixed(x) == Some("1:3.0.7-27.el9"))
    );
    assert!(!r2[0].affected.iter().any(|x| x.name == "openssl-libs"));
    // SUSE: binary packages with their product's CPE.
    let s = db.show("CVE-2023-5568").unwrap();
    let micro: Vec<_> = s[0]
        .affected
        .iter()
        .filter(|x| x.platforms.contains(&"cpe:/o:suse:sl-micro:6.0".to_owned()))
        .collect();
    assert_eq!(micro.len(), 1);
    assert_eq!(micro[0].name, "samba-client-libs");
    assert_eq!(fixed(micro[0]), Some("4.19.4+git.339.acf1ccaa02-1.22"));
    assert!(
        db.coverage()
            .unwrap()
            .contains(&(Ecosystem::RedHat, String::new()))
    );
}

#[test]
fn csaf_documents_that_are_not_vex_of_a_known_vendor_are_skipped_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Database::open(&dir.path().join("db")).unwrap();
    let write = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    let inputs = vec![
        json_in("redhat/vex")[0].clone(),
        write(
            "advisory.json",
            r#"{"document": {"category": "csaf_security_advisory", "publisher": {"namespace": "https://www.redhat.com"}}}"#,
        ),
        write(
            "other.json",
            r#"{"document": {"category": "csaf_vex", "publisher": {"name": "Example", "namespace": "https://example.com"}}}"#,
        ),
        write("broken.json", "{"),
    ];
    let results = import_feeds(
        &mut db,
        FeedKind::CsafVex,
        &inputs,
        None,
        "2026-12-02T00:00:00Z",
        &Validators::default(),
    )
    .unwrap();
    let summary = results[0].as_ref().unwrap();
    assert_eq!((summary.records, summary.skipped), (1, 3));
    let reasons: Vec<String> = summary
        .first_skipped
        .iter()
        .map(|(at, why)| format!("{at}: {why}"))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("advisory.json") && r.contains("not a CSAF VEX document")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("other.json") && r.contains("Ferret reads Red Hat's and SUSE's")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("broken.json") && r.contains("not CSAF JSON")),
        "{reasons:?}"
    );
    // Nothing usable at all: refused, the database unchanged.
    let before = db.status().unwrap();
    let e = import_feeds(
        &mut db,
        FeedKind::CsafVex,
        &inputs[1..],
        None,
        "2026-12-02T00:00:00Z",
        &Validators::default(),
    )
    .unwrap()[0]
        .as_ref()
        .unwrap_err()
        .to_string();
    assert!(e.contains("no valid record"), "{e}");
    assert_eq!(db.status().unwrap().snapshot, before.snapshot);
}
