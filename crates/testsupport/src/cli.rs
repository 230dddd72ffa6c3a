//! Running the `ferret` binary the tests are for: the command, its JSON output, imports.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A directory for what tests build once and share (`target/tmp`).
pub fn target_tmp() -> PathBuf {
    let dir = binary()
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("tmp");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `ferret` binary of this build: `FERRET_BIN`, else beside the running test's own
/// directory (`target/<profile>/deps/<test>` → `target/<profile>/ferret`), where Cargo
/// puts a package's binaries before it runs its tests and benches.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("FERRET_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(Path::parent).unwrap();
    let bin = profile.join(format!("ferret{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run the tests with cargo (or set FERRET_BIN)",
        bin.display()
    );
    bin
}

pub fn ferret() -> Command {
    let mut c = Command::new(binary());
    c.env_remove("FERRET_LOG")
        .env("SOURCE_DATE_EPOCH", "1700000000");
    c
}

/// `ferret scan -f json` of `source` against the database in `db`.
pub fn scan_json(db: &Path, source: &str) -> Value {
    scan_json_with(db, source, &[])
}

/// [`scan_json`] with more options.
pub fn scan_json_with(db: &Path, source: &str, extra: &[&str]) -> Value {
    scan_as(db, source, "json", extra)
}

/// `ferret scan -f FORMAT` (a JSON format: json, grype-json, …) of `source`, with more
/// options.
pub fn scan_as(db: &Path, source: &str, format: &str, extra: &[&str]) -> Value {
    let mut args = vec!["scan", "-q", "--db-dir", db.to_str().unwrap(), "-f", format];
    args.extend_from_slice(extra);
    args.push(source);
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Runs ferret, returning (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out: Output = ferret().args(args).output().expect("run ferret");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The output of a command that must succeed; fails the test with its stderr otherwise.
pub fn succeeded(out: Output) -> Output {
    assert!(
        out.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `ferret sbom --format json IMAGE` and returns the document; panics on failure.
pub fn inventory(image: &str, extra: &[&str]) -> Value {
    let mut args = vec!["sbom", "--quiet", "--format", "json", image];
    args.extend_from_slice(extra);
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "ferret sbom {image} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON from ferret ({e}): {out}"))
}

/// (type, name, version, layer index) of every package, sorted.
pub fn packages(doc: &Value) -> Vec<(String, String, String, Option<u64>)> {
    let mut v: Vec<_> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_owned(),
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
                p["location"]["layer"]["index"].as_u64(),
            )
        })
        .collect();
    v.sort();
    v
}

pub fn testdata() -> PathBuf {
    std::env::var_os("FERRET_TESTDATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"),
        PathBuf::from,
    )
}

/// Test data kept in this repository (`testdata/`): feed samples curated for Ferret, each
/// folder with a MANIFEST of its sources.
pub fn own_testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// `ferret db import --db-dir DB KIND FILES…`, which must succeed.
pub fn import(db: &Path, kind: &str, files: &[PathBuf]) {
    let mut args = vec![
        "db".to_owned(),
        "import".to_owned(),
        "--db-dir".to_owned(),
        db.display().to_string(),
        kind.to_owned(),
    ];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "{err}");
}
