//! `sbom:FILE` as a source: Ferret's own SBOMs of the real Debian image read back give the
//! image's packages; Syft's, Trivy's and claircore's documents give the packages they
//! describe, and two formats of one image agree.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

use ferret_testsupport::*;
use serde_json::Value;

type Key = (String, String, String, String, String, String);

/// (kind, name, version, architecture, source name@version, purl) of every package.
fn keys(doc: &Value, with_purl: bool) -> BTreeSet<Key> {
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
            (
                s(&p["kind"]),
                s(&p["name"]),
                s(&p["version"]),
                s(&p["architecture"]),
                format!("{}@{}", s(&p["source"]["name"]), s(&p["source"]["version"])),
                if with_purl {
                    s(&p["purl"])
                } else {
                    String::new()
                },
            )
        })
        .collect()
}

fn formats() -> std::path::PathBuf {
    testdata().join("formats")
}

fn sbom(path: &Path) -> Value {
    inventory(&format!("sbom:{}", path.display()), &[])
}

#[test]
fn ferret_sboms_of_the_debian_image_read_back_the_same_packages() {
    let Some(image) = debian_image() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let source = format!("oci:{}:bookworm", image.join("layout").display());
    let spdx = dir.path().join("debian.spdx.json");
    let cdx = dir.path().join("debian.cdx.json");
    succeeded(
        ferret()
            .args(["sbom", "-q", &source, "-o"])
            .arg(format!("spdx-json={}", spdx.display()))
            .arg("-o")
            .arg(format!("cyclonedx-json={}", cdx.display()))
            .output()
            .unwrap(),
    );
    let direct = inventory(&source, &[]);
    let want = keys(&direct, true);
    assert!(want.len() > 50);
    for path in [&spdx, &cdx] {
        let doc = sbom(path);
        assert_eq!(keys(&doc, true), want, "{}", path.display());
        assert_eq!(doc["distro"]["id"], "debian");
        assert_eq!(doc["distro"]["version_id"], "12");
        assert_eq!(doc["source"]["type"], "sbom");
    }
}

#[test]
fn trivy_cyclonedx_and_spdx_of_centos_7_agree() {
    let cdx = sbom(&formats().join("trivy/trivy-cyclonedx-centos-7.json"));
    let spdx = sbom(&formats().join("trivy/trivy-spdx-centos-7.json"));
    // Trivy's SPDX names the binary package as its own source; compare without sources.
    let strip = |k: BTreeSet<Key>| -> BTreeSet<_> {
        k.into_iter()
            .map(|(a, b, c, d, _, f)| (a, b, c, d, f))
            .collect()
    };
    assert_eq!(strip(keys(&cdx, true)), strip(keys(&spdx, true)));
    for doc in [&cdx, &spdx] {
        assert_eq!(doc["distro"]["id"], "centos");
        assert_eq!(doc["distro"]["version_id"], "7.6.1810");
    }
    // The vulnerable packages Trivy's own report of the image names, epoch included.
    let report: Value = serde_json::from_slice(
        &std::fs::read(formats().join("trivy/trivy-json-centos-7.json")).unwrap(),
    )
    .unwrap();
    let have: BTreeSet<(String, String)> =
        keys(&cdx, false).into_iter().map(|k| (k.1, k.2)).collect();
    for v in report["Results"][0]["Vulnerabilities"].as_array().unwrap() {
        let p = (
            v["PkgName"].as_str().unwrap().to_owned(),
            v["InstalledVersion"].as_str().unwrap().to_owned(),
        );
        assert!(have.contains(&p), "{p:?} not in {have:?}");
    }
    let openssl = cdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "openssl-libs")
        .unwrap();
    assert_eq!(openssl["source"]["name"], "openssl");
    assert_eq!(openssl["source"]["version"], "1:1.0.2k-16.el7");
}

#[test]
fn syft_documents() {
    let alpine = sbom(&formats().join("syft/syft-spdx-2.2-alpine-3.10.json"));
    let got: Vec<(String, String, String)> = keys(&alpine, false)
        .into_iter()
        .map(|k| (k.1, k.2, k.4))
        .collect();
    assert_eq!(
        got,
        [
            ("busybox", "1.30.1-r5", "busybox@1.30.1-r5"),
            ("libssl1.1", "1.1.1k-r0", "libssl1.1@1.1.1k-r0"),
            ("ssl_client", "1.30.1-r5", "busybox@1.30.1-r5"),
        ]
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
    );
    assert_eq!(alpine["distro"]["id"], "alpine");
    assert_eq!(alpine["distro"]["version_id"], "3.10.9");
    let busybox = &alpine["packages"][0];
    assert_eq!(busybox["location"]["path"], "lib/apk/db/installed");
    assert_eq!(busybox["licenses"][0], "GPL-2.0");

    // Syft's CycloneDX and SPDX goldens describe the same test image; its first package
    // has a placeholder purl, which is noted and skipped.
    let cdx = sbom(&formats().join("syft/syft-cyclonedx-image.json"));
    let spdx = sbom(&formats().join("syft/syft-spdx-2.3-image.json"));
    assert_eq!(keys(&cdx, true), keys(&spdx, true));
    assert_eq!(cdx["packages"][0]["name"], "package-2");
    for doc in [&cdx, &spdx] {
        let notes = doc["notes"].to_string();
        assert!(notes.contains("a-purl-1"), "{notes}");
    }
}

#[test]
fn claircore_documents_without_purls() {
    let distroless = sbom(&formats().join("claircore/spdx-distroless-static-debian12.json"));
    let names: Vec<String> = keys(&distroless, false).into_iter().map(|k| k.1).collect();
    assert_eq!(names, ["base-files", "netbase", "tzdata"]);
    assert_eq!(distroless["distro"]["id"], "debian");
    assert_eq!(distroless["distro"]["version_id"], "12");
    assert_eq!(distroless["packages"][0]["kind"], "deb");

    let ubi = sbom(&formats().join("claircore/spdx-ubi8-micro.json"));
    assert_eq!(ubi["distro"]["id"], "rhel");
    assert_eq!(ubi["packages"].as_array().unwrap().len(), 19);
    let coreutils = ubi["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "coreutils-single")
        .unwrap();
    assert_eq!(coreutils["kind"], "rpm");
    assert_eq!(coreutils["source"]["name"], "coreutils");
}

#[test]
fn what_is_not_an_sbom_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    for (body, needle) in [
        ("{\"name\": \"x\"}", "neither SPDX"),
        (
            "{\"spdxVersion\": \"SPDX-2.3\", \"packages\": 5}",
            "not valid JSON",
        ),
        (
            "<bom xmlns=\"http://cyclonedx.org/schema/bom/1.6\"/>",
            "XML",
        ),
        ("", "empty"),
    ] {
        let path = dir.path().join("in.json");
        std::fs::write(&path, body).unwrap();
        let (code, _, err) = run(&["sbom", "-q", &format!("sbom:{}", path.display())]);
        assert_eq!(code, 2, "{body}");
        assert!(
            err.contains(needle) && err.contains("in.json"),
            "{body}: {err}"
        );
    }
    let (code, _, err) = run(&["sbom", "-q", "sbom:/nonexistent.json"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent.json"), "{err}");
}
