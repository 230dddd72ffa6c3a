//! Parse and validity files in `shared/testdata/versions`: dpkg parses, RPM NEVRA parses and
//! comparisons, PEP 440 components/normalisation/invalid strings, SemVer parses, apk
//! validity and fuzzy matching.

#![allow(clippy::unwrap_used)]

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use ferret_version::{DpkgVersion, Nevra, Scheme, Version, apk_fuzzy_matches, apk_is_valid};
use serde_json::Value;

fn testdata() -> PathBuf {
    std::env::var_os("FERRET_TESTDATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"),
        PathBuf::from,
    )
}

fn jsonl(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(testdata().join("versions").join(path)).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn tsv(path: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(testdata().join("versions").join(path)).unwrap();
    text.lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

#[test]
fn dpkg_parse() {
    for case in jsonl("dpkg/parse.jsonl") {
        let input = case["input"].as_str().unwrap();
        let parsed = DpkgVersion::parse(input);
        if case["valid"] == true {
            let v = parsed.unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(
                u64::from(v.epoch),
                case["epoch"].as_u64().unwrap(),
                "{input:?}"
            );
            assert_eq!(v.upstream, case["upstream"].as_str().unwrap(), "{input:?}");
            assert_eq!(v.revision, case["revision"].as_str().unwrap(), "{input:?}");
        } else {
            assert!(
                parsed.is_err(),
                "{input:?} should be invalid ({})",
                case["note"]
            );
        }
    }
}

#[test]
fn rpm_nevra() {
    for case in jsonl("rpm/claircore-nevra-parse.jsonl") {
        let input = case["input"].as_str().unwrap();
        let n = Nevra::parse(input).unwrap();
        assert_eq!(n.name.as_deref(), case["name"].as_str(), "{input}");
        let epoch = case["epoch"].as_str().unwrap_or("0");
        assert_eq!(n.evr.epoch, epoch, "{input}");
        assert_eq!(n.evr.version, case["version"].as_str().unwrap(), "{input}");
        assert_eq!(
            n.evr.release.as_deref(),
            case["release"].as_str(),
            "{input}"
        );
        assert_eq!(n.arch.as_deref(), case["arch"].as_str(), "{input}");
    }
    for row in tsv("rpm/claircore-nevra-compare.tsv") {
        let (a, b) = (
            Nevra::parse(&row[0]).unwrap(),
            Nevra::parse(&row[1]).unwrap(),
        );
        let want = match row[2].as_str() {
            "-1" => Ordering::Less,
            "0" => Ordering::Equal,
            _ => Ordering::Greater,
        };
        assert_eq!(a.cmp(&b), want, "{} vs {}", row[0], row[1]);
    }
}

#[test]
fn pep440_files() {
    for case in jsonl("pep440/packaging-invalid.jsonl") {
        let input = case["input"].as_str().unwrap();
        assert!(
            ferret_version::pep440_strict(input).is_err(),
            "{input:?} should be invalid"
        );
    }
    for case in jsonl("pep440/packaging-normalization.jsonl") {
        let input = case["input"].as_str().unwrap();
        let v = ferret_version::pep440_strict(input).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            v.to_string(),
            case["normalized"].as_str().unwrap(),
            "{input:?}"
        );
    }
    for case in jsonl("pep440/packaging-components.jsonl") {
        let input = case["input"].as_str().unwrap();
        let v = ferret_version::pep440_strict(input).unwrap();
        if let Some(e) = case.get("epoch") {
            assert_eq!(Some(v.epoch()), e.as_u64(), "{input}");
        }
        if let Some(r) = case.get("release") {
            let release: Vec<u64> = r
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .collect();
            assert_eq!(v.release(), release.as_slice(), "{input}");
        }
        if let Some(d) = case.get("dev") {
            assert_eq!(v.dev(), d.as_u64(), "{input}");
        }
        if let Some(p) = case.get("post") {
            assert_eq!(v.post(), p.as_u64(), "{input}");
        }
        if let Some(p) = case.get("public").and_then(Value::as_str) {
            let public = v.to_string();
            let public = public.split('+').next().unwrap();
            assert_eq!(public, p, "{input}");
        }
        if let Some(pre) = case.get("is_prerelease").and_then(Value::as_bool) {
            assert_eq!(v.any_prerelease(), pre, "{input}");
        }
    }
}

#[test]
fn semver_parse() {
    for case in jsonl("semver/node-semver-parse.jsonl") {
        let input = case["input"].as_str().unwrap();
        let Version::Semver(v) = Scheme::Semver.parse(input).unwrap() else {
            panic!()
        };
        let n: Vec<u64> = v.numbers().iter().map(|s| s.parse().unwrap()).collect();
        assert_eq!(
            n,
            [
                case["major"].as_u64().unwrap(),
                case["minor"].as_u64().unwrap(),
                case["patch"].as_u64().unwrap()
            ],
            "{input}"
        );
        let strs = |k: &str| -> Vec<String> {
            case[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                .collect()
        };
        assert_eq!(v.prerelease(), strs("prerelease"), "{input}");
        assert_eq!(v.build(), strs("build"), "{input}");
    }
}

#[test]
fn apk_validity_and_fuzzy() {
    for row in tsv("apk/apk-tools-validity.tsv") {
        assert_eq!(apk_is_valid(&row[0]), row[1] == "1", "{:?}", row[0]);
    }
    for row in tsv("apk/apk-tools-fuzzy-match.tsv") {
        let (a, op, b, want) = (&row[0], row[1].as_str(), &row[2], row[3] == "true");
        let ord = Scheme::Apk.compare(a, b).unwrap();
        let got = match op {
            "~" => apk_fuzzy_matches(a, b),
            "<~" => ord == Ordering::Less || apk_fuzzy_matches(a, b),
            ">~" => ord == Ordering::Greater || apk_fuzzy_matches(a, b),
            _ => panic!("unknown operator {op}"),
        };
        assert_eq!(got, want, "{a} {op} {b}");
    }
}
