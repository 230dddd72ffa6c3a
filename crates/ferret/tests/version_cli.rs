//! `ferret version compare`, single and `--batch`, on real vector files.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::Stdio;

use ferret_testsupport::*;

fn batch(scheme: &str, input: &str) -> Vec<String> {
    let mut child = ferret()
        .args(["version", "compare", scheme, "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn batch_answers_every_line_in_order() {
    for (scheme, file) in [
        ("dpkg", "dpkg/dpkg-project.tsv"),
        ("Debian", "dpkg/generated-real-debian-ubuntu.tsv"),
        ("rpm", "rpm/generated-real-rpm-evr.tsv"),
        ("PyPI", "pep440/packaging-ordering.tsv"),
        ("semver", "semver/semver-spec.tsv"),
        ("crates.io", "semver/generated-real-go-crates.tsv"),
        ("apk", "apk/apk-tools.tsv"),
        ("maven", "maven/maven-project.tsv"),
        ("maven-spec", "maven/osv-scalibr-handwritten.tsv"),
    ] {
        let text = std::fs::read_to_string(testdata().join("versions").join(file)).unwrap();
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
        let input: String = rows
            .iter()
            .map(|r| format!("{}\t{}\n", r[0], r[1]))
            .collect();
        let answers = batch(scheme, &input);
        assert_eq!(answers.len(), rows.len(), "{file}");
        for (row, got) in rows.iter().zip(&answers) {
            assert_eq!(got, row[2], "{scheme} {} vs {}", row[0], row[1]);
        }
    }
}

#[test]
fn batch_goes_on_after_an_invalid_line() {
    let answers = batch("dpkg", "1.0\t1.1\n1.0-\t1.0\nno tab here\n2:1\t1:9\n");
    assert_eq!(answers[0], "-1");
    assert!(
        answers[1].starts_with("error: ") && answers[1].contains("1.0-"),
        "{}",
        answers[1]
    );
    assert!(answers[2].starts_with("error: "), "{}", answers[2]);
    assert_eq!(answers[3], "1");
}

#[test]
fn single_comparisons_and_aliases() {
    for (scheme, a, b, want) in [
        ("dpkg", "1.0~rc1", "1.0", "-1"),
        ("Ubuntu:22.04:LTS", "2.35-0ubuntu3.1", "2.35-0ubuntu3", "1"),
        ("rpm", "1.0^git1", "1.0", "1"),
        ("Alpine:v3.18", "1.2.4-r2", "1.2.4_rc1-r9", "1"),
        ("PyPI", "1.0.post1", "1.0", "1"),
        ("go", "v1.2.3-0.20240101000000-abcdef123456", "v1.2.3", "-1"),
        ("Go", "v2.0.0+incompatible", "v2.0.0", "0"),
        ("npm", "1.0.0-alpha.10", "1.0.0-alpha.9", "1"),
        ("Maven", "1.0-SNAPSHOT", "1.0", "-1"),
        ("RubyGems", "1.0.0.pre", "1.0.0", "-1"),
        ("NuGet", "1.0.0-BETA", "1.0.0-beta", "0"),
        ("Packagist", "1.0.0-RC1", "1.0.0", "-1"),
    ] {
        let (code, out, err) = run(&["version", "compare", scheme, a, b]);
        assert_eq!(code, 0, "{scheme}: {err}");
        assert_eq!(out.trim(), want, "{scheme} {a} {b}");
    }
    let (code, _, err) = run(&["version", "compare", "cobol", "1", "2"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown version scheme"), "{err}");
    let (code, _, err) = run(&["version", "compare", "semver", "1.0.0", "not a version"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a version"), "{err}");
}
