//! `ferret scan` on a Debian root file system against Debian tracker records written for
//! its packages: fixed above, at and below the installed version, `0`, open, no-DSA
//! ignored, a binNMU; the reports, `--ignore-unfixed` and the `--fail-on` gate.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use ferret_testsupport::*;
use serde_json::{Value, json};

struct Fixture {
    _dir: tempfile::TempDir,
    db: String,
    root: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    debian_fixture_root(&root);
    let feed = dir.path().join("tracker.json");
    debian_fixture_tracker(&feed);
    let db = dir.path().join("db");
    import(&db, "debian-tracker", &[feed]);
    Fixture {
        db: db.display().to_string(),
        root: format!("dir:{}", root.display()),
        _dir: dir,
    }
}

fn scan(f: &Fixture, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["scan", "-q", "--db-dir", &f.db, &f.root];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn findings_fix_states_and_reasons() {
    let f = fixture();
    let (code, out, err) = scan(&f, &["-f", "json"]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["schema"], "ferret.scan/v2");
    let packages = doc["packages"].as_array().unwrap();
    let found: Vec<(String, String, String, Value)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let p = &packages[x["package"].as_u64().unwrap() as usize];
            (
                p["name"].as_str().unwrap().to_owned(),
                x["id"].as_str().unwrap().to_owned(),
                x["severity"].as_str().unwrap().to_owned(),
                x["fix"].clone(),
            )
        })
        .collect();
    let mut found = found;
    found.sort_by(|a, b| a.1.cmp(&b.1));
    // Findings come in the inventory's package order.
    assert_eq!(doc["findings"][0]["id"], "CVE-2024-0006");
    assert_eq!(
        found,
        vec![
            (
                "openssl".into(),
                "CVE-2024-0001".into(),
                "HIGH".into(),
                json!({"state": "fixed", "versions": ["3.0.13-1~deb12u1"]})
            ),
            (
                "libfoo1".into(),
                "CVE-2024-0005".into(),
                "NEGLIGIBLE".into(),
                json!({"state": "fixed", "versions": ["1.0-2"]})
            ),
            (
                "bar".into(),
                "CVE-2024-0006".into(),
                "MEDIUM".into(),
                json!({"state": "not-fixed"})
            ),
            (
                "baz".into(),
                "CVE-2024-0007".into(),
                "LOW".into(),
                json!({"state": "will-not-fix"})
            ),
        ]
    );
    let first = &doc["findings"][0];
    assert_eq!(first["matches"][0]["namespace"], "Debian:12");
    assert_eq!(first["matches"][0]["feed"], "debian-tracker");
    assert_eq!(first["matches"][0]["reason"]["kind"], "range");
    assert_eq!(
        doc["summary"],
        json!({"critical": 0, "high": 1, "medium": 1, "low": 1, "negligible": 1, "unknown": 0, "total": 4})
    );
    assert!(
        doc["database"]["snapshot"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );

    let (code, table, _) = scan(&f, &[]);
    assert_eq!(code, 0);
    assert!(
        table.contains("CVE-2024-0001") && table.contains("3.0.13-1~deb12u1"),
        "{table}"
    );
    assert!(
        table.trim_end().ends_with(
            "4 vulnerabilities in 4 of 5 packages: 1 high, 1 medium, 1 low, 1 negligible"
        ),
        "{table}"
    );
    // The most severe package comes first.
    let first_row = table.lines().nth(1).unwrap();
    assert!(first_row.contains("openssl"), "{table}");
}

