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
    let dir = testdata().join("versions").join(folder);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tsv"))
        .filter(|p| !OTHER_SHAPES.contains(&p.file_name().unwrap().to_str().unwrap()))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let known = known_disagreements(folder);
    let mut failures = Vec::new();
    let mut seen_known = Vec::new();
    let mut total = 0;
    for file in &files {
        for line in std::fs::read_to_string(file).unwrap().lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() != 3 {
                continue;
            }
            total += 1;
            let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
            let key = (file_name.clone(), cols[0].to_owned(), cols[1].to_owned());
            if known.contains(&key) {
                seen_known.push(key);
                continue;
            }
            let want: i32 = cols[2].parse().unwrap();
            match scheme.compare(cols[0], cols[1]) {
                Ok(o) if sign(o) == want => {}
                got => failures.push(format!(
                    "{}: {:?} vs {:?}: want {want}, got {got:?}",
                    file.file_name().unwrap().to_string_lossy(),
                    cols[0],
                    cols[1]
                )),
            }
        }
    }
    assert_eq!(
        seen_known.len(),
        known.len(),
        "{folder}: a known disagreement is no longer in the vectors"
    );
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

/// Vectors where two references disagree with each other, listed one by one in
/// `known-disagreements.tsv` with the reason; everything else must agree.
fn known_disagreements(folder: &str) -> Vec<(String, String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/known-disagreements.tsv");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c[0] == folder).then(|| (c[1].to_owned(), c[2].to_owned(), c[3].to_owned()))
        })
        .collect()
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

#[test]
fn maven() {
    check_folder("maven", Scheme::Maven);
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
