//! Every record in `shared/testdata/advisories` imports, with counts per feed and spot
//! checks of the normalised result; bad input leaves the database untouched.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use ferret_advisory::{
    Advisory, Database, Ecosystem, Event, FeedKind, FixState, Validators, import_feeds,
};

fn testdata() -> PathBuf {
    std::env::var_os("FERRET_TESTDATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"),
        PathBuf::from,
    )
}

fn adv(p: &str) -> PathBuf {
    testdata().join("advisories").join(p)
}

fn import(
    db: &mut Database,
    kind: FeedKind,
    paths: &[PathBuf],
) -> Vec<(String, usize, usize, usize)> {
    import_feeds(
        db,
        kind,
        paths,
        None,
        "2026-11-22T00:00:00Z",
        &Validators::default(),
    )
    .unwrap()
    .into_iter()
    .map(|r| {
        let s = r.unwrap();
        (s.feed, s.records, s.withdrawn, s.skipped)
    })
    .collect()
}

fn all_feeds(dir: &Path) -> (Database, Vec<(String, usize, usize, usize)>) {
    let mut db = Database::open(dir).unwrap();
    let mut counts = Vec::new();
    counts.extend(import(
        &mut db,
        FeedKind::Osv,
        &[adv("osv/pypi-pysec.jsonl")],
    ));
    counts.extend(import(&mut db, FeedKind::Osv, &[adv("osv/go.jsonl")]));
    counts.extend(import(
        &mut db,
        FeedKind::Osv,
        &[adv("osv/crates-io.jsonl")],
    ));
    counts.extend(import(&mut db, FeedKind::Osv, &[adv("ubuntu-osv")]));
    counts.extend(import(&mut db, FeedKind::Osv, &[adv("other-osv")]));
    counts.extend(import(
        &mut db,
        FeedKind::DebianTracker,
        &[adv("debian/vunnel-debian-tracker-sample.json")],
    ));
    let mut secdb: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(adv("alpine-secdb")).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            for f in std::fs::read_dir(&p).unwrap() {
                secdb.push(f.unwrap().path());
            }
        } else if p.extension().is_some_and(|e| e == "json") {
            secdb.push(p);
        }
    }
    secdb.sort();
    secdb.push(adv("wolfi-secdb/vunnel-wolfi-security.json"));
    secdb.push(adv("wolfi-secdb/vunnel-chainguard-security.json"));
    counts.extend(import(&mut db, FeedKind::Secdb, &secdb));
    (db, counts)
}

fn find(list: &[Advisory], id: &str) -> Advisory {
    list.iter()
        .find(|a| a.id == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not found"))
}

#[test]
fn every_feed_imports_with_expected_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (db, counts) = all_feeds(dir.path());
    let expected: &[(&str, usize, usize, usize)] = &[
        ("osv-pypi", 2003, 8, 0),
        ("osv-go", 3213, 11, 0),
        ("osv-crates.io", 896, 10, 0),
        ("osv-ubuntu", 5, 3, 0),
        ("osv-almalinux+chainguard+rocky-linux+wolfi", 4, 0, 0),
        ("debian", 6, 0, 0),
        ("alpine-3.10-community", 693, 0, 0),
        ("alpine-3.10-main", 1201, 0, 0),
        ("alpine-3.15-community", 3, 0, 0),
        ("alpine-3.15-main", 13, 0, 0),
        ("alpine-3.3-community", 0, 0, 0),
        ("alpine-3.3-main", 486, 0, 0),
        ("alpine-3.4-community", 14, 0, 0),
        ("alpine-3.4-main", 725, 0, 0),
        ("alpine-3.5-community", 98, 0, 0),
        ("alpine-3.5-main", 888, 0, 0),
        ("alpine-3.6-community", 196, 0, 0),
        ("alpine-3.6-main", 963, 0, 0),
        ("alpine-3.7-community", 379, 0, 0),
        ("alpine-3.7-main", 1128, 0, 0),
        ("alpine-3.8-community", 463, 0, 0),
        ("alpine-3.8-main", 1178, 0, 0),
        ("alpine-3.9-community", 576, 0, 0),
        ("alpine-3.9-main", 1150, 0, 0),
        ("chainguard-chainguard", 189, 0, 0),
        ("wolfi-os", 59, 0, 0),
    ];
    let got: Vec<(&str, usize, usize, usize)> = counts
        .iter()
        .map(|(n, r, w, s)| (n.as_str(), *r, *w, *s))
        .collect();
    assert_eq!(got, expected);
    let status = db.status().unwrap();
    assert_eq!(status.feeds.len(), expected.len());
    assert!(status.snapshot.starts_with("sha256:"));
    assert!(status.size_bytes > 0);
}

