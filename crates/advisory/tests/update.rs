//! `update` against a feed server started by the test on 127.0.0.1: first fetch, 304s on
//! the second run, and a download cut off mid-way leaving the previous database in place.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ferret_advisory::{Database, Ecosystem, FeedKind, FeedSource, UpdateOptions, update};

fn testdata() -> PathBuf {
    std::env::var_os("FERRET_TESTDATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"),
        PathBuf::from,
    )
}

struct Served {
    body: Vec<u8>,
    etag: String,
    /// Send only this many bytes of the body, then hang up.
    cut_at: Option<usize>,
}

/// Every request the server answered: (path, status).
type RequestLog = Arc<Mutex<Vec<(String, u16)>>>;

/// A small HTTP/1.1 server: GET with ETag and If-None-Match, one request per connection.
fn serve(files: HashMap<String, Served>) -> (String, RequestLog) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    // Documents that point at others (a mirror list) name the server as `@ADDR@`.
    let files: HashMap<String, Served> = files
        .into_iter()
        .map(|(path, mut f)| {
            if let Ok(text) = std::str::from_utf8(&f.body)
                && text.contains("@ADDR@")
            {
                f.body = text.replace("@ADDR@", &addr).into_bytes();
            }
            (path, f)
        })
        .collect();
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(500) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let mut if_none_match = None;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some((k, v)) = h.split_once(':')
                    && k.eq_ignore_ascii_case("if-none-match")
                {
                    if_none_match = Some(v.trim().to_owned());
                }
            }
            let (status, head, body): (u16, String, &[u8]) = match files.get(&path) {
                None => (
                    404,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n".into(),
                    b"",
                ),
                Some(f) if if_none_match.as_deref() == Some(f.etag.as_str()) => (
                    304,
                    format!("HTTP/1.1 304 Not Modified\r\nETag: {}\r\n", f.etag),
                    b"",
                ),
                Some(f) => (
                    200,
                    format!(
                        "HTTP/1.1 200 OK\r\nETag: {}\r\nContent-Length: {}\r\n",
                        f.etag,
                        f.body.len()
                    ),
                    &f.body[..f.cut_at.unwrap_or(f.body.len())],
                ),
            };
            seen.lock().unwrap().push((path, status));
            let _ = stream.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes());
            let _ = stream.write_all(body);
        }
    });
    (addr, log)
}

