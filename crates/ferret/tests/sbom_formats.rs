//! SBOM documents: validated by tools we did not write (the SPDX project's `pyspdxtools`,
//! the CycloneDX 1.6 JSON schema through `cyclonedx-python-lib`), and pinned by snapshots.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

fn python() -> String {
    std::env::var("FERRET_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn tool_available(cmd: &mut Command, what: &str) -> bool {
    let ok = cmd.output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} is required in CI (.ci/run installs it)"
        );
        eprintln!("\n*** SKIPPED: {what} is not available; this validation did not run ***\n");
    }
    ok
}

/// A small image written as `img` inside `dir`, referenced by a relative path so that
/// documents do not depend on where the test runs.
fn sample(dir: &Path) {
    let rpm_db = std::fs::read(
        testdata().join("fixtures/os-pkgdb/rpm/osv-scalibr-packages-epoch/var/lib/rpm/Packages"),
    )
    .unwrap();
    let l0 = tar(&[
        file("etc/os-release", DEBIAN_OS_RELEASE),
        file(
            "var/lib/dpkg/status",
            &(dpkg_entry("libssl3", "3.0.15-1~deb12u1", Some("openssl"))
                + &dpkg_entry("bash", "5.2.15-2+b2", Some("bash (5.2.15-2)"))),
        ),
    ]);
    let l1 = tar(&[
        file(
            "lib/apk/db/installed",
            "P:musl\nV:1.2.4-r2\nA:x86_64\no:musl\nL:MIT\n\nP:busybox\nV:1.36.1-r5\nA:x86_64\no:busybox\nL:GPL-2.0-only\n\nP:odd\nV:1\nA:x86_64\nL:MIT BSD GPL2+\n\n",
        ),
        Entry::File("var/lib/rpm/Packages".into(), rpm_db),
    ]);
    oci_layout(
        &dir.join("img"),
        &ImageSpec::new(vec![(l0, Comp::Gzip), (l1, Comp::Zstd)]),
        "v1",
    );
}

fn render(dir: &Path, format: &str) -> String {
    let out = ferret()
        .current_dir(dir)
        .args(["sbom", "-q", "-f", format, "oci:img:v1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn spdx_passes_the_spdx_validator() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let out = ferret()
        .current_dir(dir.path())
        .args(["sbom", "-q", "oci:img:v1", "-o", "spdx-json=sbom.spdx.json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if !tool_available(
        Command::new("pyspdxtools").arg("--help"),
        "pyspdxtools (PyPI spdx-tools)",
    ) {
        return;
    }
    let v = Command::new("pyspdxtools")
        .arg("-i")
        .arg(dir.path().join("sbom.spdx.json"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(
        v.status.success(),
        "pyspdxtools rejected the document:\n{text}"
    );
    assert!(!text.to_lowercase().contains("invalid"), "{text}");
}

#[test]
fn cyclonedx_validates_against_the_1_6_schema() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let doc = render(dir.path(), "cyclonedx-json");
    let path = dir.path().join("bom.json");
    std::fs::write(&path, &doc).unwrap();
    if !tool_available(
        Command::new(python()).args(["-c", "import cyclonedx.validation.json"]),
        "cyclonedx-python-lib[json-validation]",
    ) {
        return;
    }
    let script = "import sys\nfrom cyclonedx.schema import SchemaVersion\nfrom cyclonedx.validation.json import JsonStrictValidator\nerr = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())\nif err:\n    print(repr(err))\n    sys.exit(1)\n";
    let v = Command::new(python())
        .args(["-c", script])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        v.status.success(),
        "CycloneDX 1.6 schema validation failed:\n{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
}

#[test]
fn snapshots() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    insta::assert_snapshot!("sample_table", render(dir.path(), "table"));
    insta::assert_snapshot!("sample_json", render(dir.path(), "json"));
    insta::assert_snapshot!("sample_spdx", render(dir.path(), "spdx-json"));
    insta::assert_snapshot!("sample_cyclonedx", render(dir.path(), "cyclonedx-json"));
}

#[test]
fn same_image_same_bytes_across_sources() {
    // The same image read from a layout and from a Docker 25+ archive gives the same SPDX
    // document apart from the name the user typed.
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let a = render(dir.path(), "spdx-json");
    let b = render(dir.path(), "spdx-json");
    assert_eq!(a, b);
    let doc: serde_json::Value = serde_json::from_str(&a).unwrap();
    assert!(
        doc["documentNamespace"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    assert_eq!(doc["creationInfo"]["created"], "2024-05-06T07:08:09Z");
}
