//! Every case in `shared/testdata/fixtures/lang/expected.json` gives exactly the packages a
//! reference reading of the fixture lists (each entry's `expected_from` says which). The
//! fixture files are placed where the cataloger looks for them in a root file system.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use ferret_catalog::Catalog;
use ferret_layers::{Limits, read_dir};
use ferret_model::PackageKind;
use serde_json::Value;

fn testdata() -> PathBuf {
    std::env::var_os("FERRET_TESTDATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"),
        PathBuf::from,
    )
}

/// The cases whose key starts with `fixtures/lang/{dir}/`, with their fixture paths.
fn cases(dir: &str) -> Vec<(PathBuf, Value)> {
    let expected: Value = serde_json::from_slice(
        &std::fs::read(testdata().join("fixtures/lang/expected.json")).unwrap(),
    )
    .unwrap();
    let prefix = format!("fixtures/lang/{dir}/");
    let out: Vec<(PathBuf, Value)> = expected
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(k, v)| (testdata().join(k), v.clone()))
        .collect();
    assert!(!out.is_empty(), "no cases for {dir}");
    out
}

/// Catalogs a root holding `file` at `at`; the (name, version) of packages of `kind`, sorted,
/// and the notes.
fn catalog_one(file: &Path, at: &str, kind: PackageKind) -> (Vec<(String, String)>, Vec<String>) {
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join(at);
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(file, &dest).unwrap();
    let catalog = Catalog::new();
    let tree = read_dir(root.path(), catalog.wanted(), &Limits::default()).unwrap();
    let result = catalog.run(&tree);
    let mut got: Vec<(String, String)> = result
        .packages
        .iter()
        .filter(|p| p.kind == kind)
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect();
    got.sort();
    (got, result.notes.iter().map(ToString::to_string).collect())
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn python_core_metadata() {
    for (file, expected) in cases("python") {
        let want = pairs(&expected["packages"]);
        for at in [
            "usr/lib/python3/dist-packages/x-1.0.dist-info/METADATA",
            "opt/venv/lib/python3.11/site-packages/x-1.0.egg-info/PKG-INFO",
            "usr/lib/python2.7/dist-packages/x-1.0.egg-info",
        ] {
            let (got, notes) = catalog_one(&file, at, PackageKind::Python);
            assert_eq!(got, want, "{} at {at}", file.display());
            // A file that names no distribution says so, with its path.
            if want.is_empty() {
                assert!(notes.iter().any(|n| n.contains(at)), "{notes:?}");
            }
        }
    }
}

#[test]
fn node_package_json() {
    for (file, expected) in cases("javascript") {
        let listed = pairs(&expected["packages"]);
        // The reference read name and version without validation; a package.json without
        // either names no installable package, and Ferret says so instead of listing it.
        let (want, invalid): (Vec<_>, Vec<_>) = listed
            .into_iter()
            .partition(|(n, v)| !n.is_empty() && !v.is_empty());
        let at = "srv/app/node_modules/x/package.json";
        let (got, notes) = catalog_one(&file, at, PackageKind::Npm);
        assert_eq!(got, want, "{}", file.display());
        if !invalid.is_empty() || expected.get("error").is_some() {
            assert!(
                notes.iter().any(|n| n.contains(at)),
                "{}: {notes:?}",
                file.display()
            );
        }
    }
}

/// Cases whose `packages` list (name, version) is exactly what the cataloger must list;
/// an `error` or an empty list for a file that names nothing must come with a note.
fn listed_cases(dir: &str, at: &str, kind: PackageKind, noted_when_empty: bool) {
    for (file, expected) in cases(dir) {
        let mut want = pairs(&expected["packages"]);
        want.dedup();
        let (got, notes) = catalog_one(&file, at, kind);
        assert_eq!(got, want, "{}", file.display());
        if expected.get("error").is_some() || (noted_when_empty && want.is_empty()) {
            assert!(
                notes.iter().any(|n| n.contains(at)),
                "{}: {notes:?}",
                file.display()
            );
        }
    }
}

#[test]
fn rust_cargo_lock() {
    listed_cases("rust", "src/app/Cargo.lock", PackageKind::RustCrate, false);
}

// Gem specifications are compared with what RubyGems itself loads, in
// crates/ferret/tests/lang_images.rs (the shared expectations are a regex's reading).

#[test]
fn php_composer_lock() {
    listed_cases(
        "php",
        "srv/app/composer.lock",
        PackageKind::PhpComposer,
        false,
    );
}

#[test]
fn dotnet_deps_json() {
    for (file, expected) in cases("dotnet") {
        // Runtime libraries of type `package` with a `Name/Version` key; a key without a
        // version is noted.
        let mut want = Vec::new();
        let mut unversioned = false;
        for lib in expected["libraries"].as_array().unwrap() {
            if lib["type"] != "package" {
                continue;
            }
            match lib["key"].as_str().unwrap().split_once('/') {
                Some((n, v)) => want.push((n.to_owned(), v.to_owned())),
                None => unversioned = true,
            }
        }
        want.sort();
        let at = "app/App.deps.json";
        let (got, notes) = catalog_one(&file, at, PackageKind::Dotnet);
        assert_eq!(got, want, "{}", file.display());
        if unversioned || expected.get("error").is_some() {
            assert!(
                notes.iter().any(|n| n.contains(at)),
                "{}: {notes:?}",
                file.display()
            );
        }
    }
}

/// Catalogs a root holding the given files; every package of `kind`.
fn catalog_files(
    files: &[(&str, &[u8])],
    kind: PackageKind,
) -> (Vec<ferret_model::Package>, Vec<String>) {
    let root = tempfile::tempdir().unwrap();
    for (at, data) in files {
        let dest = root.path().join(at);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(&dest, data).unwrap();
    }
    let catalog = Catalog::new();
    let tree = read_dir(root.path(), catalog.wanted(), &Limits::default()).unwrap();
    let result = catalog.run(&tree);
    (
        result
            .packages
            .into_iter()
            .filter(|p| p.kind == kind)
            .collect(),
        result.notes.iter().map(ToString::to_string).collect(),
    )
}

fn java_meta(p: &ferret_model::Package) -> &ferret_model::JavaMetadata {
    match &p.metadata {
        ferret_model::PackageMetadata::Java(m) => m,
        other => panic!("{other:?}"),
    }
}

fn properties(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_owned())
}

