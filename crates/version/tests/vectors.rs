//! 100% agreement with every comparison vector in `shared/testdata/versions/**.tsv`.

#![allow(clippy::unwrap_used)]

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use ferret_version::Scheme;

fn testdata() -> PathBuf {
    std::env::var_os("FERRET_TESTDATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"),
        PathBuf::from,
    )
}

/// Files whose columns are not `a<TAB>b<TAB>sign`.
const OTHER_SHAPES: &[&str] = &[
    "apk-tools-fuzzy-match.tsv",
    "apk-tools-validity.tsv",
    "claircore-nevra-compare.tsv",
];

fn sign(o: Ordering) -> i32 {
    match o {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }
}

fn check_folder(folder: &str, scheme: Scheme) {
    check_folder_with(folder, &|_| scheme);
}

/// Checks every comparison file of a folder, each with the scheme `pick` names for it.
fn check_folder_with(folder: &str, pick: &dyn Fn(&str) -> Scheme) {
    let dir = testdata().join("versions").join(folder);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tsv"))
        .filter(|p| !OTHER_SHAPES.contains(&p.file_name().unwrap().to_str().unwrap()))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    let mut total = 0;
    for file in &files {
        let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
        let scheme = pick(&file_name);
        for line in std::fs::read_to_string(file).unwrap().lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() != 3 {
                continue;
            }
            total += 1;
            let want: i32 = cols[2].parse().unwrap();
            match scheme.compare(cols[0], cols[1]) {
                Ok(o) if sign(o) == want => {}
                got => failures.push(format!(
                    "{file_name} ({scheme}): {:?} vs {:?}: want {want}, got {got:?}",
                    cols[0], cols[1]
                )),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{folder}: {} of {total} vectors disagree:\n{}",
        failures.len(),
        failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn dpkg() {
    check_folder("dpkg", Scheme::Dpkg);
}

#[test]
fn rpm() {
    check_folder("rpm", Scheme::Rpm);
}

#[test]
fn apk() {
    check_folder("apk", Scheme::Apk);
}

#[test]
fn pep440() {
    check_folder("pep440", Scheme::Pep440);
}

#[test]
fn semver() {
    check_folder("semver", Scheme::Semver);
}

/// Maven's own test vectors (and claircore's port of them) define `ComparableVersion`
/// as Maven 3.9+ has it; osv-scalibr's were made with Maven 3.8.6 and its reading of the
/// version order specification, which 3.9 departed from (`1.5.9-RC0` vs `1.5.9.RC1`,
/// `1-ga-1` vs `1-1`). Each set agrees with the scheme that implements its reference.
#[test]
fn maven() {
    check_folder_with("maven", &|file| {
        if file.starts_with("osv-scalibr") {
            Scheme::MavenSpec
        } else {
            Scheme::Maven
        }
    });
}

#[test]
fn rubygems() {
    check_folder("rubygems", Scheme::RubyGems);
}

#[test]
fn nuget() {
    check_folder("nuget", Scheme::NuGet);
}

#[test]
fn packagist() {
    check_folder("packagist", Scheme::Packagist);
}

#[test]
fn pub_() {
    check_folder("pub", Scheme::Pub);
}

#[test]
fn cran() {
    check_folder("cran", Scheme::Cran);
}

#[test]
fn hackage() {
    check_folder("hackage", Scheme::Hackage);
}
