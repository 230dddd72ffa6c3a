//! Every fixture in `shared/testdata/fixtures/os-pkgdb` yields exactly the package list a
//! reference tool produced over it (see each `*.expected.json` and the rules below).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferret_catalog::{Catalog, parse_header};
use ferret_layers::{Limits, read_dir};
use ferret_model::{Package, PackageMetadata};
use serde_json::Value;

fn testdata() -> PathBuf {
    std::env::var_os("FERRET_TESTDATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"),
        PathBuf::from,
    )
}

fn cases(kind: &str) -> Vec<(String, PathBuf, Value)> {
    let dir = testdata().join("fixtures/os-pkgdb").join(kind);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(case) = name.strip_suffix(".expected.json") {
            let root = dir.join(case);
            if root.is_dir() {
                let expected: Value =
                    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                out.push((case.to_owned(), root, expected));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no fixtures under {}", dir.display());
    out
}

fn scan(root: &Path) -> ferret_catalog::CatalogResult {
    let catalog = Catalog::new();
    let tree = read_dir(root, catalog.wanted(), &Limits::default()).unwrap();
    catalog.run(&tree)
}

fn s(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

type Row = Vec<Option<String>>;

fn sorted(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort();
    rows
}

/// dpkg states with files on disk, as the cataloger documents.
fn on_disk(status: &Value, distroless: bool) -> bool {
    match status.as_str() {
        None => distroless,
        Some(s) => matches!(
            s.split_whitespace().nth(2),
            Some(
                "installed"
                    | "unpacked"
                    | "half-configured"
                    | "half-installed"
                    | "triggers-awaited"
                    | "triggers-pending"
            )
        ),
    }
}

#[test]
fn dpkg_fixtures() {
    for (case, root, expected) in cases("dpkg") {
        let result = scan(&root);
        let mut want = Vec::new();
        let obj = expected.as_object().unwrap();
        // dpkg-query's own list when it could read the file; otherwise the lenient
        // paragraph reading, since Ferret keeps the readable paragraphs of a damaged file.
        let status_key = match obj.get("status") {
            Some(v) if v["exit_code"] == 0 => Some("status"),
            Some(_) => Some("status_lenient"),
            None => None,
        };
        for (key, distroless) in [(status_key, false), (Some("status.d"), true)] {
            let Some(list) = key.and_then(|k| obj.get(k)) else {
                continue;
            };
            for p in list["packages"].as_array().unwrap() {
                if s(&p["name"]).is_none()
                    || s(&p["version"]).is_none()
                    || !on_disk(&p["status"], distroless)
                {
                    continue;
                }
                want.push(vec![
                    s(&p["name"]),
                    s(&p["version"]),
                    s(&p["architecture"]),
                    s(&p["source_name"]),
                    s(&p["source_version"]),
                ]);
            }
        }
        let got: Vec<Row> = result
            .packages
            .iter()
            .map(|p: &Package| {
                let src = p.source.as_ref().unwrap();
                vec![
                    Some(p.name.clone()),
                    Some(p.version.clone()),
                    p.architecture.clone(),
                    Some(src.name.clone()),
                    Some(src.version.clone()),
                ]
            })
            .collect();
        assert_eq!(sorted(got), sorted(want), "dpkg fixture {case}");
        for p in &result.packages {
            assert!(p.purl.starts_with("pkg:deb/"), "{case}: {}", p.purl);
            assert_eq!(p.found_by, "os/dpkg");
        }
    }
}

#[test]
fn dpkg_damage_is_recorded() {
    let root = testdata().join("fixtures/os-pkgdb/dpkg/syft-corrupt");
    let result = scan(&root);
    assert!(result.packages.is_empty());
    assert!(
        result
            .notes
            .iter()
            .any(|n| n.source == "os/dpkg" && n.message.contains("line ")),
        "{:?}",
        result.notes
    );
}

#[test]
fn apk_fixtures() {
    for (case, root, expected) in cases("apk") {
        let result = scan(&root);
        let want: Vec<Row> = expected["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                vec![
                    s(&p["name"]),
                    s(&p["version"]),
                    s(&p["architecture"]),
                    s(&p["origin"]),
                    s(&p["license"]),
                    s(&p["commit"]),
                ]
            })
            .collect();
        let got: Vec<Row> = result
            .packages
            .iter()
            .map(|p| {
                let PackageMetadata::Apk(m) = &p.metadata else {
                    panic!("{case}: not apk")
                };
                vec![
                    Some(p.name.clone()),
                    Some(p.version.clone()),
                    p.architecture.clone(),
                    m.origin.clone(),
                    p.licenses.first().cloned(),
                    m.commit.clone(),
                ]
            })
            .collect();
        assert_eq!(sorted(got), sorted(want), "apk fixture {case}");
    }
}

/// The rows an rpm fixture's expected list gives.
fn rpm_rows_expected(expected: &Value) -> Vec<Row> {
    let rows = expected["packages"].as_array().unwrap().iter().map(|p| {
        vec![
            s(&p["name"]),
            p["epoch"].as_u64().map(|e| e.to_string()),
            s(&p["version"]),
            s(&p["release"]),
            s(&p["arch"]),
            s(&p["sourcerpm"]),
            s(&p["license"]),
            s(&p["vendor"]),
            s(&p["modularitylabel"]),
        ]
    });
    sorted(rows.collect())
}

/// The same rows of what Ferret read.
fn rpm_rows(case: &str, result: &ferret_catalog::CatalogResult) -> Vec<Row> {
    let rows = result.packages.iter().map(|p| {
        let PackageMetadata::Rpm(m) = &p.metadata else {
            panic!("{case}: not rpm")
        };
        vec![
            Some(p.name.clone()),
            m.epoch.map(|e| e.to_string()),
            Some(m.version.clone()),
            Some(m.release.clone()),
            p.architecture.clone(),
            m.source_rpm.clone(),
            p.licenses.first().cloned(),
            m.vendor.clone(),
            m.modularity_label.clone(),
        ]
    });
    sorted(rows.collect())
}

#[test]
fn rpm_fixtures() {
    for (case, root, expected) in cases("rpm") {
        let result = scan(&root);
        assert_eq!(
            rpm_rows(&case, &result),
            rpm_rows_expected(&expected),
            "rpm fixture {case}"
        );
        if expected["exit_code"] == 0 {
            // A database rpm reads whole gives no note (rpm's key-0 counter is no header).
            assert!(
                result.notes.is_empty(),
                "rpm fixture {case}: {:?}",
                result.notes
            );
        }
        if expected["exit_code"] != 0 && expected["packages"].as_array().unwrap().is_empty() {
            // rpm itself failed on this database: Ferret says why instead of failing.
            assert!(
                !result.notes.is_empty() || result.packages.is_empty(),
                "{case}"
            );
        }
    }
}

/// rpm 5 (Yocto, OpenEmbedded) keeps `Packages` as a Berkeley DB Btree. Each Berkeley DB
/// hash fixture rpm reads, rewritten as a Btree by Berkeley DB's own tools (`db_dump`,
/// then `db_load` with the type changed): the same headers, so the same list rpm gave.
#[test]
fn rpm5_btree_databases_list_the_same_packages() {
    let tool = |name: &str| {
        let ok = std::process::Command::new(name)
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok || std::env::var_os("CI").is_none(),
            "{name} (db5.3-util) failed in CI"
        );
        if !ok {
            eprintln!("\n*** SKIPPED: {name} (Debian's db5.3-util) is not installed ***\n");
        }
        ok
    };
    if !tool("db5.3_dump") || !tool("db5.3_load") {
        return;
    }
    let mut converted = 0;
    for (case, root, expected) in cases("rpm") {
        let packages = root.join("var/lib/rpm/Packages");
        if !packages.is_file() || expected["exit_code"] != 0 {
            continue;
        }
        let dump = std::process::Command::new("db5.3_dump")
            .arg(&packages)
            .output()
            .unwrap();
        assert!(dump.status.success(), "{case}: db_dump failed");
        let text = String::from_utf8(dump.stdout).unwrap();
        assert!(text.contains("\ntype=hash\n"), "{case}");
        // The hash database's own parameters (`h_nelem`, `h_ffactor`) mean nothing to a
        // Btree.
        let btree: String = text
            .lines()
            .filter(|l| !l.starts_with("h_"))
            .map(|l| if l == "type=hash" { "type=btree" } else { l })
            .flat_map(|l| [l, "\n"])
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("var/lib/rpm/Packages");
        std::fs::create_dir_all(db.parent().unwrap()).unwrap();
        let mut load = std::process::Command::new("db5.3_load")
            .arg(&db)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        load.stdin
            .take()
            .unwrap()
            .write_all(btree.as_bytes())
            .unwrap();
        assert!(load.wait().unwrap().success(), "{case}: db_load failed");
        assert_eq!(
            &std::fs::read(&db).unwrap()[12..16],
            &0x0005_3162u32.to_le_bytes()
        );
        let result = scan(dir.path());
        assert_eq!(
            rpm_rows(&case, &result),
            rpm_rows_expected(&expected),
            "rpm fixture {case} as a Btree"
        );
        assert!(result.notes.is_empty(), "{case}: {:?}", result.notes);
        converted += 1;
    }
    assert!(converted >= 2, "{converted} Berkeley DB fixtures");
}

