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

#[test]
fn ruby_gemspecs() {
    // A gemspec whose name or version is not a literal names nothing Ferret can know.
    listed_cases(
        "ruby",
        "usr/lib/ruby/gems/3.1.0/specifications/x.gemspec",
        PackageKind::Gem,
        true,
    );
}

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
