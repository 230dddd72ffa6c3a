//! Ferret's findings against an independent oracle (`tests/oracle/oracle.py`): a small
//! Python program that reads the same advisory files and decides with the reference
//! comparators (`dpkg --compare-versions`, python3-rpm's `labelCompare`, `packaging` with
//! `packaging-legacy`, python3-semver, univers for Alpine). It shares no code with Ferret.
//! Every finding must agree: the same vulnerabilities per package (none missing, none
//! extra), the same related ids, and per record the same fix state and fixed versions.
//!
//! Packages: the real debootstrap Debian image and the shared dpkg databases (the
//! oracle's lists from `dpkg-query`), with Debian tracker records the test writes for
//! their source packages (fixed above, at and just below the installed version,
//! `0`, open, no-DSA ignored and postponed, a fix at a binNMU's binary version); and
//! synthetic packages, given to Ferret as CycloneDX SBOMs, at every version the shared
//! PyPI, crates.io, Go, Ubuntu, Rocky Linux and AlmaLinux records name, plus one below
//! and one above them all. Also images built by the tests: an Alpine 3.10 root against the branch's secdb, and
//! RPM distro roots with real rpm databases against Oracle's, Microsoft's and VMware's
//! OVAL, Amazon's updateinfo and Red Hat's and SUSE's CSAF VEX.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use ferret_testsupport::*;
use packageurl::PackageUrl;
use serde_json::{Value, json};

/// A Python with python3-rpm, python3-semver and python3-packaging (Debian's packages)
/// and packaging-legacy (PyPI): `$FERRET_ORACLE_PYTHON`, which `.ci/run` sets up, else the
/// system's.
fn oracle_python() -> Option<String> {
    let python =
        std::env::var("FERRET_ORACLE_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".to_owned());
    tool_available(
        Command::new(&python).args([
            "-c",
            "import rpm, semver, packaging, packaging_legacy, cvss",
        ]),
        "a Python with python3-rpm, python3-semver, python3-packaging, packaging-legacy and cvss",
    )
    .then_some(python)
}

/// One package as the oracle sees it.
#[derive(Debug, Clone)]
struct OraclePackage {
    id: String,
    ecosystem: &'static str,
    release: String,
    name: String,
    version: String,
}

/// (package id, finding id) → (related ids, record → fix).
type Findings = BTreeMap<(String, String), (Vec<String>, BTreeMap<String, Value>)>;

/// What could not be compared: (package id, record) pairs skipped for a version that does
/// not parse, and packages whose installed version does not parse.
#[derive(Debug, Default, PartialEq)]
struct Skips {
    records: BTreeSet<(String, String)>,
    packages: BTreeSet<String>,
}

fn run_oracle(
    python: &str,
    dir: &Path,
    packages: &[OraclePackage],
    tracker: &[PathBuf],
    osv: &[PathBuf],
) -> (Findings, Skips) {
    // GitHub's advisories are loaded into every database: they match too.
    let osv = [osv, &json_files(&rating_sample("ghsa"))].concat();
    let spec = json!({
        "packages": packages.iter().map(|p| json!({
            "id": p.id, "ecosystem": p.ecosystem, "release": p.release,
            "name": p.name, "version": p.version,
        })).collect::<Vec<_>>(),
        "debian_tracker": tracker,
        "osv": osv,
        "nvd": [rating_sample("nvd").join("nvdcve-2.0-sample.json")],
        "cve5": json_files(&rating_sample("cve5")),
    });
    run_oracle_spec(python, dir, &spec)
}

/// Runs the oracle on an input document (see `oracle.py`).
fn run_oracle_spec(python: &str, dir: &Path, spec: &Value) -> (Findings, Skips) {
    let path = dir.join("oracle-input.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/oracle.py");
    let out = succeeded(
        Command::new(python)
            .arg(script)
            .arg(&path)
            .output()
            .unwrap(),
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let skips = Skips {
        records: doc["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["package"].as_str().unwrap().to_owned(),
                    s["record"].as_str().unwrap().to_owned(),
                )
            })
            .collect(),
        packages: strings(&doc["unparsable"]).into_iter().collect(),
    };
    let findings = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let mut records: BTreeMap<String, Value> = f["records"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            records.insert(
                SEVERITY.to_owned(),
                json!({"severity": f["severity"], "source": f["source"]}),
            );
            (
                (
                    f["package"].as_str().unwrap().to_owned(),
                    f["id"].as_str().unwrap().to_owned(),
                ),
                (strings(&f["related"]), records),
            )
        })
        .collect();
    (findings, skips)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// Ferret's findings from its JSON report, keyed by `key(package)`; a record matched
/// through several entries counts once, its fixed versions merged.
fn ferret_findings(report: &Value, key: impl Fn(&Value) -> String, skips: &mut Skips) -> Findings {
    let packages = report["packages"].as_array().unwrap();
    let package = |v: &Value| key(&packages[v["package"].as_u64().unwrap() as usize]);
    for u in report["unmatched"].as_array().unwrap() {
        skips.packages.insert(package(u));
    }
    for s in report["skippedRecords"].as_array().unwrap() {
        skips
            .records
            .insert((package(s), s["record"].as_str().unwrap().to_owned()));
    }
    let mut out = Findings::new();
    for f in report["findings"].as_array().unwrap() {
        let p = &packages[f["package"].as_u64().unwrap() as usize];
        let mut records: BTreeMap<String, Value> = BTreeMap::new();
        for m in f["matches"].as_array().unwrap() {
            let record = m["record"].as_str().unwrap().to_owned();
            let fix = m["fix"].clone();
            let merged = match records.remove(&record) {
                None => fix,
                Some(old) if old["state"] == "fixed" && fix["state"] == "fixed" => {
                    let mut v: Vec<String> = strings(&old["versions"]);
                    v.extend(strings(&fix["versions"]));
                    v.sort();
                    v.dedup();
                    json!({"state": "fixed", "versions": v})
                }
                Some(old) if old["state"] == "fixed" => old,
                Some(_) => fix,
            };
            records.insert(record, merged);
        }
        // The chosen rating, labelled as the oracle does: `debian`, `nvd 3.1`, `ghsa`.
        let chosen = &f["severitySource"];
        let source = if chosen.is_null() {
            Value::Null
        } else if chosen["source"] == "vendor" {
            chosen["by"].clone()
        } else {
            match chosen["cvss_version"].as_str() {
                Some(v) => json!(format!("{} {v}", chosen["source"].as_str().unwrap())),
                None => chosen["source"].clone(),
            }
        };
        records.insert(
            SEVERITY.to_owned(),
            json!({"severity": f["severity"], "source": source}),
        );
        out.insert(
            (key(p), f["id"].as_str().unwrap().to_owned()),
            (strings(&f["related"]), records),
        );
    }
    out
}

/// The key under which a finding's chosen severity and its source are compared.
const SEVERITY: &str = "#severity";

/// Fixed versions compared as sets: both sides order them by their own comparator.
fn normalise(mut f: Findings) -> Findings {
    for (_, records) in f.values_mut() {
        for fix in records.values_mut() {
            if let Some(v) = fix.get_mut("versions") {
                let mut list = strings(v);
                list.sort();
                *v = json!(list);
            }
        }
    }
    f
}