#[test]
fn spot_checks() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = all_feeds(dir.path());

    // Go: the vulnerable packages and symbols of a record, and the index of every symbol.
    let stdlib = db.query(Ecosystem::Go, "", "stdlib").unwrap();
    let mime = find(&stdlib, "GO-2023-1704");
    assert_eq!(
        mime.affected[0].imports,
        vec![ferret_advisory::GoImport {
            path: "net/textproto".into(),
            symbols: vec![
                "Reader.ReadMIMEHeader".into(),
                "Reader.upcomingHeaderNewlines".into(),
                "readMIMEHeader".into(),
            ],
        }]
    );
    let symbols = db.go_symbols().unwrap();
    assert!(symbols.contains(&(
        "net/textproto".to_owned(),
        "Reader.upcomingHeaderNewlines".to_owned()
    )));
    assert!(symbols.contains(&("gopkg.in/yaml.v2".to_owned(), "Unmarshal".to_owned())));
    // Records of other ecosystems carry none.
    assert!(
        db.query(Ecosystem::PyPI, "", "django")
            .unwrap()
            .iter()
            .all(|a| a.affected.iter().all(|x| x.imports.is_empty()))
    );

    // Debian: not affected (`0`), fixed with urgency, open.
    let proto = db.query(Ecosystem::Debian, "9", "prototypejs").unwrap();
    let na = find(&proto, "CVE-2007-2383");
    assert_eq!(
        na.affected
            .iter()
            .find(|a| a.namespace.release == "9")
            .unwrap()
            .fix_state,
        Some(FixState::NotAffected)
    );
    let fixed = find(&proto, "CVE-2008-7220");
    let stretch = fixed
        .affected
        .iter()
        .find(|a| a.namespace.release == "9")
        .unwrap();
    assert_eq!(stretch.fix_state, Some(FixState::Fixed("1.6.0.2-1".into())));
    assert_eq!(stretch.severity.as_deref(), Some("high"));
    let chromium = find(
        &db.query(Ecosystem::Debian, "10", "chromium").unwrap(),
        "CVE-2022-0456",
    );
    let buster = chromium
        .affected
        .iter()
        .find(|a| a.namespace.release == "10")
        .unwrap();
    assert_eq!(buster.fix_state, Some(FixState::NotFixed));
    assert_eq!(buster.severity.as_deref(), Some("end-of-life"));

    // Alpine secfix.
    let ansible = find(
        &db.query(Ecosystem::Alpine, "3.10", "ansible").unwrap(),
        "CVE-2019-10206",
    );
    let a = ansible
        .affected
        .iter()
        .find(|a| a.namespace.release == "3.10")
        .unwrap();
    assert_eq!(a.fix_state, Some(FixState::Fixed("2.8.4-r0".into())));
    assert_eq!(
        a.ranges[0].events,
        vec![
            Event::Introduced("0".into()),
            Event::Fixed("2.8.4-r0".into())
        ]
    );

    // OSV: last_affected, versions[] only, names normalised per PEP 503.
    let py = find(
        &db.query(Ecosystem::PyPI, "", "Py").unwrap(),
        "PYSEC-2022-42969",
    );
    assert_eq!(
        py.affected[0].ranges[0].events,
        vec![
            Event::Introduced("0".into()),
            Event::LastAffected("1.11.0".into())
        ]
    );
    let gratient = find(
        &db.query(Ecosystem::PyPI, "", "gratient").unwrap(),
        "PYSEC-2024-1",
    );
    assert!(gratient.affected[0].ranges.is_empty());
    assert_eq!(gratient.affected[0].versions, vec!["0.5".to_owned()]);

    // Withdrawn records are dropped.
    assert!(db.show("PYSEC-2019-144").unwrap().is_empty());
    assert!(db.show("GO-2022-0617").unwrap().is_empty());

    // Any alias finds the record.
    let by_id = db.show("PYSEC-2022-42969").unwrap();
    let alias = by_id[0]
        .aliases
        .first()
        .cloned()
        .expect("PYSEC-2022-42969 has aliases");
    assert!(
        db.show(&alias)
            .unwrap()
            .iter()
            .any(|a| a.id == "PYSEC-2022-42969")
    );

    // Ubuntu releases parse without the LTS suffix.
    assert!(
        db.status()
            .unwrap()
            .feeds
            .iter()
            .any(|f| f.name == "osv-ubuntu")
    );
}