#[test]
fn ignore_unfixed_and_the_gate() {
    let f = fixture();
    let (_, out, _) = scan(&f, &["-f", "json", "--ignore-unfixed"]);
    let doc: Value = serde_json::from_str(&out).unwrap();
    // In package order: libfoo1, then openssl.
    let ids: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["CVE-2024-0005", "CVE-2024-0001"]);

    for (level, expect, unfixed_expect) in [
        ("critical", 0, 0),
        ("high", 1, 1),
        ("medium", 1, 1),
        ("low", 1, 1),
        ("negligible", 1, 1),
        ("unknown", 1, 1),
    ] {
        let (code, _, err) = scan(&f, &["--fail-on", level]);
        assert_eq!(code, expect, "--fail-on {level}: {err}");
        let (code, _, _) = scan(&f, &["--fail-on", level, "--ignore-unfixed"]);
        assert_eq!(code, unfixed_expect, "--fail-on {level} --ignore-unfixed");
    }
    // Only the gate's view counts: with unfixed findings hidden, MEDIUM is gone.
    let (code, out, _) = scan(&f, &["-f", "json", "--ignore-unfixed"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["summary"]["medium"],
        0
    );
    let (code, _, err) = scan(&f, &["--fail-on", "severe"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown severity"), "{err}");
}

#[test]
fn a_missing_database_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&[
        "scan",
        "--db-dir",
        dir.path().join("none").to_str().unwrap(),
        "dir:.",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("ferret db update"), "{err}");
}

/// Every field of `ours` is one Grype writes (or one the issue names that newer Grype
/// writes, or one of Ferret's few documented additions), with the same JSON type; every
/// field of Grype's sample is present unless it is data Ferret does not have.
fn same_shape(ours: &Value, grype: &Value, path: &str, errors: &mut Vec<String>) {
    const NOT_PROVIDED: &[&str] = &["epss", "knownExploited", "risk", "metadataType", "metadata"];
    const NEWER_GRYPE: &[&str] = &[
        "namespace",
        "description",
        "layerID",
        "vulnerabilityID",
        "searchedBy.namespace",
        "searchedBy.package",
        "db",
    ];
    // Ferret's additions, which readers of Grype's JSON pass over: which rating the
    // severity was taken from (the console and the stored findings show it).
    const FERRET_ADDS: &[&str] = &["vulnerability.severitySource"];
    match (ours, grype) {
        (Value::Object(o), Value::Object(g)) => {
            for (k, gv) in g {
                match o.get(k) {
                    Some(ov) => same_shape(ov, gv, &format!("{path}.{k}"), errors),
                    None if NOT_PROVIDED.contains(&k.as_str()) => {}
                    None => errors.push(format!("{path}.{k} missing")),
                }
            }
            for k in o.keys() {
                let qualified = format!("{}.{k}", path.rsplit('.').next().unwrap_or(""));
                if !g.contains_key(k)
                    && !NEWER_GRYPE.contains(&k.as_str())
                    && !NEWER_GRYPE.contains(&qualified.as_str())
                    && !FERRET_ADDS.contains(&qualified.as_str())
                {
                    errors.push(format!("{path}.{k} is not a Grype field"));
                }
            }
        }
        (Value::Array(o), Value::Array(g)) => {
            if let (Some(ov), Some(gv)) = (o.first(), g.first()) {
                same_shape(ov, gv, &format!("{path}[]"), errors);
            }
        }
        (_, Value::Null) | (Value::Null, _) => {}
        (o, g) => {
            let kind = |v: &Value| match v {
                Value::Bool(_) => "bool",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
                Value::Null => "null",
            };
            if kind(o) != kind(g) {
                errors.push(format!("{path}: {} here, {} in Grype's", kind(o), kind(g)));
            }
        }
    }
}

#[test]
fn grype_json_has_grypes_fields_and_types() {
    let f = fixture();
    let (code, out, err) = scan(&f, &["-f", "grype-json"]);
    assert_eq!(code, 0, "{err}");
    let ours: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ours["matches"].as_array().unwrap().len(), 4);
    let libfoo = ours["matches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["artifact"]["name"] == "libfoo1")
        .unwrap();
    assert_eq!(libfoo["matchDetails"][0]["type"], "exact-indirect-match");
    assert_eq!(libfoo["artifact"]["upstreams"][0]["name"], "foo");
    assert_eq!(libfoo["vulnerability"]["severity"], "Negligible");
    assert_eq!(
        libfoo["vulnerability"]["fix"],
        json!({"versions": ["1.0-2"], "state": "fixed"})
    );
    assert_eq!(ours["distro"]["name"], "debian");
    let mut errors = Vec::new();
    for sample in ["grype-json-dir-report.json", "grype-json-image-report.json"] {
        let grype: Value = serde_json::from_slice(
            &std::fs::read(testdata().join("formats/grype").join(sample)).unwrap(),
        )
        .unwrap();
        let mut mine = ours.clone();
        if sample.contains("image") {
            // Compare the source only with the sample of the same kind.
            mine["source"] = grype["source"].clone();
        }
        same_shape(&mine, &grype, sample, &mut errors);
    }
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn ignore_rules_suppress_and_expire() {
    let f = fixture();
    let rules = f._dir.path().join("ignore.yaml");
    std::fs::write(
        &rules,
        "ignore:\n  - vulnerability: CVE-2024-0001\n    package: 'openss*'\n    reason: not reachable\n  - vulnerability: CVE-2024-0006\n    reason: old rule\n    expires: 2020-01-01\n",
    )
    .unwrap();
    let rules = rules.to_str().unwrap();
    let (code, out, err) = scan(&f, &["-f", "json", "--ignore", rules]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("CVE-2024-0006") && err.contains("expired"),
        "{err}"
    );
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert!(
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["id"] != "CVE-2024-0001")
    );
    assert_eq!(doc["suppressed"][0]["id"], "CVE-2024-0001");
    assert_eq!(doc["suppressed"][0]["by"], "ignore");
    assert_eq!(doc["suppressed"][0]["reason"], "not reachable");
    // The expired rule ignores nothing: CVE-2024-0006 is still reported.
    assert_eq!(doc["summary"]["medium"], 1);
    assert_eq!(doc["summary"]["high"], 0);
    // The gate sees what the report shows: no HIGH left.
    let (code, _, _) = scan(&f, &["--fail-on", "high", "--ignore", rules]);
    assert_eq!(code, 0);
    let (code, _, _) = scan(&f, &["--fail-on", "medium", "--ignore", rules]);
    assert_eq!(code, 1);

    let bad = f._dir.path().join("bad.yaml");
    std::fs::write(&bad, "ignore:\n  - vulnerability: CVE-1\n").unwrap();
    let (code, _, err) = scan(&f, &["--ignore", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.yaml") && err.contains("reason"), "{err}");
}

#[test]
fn vex_statements_suppress_findings() {
    let f = fixture();
    let (_, out, _) = scan(&f, &["-f", "json"]);
    let doc: Value = serde_json::from_str(&out).unwrap();
    let purl_of = |name: &str| {
        doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["purl"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let vex = json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/scan-cli",
        "author": "test",
        "timestamp": "2026-11-22T00:00:00Z",
        "version": 1,
        "statements": [
            {"vulnerability": {"name": "CVE-2024-0001"},
             "products": [{"@id": "pkg:oci/app", "subcomponents": [{"@id": purl_of("openssl")}]}],
             "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
            {"vulnerability": {"name": "CVE-2024-0006"},
             "products": [{"@id": "pkg:deb/debian/bar"}],
             "status": "under_investigation"}
        ]
    });
    let path = f._dir.path().join("app.vex.json");
    std::fs::write(&path, serde_json::to_vec(&vex).unwrap()).unwrap();
    let path = path.to_str().unwrap();
    let (code, out, err) = scan(&f, &["-f", "json", "--vex", path]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["suppressed"].as_array().unwrap().len(), 1);
    assert_eq!(doc["suppressed"][0]["id"], "CVE-2024-0001");
    assert_eq!(doc["suppressed"][0]["by"], "vex");
    assert_eq!(
        doc["suppressed"][0]["reason"],
        "not_affected: vulnerable_code_not_in_execute_path"
    );
    // Under investigation suppresses nothing.
    assert_eq!(doc["summary"]["total"], 3);
    let (code, _, _) = scan(&f, &["--fail-on", "high", "--vex", path]);
    assert_eq!(code, 0);
    let (code, _, _) = scan(&f, &["--fail-on", "high"]);
    assert_eq!(code, 1);

    let bad = f._dir.path().join("bad.vex.json");
    std::fs::write(&bad, "{\"statements\": []}").unwrap();
    let (code, _, err) = scan(&f, &["--vex", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("OpenVEX"), "{err}");
}

/// Every scan renderer pinned on a fixed scan; relative paths so that nothing depends on
/// where the test runs.
#[test]
fn renderers_are_pinned() {
    let dir = tempfile::tempdir().unwrap();
    debian_fixture_root(&dir.path().join("root"));
    debian_fixture_tracker(&dir.path().join("tracker.json"));
    let in_dir = |args: &[&str]| {
        let out = succeeded(
            ferret()
                .current_dir(dir.path())
                .args(args)
                .output()
                .unwrap(),
        );
        String::from_utf8(out.stdout).unwrap()
    };
    in_dir(&[
        "db",
        "import",
        "--db-dir",
        "db",
        "debian-tracker",
        "tracker.json",
    ]);
    for (format, name) in [
        ("table", "scan_table"),
        ("json", "scan_json"),
        ("grype-json", "scan_grype_json"),
        ("sarif", "scan_sarif"),
        ("cyclonedx-json", "scan_cyclonedx_json"),
    ] {
        let out = in_dir(&["scan", "-q", "--db-dir", "db", "-f", format, "dir:root"]);
        // Twice, byte for byte the same.
        assert_eq!(
            out,
            in_dir(&["scan", "-q", "--db-dir", "db", "-f", format, "dir:root"])
        );
        insta::assert_snapshot!(name, out);
    }
}

#[test]
fn sarif_is_valid() {
    let f = fixture();
    let (code, out, err) = scan(&f, &["-f", "sarif"]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let run = &doc["runs"][0];
    assert_eq!(run["tool"]["driver"]["rules"].as_array().unwrap().len(), 4);
    assert_eq!(run["results"].as_array().unwrap().len(), 4);
    let openssl = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "CVE-2024-0001")
        .unwrap();
    assert_eq!(openssl["level"], "error");
    assert_eq!(
        openssl["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "var/lib/dpkg/status"
    );
    let path = f._dir.path().join("report.sarif");
    std::fs::write(&path, &out).unwrap();
    validate_sarif(&path);
}

#[test]
fn cyclonedx_with_vulnerabilities_is_valid() {
    let f = fixture();
    let (code, out, err) = scan(&f, &["-f", "cyclonedx-json"]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let vulns = doc["vulnerabilities"].as_array().unwrap();
    let ids: Vec<&str> = vulns.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "CVE-2024-0001",
            "CVE-2024-0005",
            "CVE-2024-0006",
            "CVE-2024-0007"
        ]
    );
    // Each affects a component of the same document.
    let refs: Vec<&str> = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["bom-ref"].as_str().unwrap())
        .collect();
    for v in vulns {
        for a in v["affects"].as_array().unwrap() {
            assert!(refs.contains(&a["ref"].as_str().unwrap()), "{v}");
        }
    }
    assert_eq!(vulns[0]["ratings"][0]["severity"], "high");
    assert!(
        vulns[0]["recommendation"]
            .as_str()
            .unwrap()
            .contains("upgrade openssl to 3.0.13-1~deb12u1")
    );
    let path = f._dir.path().join("report.cdx.json");
    std::fs::write(&path, &out).unwrap();
    validate_cyclonedx(&path);
}

/// The SBOM of the scanned root, read back with `sbom:`, gives the same findings.
#[test]
fn sbom_input_gives_the_same_findings() {
    let f = fixture();
    let (code, direct, err) = scan(&f, &["-f", "json"]);
    assert_eq!(code, 0, "{err}");
    let direct: Value = serde_json::from_str(&direct).unwrap();
    for format in ["spdx-json", "cyclonedx-json"] {
        let sbom = f._dir.path().join(format!("root.{format}"));
        let (code, out, err) = scan(&f, &["-f", format]);
        assert_eq!(code, 0, "{err}");
        std::fs::write(&sbom, out).unwrap();
        let (code, via, err) = run(&[
            "scan",
            "-q",
            "--db-dir",
            &f.db,
            "-f",
            "json",
            &format!("sbom:{}", sbom.display()),
        ]);
        assert_eq!(code, 0, "{err}");
        let via: Value = serde_json::from_str(&via).unwrap();
        let key = |doc: &Value| -> Vec<(String, String, Value, Value)> {
            let pkgs = doc["packages"].as_array().unwrap();
            let mut v: Vec<_> = doc["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| {
                    let p = &pkgs[x["package"].as_u64().unwrap() as usize];
                    (
                        p["name"].as_str().unwrap().to_owned(),
                        x["id"].as_str().unwrap().to_owned(),
                        x["severity"].clone(),
                        x["fix"].clone(),
                    )
                })
                .collect();
            v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
            v
        };
        assert_eq!(key(&via), key(&direct), "{format}");
        assert_eq!(via["source"]["type"], "sbom");
        assert_eq!(via["distro"]["id"], "debian");
        assert_eq!(via["distro"]["version_id"], "12");
    }
}

#[test]
fn sbom_input_with_a_distro_override() {
    let f = fixture();
    let dir = f._dir.path();
    // A CycloneDX document that names no OS and gives bare purls.
    let bom = json!({
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "components": [
            {"type": "library", "name": "openssl", "version": "3.0.11-1~deb12u2",
             "purl": "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64"},
        ],
    });
    let path = dir.join("bare.cdx.json");
    std::fs::write(&path, bom.to_string()).unwrap();
    let sbom = format!("sbom:{}", path.display());
    let (code, out, err) = run(&["scan", "-q", "--db-dir", &f.db, "-f", "json", &sbom]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["findings"].as_array().unwrap().len(), 0);
    assert!(
        doc["unmatched"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("distro is unknown"),
        "{doc}"
    );
    let (code, out, err) = run(&[
        "scan",
        "-q",
        "--db-dir",
        &f.db,
        "-f",
        "json",
        "--distro",
        "debian:12",
        &sbom,
    ]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["CVE-2024-0001"]);
    let (code, _, err) = run(&["scan", "-q", "--db-dir", &f.db, "--distro", "debian", &sbom]);
    assert_eq!(code, 2);
    assert!(err.contains("ID:VERSION"), "{err}");
}

/// KEV and EPSS for the fixture's CVEs, in CISA's and FIRST's formats.
fn with_signals(f: &Fixture) {
    let dir = f._dir.path();
    let kev = dir.join("known_exploited_vulnerabilities.json");
    std::fs::write(
        &kev,
        json!({"title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogVersion": "2026.12.01",
               "dateReleased": "2026-12-01T16:00:00.000Z", "count": 1, "vulnerabilities": [
            {"cveID": "CVE-2024-0001", "vendorProject": "OpenSSL", "product": "OpenSSL",
             "vulnerabilityName": "OpenSSL test", "dateAdded": "2026-11-20", "shortDescription": "",
             "requiredAction": "Apply updates.", "dueDate": "2026-12-11",
             "knownRansomwareCampaignUse": "Known", "notes": "", "cwes": []}]})
        .to_string(),
    )
    .unwrap();
    let epss = dir.join("epss_scores-2026-12-01.csv");
    std::fs::write(
        &epss,
        "#model_version:v2025.03.14,score_date:2026-12-01T00:00:00+0000\ncve,epss,percentile\nCVE-2024-0001,0.92,0.999\nCVE-2024-0005,0.3,0.97\nCVE-2024-0006,0.6,0.99\n",
    )
    .unwrap();
    import(Path::new(&f.db), "kev", &[kev]);
    import(Path::new(&f.db), "epss", &[epss]);
}

#[test]
fn exploitation_signals_in_every_format_and_the_gates() {
    let f = fixture();
    // Without the feeds, the gates have nothing to trip on.
    assert_eq!(scan(&f, &["--fail-on", "kev"]).0, 0);
    assert_eq!(scan(&f, &["--fail-on-epss", "0.1"]).0, 0);
    with_signals(&f);

    let (code, table, err) = scan(&f, &["-f", "table"]);
    assert_eq!(code, 0, "{err}");
    let line = table.lines().find(|l| l.contains("CVE-2024-0001")).unwrap();
    assert!(
        line.contains("KEV, ransomware") && line.contains("EPSS 92.0% (p99)"),
        "{table}"
    );

    let (_, out, _) = scan(&f, &["-f", "json"]);
    let doc: Value = serde_json::from_str(&out).unwrap();
    let finding = |id: &str| {
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(
        finding("CVE-2024-0001")["kev"],
        json!({"date_added": "2026-11-20", "due_date": "2026-12-11", "ransomware": true})
    );
    assert_eq!(
        finding("CVE-2024-0006")["epss"],
        json!({"score": 0.6, "percentile": 0.99, "date": "2026-12-01"})
    );
    assert!(finding("CVE-2024-0006").get("kev").is_none());

    let (_, out, _) = scan(&f, &["-f", "grype-json"]);
    let doc: Value = serde_json::from_str(&out).unwrap();
    let m = doc["matches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["vulnerability"]["id"] == "CVE-2024-0001")
        .unwrap();
    assert_eq!(
        m["vulnerability"]["knownExploited"][0]["knownRansomwareCampaignUse"],
        "Known"
    );
    assert_eq!(m["vulnerability"]["epss"][0]["epss"], 0.92);

    let (_, out, _) = scan(&f, &["-f", "sarif"]);
    let doc: Value = serde_json::from_str(&out).unwrap();
    let rule = doc["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "CVE-2024-0001")
        .unwrap();
    assert_eq!(rule["properties"]["kev"]["dateAdded"], "2026-11-20");
    assert_eq!(rule["properties"]["epss"]["score"], 0.92);
    let path = f._dir.path().join("signals.sarif");
    std::fs::write(&path, &out).unwrap();
    validate_sarif(&path);

    let (_, out, _) = scan(&f, &["-f", "cyclonedx-json"]);
    let doc: Value = serde_json::from_str(&out).unwrap();
    let props = doc["vulnerabilities"][0]["properties"].as_array().unwrap();
    for (name, value) in [
        ("ferret:kev:dateAdded", "2026-11-20"),
        ("ferret:kev:knownRansomwareCampaignUse", "Known"),
        ("ferret:epss:score", "0.92"),
    ] {
        assert!(
            props
                .iter()
                .any(|p| p["name"] == name && p["value"] == value),
            "{name}: {props:?}"
        );
    }
    let path = f._dir.path().join("signals.cdx.json");
    std::fs::write(&path, &out).unwrap();
    validate_cyclonedx(&path);

    // The gates, alone and together with a severity.
    for (args, expect) in [
        (&["--fail-on", "kev"][..], 1),
        (&["--fail-on", "critical,kev"], 1),
        (&["--fail-on", "critical"], 0),
        (&["--fail-on-epss", "0.95"], 0),
        (&["--fail-on-epss", "0.92"], 1),
        (&["--fail-on-epss", "0.5"], 1),
        (&["--fail-on-epss", "0.5", "--ignore-unfixed"], 1),
        (&["--fail-on-epss", "2"], 2),
        (&["--fail-on", "exploited"], 2),
    ] {
        let (code, _, err) = scan(&f, args);
        assert_eq!(code, expect, "{args:?}: {err}");
    }
    // With the fixed KEV finding ignored, the KEV gate has nothing left.
    let ignore = f._dir.path().join("ignore.yaml");
    std::fs::write(
        &ignore,
        "ignore:\n  - vulnerability: CVE-2024-0001\n    reason: patched in place\n",
    )
    .unwrap();
    let (code, _, err) = scan(
        &f,
        &["--fail-on", "kev", "--ignore", ignore.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");

    // Risk order: KEV first, then EPSS × severity (0.6 × medium; 0.3 × negligible weighs
    // nothing, as does no EPSS at all, so severity decides: low before negligible).
    let (_, out, _) = scan(&f, &["-f", "json", "--sort-by", "risk"]);
    let doc: Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "CVE-2024-0001",
            "CVE-2024-0006",
            "CVE-2024-0007",
            "CVE-2024-0005"
        ]
    );
    let (code, _, err) = scan(&f, &["--sort-by", "fear"]);
    assert_eq!(code, 2);
    assert!(err.contains("expected severity or risk"), "{err}");
}