fn assert_agree(what: &str, ferret: Findings, oracle: Findings) {
    let (ferret, oracle) = (normalise(ferret), normalise(oracle));
    let missing: Vec<_> = oracle
        .iter()
        .filter(|(k, _)| !ferret.contains_key(*k))
        .take(15)
        .collect();
    let extra: Vec<_> = ferret
        .iter()
        .filter(|(k, _)| !oracle.contains_key(*k))
        .take(15)
        .collect();
    let differ: Vec<_> = oracle
        .iter()
        .filter_map(|(k, v)| ferret.get(k).filter(|f| *f != v).map(|f| (k, v, f)))
        .take(15)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && differ.is_empty(),
        "{what}: Ferret and the oracle disagree\nmissing: {missing:#?}\nextra: {extra:#?}\ndiffer (oracle, ferret): {differ:#?}"
    );
    assert!(!oracle.is_empty(), "{what}: nothing was found at all");
    eprintln!("{what}: {} findings agree", oracle.len());
}

fn advisories() -> PathBuf {
    testdata().join("advisories")
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json" || e == "jsonl"))
        .collect();
    v.sort();
    v
}

/// Tracker records for source packages, given as (binary version, source name, source
/// version), each kind of state several times.
fn tracker_for(packages: &[(&str, &str, &str)]) -> Value {
    let mut by_source: BTreeMap<&str, (&str, Vec<&str>)> = BTreeMap::new();
    for (version, source, source_version) in packages {
        let entry = by_source
            .entry(source)
            .or_insert((source_version, Vec::new()));
        if version != source_version {
            entry.1.push(version);
        }
    }
    let pool = rated_cves();
    let mut doc = serde_json::Map::new();
    for (i, (source, (version, binary_versions))) in by_source.into_iter().enumerate() {
        let rel = |status: &str, fixed: Option<String>, extra: Value| {
            let mut r = json!({"status": status, "repositories": {"bookworm": version}});
            if let Some(f) = fixed {
                r["fixed_version"] = json!(f);
            }
            for (k, v) in extra.as_object().unwrap() {
                r[k] = v.clone();
            }
            json!({"releases": {"bookworm": r}})
        };
        // Real CVE ids that the rating samples rate (or not), so that severities are
        // decided by the rule: the urgency often says nothing, as in the real tracker.
        let n = |k: usize| pool[(i * 10 + k) % pool.len()].clone();
        let mut cves = serde_json::Map::new();
        cves.insert(
            n(1),
            rel("resolved", Some(format!("{version}+fix1")), json!({})),
        );
        cves.insert(n(2), rel("resolved", Some(version.to_owned()), json!({})));
        cves.insert(
            n(3),
            rel("resolved", Some(format!("{version}~pre1")), json!({})),
        );
        cves.insert(n(4), rel("resolved", Some("0".to_owned()), json!({})));
        let open = match i % 3 {
            0 => json!({}),
            1 => json!({"nodsa": "Minor issue", "nodsa_reason": "ignored"}),
            _ => json!({"nodsa": "Minor issue", "nodsa_reason": "postponed"}),
        };
        cves.insert(n(5), rel("open", None, open));
        if i % 4 == 0 {
            cves.insert(n(6), rel("undetermined", None, json!({})));
        }
        // A binNMU: the fix is at the binary's version, above the source version.
        if let Some(b) = binary_versions.iter().find(|v| v.contains("+b")) {
            cves.insert(n(7), rel("resolved", Some((*b).to_owned()), json!({})));
        }
        const URGENCIES: [&str; 6] = [
            "not yet assigned",
            "not yet assigned",
            "unimportant",
            "low**",
            "medium",
            "end-of-life",
        ];
        for (k, entry) in cves.values_mut().enumerate() {
            entry["releases"]["bookworm"]["urgency"] = json!(URGENCIES[(i + k) % URGENCIES.len()]);
        }
        doc.insert(source.to_owned(), Value::Object(cves));
    }
    Value::Object(doc)
}

/// The CVE ids of the NVD and CVE JSON 5 samples, sorted.
fn rated_cves() -> Vec<String> {
    let nvd: Value = serde_json::from_slice(
        &std::fs::read(rating_sample("nvd").join("nvdcve-2.0-sample.json")).unwrap(),
    )
    .unwrap();
    let mut ids: Vec<String> = nvd["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["cve"]["id"].as_str().unwrap().to_owned())
        .chain(
            json_files(&rating_sample("cve5"))
                .iter()
                .map(|p| p.file_stem().unwrap().to_str().unwrap().to_owned()),
        )
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[test]
fn the_debian_image_agrees_with_the_oracle() {
    let Some(python) = oracle_python() else {
        return;
    };
    let Some(image) = debian_image() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dpkg_query = std::fs::read_to_string(image.join("dpkg-query.txt")).unwrap();
    assert!(dpkg_query.contains("+b"), "the image has no binNMU to test");
    let listed: Vec<(&str, &str, &str)> = dpkg_query
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            (f[1], f[2], f[3])
        })
        .collect();
    let tracker = dir.path().join("tracker.json");
    std::fs::write(&tracker, tracker_for(&listed).to_string()).unwrap();
    let trackers = vec![
        tracker,
        advisories().join("debian/vunnel-debian-tracker-sample.json"),
    ];
    let db = dir.path().join("db");
    import(&db, "debian-tracker", &trackers);
    import_rating_samples(&db);

    let report = scan_json(
        &db,
        &format!("oci:{}:bookworm", image.join("layout").display()),
    );
    let mut skips = Skips::default();
    let ferret = ferret_findings(
        &report,
        |p| p["name"].as_str().unwrap().to_owned(),
        &mut skips,
    );
    assert_eq!(skips, Skips::default(), "Ferret skipped");

    let packages: Vec<OraclePackage> = dpkg_query
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            OraclePackage {
                id: f[0].to_owned(),
                ecosystem: "Debian",
                release: "12".to_owned(),
                name: f[2].to_owned(),
                version: f[3].to_owned(),
            }
        })
        .collect();
    let (oracle, oracle_skips) = run_oracle(&python, dir.path(), &packages, &trackers, &[]);
    assert_eq!(oracle_skips, Skips::default(), "the oracle skipped");
    assert_agree("debootstrap Debian 12", ferret, oracle);
    assert!(assert_rated("debootstrap Debian 12", &report) > 0);
}

/// No finding whose id or alias the samples rate is UNKNOWN; how many were checked.
fn assert_rated(what: &str, report: &Value) -> usize {
    let rated = rated_in_samples();
    let mut checked = 0;
    for f in report["findings"].as_array().unwrap() {
        let ids: Vec<String> = std::iter::once(f["id"].as_str().unwrap().to_owned())
            .chain(strings(&f["related"]))
            .collect();
        if ids.iter().any(|i| rated.contains(i)) {
            checked += 1;
            assert_ne!(f["severity"], "UNKNOWN", "{what}: {f}");
        }
    }
    eprintln!("{what}: {checked} findings rated by the samples, none UNKNOWN");
    checked
}

/// A synthetic package at a version, for one SBOM.
struct Synthetic {
    ecosystem: &'static str,
    name: String,
    version: String,
}