#[test]
fn reimport_replaces_the_feed() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Database::open(dir.path()).unwrap();
    let first = import(&mut db, FeedKind::Osv, &[adv("osv/crates-io.jsonl")]);
    // A smaller version of the same feed: only ten records.
    let text = std::fs::read_to_string(adv("osv/crates-io.jsonl")).unwrap();
    let small: String = text.lines().take(10).map(|l| format!("{l}\n")).collect();
    let path = dir.path().join("small.jsonl");
    std::fs::write(&path, small).unwrap();
    let second = import(&mut db, FeedKind::Osv, &[path]);
    assert_eq!(first[0].0, second[0].0);
    let status = db.status().unwrap();
    assert_eq!(status.feeds.len(), 1);
    assert!(status.feeds[0].records <= 10, "{:?}", status.feeds[0]);
    // A feed's Go symbols go with it.
    let go = import(&mut db, FeedKind::Osv, &[adv("osv/go.jsonl")]);
    assert!(!db.go_symbols().unwrap().is_empty());
    let go_small = dir.path().join("go-small.jsonl");
    let text = std::fs::read_to_string(adv("osv/go.jsonl")).unwrap();
    let no_imports: String = text
        .lines()
        .filter(|l| !l.contains("\"imports\""))
        .take(3)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&go_small, no_imports).unwrap();
    let again = import(&mut db, FeedKind::Osv, &[go_small]);
    assert_eq!(go[0].0, again[0].0);
    assert!(db.go_symbols().unwrap().is_empty());
}

fn zip_with(members: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in members {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Imports `path` expecting failure; the database must be exactly as before.
fn rejected(kind: FeedKind, path: &Path, needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Database::open(dir.path()).unwrap();
    import(&mut db, FeedKind::Osv, &[adv("osv/crates-io.jsonl")]);
    let before = db.status().unwrap().feeds;
    let err = match import_feeds(
        &mut db,
        kind,
        &[path.to_owned()],
        None,
        "now",
        &Validators::default(),
    ) {
        Err(e) => e.to_string(),
        Ok(results) => results
            .into_iter()
            .map(|r| r.map(|_| ()).unwrap_err().to_string())
            .collect::<Vec<_>>()
            .join("; "),
    };
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert_eq!(db.status().unwrap().feeds, before, "the database changed");
    assert_eq!(
        db.query(Ecosystem::CratesIo, "", "smallvec").unwrap().len(),
        Database::open(dir.path())
            .unwrap()
            .query(Ecosystem::CratesIo, "", "smallvec")
            .unwrap()
            .len()
    );
}

#[test]
fn bad_input_leaves_the_database_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let record = std::fs::read_to_string(adv("osv/crates-io.jsonl"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();

    let zip = zip_with(&[("a.json", record.as_bytes())]);
    let truncated = dir.path().join("truncated.zip");
    std::fs::write(&truncated, &zip[..zip.len() / 2]).unwrap();
    rejected(FeedKind::Osv, &truncated, "zip");

    let garbage = dir.path().join("garbage.jsonl");
    std::fs::write(&garbage, "{not json\n[1,2\n").unwrap();
    rejected(FeedKind::Osv, &garbage, "invalid JSON");

    let unknown = dir.path().join("unknown.json");
    std::fs::write(&unknown, r#"{"id":"X-1","affected":[{"package":{"ecosystem":"Klingon","name":"bat'leth"},"versions":["1"]}]}"#).unwrap();
    rejected(FeedKind::Osv, &unknown, "unknown ecosystem");

    let impossible = dir.path().join("impossible.json");
    std::fs::write(
        &impossible,
        r#"{"id":"X-2","affected":[{"package":{"ecosystem":"PyPI","name":"x"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"2.0"},{"fixed":"1.0"}]}]}]}"#,
    )
    .unwrap();
    rejected(FeedKind::Osv, &impossible, "impossible range");

    // A member whose headers claim 2 GiB: refused before anything is read.
    let mut huge = zip_with(&[("big.json", record.as_bytes())]);
    let claim = 0x8000_0000u32.to_le_bytes();
    huge[22..26].copy_from_slice(&claim);
    let cd = huge
        .windows(4)
        .position(|w| w == [0x50, 0x4b, 0x01, 0x02])
        .unwrap();
    huge[cd + 24..cd + 28].copy_from_slice(&claim);
    let big = dir.path().join("big.zip");
    std::fs::write(&big, &huge).unwrap();
    rejected(FeedKind::Osv, &big, "2147483648");

    let not_tracker = dir.path().join("tracker.json");
    std::fs::write(&not_tracker, "[]").unwrap();
    rejected(
        FeedKind::DebianTracker,
        &not_tracker,
        "not Debian tracker JSON",
    );
}

#[test]
fn schema_version_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    drop(Database::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join(ferret_advisory::DB_FILE)).unwrap();
    conn.execute(
        "UPDATE meta SET value = '1' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    drop(conn);
    let err = Database::open(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("schema version 1")
            && err.contains(&ferret_advisory::SCHEMA_VERSION.to_string()),
        "{err}"
    );
}