fn osv_zip() -> Vec<u8> {
    let text = std::fs::read_to_string(testdata().join("advisories/osv/crates-io.jsonl")).unwrap();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for line in text.lines().take(200) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        w.start_file(format!("{}.json", v["id"].as_str().unwrap()), opts)
            .unwrap();
        w.write_all(line.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn sources(addr: &str, paths: &[(FeedKind, &str)]) -> UpdateOptions {
    UpdateOptions {
        sources: paths
            .iter()
            .map(|(kind, p)| FeedSource {
                kind: *kind,
                url: format!("http://{addr}{p}"),
            })
            .collect(),
        ..UpdateOptions::default()
    }
}

#[test]
fn fetch_then_not_modified_then_interrupted() {
    let tracker =
        std::fs::read(testdata().join("advisories/debian/vunnel-debian-tracker-sample.json"))
            .unwrap();
    let secdb = std::fs::read(testdata().join("advisories/alpine-secdb/v3.10/main.yaml")).unwrap();
    let zip = osv_zip();
    let mut files = HashMap::new();
    files.insert(
        "/crates.io/all.zip".to_owned(),
        Served {
            body: zip.clone(),
            etag: "\"z1\"".into(),
            cut_at: None,
        },
    );
    files.insert(
        "/tracker/data/json".to_owned(),
        Served {
            body: tracker,
            etag: "\"t1\"".into(),
            cut_at: None,
        },
    );
    files.insert(
        "/v3.10/main.yaml".to_owned(),
        Served {
            body: secdb,
            etag: "\"s1\"".into(),
            cut_at: None,
        },
    );
    files.insert(
        "/broken/all.zip".to_owned(),
        Served {
            body: zip.clone(),
            etag: "\"b1\"".into(),
            cut_at: Some(zip.len() / 3),
        },
    );
    let (addr, log) = serve(files);
    let feeds = [
        (FeedKind::Osv, "/crates.io/all.zip"),
        (FeedKind::DebianTracker, "/tracker/data/json"),
        (FeedKind::Secdb, "/v3.10/main.yaml"),
    ];
    let dir = tempfile::tempdir().unwrap();

    let first = update(dir.path(), &sources(&addr, &feeds), "2026-11-22T00:00:00Z").unwrap();
    assert_eq!(first.imported.len(), 3, "{first:?}");
    assert!(first.not_modified.is_empty());
    let status = Database::open(dir.path()).unwrap().status().unwrap();
    assert_eq!(status.feeds.len(), 3);
    assert!(
        status
            .feeds
            .iter()
            .all(|f| f.source.starts_with("http://127.0.0.1"))
    );

    let second = update(dir.path(), &sources(&addr, &feeds), "2026-11-23T00:00:00Z").unwrap();
    assert_eq!(second.not_modified.len(), 3, "{second:?}");
    assert!(second.imported.is_empty());
    assert_eq!(
        Database::open(dir.path()).unwrap().status().unwrap(),
        status
    );
    assert_eq!(answered(&log, 304), 3);

    // A download cut off mid-way: the update fails and the database stays as it was.
    let broken = [
        (FeedKind::Secdb, "/v3.10/main.yaml"),
        (FeedKind::Osv, "/broken/all.zip"),
    ];
    let err = update(dir.path(), &sources(&addr, &broken), "2026-11-24T00:00:00Z").unwrap_err();
    assert!(err.to_string().contains("broken"), "{err}");
    let db = Database::open(dir.path()).unwrap();
    assert_eq!(db.status().unwrap(), status);
    assert!(
        !db.query(Ecosystem::Alpine, "3.10", "ansible")
            .unwrap()
            .is_empty()
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        vec![std::ffi::OsString::from("advisories.db")],
        "temporary files left behind"
    );

    // A missing feed is an error too, and changes nothing.
    let missing = [(FeedKind::Osv, "/nope/all.zip")];
    let err = update(
        dir.path(),
        &sources(&addr, &missing),
        "2026-11-24T00:00:00Z",
    )
    .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    assert_eq!(
        Database::open(dir.path()).unwrap().status().unwrap(),
        status
    );
}

/// A database left by an older Ferret (another schema version) is a cache of the feeds:
/// `update` builds a new one in its place, fetching everything again.
#[test]
fn update_rebuilds_a_database_of_another_schema() {
    let mut files = HashMap::new();
    files.insert(
        "/crates.io/all.zip".to_owned(),
        Served {
            body: osv_zip(),
            etag: "\"z1\"".into(),
            cut_at: None,
        },
    );
    let (addr, _log) = serve(files);
    let dir = tempfile::tempdir().unwrap();
    let old = rusqlite::Connection::open(dir.path().join(ferret_advisory::DB_FILE)).unwrap();
    old.execute_batch(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         INSERT INTO meta VALUES ('schema_version', '2');",
    )
    .unwrap();
    drop(old);
    assert!(Database::open(dir.path()).is_err());

    let feeds = [(FeedKind::Osv, "/crates.io/all.zip")];
    let report = update(dir.path(), &sources(&addr, &feeds), "2026-11-22T00:00:00Z").unwrap();
    assert_eq!(report.imported.len(), 1, "{report:?}");
    let status = Database::open(dir.path()).unwrap().status().unwrap();
    assert_eq!(status.schema_version, ferret_advisory::SCHEMA_VERSION);
    assert_eq!(status.feeds.len(), 1);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn own(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/advisories")
        .join(p)
}

/// NVD (gzip, named as NVD names its yearly files), CVE JSON 5 (a zip), KEV and EPSS
/// (gzip): first fetch, all 304 the second time, then an NVD download cut short.
#[test]
fn cve_feeds_fetch_then_not_modified_then_interrupted() {
    let nvd = gzip(&std::fs::read(own("nvd/nvdcve-2.0-sample.json")).unwrap());
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for e in std::fs::read_dir(own("cve5")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("CVE-") {
            w.start_file(
                format!("cves/{name}"),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            w.write_all(&std::fs::read(&p).unwrap()).unwrap();
        }
    }
    let cve5 = w.finish().unwrap().into_inner();
    let kev = std::fs::read(own("kev/known_exploited_vulnerabilities.json")).unwrap();
    let epss_file = std::fs::read_dir(own("epss"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "csv"))
        .unwrap();
    let epss = gzip(&std::fs::read(epss_file).unwrap());
    let paths = [
        (FeedKind::Nvd, "/feeds/json/cve/2.0/nvdcve-2.0-2021.json.gz"),
        (FeedKind::Cve5, "/cvelistV5/cves.zip"),
        (FeedKind::Kev, "/feeds/known_exploited_vulnerabilities.json"),
        (FeedKind::Epss, "/epss_scores-current.csv.gz"),
    ];
    let files = |cut_nvd: bool| -> HashMap<String, Served> {
        [&nvd, &cve5, &kev, &epss]
            .into_iter()
            .zip(paths)
            .enumerate()
            .map(|(i, (body, (_, p)))| {
                (
                    p.to_owned(),
                    Served {
                        body: body.clone(),
                        etag: format!("\"v{i}\""),
                        cut_at: (cut_nvd && i == 0).then_some(body.len() / 2),
                    },
                )
            })
            .collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let (addr, log) = serve(files(false));
    let options = sources(&addr, &paths);
    let report = update(dir.path(), &options, "2026-12-02T00:00:00Z").unwrap();
    let mut names: Vec<&str> = report.imported.iter().map(|s| s.feed.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["cve5", "epss", "kev", "nvd-2021"]);
    assert!(report.imported.iter().all(|s| s.records > 0));
    let db = Database::open(dir.path()).unwrap();
    let before = db.status().unwrap();
    assert!(!db.facts(&["CVE-2021-44228"]).unwrap().is_empty());
    drop(db);

    let report = update(dir.path(), &options, "2026-12-03T00:00:00Z").unwrap();
    assert!(report.imported.is_empty());
    assert_eq!(report.not_modified.len(), 4);
    assert_eq!(answered(&log, 304), 4);

    // A new NVD file whose download breaks off: the error names it, nothing changes.
    let (addr, _) = serve(files(true));
    let mut options = sources(&addr, &paths);
    options.sources.truncate(1);
    let fresh = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join(ferret_advisory::DB_FILE),
        fresh.path().join(ferret_advisory::DB_FILE),
    )
    .unwrap();
    // Forget the validators by asking a copy whose feeds came from another address.
    let e = update(fresh.path(), &options, "2026-12-04T00:00:00Z").unwrap_err();
    assert!(e.to_string().contains("interrupted"), "{e}");
    let after = Database::open(fresh.path()).unwrap().status().unwrap();
    assert_eq!(after.snapshot, before.snapshot);
}

/// How many requests the server answered with `status`.
fn answered(log: &RequestLog, status: u16) -> usize {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(_, s)| *s == status)
        .count()
}

/// A second update of the same feeds: every one answers 304 and nothing is imported.
fn second_run_is_not_modified(dir: &Path, options: &UpdateOptions, log: &RequestLog, n: usize) {
    let report = update(dir, options, "2026-12-03T00:00:00Z").unwrap();
    assert!(report.imported.is_empty());
    assert_eq!(report.not_modified.len(), n);
    assert_eq!(answered(log, 304), n);
}

/// The first feed of `paths` served anew but cut off mid-download, into a copy of the
/// database in `dir` (whose validators came from another address): the update fails
/// naming the interruption, and the copy's content is unchanged.
fn a_cut_download_changes_nothing(
    dir: &Path,
    cut: HashMap<String, Served>,
    paths: &[(FeedKind, &str)],
    names: &str,
) -> String {
    let before = Database::open(dir).unwrap().status().unwrap();
    let (addr, _) = serve(cut);
    let mut options = sources(&addr, paths);
    options.sources.truncate(1);
    let fresh = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.join(ferret_advisory::DB_FILE),
        fresh.path().join(ferret_advisory::DB_FILE),
    )
    .unwrap();
    let e = update(fresh.path(), &options, "2026-12-04T00:00:00Z")
        .unwrap_err()
        .to_string();
    assert!(e.contains("interrupted") && e.contains(names), "{e}");
    let after = Database::open(fresh.path()).unwrap().status().unwrap();
    assert_eq!(after.snapshot, before.snapshot);
    e
}

/// The RPM distros' feeds: Oracle's OVAL as bzip2, Microsoft's and VMware's OVAL as XML,
/// and Amazon's updateinfo (gzip) found through its mirror list and repomd.xml.
#[test]
fn distro_feeds_fetch_then_not_modified_then_interrupted() {
    let oracle = {
        let raw = std::fs::read(own("oracle/oval/com.oracle.elsa-all.sample.xml")).unwrap();
        let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        enc.write_all(&raw).unwrap();
        enc.finish().unwrap()
    };
    let azure = std::fs::read(own("azurelinux/oval/azurelinux-3.0-oval.trimmed.xml")).unwrap();
    let photon = std::fs::read(own("photon/oval/com.vmware.phsa-photon3.trimmed.xml")).unwrap();
    let updateinfo = gzip(
        &std::fs::read(own(
            "amazon/updateinfo/al2_ALAS2-2018-942_949.updateinfo.xml",
        ))
        .unwrap(),
    );
    let mirror = b"http://@ADDR@/2/core/2.0.20241203.0/x86_64/abcdef/\n".to_vec();
    let repomd = br#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1733270000</revision>
  <data type="primary"><location href="repodata/primary.sqlite.gz"/></data>
  <data type="updateinfo">
    <checksum type="sha256">0123</checksum>
    <location href="repodata/0123-updateinfo.xml.gz"/>
  </data>
</repomd>
"#
    .to_vec();
    let paths = [
        (FeedKind::Oval, "/security/oval/com.oracle.elsa-all.xml.bz2"),
        (FeedKind::Oval, "/azurelinux-3.0-oval.xml"),
        (
            FeedKind::Oval,
            "/photon_oval_definitions/com.vmware.phsa-photon3.xml",
        ),
        (FeedKind::Alas, "/2/core/latest/x86_64/mirror.list"),
    ];
    let files = |cut_oracle: bool| -> HashMap<String, Served> {
        let mut m: HashMap<String, Served> = [&oracle, &azure, &photon, &mirror]
            .into_iter()
            .zip(paths)
            .enumerate()
            .map(|(i, (body, (_, p)))| {
                (
                    p.to_owned(),
                    Served {
                        body: body.clone(),
                        etag: format!("\"v{i}\""),
                        cut_at: (cut_oracle && i == 0).then_some(body.len() / 2),
                    },
                )
            })
            .collect();
        for (p, body) in [
            (
                "/2/core/2.0.20241203.0/x86_64/abcdef/repodata/repomd.xml",
                &repomd,
            ),
            (
                "/2/core/2.0.20241203.0/x86_64/abcdef/repodata/0123-updateinfo.xml.gz",
                &updateinfo,
            ),
        ] {
            m.insert(
                p.to_owned(),
                Served {
                    body: body.clone(),
                    etag: "\"u\"".to_owned(),
                    cut_at: None,
                },
            );
        }
        m
    };
    let dir = tempfile::tempdir().unwrap();
    let (addr, log) = serve(files(false));
    let options = sources(&addr, &paths);
    let report = update(dir.path(), &options, "2026-12-02T00:00:00Z").unwrap();
    let mut names: Vec<&str> = report.imported.iter().map(|s| s.feed.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "alas-2",
            "oval-azure-linux-3",
            "oval-oracle-linux",
            "oval-photon-os-3"
        ]
    );
    assert!(report.imported.iter().all(|s| s.records > 0));
    let db = Database::open(dir.path()).unwrap();
    let before = db.status().unwrap();
    // The feed is known by its mirror list, whatever file the mirror named.
    assert!(
        before
            .feeds
            .iter()
            .any(|f| f.source.ends_with("/mirror.list"))
    );
    assert!(!db.show("CVE-2018-2677").unwrap().is_empty());
    let coverage = db.coverage().unwrap();
    for (e, r) in [
        ("Amazon Linux", "2"),
        ("Azure Linux", "3"),
        ("Oracle Linux", "5"),
        ("Photon OS", "3"),
    ] {
        assert!(
            coverage.contains(&(e.parse().unwrap(), r.to_owned())),
            "{e} {r}: {coverage:?}"
        );
    }
    drop(db);
    second_run_is_not_modified(dir.path(), &options, &log, 4);
    // A new Oracle file whose download breaks off: the error names it, nothing changes.
    a_cut_download_changes_nothing(dir.path(), files(true), &paths, "elsa");
}

/// A tar archive of the JSON files of a directory, compressed by `compress`.
fn tar_of(dir: &str, compress: fn(Vec<u8>) -> Vec<u8>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut files: Vec<PathBuf> = std::fs::read_dir(own(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for f in files {
        let name = format!("2023/{}", f.file_name().unwrap().to_string_lossy());
        b.append_path_with_name(&f, name).unwrap();
    }
    compress(b.into_inner().unwrap())
}

/// Red Hat's VEX archive (named by archive_latest.txt, tar.zst), its repository-to-CPE
/// map, and SUSE's VEX archive (tar.bz2).
#[test]
fn vex_archives_fetch_then_not_modified_then_interrupted() {
    let redhat = tar_of("redhat/vex", |t| zstd::encode_all(&t[..], 3).unwrap());
    let suse = tar_of("suse/csaf-vex", |t| {
        let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        enc.write_all(&t).unwrap();
        enc.finish().unwrap()
    });
    let cpes = std::fs::read(own("redhat/repository-to-cpe/repository-to-cpe.json")).unwrap();
    let pointer = b"csaf_vex_2026-12-01.tar.zst\n".to_vec();
    let paths = [
        (FeedKind::CsafVex, "/data/csaf/v2/vex/archive_latest.txt"),
        (
            FeedKind::RepositoryToCpe,
            "/data/metrics/repository-to-cpe.json",
        ),
        (FeedKind::CsafVex, "/pub/projects/security/csaf-vex.tar.bz2"),
    ];
    let files = |cut_redhat: bool| -> HashMap<String, Served> {
        let mut m: HashMap<String, Served> = [&pointer, &cpes, &suse]
            .into_iter()
            .zip(paths)
            .enumerate()
            .map(|(i, (body, (_, p)))| {
                (
                    p.to_owned(),
                    Served {
                        body: body.clone(),
                        etag: format!("\"v{i}\""),
                        cut_at: None,
                    },
                )
            })
            .collect();
        m.insert(
            "/data/csaf/v2/vex/csaf_vex_2026-12-01.tar.zst".to_owned(),
            Served {
                body: redhat.clone(),
                etag: "\"rh\"".to_owned(),
                cut_at: cut_redhat.then_some(redhat.len() / 2),
            },
        );
        m
    };
    let dir = tempfile::tempdir().unwrap();
    let (addr, log) = serve(files(false));
    let options = sources(&addr, &paths);
    let report = update(dir.path(), &options, "2026-12-02T00:00:00Z").unwrap();
    let mut names: Vec<(&str, usize)> = report
        .imported
        .iter()
        .map(|s| (s.feed.as_str(), s.records))
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            ("csaf-vex-redhat", 6),
            ("csaf-vex-suse", 1),
            ("redhat-repository-to-cpe", 53)
        ]
    );
    let db = Database::open(dir.path()).unwrap();
    assert!(!db.show("CVE-2024-7348").unwrap().is_empty());
    assert!(
        db.repository_cpes(&["rhel-9-for-x86_64-baseos-rpms".to_owned()])
            .unwrap()
            .contains("cpe:/o:redhat:enterprise_linux:9::baseos")
    );
    drop(db);
    second_run_is_not_modified(dir.path(), &options, &log, 3);
    a_cut_download_changes_nothing(dir.path(), files(true), &paths, "archive_latest");
}