fn purl(s: &Synthetic, distro: Option<(&str, &str)>) -> String {
    let (ty, namespace, name, version) = match s.ecosystem {
        "PyPI" => ("pypi", None, s.name.clone(), s.version.clone()),
        "crates.io" => ("cargo", None, s.name.clone(), s.version.clone()),
        "Go" if s.name == "stdlib" => ("golang", None, s.name.clone(), format!("go{}", s.version)),
        "Go" => match s.name.rsplit_once('/') {
            Some((ns, n)) => (
                "golang",
                Some(ns.to_owned()),
                n.to_owned(),
                format!("v{}", s.version),
            ),
            None => ("golang", None, s.name.clone(), format!("v{}", s.version)),
        },
        "Ubuntu" => (
            "deb",
            Some("ubuntu".to_owned()),
            s.name.clone(),
            s.version.clone(),
        ),
        _ => (
            "rpm",
            Some(distro.unwrap().0.to_owned()),
            s.name.clone(),
            s.version.clone(),
        ),
    };
    let mut u = PackageUrl::new(ty, name).unwrap();
    if let Some(ns) = namespace {
        u.with_namespace(ns).unwrap();
    }
    // RPM epochs go in the qualifier, as rpm purls carry them.
    let version = match (ty, version.split_once(':')) {
        ("rpm", Some((epoch, rest))) => {
            u.add_qualifier("epoch", epoch.to_owned()).unwrap();
            rest.to_owned()
        }
        _ => version,
    };
    u.with_version(version).unwrap();
    if let Some((id, release)) = distro {
        u.add_qualifier("distro", format!("{id}-{release}"))
            .unwrap();
    }
    u.to_string()
}

fn cyclonedx(packages: &[(String, &Synthetic)], distro: Option<(&str, &str)>) -> Value {
    let mut components: Vec<Value> = packages
        .iter()
        .map(|(purl, s)| json!({"type": "library", "name": s.name, "version": s.version, "purl": purl}))
        .collect();
    if let Some((id, release)) = distro {
        components.push(json!({"type": "operating-system", "name": id, "version": release}));
    }
    json!({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": components})
}

/// Every version an OSV record's entry names for a package (not `0`), its listed versions,
/// and one version below and one above all of them.
fn versions_named(
    records: &[Value],
    ecosystem_prefix: &str,
) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut out: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for r in records {
        for a in r["affected"].as_array().into_iter().flatten() {
            let eco = a["package"]["ecosystem"].as_str().unwrap_or("");
            if !eco.starts_with(ecosystem_prefix) || eco.contains(":Pro:") {
                continue;
            }
            let name = a["package"]["name"].as_str().unwrap_or("").to_owned();
            let set = out.entry((eco.to_owned(), name)).or_default();
            for range in a["ranges"].as_array().into_iter().flatten() {
                if range["type"] == "GIT" {
                    continue;
                }
                for e in range["events"].as_array().into_iter().flatten() {
                    for v in e.as_object().unwrap().values() {
                        let v = v.as_str().unwrap();
                        if v != "0" && v != "*" {
                            set.insert(v.to_owned());
                        }
                    }
                }
            }
            for v in a["versions"].as_array().into_iter().flatten().take(2) {
                set.insert(v.as_str().unwrap().to_owned());
            }
        }
    }
    out
}

fn read_records(files: &[PathBuf]) -> Vec<Value> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        if f.extension().is_some_and(|e| e == "jsonl") {
            out.extend(
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| serde_json::from_str::<Value>(l).unwrap()),
            );
        } else {
            out.push(serde_json::from_str(&text).unwrap());
        }
    }
    out
}

#[test]
fn language_and_distro_records_agree_with_the_oracle() {
    let Some(python) = oracle_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let osv: Vec<PathBuf> = [
        json_files(&advisories().join("osv")),
        json_files(&advisories().join("other-osv")),
        json_files(&advisories().join("ubuntu-osv")),
        json_files(&advisories().join("ubuntu-osv/esm")),
    ]
    .concat();
    let db = dir.path().join("db");
    import(&db, "osv", &osv);
    import_rating_samples(&db);
    let records = read_records(&osv);

    // (SBOM distro, ecosystem prefix in the records, oracle ecosystem, low, high)
    type Group = (
        Option<(&'static str, &'static str)>,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    );
    let groups: [Group; 9] = [
        (None, "PyPI", "PyPI", "0.0.1", "99999"),
        (None, "crates.io", "crates.io", "0.0.1", "99999.0.0"),
        (None, "Go", "Go", "0.0.1", "99999.0.0"),
        (
            Some(("ubuntu", "18.04")),
            "Ubuntu:18.04",
            "Ubuntu",
            "0.1-1",
            "99:1",
        ),
        (
            Some(("ubuntu", "20.04")),
            "Ubuntu:20.04",
            "Ubuntu",
            "0.1-1",
            "99:1",
        ),
        (
            Some(("ubuntu", "22.04")),
            "Ubuntu:22.04",
            "Ubuntu",
            "0.1-1",
            "99:1",
        ),
        (
            Some(("rocky", "9")),
            "Rocky Linux:9",
            "Rocky Linux",
            "0.1-1",
            "99:1-1",
        ),
        (
            Some(("almalinux", "8")),
            "AlmaLinux:8",
            "AlmaLinux",
            "0.1-1",
            "99:1-1",
        ),
        (
            Some(("almalinux", "9")),
            "AlmaLinux:9",
            "AlmaLinux",
            "0.1-1",
            "99:1-1",
        ),
    ];
    let mut ferret = Findings::new();
    let mut ferret_skips = Skips::default();
    let mut oracle_packages = Vec::new();
    let mut count = 0;
    let mut rated = 0;
    for (i, (distro, prefix, ecosystem, low, high)) in groups.into_iter().enumerate() {
        let named = versions_named(&records, prefix);
        let mut synthetic = Vec::new();
        for ((_, name), mut versions) in named {
            versions.extend([low.to_owned(), high.to_owned()]);
            for v in versions {
                synthetic.push(Synthetic {
                    ecosystem,
                    name: name.clone(),
                    version: v,
                });
            }
        }
        assert!(!synthetic.is_empty(), "no {prefix} records");
        let with_purls: Vec<(String, &Synthetic)> =
            synthetic.iter().map(|s| (purl(s, distro), s)).collect();
        let sbom = dir.path().join(format!("group-{i}.cdx.json"));
        std::fs::write(&sbom, cyclonedx(&with_purls, distro).to_string()).unwrap();
        let report = scan_json(&db, &format!("sbom:{}", sbom.display()));
        assert_eq!(
            report["packages"].as_array().unwrap().len(),
            with_purls.len(),
            "{prefix}: {}",
            report["notes"]
        );
        ferret.extend(ferret_findings(
            &report,
            |p| p["purl"].as_str().unwrap().to_owned(),
            &mut ferret_skips,
        ));
        rated += assert_rated(prefix, &report);
        for (purl, s) in &with_purls {
            oracle_packages.push(OraclePackage {
                id: purl.clone(),
                ecosystem,
                release: distro.map_or_else(String::new, |d| d.1.to_owned()),
                name: s.name.clone(),
                version: s.version.clone(),
            });
        }
        count += with_purls.len();
    }
    eprintln!("{count} synthetic packages");
    assert!(
        rated > 0,
        "no language or distro finding is rated by the samples"
    );
    let (oracle, oracle_skips) = run_oracle(&python, dir.path(), &oracle_packages, &[], &osv);
    // Versions that do not parse (legacy PyPI versions such as `0.7.10p1`) are set aside
    // the same way on both sides: the package, or that record for it.
    assert_eq!(
        ferret_skips.packages, oracle_skips.packages,
        "packages not matched"
    );
    let only_ferret: Vec<_> = ferret_skips
        .records
        .difference(&oracle_skips.records)
        .collect();
    let only_oracle: Vec<_> = oracle_skips
        .records
        .difference(&ferret_skips.records)
        .collect();
    assert!(
        only_ferret.is_empty() && only_oracle.is_empty(),
        "records skipped only by Ferret: {only_ferret:?}\nonly by the oracle: {only_oracle:?}"
    );
    eprintln!(
        "{} packages and {} (package, record) pairs set aside by both for unparsable versions",
        oracle_skips.packages.len(),
        oracle_skips.records.len()
    );
    assert_agree(
        "PyPI, crates.io, Go, Ubuntu, Rocky Linux, AlmaLinux",
        ferret,
        oracle,
    );
}

