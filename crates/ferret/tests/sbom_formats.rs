//! SBOM documents: validated by tools we did not write (the SPDX project's `pyspdxtools`,
//! the CycloneDX 1.6 JSON schema through `cyclonedx-python-lib`), and pinned by snapshots.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use ferret_testsupport::*;

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
        file(
            "usr/share/doc/libssl3/copyright",
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: 1998-2024 The OpenSSL Project\nLicense: Apache-2.0\n\nLicense: Apache-2.0\n On Debian systems, the full text is in /usr/share/common-licenses/Apache-2.0.\n",
        ),
        file(
            "usr/share/doc/bash/copyright",
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-3+\n\nFiles: lib/sh/*\nLicense: GPL-2+ or BSD-3-clause\n",
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
    let out = succeeded(
        ferret()
            .current_dir(dir)
            .args(["sbom", "-q", "-f", format, "oci:img:v1"])
            .output()
            .unwrap(),
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn spdx_passes_the_spdx_validator() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    succeeded(
        ferret()
            .current_dir(dir.path())
            .args(["sbom", "-q", "oci:img:v1", "-o", "spdx-json=sbom.spdx.json"])
            .output()
            .unwrap(),
    );
    validate_spdx(&dir.path().join("sbom.spdx.json"));
}

#[test]
fn cyclonedx_validates_against_the_1_6_schema() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let path = dir.path().join("bom.json");
    std::fs::write(&path, render(dir.path(), "cyclonedx-json")).unwrap();
    validate_cyclonedx(&path);
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
