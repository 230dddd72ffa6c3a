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

    let (code, _, err) = run(&["db", "--db-dir", db, "import", "ovaltine", "x"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown feed kind")
            && err.contains(
                "osv, debian-tracker, secdb, oval, alas, csaf-vex, repository-to-cpe, nvd"
            ),
        "{err}"
    );
}

/// On a terminal (a pseudo-terminal from util-linux's `script`), an import shows its
/// records as it goes; under `-q`, and with standard error not a terminal, nothing.
#[test]
fn imports_show_progress_only_on_a_terminal() {
    if !tool_available(
        std::process::Command::new("script").arg("--version"),
        "util-linux's script (a pseudo-terminal)",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let nvd = own_testdata().join("advisories/nvd/nvdcve-2.0-sample.json");
    let on_tty = |quiet: bool| {
        let cmd = format!(
            "{} {}db --db-dir {} import nvd {}",
            binary().display(),
            if quiet { "-q " } else { "" },
            dir.path().join("db").display(),
            nvd.display()
        );
        let out = std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("TERM", "xterm")
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = on_tty(false);
    assert!(
        shown.contains("importing nvdcve-2.0-sample.json"),
        "{shown}"
    );
    assert!(
        shown.contains("imported nvd-sample: 107 records"),
        "{shown}"
    );
    let quiet = on_tty(true);
    assert!(!quiet.contains("importing"), "{quiet}");
    assert!(quiet.contains("imported nvd-sample"), "{quiet}");
    // Not a terminal: the summary only.
    let (code, out, err) = run(&[
        "db",
        "--db-dir",
        dir.path().join("db").to_str().unwrap(),
        "import",
        "nvd",
        nvd.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("imported nvd-sample: 107 records"), "{out}");
    assert!(!err.contains("importing"), "{err}");
}