#[test]
fn java_archives() {
    for (file, expected) in cases("java/osv-scalibr-archive") {
        let at = "opt/app/lib/x.jar";
        let data = std::fs::read(&file).unwrap();
        let (got, notes) = catalog_files(&[(at, &data)], PackageKind::JavaArchive);
        let mut top: Vec<(String, String)> = got
            .iter()
            .filter(|p| java_meta(p).nested_path.is_empty())
            .map(|p| (p.name.clone(), p.version.clone()))
            .collect();
        top.sort();
        let mut want: Vec<(String, String)> = expected["pom_properties"]
            .as_object()
            .map(|o| {
                o.values()
                    .map(|t| {
                        let t = t.as_str().unwrap();
                        (
                            properties(t, "artifactId").unwrap(),
                            properties(t, "version").unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        want.sort();
        assert_eq!(top, want, "{}", file.display());
        let name = file.file_name().unwrap().to_str().unwrap();
        match name {
            "invalid_jar.jar" => assert!(
                notes.iter().any(|n| n.contains("not a readable zip")),
                "{notes:?}"
            ),
            "nested_at_10.jar" => assert!(
                notes.iter().any(|n| n.contains("nested deeper")),
                "{notes:?}"
            ),
            "complex.jar" => {
                let inner: Vec<_> = got
                    .iter()
                    .filter(|p| !java_meta(p).nested_path.is_empty())
                    .collect();
                assert_eq!(inner.len(), 1);
                assert_eq!(inner[0].name, "another-package-name");
                assert_eq!(java_meta(inner[0]).nested_path, "BOOT-INF/lib/inner.jar");
                assert_eq!(
                    java_meta(inner[0]).group_id.as_deref(),
                    Some("com.some.anotherpackage")
                );
            }
            "pom_missing_group_id.jar" => assert!(
                got[0].purl.starts_with("pkg:maven/package-name@"),
                "{}",
                got[0].purl
            ),
            _ => {}
        }
        // Each archive's SHA-1 is recorded.
        for p in &got {
            assert_eq!(java_meta(p).sha1.len(), 40);
        }
    }
}

fn jar(members: &[(&str, &str)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, body) in members {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut w, body.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// The pom.properties and MANIFEST.MF of 46 real Maven Central jars, assembled into jars
/// of their real names: the pom.properties names the artifact when there is one; else the
/// file name does (`name-version.jar`), and a jar whose name carries no version names
/// nothing.
#[test]
fn maven_central_jar_metadata() {
    let text =
        std::fs::read_to_string(testdata().join("fixtures/lang/java/claircore-jar-metadata.jsonl"))
            .unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 46);
    for row in rows {
        let name = row["jar"].as_str().unwrap();
        let manifest = row["manifest"].as_str().unwrap_or("");
        let pom = row["pom_properties"].as_str();
        let mut members = vec![("META-INF/MANIFEST.MF".to_owned(), manifest.to_owned())];
        let want = match pom {
            Some(p) => {
                let (g, a, v) = (
                    properties(p, "groupId").unwrap_or_default(),
                    properties(p, "artifactId").unwrap(),
                    properties(p, "version").unwrap(),
                );
                members.push((
                    format!("META-INF/maven/{g}/{a}/pom.properties"),
                    p.to_owned(),
                ));
                Some((a, v, Some(g).filter(|g| !g.is_empty())))
            }
            None => {
                let stem = name.trim_end_matches(".jar");
                stem.char_indices()
                    .find(|(i, c)| {
                        *c == '-' && stem[i + 1..].starts_with(|d: char| d.is_ascii_digit())
                    })
                    .map(|(i, _)| (stem[..i].to_owned(), stem[i + 1..].to_owned(), None))
            }
        };
        let members: Vec<(&str, &str)> = members
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let data = jar(&members);
        let at = format!("usr/share/java/{name}");
        let (got, _) = catalog_files(&[(&at, &data)], PackageKind::JavaArchive);
        let got: Vec<(String, String)> = got
            .iter()
            .map(|p| (p.name.clone(), p.version.clone()))
            .collect();
        match want {
            Some((a, v, g)) => {
                assert_eq!(got, [(a.clone(), v.clone())], "{name}");
                if let Some(g) = g {
                    let (all, _) = catalog_files(&[(&at, &data)], PackageKind::JavaArchive);
                    assert!(
                        all[0].purl.starts_with(&format!("pkg:maven/{g}/{a}@")),
                        "{name}: {}",
                        all[0].purl
                    );
                }
            }
            None => assert!(got.is_empty(), "{name}: {got:?}"),
        }
    }
}