#[test]
fn rpm_header_blob() {
    let dir = testdata().join("fixtures/os-pkgdb/rpm/headers");
    let blob = std::fs::read(dir.join("claircore-package.header")).unwrap();
    let expected: Value = serde_json::from_slice(
        &std::fs::read(dir.join("claircore-package.header.expected.json")).unwrap(),
    )
    .unwrap();
    let h = parse_header(&blob).unwrap();
    let e = &expected["header"];
    assert_eq!(Some(h.name), s(&e["name"]));
    assert_eq!(h.epoch.map(u64::from), e["epoch"].as_u64());
    assert_eq!(Some(h.version), s(&e["version"]));
    assert_eq!(Some(h.release), s(&e["release"]));
    assert_eq!(h.arch, s(&e["arch"]));
    assert_eq!(h.source_rpm, s(&e["sourcerpm"]));
    assert_eq!(h.file_count as u64, e["nfiles"].as_u64().unwrap());
    // Every truncation of a real header fails cleanly.
    for cut in (0..blob.len()).step_by(97) {
        let _ = parse_header(&blob[..cut]);
    }
}

#[test]
fn os_release_cases() {
    let path = testdata().join("fixtures/os-release/os-release-cases.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut checked = 0;
    for line in text.lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let id = case["id"].as_str().unwrap();
        let files = case["files"].as_object().unwrap();
        // Every case parses without panicking, whatever its files hold.
        let dir = tempdir_with(files);
        let result = scan(dir.path());
        let Some(expected) = case.get("expected") else {
            continue;
        };
        let os_release = files
            .get("etc/os-release")
            .or_else(|| files.get("usr/lib/os-release"))
            .and_then(Value::as_str);
        match expected {
            Value::Object(e) => {
                let parsed = ferret_catalog::os::parse_os_release(os_release.unwrap());
                let want: BTreeMap<String, String> = e["parsed"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                    .collect();
                assert_eq!(parsed, want, "{id}: parsed fields");
                let d = result
                    .distro
                    .as_ref()
                    .unwrap_or_else(|| panic!("{id}: no distro"));
                let dist = &e["distribution"];
                assert_eq!(Some(d.id.clone()), s(&dist["did"]), "{id}");
                assert_eq!(s(&Value::String(d.name.clone())), s(&dist["name"]), "{id}");
                assert_eq!(
                    s(&Value::String(d.version_id.clone())),
                    s(&dist["version_id"]),
                    "{id}"
                );
                assert_eq!(
                    s(&Value::String(d.codename.clone())),
                    s(&dist["version_code_name"]),
                    "{id}"
                );
                assert_eq!(
                    s(&Value::String(d.cpe_name.clone())),
                    s(&dist["cpe"]),
                    "{id}"
                );
                checked += 1;
            }
            Value::Array(list) => {
                let d = result
                    .distro
                    .as_ref()
                    .unwrap_or_else(|| panic!("{id}: no distro"));
                let e = &list[0];
                assert_eq!(Some(d.id.clone()), s(&e["did"]), "{id}");
                assert_eq!(Some(d.name.clone()), s(&e["name"]), "{id}");
                assert_eq!(Some(d.pretty_name.clone()), s(&e["pretty_name"]), "{id}");
                // claircore names Alpine releases by major.minor ("edge" for edge).
                let want = s(&e["version"]).unwrap();
                assert!(
                    d.version_id == want
                        || d.version_id.starts_with(&format!("{want}."))
                        || d.pretty_name.ends_with(&want),
                    "{id}: version {} vs {want}",
                    d.version_id
                );
                checked += 1;
            }
            _ => {}
        }
    }
    assert!(
        checked >= 20,
        "only {checked} os-release cases had expectations"
    );
}

fn tempdir_with(files: &serde_json::Map<String, Value>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, body) in files {
        if path.is_empty() {
            continue;
        }
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, body.as_str().unwrap_or_default()).unwrap();
    }
    dir
}
