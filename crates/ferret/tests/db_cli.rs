//! `ferret db import | status | show` through the binary.

#![allow(clippy::unwrap_used)]

use ferret_testsupport::*;

#[test]
fn import_status_show() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().to_str().unwrap();
    let adv = testdata().join("advisories");
    let (code, out, err) = run(&[
        "db",
        "--db-dir",
        db,
        "import",
        "osv",
        adv.join("osv/pypi-pysec.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("imported osv-pypi: 2003 records (8 withdrawn dropped, 0 malformed skipped)"),
        "{out}"
    );
    let (code, out, err) = run(&[
        "db",
        "--db-dir",
        db,
        "import",
        "secdb",
        adv.join("wolfi-secdb/vunnel-wolfi-security.json")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("imported wolfi-os: 59 records"), "{out}");

    let (code, out, _) = run(&["db", "--db-dir", db, "status", "--json"]);
    assert_eq!(code, 0);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["schemaVersion"], ferret_advisory::SCHEMA_VERSION);
    assert_eq!(status["feeds"].as_array().unwrap().len(), 2);
    assert!(status["snapshot"].as_str().unwrap().starts_with("sha256:"));

    let (code, out, _) = run(&["db", "--db-dir", db, "show", "PYSEC-2022-42969"]);
    assert_eq!(code, 0);
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown[0]["id"], "PYSEC-2022-42969");
    let alias = shown[0]["aliases"][0].as_str().unwrap().to_owned();
    let (code, out, _) = run(&["db", "--db-dir", db, "show", &alias]);
    assert_eq!(code, 0);
    assert!(out.contains("PYSEC-2022-42969"));

    let (code, _, err) = run(&["db", "--db-dir", db, "show", "CVE-0000-0000"]);
    assert_eq!(code, 2);
    assert!(err.contains("no advisory"), "{err}");

    // A feed with no valid record: error, and the database is unchanged.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "not json\n").unwrap();
    let (code, _, err) = run(&["db", "--db-dir", db, "import", "osv", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no valid record") && err.contains("unchanged"),
        "{err}"
    );
    let (_, after, _) = run(&["db", "--db-dir", db, "status", "--json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&after).unwrap()["feeds"],
        status["feeds"]
    );

    let (code, _, err) = run(&["db", "--db-dir", db, "import", "nvd", "x"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown feed kind"), "{err}");
}