/// The shared dpkg databases (real Debian and Ubuntu status files), matched as Debian 12
/// against tracker records written for their source packages; the oracle's package list
/// is what `dpkg-query` printed for each fixture, not what Ferret read.
#[test]
fn the_shared_dpkg_fixtures_agree_with_the_oracle() {
    let Some(python) = oracle_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let fixtures = testdata().join("fixtures/os-pkgdb/dpkg");
    let mut chosen = Vec::new();
    for name in [
        "claircore-texlive",
        "trivy-valid",
        "osv-scalibr-valid",
        "osv-scalibr-statusfield",
        "syft-coreutils-relationships",
    ] {
        let expected: Value = serde_json::from_slice(
            &std::fs::read(fixtures.join(format!("{name}.expected.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(expected["status"]["exit_code"], 0, "{name}");
        let installed: Vec<Value> = expected["status"]["packages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["status"] == "install ok installed")
            .cloned()
            .collect();
        chosen.push((name, installed));
    }
    let listed: Vec<(&str, &str, &str)> = chosen
        .iter()
        .flat_map(|(_, pkgs)| pkgs.iter())
        .map(|p| {
            (
                p["version"].as_str().unwrap(),
                p["source_name"].as_str().unwrap(),
                p["source_version"].as_str().unwrap(),
            )
        })
        .collect();
    let tracker = dir.path().join("tracker.json");
    std::fs::write(&tracker, tracker_for(&listed).to_string()).unwrap();
    let db = dir.path().join("db");
    import(&db, "debian-tracker", std::slice::from_ref(&tracker));
    import_rating_samples(&db);

    let mut ferret = Findings::new();
    let mut packages = Vec::new();
    for (name, installed) in &chosen {
        let (code, out, err) = run(&[
            "scan",
            "-q",
            "--db-dir",
            db.to_str().unwrap(),
            "-f",
            "json",
            "--distro",
            "debian:12",
            &format!("dir:{}", fixtures.join(name).display()),
        ]);
        assert_eq!(code, 0, "{err}");
        let report: Value = serde_json::from_str(&out).unwrap();
        let mut skips = Skips::default();
        ferret.extend(ferret_findings(
            &report,
            |p| {
                format!(
                    "{name}/{}:{}",
                    p["name"].as_str().unwrap(),
                    p["architecture"].as_str().unwrap_or("")
                )
            },
            &mut skips,
        ));
        assert_eq!(skips, Skips::default(), "{name}: Ferret skipped");
        for p in installed {
            packages.push(OraclePackage {
                id: format!(
                    "{name}/{}:{}",
                    p["name"].as_str().unwrap(),
                    p["architecture"].as_str().unwrap_or("")
                ),
                ecosystem: "Debian",
                release: "12".to_owned(),
                name: p["source_name"].as_str().unwrap().to_owned(),
                version: p["source_version"].as_str().unwrap().to_owned(),
            });
        }
    }
    let (oracle, oracle_skips) = run_oracle(&python, dir.path(), &packages, &[tracker], &[]);
    assert_eq!(oracle_skips, Skips::default(), "the oracle skipped");
    assert_agree("the shared dpkg fixtures as Debian 12", ferret, oracle);
}

/// A virtualenv with old wheels installed from PyPI: the oracle's package list is what
/// `pip list` prints, Ferret's what it finds in the file system; the PyPI advisories of
/// the shared set decide.
#[test]
fn installed_python_packages_agree_with_the_oracle() {
    let Some(python) = oracle_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let venv = root.join("opt/venv");
    if !python_venv(&venv, OLD_WHEELS) {
        return;
    }
    let listed = succeeded(
        Command::new(venv.join("bin/pip"))
            .args(["list", "--format=json", "--disable-pip-version-check"])
            .output()
            .unwrap(),
    );
    let packages: Vec<OraclePackage> = serde_json::from_slice::<Value>(&listed.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| OraclePackage {
            id: p["name"].as_str().unwrap().to_owned(),
            ecosystem: "PyPI",
            release: String::new(),
            name: p["name"].as_str().unwrap().to_owned(),
            version: p["version"].as_str().unwrap().to_owned(),
        })
        .collect();
    let osv = vec![advisories().join("osv/pypi-pysec.jsonl")];
    let db = dir.path().join("db");
    import(&db, "osv", &osv);
    import_rating_samples(&db);
    let report = scan_json(&db, &format!("dir:{}", root.display()));
    let mut skips = Skips::default();
    let ferret = ferret_findings(
        &report,
        |p| p["name"].as_str().unwrap().to_owned(),
        &mut skips,
    );
    let (oracle, oracle_skips) = run_oracle(&python, dir.path(), &packages, &[], &osv);
    assert_eq!(skips, oracle_skips, "set aside");
    assert!(
        oracle.keys().any(|(p, _)| p == "Django"),
        "Django 2.0.1 has advisories: {oracle:?}"
    );
    assert_agree("a virtualenv from PyPI", ferret, oracle);
}

/// OSV records the test writes for one package, at each version `near` it: fixed there,
/// introduced there, last affected there, and listed there; the first and third of each
/// share an alias, so they form one finding.
fn records_near(
    ecosystem: &str,
    name: &str,
    near: &[String],
    range_type: &str,
    seq: &mut usize,
) -> Vec<Value> {
    let mut out = Vec::new();
    let affected = |ranges: Value, versions: Value| {
        json!([{
            "package": {"ecosystem": ecosystem, "name": name},
            "ranges": ranges,
            "versions": versions,
        }])
    };
    for x in near {
        *seq += 1;
        let n = *seq;
        let alias = format!("CVE-2099-{n}");
        let range = |events: Value| json!([{"type": range_type, "events": events}]);
        out.push(json!({"id": format!("FERRET-{n}-A"), "aliases": [alias],
            "affected": affected(range(json!([{"introduced": "0"}, {"fixed": x}])), json!([]))}));
        out.push(json!({"id": format!("FERRET-{n}-B"),
            "affected": affected(range(json!([{"introduced": x}])), json!([]))}));
        out.push(json!({"id": format!("FERRET-{n}-C"), "aliases": [alias],
            "affected": affected(range(json!([{"introduced": "0"}, {"last_affected": x}])), json!([]))}));
        out.push(json!({"id": format!("FERRET-{n}-D"),
            "affected": affected(json!([]), json!([x]))}));
    }
    out
}

/// Versions around a semantic version (`v` prefix kept): itself, the next patch, minor
/// and major (as a pre-release), the previous patch, and its own pre-release.
fn semver_near(v: &str) -> Vec<String> {
    let (prefix, rest) = v.strip_prefix('v').map_or(("", v), |r| ("v", r));
    let core = rest.split(['-', '+']).next().unwrap();
    let nums: Vec<u64> = core.split('.').filter_map(|n| n.parse().ok()).collect();
    let [ma, mi, pa] = nums[..] else {
        return vec![v.to_owned()];
    };
    let mut out = vec![
        v.to_owned(),
        format!("{prefix}{ma}.{mi}.{}", pa + 1),
        format!("{prefix}{ma}.{}.0", mi + 1),
        format!("{prefix}{}.0.0-rc.1", ma + 1),
        format!("{prefix}{ma}.{mi}.{pa}-0"),
    ];
    if pa > 0 {
        out.push(format!("{prefix}{ma}.{mi}.{}", pa - 1));
    }
    if core != rest {
        out.push(format!("{prefix}{core}"));
    }
    out
}

/// Maven artifacts the test assembles into jars, each with versions around its own in
/// Maven's order (qualifiers, `.0` padding, `-ga`, milestones, snapshots).
const MAVEN: &[(&str, &str, &str, &[&str])] = &[
    (
        "org.example",
        "alpha",
        "1.2.3",
        &[
            "1.2.3",
            "1.2.3-ga",
            "1.2.3.0",
            "1.2.4",
            "1.2.3-SNAPSHOT",
            "1.2.3-sp1",
            "1.2.2",
            "1.2.3-rc1",
            "1.2.3a",
        ],
    ),
    (
        "io.netty",
        "netty-common",
        "4.1.42.Final",
        &[
            "4.1.42",
            "4.1.42.Final",
            "4.1.43.Final",
            "4.1.41.Final",
            "4.1.42.CR1",
            "4.1.42.Final-SNAPSHOT",
        ],
    ),
    (
        "com.google.guava",
        "guava",
        "20.0",
        &[
            "20.0-rc1",
            "20.0",
            "20",
            "21.0",
            "19.0",
            "20.0-android",
            "20.0-jre",
        ],
    ),
    (
        "org.apache.commons",
        "commons-lang3",
        "3.4",
        &[
            "3.4", "3.4.0", "3.5", "3.3.2", "3.4-M1", "3.4.1", "3.4-beta",
        ],
    ),
    (
        "com.fasterxml.jackson.core",
        "jackson-databind",
        "2.9.10.8",
        &[
            "2.9.10",
            "2.9.10.7",
            "2.9.10.8",
            "2.9.11",
            "2.10.0.pr1",
            "2.10.0",
        ],
    ),
    (
        "org.example",
        "beta",
        "2.0.1-beta-2",
        &[
            "2.0.1-beta-1",
            "2.0.1-beta-10",
            "2.0.1-alpha",
            "2.0.1",
            "2.0.0",
            "2.0.1-beta-2",
            "2.0.1-b2",
        ],
    ),
];

/// What Ferret's report names a package by: ecosystem, full name (Maven `group:artifact`)
/// and version.
fn lang_key(p: &Value) -> String {
    let eco = match p["kind"].as_str().unwrap() {
        "npm" => "npm",
        "go-module" => "Go",
        "rust-crate" => "crates.io",
        "java-archive" => "Maven",
        other => other,
    };
    let name = if eco == "Maven" {
        format!(
            "{}:{}",
            p["metadata"]["group_id"].as_str().unwrap_or_default(),
            p["metadata"]["artifact_id"].as_str().unwrap()
        )
    } else {
        p["name"].as_str().unwrap().to_owned()
    };
    format!("{eco}:{name}@{}", p["version"].as_str().unwrap())
}

/// Language packages installed by their own tools into one root: `npm ci` of a pinned
/// lockfile, a Go binary built by Debian's golang-go, a Rust binary built with `cargo
/// auditable` from crates.io (and its `Cargo.lock`), and jars assembled by the JDK's `jar`
/// tool (one inside a war). The oracle's package lists are the tools' own (`npm ls`, `go
/// version -m`, the lockfile, the artifacts the test wrote); the advisories are the shared
/// Go and crates.io records plus records the test writes around every npm, Go, crates.io
/// and Maven package's version. Maven's order is decided by Maven's own code.
#[test]
fn installed_language_packages_agree_with_the_oracle() {
    let Some(python) = oracle_python() else {
        return;
    };
    let maven_jar = std::env::var("FERRET_MAVEN_ARTIFACT_JAR")
        .unwrap_or_else(|_| "/usr/share/java/maven3-artifact.jar".to_owned());
    if !tool_available(
        Command::new("java").args([
            "-cp",
            &maven_jar,
            "org.apache.maven.artifact.versioning.ComparableVersion",
            "1",
        ]),
        "the JDK with Maven's maven-artifact jar (libmaven3-core-java)",
    ) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let root = w.join("root");
    let mut packages: Vec<OraclePackage> = Vec::new();
    let mut add = |ecosystem: &'static str, name: &str, listed: &str, version: &str| {
        packages.push(OraclePackage {
            id: format!("{ecosystem}:{name}@{listed}"),
            ecosystem,
            release: String::new(),
            name: name.to_owned(),
            version: version.to_owned(),
        });
    };

    // npm: what `npm ls` lists.
    let app = root.join("srv/app");
    if !npm_app(&app) {
        return;
    }
    let npm = npm_ls(&app);
    for (name, version) in &npm {
        add("npm", name, version, version);
    }

    // Go: what `go version -m` lists; the toolchain's `go1.N.M` is OSV's `stdlib` `1.N.M`.
    let go_binary = root.join("usr/local/bin/goapp");
    if go_uuid_binary(w, &go_binary).is_none() {
        return;
    }
    let go = go_version_m(&go_binary);
    for (name, version) in &go {
        if name == "stdlib" {
            add("Go", name, version, version.trim_start_matches("go"));
        } else if version != "(devel)" {
            add("Go", name, version, version);
        }
    }

    // Rust: what the lockfile lists from crates.io (a package without a source is local).
    let Some((src, built)) = auditable_binary(w) else {
        return;
    };
    std::fs::create_dir_all(root.join("src/rustapp")).unwrap();
    std::fs::copy(&built, root.join("usr/local/bin/rustapp")).unwrap();
    std::fs::copy(src.join("Cargo.lock"), root.join("src/rustapp/Cargo.lock")).unwrap();
    let lock: Value = {
        let text = std::fs::read_to_string(src.join("Cargo.lock")).unwrap();
        let mut crates = Vec::new();
        for block in text.split("[[package]]").skip(1) {
            let field = |k: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{k} = ")))
                    .map(|v| v.trim_matches('"').to_owned())
            };
            if field("source").is_some() {
                crates.push(json!([field("name").unwrap(), field("version").unwrap()]));
            }
        }
        json!(crates)
    };
    for c in lock.as_array().unwrap() {
        let (name, version) = (c[0].as_str().unwrap(), c[1].as_str().unwrap());
        add("crates.io", name, version, version);
    }

    // Maven: jars the JDK's jar tool assembles; commons-lang3 inside a war.
    let lib = root.join("opt/app/lib");
    std::fs::create_dir_all(&lib).unwrap();
    for (group, artifact, version, _) in MAVEN {
        let (path, body) = pom(group, artifact, version);
        let out = lib.join(format!("{artifact}-{version}.jar"));
        assert!(jar_tool(
            &w.join(format!("jar-{artifact}")),
            &[(&path, &body)],
            None,
            &out
        ));
        add("Maven", &format!("{group}:{artifact}"), version, version);
    }
    let lang3 = lib.join("commons-lang3-3.4.jar");
    let war_body = std::fs::read(&lang3).unwrap();
    std::fs::remove_file(&lang3).unwrap();
    assert!(jar_tool(
        &w.join("war"),
        &[("WEB-INF/lib/commons-lang3-3.4.jar", &war_body)],
        None,
        &root.join("srv/shop.war"),
    ));

    // Records: the shared Go and crates.io sets, and ones written around each version.
    let mut seq = 0;
    let mut written = Vec::new();
    for p in &packages {
        let (eco, range) = match p.ecosystem {
            "Maven" => ("Maven", "ECOSYSTEM"),
            eco => (eco, "SEMVER"),
        };
        let near: Vec<String> = if eco == "Maven" {
            let (_, _, _, near) = MAVEN
                .iter()
                .find(|(g, a, _, _)| format!("{g}:{a}") == p.name)
                .unwrap();
            near.iter().map(|s| (*s).to_owned()).collect()
        } else if p.name == "stdlib" {
            Vec::new()
        } else {
            semver_near(&p.version)
        };
        written.extend(records_near(eco, &p.name, &near, range, &mut seq));
    }
    let generated = w.join("generated.jsonl");
    std::fs::write(
        &generated,
        written
            .iter()
            .map(|r| r.to_string() + "\n")
            .collect::<String>(),
    )
    .unwrap();
    let osv = vec![
        advisories().join("osv/go.jsonl"),
        advisories().join("osv/crates-io.jsonl"),
        generated,
    ];
    let db = w.join("db");
    import(&db, "osv", &osv);
    import_rating_samples(&db);
    // Every finding the records give: which ones a Go binary's code makes unreachable is
    // go_reachability's to judge.
    let report = scan_json_with(
        &db,
        &format!("dir:{}", root.display()),
        &["--show-unreachable"],
    );
    let mut skips = Skips::default();
    let ferret = ferret_findings(&report, lang_key, &mut skips);
    let (oracle, oracle_skips) = run_oracle(&python, w, &packages, &[], &osv);
    assert_eq!(skips.records, oracle_skips.records, "records set aside");
    // What Ferret leaves unmatched are the local projects: the private npm application,
    // the Go main module and the crate the binary was built from.
    let unmatched: Vec<&String> = skips
        .packages
        .iter()
        .filter(|k| !k.starts_with("Go:example.com/ferretapp@"))
        .collect();
    assert_eq!(
        unmatched,
        [
            "crates.io:ferret-fixture@0.1.0",
            "npm:ferret-fixture-app@1.0.0"
        ],
        "{:?}",
        skips.packages
    );
    for eco in [
        "npm:",
        "Go:stdlib@",
        "Go:github.com",
        "crates.io:",
        "Maven:",
    ] {
        assert!(
            oracle.keys().any(|(p, _)| p.starts_with(eco)),
            "no {eco} findings: {oracle:?}"
        );
    }
    assert_agree("language packages installed by their tools", ferret, oracle);
}

/// What the feeds of `feeds` name, as the oracle reads them (`oracle.py --named`):
/// {ecosystem: {release or product stream: {package: [versions]}}}.
fn named_by_oracle(python: &str, dir: &Path, feeds: &Value) -> Value {
    let path = dir.join("named.json");
    std::fs::write(&path, feeds.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/oracle.py");
    let out = succeeded(
        Command::new(python)
            .arg(&script)
            .arg("--named")
            .arg(&path)
            .output()
            .unwrap(),
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One RPM distro release for the oracle: its os-release, its ecosystem and release as the
/// feeds name them, and the feed files.
struct RpmDistro {
    os_release: &'static str,
    ecosystem: &'static str,
    release: &'static str,
    /// Microsoft's OVAL names source packages: the installed binaries get other names.
    by_source: bool,
    /// Also install every version for aarch64 (per-architecture definitions).
    both_arches: bool,
}

/// Images of every RPM family with an OVAL or updateinfo feed, their rpm databases written
/// by Debian's rpm: every package the samples name, at every version they name, one below
/// and one above; Ferret scans the roots and must agree with the oracle, which reads the
/// same XML with its own OVAL evaluation and `rpm -qa`'s package list.
#[test]
fn rpm_distro_images_agree_with_the_oracle() {
    let Some(python) = oracle_python() else {
        return;
    };
    if !rpm_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let own = own_testdata().join("advisories");
    let xml = |sub: &str| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(own.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "xml"))
            .collect();
        v.sort();
        v
    };
    let oval = [
        xml("oracle/oval"),
        xml("azurelinux/oval"),
        xml("photon/oval"),
    ]
    .concat();
    let updateinfo = xml("amazon/updateinfo");
    let db = dir.path().join("db");
    import(&db, "oval", &oval);
    import(&db, "alas", &updateinfo);
    import_rating_samples(&db);
    let named = named_by_oracle(
        &python,
        dir.path(),
        &json!({"oval": oval, "updateinfo": updateinfo}),
    );
    let os = |id: &str, version: &str, pretty: &str| {
        format!("ID={id}\nVERSION_ID=\"{version}\"\nPRETTY_NAME=\"{pretty}\"\n")
    };
    let distros = [
        RpmDistro {
            os_release: "ol|5.11|Oracle Linux Server 5.11",
            ecosystem: "Oracle Linux",
            release: "5",
            by_source: false,
            both_arches: true,
        },
        RpmDistro {
            os_release: "ol|8.9|Oracle Linux Server 8.9",
            ecosystem: "Oracle Linux",
            release: "8",
            by_source: false,
            both_arches: true,
        },
        RpmDistro {
            os_release: "amzn|2018.03|Amazon Linux AMI 2018.03",
            ecosystem: "Amazon Linux",
            release: "1",
            by_source: false,
            both_arches: false,
        },
        RpmDistro {
            os_release: "amzn|2|Amazon Linux 2",
            ecosystem: "Amazon Linux",
            release: "2",
            by_source: false,
            both_arches: false,
        },
        RpmDistro {
            os_release: "amzn|2022|Amazon Linux 2022",
            ecosystem: "Amazon Linux",
            release: "2022",
            by_source: false,
            both_arches: false,
        },
        RpmDistro {
            os_release: "amzn|2023|Amazon Linux 2023.6.20241212",
            ecosystem: "Amazon Linux",
            release: "2023",
            by_source: false,
            both_arches: false,
        },
        RpmDistro {
            os_release: "azurelinux|3.0|Microsoft Azure Linux 3.0",
            ecosystem: "Azure Linux",
            release: "3",
            by_source: true,
            both_arches: false,
        },
        RpmDistro {
            os_release: "mariner|2.0|CBL-Mariner/Linux",
            ecosystem: "CBL-Mariner",
            release: "2",
            by_source: true,
            both_arches: false,
        },
        RpmDistro {
            os_release: "mariner|1.0|CBL-Mariner/Linux",
            ecosystem: "CBL-Mariner",
            release: "1",
            by_source: true,
            both_arches: false,
        },
        RpmDistro {
            os_release: "photon|3.0|VMware Photon OS/Linux",
            ecosystem: "Photon OS",
            release: "3",
            by_source: false,
            both_arches: false,
        },
    ];
    let mut ferret = Findings::new();
    let mut ferret_skips = Skips::default();
    let mut oracle_packages = Vec::new();
    let mut rated = 0;
    for (i, d) in distros.iter().enumerate() {
        let names = &named[d.ecosystem][d.release];
        let names = names
            .as_object()
            .unwrap_or_else(|| panic!("the samples name no {} {}", d.ecosystem, d.release));
        let mut packages = Vec::new();
        let arches: &[&str] = if d.both_arches {
            &["x86_64", "aarch64"]
        } else {
            &["x86_64"]
        };
        for (name, versions) in names {
            let mut versions = strings(versions);
            versions.extend(["0.1-1".to_owned(), "99:1-1".to_owned()]);
            for v in versions {
                for arch in arches {
                    if d.by_source {
                        // The source's own binary and one named otherwise.
                        packages.push(RpmPackage::new(name, &v, arch, name));
                        packages.push(RpmPackage::new(&format!("{name}-libs"), &v, arch, name));
                    } else {
                        packages.push(RpmPackage::new(name, &v, arch, name));
                    }
                }
            }
        }
        let root = dir.path().join(format!("root-{i}"));
        let fields: Vec<&str> = d.os_release.split('|').collect();
        rpm_root(&root, &os(fields[0], fields[1], fields[2]), &packages);
        let tag = format!("{}-{}", fields[0], fields[1]);
        let report = scan_json(&db, &format!("dir:{}", root.display()));
        let key = |p: &Value| {
            let purl = PackageUrl::from_str(p["purl"].as_str().unwrap()).unwrap();
            let arch = purl
                .qualifiers()
                .get("arch")
                .map(|a| a.to_string())
                .unwrap_or_default();
            format!(
                "{tag} {} {} {arch}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        };
        assert_eq!(
            report["packages"].as_array().unwrap().len(),
            packages.len(),
            "{}: {}",
            d.os_release,
            report["notes"]
        );
        ferret.extend(ferret_findings(&report, key, &mut ferret_skips));
        rated += assert_rated(d.os_release, &report);
        for (name, evr, arch, srpm, _) in rpm_query(&root) {
            let source = srpm
                .strip_suffix(".src.rpm")
                .and_then(|b| b.rsplitn(3, '-').nth(2))
                .unwrap()
                .to_owned();
            oracle_packages.push(json!({
                "id": format!("{tag} {name} {evr} {arch}"),
                "ecosystem": d.ecosystem, "release": d.release,
                "name": name, "version": evr, "arch": arch, "source": source,
            }));
        }
    }
    assert!(
        ferret_skips.packages.is_empty(),
        "{:?}",
        ferret_skips.packages
    );
    assert!(rated > 0, "no RPM distro finding is rated by the samples");
    let spec = json!({
        "packages": oracle_packages,
        "oval": oval,
        "updateinfo": updateinfo,
        "osv": json_files(&rating_sample("ghsa")),
        "nvd": [rating_sample("nvd").join("nvdcve-2.0-sample.json")],
        "cve5": json_files(&rating_sample("cve5")),
    });
    let (oracle, oracle_skips) = run_oracle_spec(&python, dir.path(), &spec);
    assert_eq!(oracle_skips, Skips::default());
    assert_agree(
        "Oracle Linux, Amazon Linux, Azure Linux, CBL-Mariner, Photon OS",
        ferret,
        oracle,
    );
}

/// Images of Red Hat Enterprise Linux and SUSE releases with real rpm databases (module
/// builds carry their modularity label), matched against Red Hat's and SUSE's CSAF VEX:
/// every package the documents name for the release's product streams, at every fixed
/// build they name, one below and one above; Red Hat's packages installed as binaries of
/// their source (`curl` and `curl-libs` of `curl`). The oracle reads the VEX itself.
#[test]
fn csaf_vex_images_agree_with_the_oracle() {
    let Some(python) = oracle_python() else {
        return;
    };
    if !rpm_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let own = own_testdata().join("advisories");
    let vex = [
        json_files(&own.join("redhat/vex")),
        json_files(&own.join("suse/csaf-vex")),
    ]
    .concat();
    let db = dir.path().join("db");
    import(&db, "csaf-vex", &vex);
    let repository_to_cpe = own.join("redhat/repository-to-cpe/repository-to-cpe.json");
    import(
        &db,
        "repository-to-cpe",
        std::slice::from_ref(&repository_to_cpe),
    );
    import_rating_samples(&db);
    let named = named_by_oracle(&python, dir.path(), &json!({"csaf_vex": vex}));
    /// One image: os-release ID, VERSION_ID, PRETTY_NAME, the vendor, which product
    /// stream CPEs it installs from, and the content sets its content manifest names.
    struct Image {
        id: &'static str,
        version_id: &'static str,
        pretty: &'static str,
        vendor: &'static str,
        installs: fn(&str) -> bool,
        content_sets: &'static [&'static str],
    }
    let rhel = |id, version_id, pretty, installs| Image {
        id,
        version_id,
        pretty,
        vendor: "Red Hat",
        installs,
        content_sets: &[],
    };
    let images = [
        rhel("rhel", "9.3", "Red Hat Enterprise Linux 9.3 (Plow)", |c| {
            c.starts_with("cpe:/o:redhat:enterprise_linux:9")
                || c.starts_with("cpe:/a:redhat:enterprise_linux:9")
        }),
        rhel(
            "rhel",
            "8.10",
            "Red Hat Enterprise Linux 8.10 (Ootpa)",
            |c| {
                c.starts_with("cpe:/o:redhat:enterprise_linux:8")
                    || c.starts_with("cpe:/a:redhat:enterprise_linux:8")
            },
        ),
        rhel(
            "rhel",
            "7.9",
            "Red Hat Enterprise Linux Server 7.9 (Maipo)",
            |c| {
                c.starts_with("cpe:/o:redhat:enterprise_linux:7")
                    || c.starts_with("cpe:/a:redhat:enterprise_linux:7")
            },
        ),
        // An EUS image: its content manifest's repositories decide its streams.
        Image {
            content_sets: &[
                "rhel-9-for-x86_64-appstream-eus-rpms",
                "rhel-9-for-x86_64-baseos-eus-rpms",
            ],
            ..rhel("rhel", "9.2", "Red Hat Enterprise Linux 9.2 (Plow)", |c| {
                c.starts_with("cpe:/o:redhat:rhel_eus:9.")
                    || c.starts_with("cpe:/a:redhat:rhel_eus:9.")
            })
        },
        Image {
            id: "sl-micro",
            version_id: "6.0",
            pretty: "SUSE Linux Micro 6.0",
            vendor: "SUSE",
            installs: |c| c == "cpe:/o:suse:sl-micro:6.0",
            content_sets: &[],
        },
        Image {
            id: "opensuse-tumbleweed",
            version_id: "20231101",
            pretty: "openSUSE Tumbleweed",
            vendor: "SUSE",
            installs: |c| c == "cpe:/o:opensuse:tumbleweed",
            content_sets: &[],
        },
    ];
    let mut ferret = Findings::new();
    let mut ferret_skips = Skips::default();
    let mut oracle_packages = Vec::new();
    for Image {
        id,
        version_id,
        pretty,
        vendor,
        installs,
        content_sets,
    } in images
    {
        // name key → versions, over the release's product streams.
        let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (cpe, names) in named[vendor].as_object().unwrap() {
            if !installs(cpe) {
                continue;
            }
            for (key, versions) in names.as_object().unwrap() {
                wanted
                    .entry(key.clone())
                    .or_default()
                    .extend(strings(versions));
            }
        }
        assert!(!wanted.is_empty(), "the samples name nothing for {pretty}");
        let major = version_id.split('.').next().unwrap();
        let mut packages = Vec::new();
        for (n, (key, mut versions)) in wanted.into_iter().enumerate() {
            let (module, name) = match key.split_once('/') {
                Some((m, n)) if vendor == "Red Hat" => {
                    (Some(m.to_owned()).filter(|m| !m.is_empty()), n.to_owned())
                }
                _ => (None, key.clone()),
            };
            // Below and above every build, in the same stream (module builds stay modular).
            if module.is_some() {
                // Each stream its own builds: rpm keeps one package per NEVRA.
                versions.insert(format!("0.1-1.module+el{major}.0.0+{n}+00000000"));
                versions.insert(format!("99:1-1.module+el{major}.99.0+{n}+ffffffff"));
            } else {
                versions.insert("0.1-1".to_owned());
                versions.insert("99:1-1".to_owned());
            }
            for v in versions {
                let binaries = if vendor == "Red Hat" {
                    vec![name.clone(), format!("{name}-libs")]
                } else {
                    vec![name.clone()]
                };
                for b in binaries {
                    let p = RpmPackage::new(&b, &v, "x86_64", &name);
                    packages.push(match &module {
                        Some(m) => p.in_module(m),
                        None => p,
                    });
                }
            }
        }
        let root = dir.path().join(format!("{id}-{version_id}"));
        rpm_root(
            &root,
            &format!("ID=\"{id}\"\nVERSION_ID=\"{version_id}\"\nPRETTY_NAME=\"{pretty}\"\n"),
            &packages,
        );
        if !content_sets.is_empty() {
            let manifests = root.join("root/buildinfo/content_manifests");
            std::fs::create_dir_all(&manifests).unwrap();
            std::fs::write(
                manifests.join("ubi9-container-9.2-1.json"),
                json!({"metadata": {"icm_version": 1}, "content_sets": content_sets}).to_string(),
            )
            .unwrap();
        }
        let tag = format!("{id}-{version_id}");
        let report = scan_json(&db, &format!("dir:{}", root.display()));
        assert_eq!(
            report["packages"].as_array().unwrap().len(),
            packages.len(),
            "{pretty}: {}",
            report["notes"]
        );
        let key = |p: &Value| {
            format!(
                "{tag} {} {}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        };
        ferret.extend(ferret_findings(&report, key, &mut ferret_skips));
        for (name, evr, _, srpm, module) in rpm_query(&root) {
            let source = srpm
                .strip_suffix(".src.rpm")
                .and_then(|b| b.rsplitn(3, '-').nth(2))
                .unwrap()
                .to_owned();
            oracle_packages.push(json!({
                "id": format!("{tag} {name} {evr}"),
                "ecosystem": vendor, "release": "",
                "name": name, "version": evr, "arch": "x86_64", "source": source,
                "module": module, "os_id": id, "version_id": version_id,
                "content_sets": content_sets,
            }));
        }
    }
    assert!(
        ferret_skips.packages.is_empty(),
        "{:?}",
        ferret_skips.packages
    );
    let spec = json!({
        "packages": oracle_packages,
        "csaf_vex": vex,
        "repository_to_cpe": repository_to_cpe,
        "osv": json_files(&rating_sample("ghsa")),
        "nvd": [rating_sample("nvd").join("nvdcve-2.0-sample.json")],
        "cve5": json_files(&rating_sample("cve5")),
    });
    let (oracle, oracle_skips) = run_oracle_spec(&python, dir.path(), &spec);
    assert_eq!(oracle_skips, Skips::default());
    assert_agree(
        "Red Hat Enterprise Linux 7, 8, 9, 9.2 EUS, SUSE Linux Micro, openSUSE Tumbleweed (CSAF VEX)",
        ferret,
        oracle,
    );
}

/// A Python with aboutcode's `univers` (Alpine's version order for the oracle), in a venv
/// of its own: `$FERRET_APK_PYTHON`, which `.ci/run` sets up.
fn apk_python() -> Option<String> {
    let python = std::env::var("FERRET_APK_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    tool_available(
        Command::new(&python).args(["-c", "import univers.versions"]),
        "a Python with univers (PyPI) for Alpine's version order",
    )
    .then_some(python)
}

/// An Alpine 3.10 image: every origin package of the branch's secdb (main and community)
/// at every fixed version it lists, one below and one above them all, as apk's installed
/// database holds them; with the NVD, CVE JSON 5 and GitHub samples loaded for severity.
#[test]
fn an_alpine_image_agrees_with_the_oracle() {
    let (Some(python), Some(apk)) = (oracle_python(), apk_python()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let branch = advisories().join("alpine-secdb/v3.10");
    let secdb = [branch.join("main.yaml"), branch.join("community.yaml")];
    // origin → fixed versions, read line by line (the YAML's layout is fixed).
    let mut named: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &secdb {
        let mut name = String::new();
        for line in std::fs::read_to_string(f).unwrap().lines() {
            let t = line.trim();
            if let Some(n) = t.strip_prefix("name: ") {
                name = n.trim().to_owned();
                named.entry(name.clone()).or_default();
            } else if let Some(v) = t.strip_suffix(':')
                && !name.is_empty()
                && v.chars().next().is_some_and(|c| c.is_ascii_digit())
                && v != "0"
            {
                named
                    .entry(name.clone())
                    .or_default()
                    .insert(v.trim_matches(|c| c == '\'' || c == '"').to_owned());
            }
        }
    }
    let root = dir.path().join("root");
    // apk-tools compares malformed versions leniently (`4.8.0.-r1`, a typo in the secdb), as
    // Ferret does; univers refuses them: such origins are left out of this comparison.
    let malformed = |v: &str| v.contains(".-") || v.contains("..") || v.ends_with('.');
    named.retain(|_, versions| !versions.iter().any(|v| malformed(v)));
    let mut installed = String::new();
    let mut packages = Vec::new();
    for (name, mut versions) in named {
        versions.extend(["0.0.1-r0".to_owned(), "9999.0-r0".to_owned()]);
        for v in versions {
            installed.push_str(&format!("P:{name}\nV:{v}\nA:x86_64\no:{name}\n\n"));
            packages.push(json!({
                "id": format!("{name} {v}"), "ecosystem": "Alpine", "release": "3.10",
                "name": name, "version": v,
            }));
        }
    }
    alpine_3_10_root(&root, &installed);
    let db = dir.path().join("db");
    import(&db, "secdb", &secdb);
    import_rating_samples(&db);
    let report = scan_json(&db, &format!("dir:{}", root.display()));
    assert_eq!(
        report["packages"].as_array().unwrap().len(),
        packages.len(),
        "{}",
        report["notes"]
    );
    let mut ferret_skips = Skips::default();
    let ferret = ferret_findings(
        &report,
        |p| {
            format!(
                "{} {}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        },
        &mut ferret_skips,
    );
    let rated = assert_rated("Alpine 3.10", &report);
    assert!(rated > 0, "no Alpine finding is rated by the samples");
    let spec = json!({
        "packages": packages,
        "secdb": secdb,
        "apk_python": apk,
        "osv": json_files(&rating_sample("ghsa")),
        "nvd": [rating_sample("nvd").join("nvdcve-2.0-sample.json")],
        "cve5": json_files(&rating_sample("cve5")),
    });
    let (oracle, oracle_skips) = run_oracle_spec(&python, dir.path(), &spec);
    assert_eq!(ferret_skips, oracle_skips);
    assert_agree("Alpine 3.10 (secdb main and community)", ferret, oracle);
}
