//! Image sources and the layer walk, end to end through the `ferret` binary, on images
//! the tests build: whiteouts, opaque directories, delete-then-recreate, hard and
//! symbolic links, hostile entry names, every compression, both docker-archive layouts
//! and multi-platform indexes.

#![allow(clippy::unwrap_used)]

use ferret_testsupport::*;

fn edge_image() -> ImageSpec {
    let rpm_db = std::fs::read(
        testdata().join("fixtures/os-pkgdb/rpm/osv-scalibr-packages-epoch/var/lib/rpm/Packages"),
    )
    .unwrap();
    let l0 = tar(&[
        file("usr/lib/os-release", DEBIAN_OS_RELEASE),
        Entry::Symlink("etc/os-release".into(), "../usr/lib/os-release".into()),
        file(
            "var/lib/dpkg/status",
            &(dpkg_entry("apt", "2.6.1", None)
                + &dpkg_entry("bash", "5.2.15-2+b2", Some("bash (5.2.15-2)"))),
        ),
        file(
            "var/lib/dpkg/status.d/oldpkg",
            "Package: oldpkg\nVersion: 1.0\nArchitecture: amd64\n",
        ),
        Entry::File("var/lib/rpm/Packages".into(), rpm_db),
        file(
            "lib/apk/db/installed",
            &apk_entry("musl", "1.2.3-r0", "x86_64"),
        ),
        // Hostile names: never applied, reported.
        Entry::Raw(
            "/var/lib/dpkg/status.d/evil-abs".into(),
            dpkg_entry("evil-abs", "6.6.6", None).into_bytes(),
        ),
        Entry::Raw(
            "../../var/lib/dpkg/status.d/evil-dotdot".into(),
            dpkg_entry("evil-dotdot", "6.6.6", None).into_bytes(),
        ),
    ]);
    let l1 = tar(&[
        file("var/lib/dpkg/.wh.status.d", ""),
        file("var/lib/rpm/.wh..wh..opq", ""),
        file("lib/apk/db/.wh.installed", ""),
        file("etc/.wh.os-release", ""),
        Entry::Hardlink("etc/os-release".into(), "usr/lib/os-release".into()),
        file("usr/lib/.wh.os-release", ""),
    ]);
    let l2 = tar(&[
        file(
            "lib/apk/db/installed",
            &apk_entry("musl", "1.2.4-r2", "x86_64"),
        ),
        file(
            "var/lib/dpkg/status",
            &(dpkg_entry("apt", "2.6.1", None)
                + &dpkg_entry("bash", "5.2.15-2+b2", Some("bash (5.2.15-2)"))
                + &dpkg_entry("curl", "7.88.1-10+deb12u5", None)),
        ),
    ]);
    ImageSpec::new(vec![(l0, Comp::Gzip), (l1, Comp::Zstd), (l2, Comp::None)])
}

fn edge_expected() -> Vec<(String, String, String, Option<u64>)> {
    let mut v = vec![
        ("apk".into(), "musl".into(), "1.2.4-r2".into(), Some(2)),
        ("deb".into(), "apt".into(), "2.6.1".into(), Some(2)),
        ("deb".into(), "bash".into(), "5.2.15-2+b2".into(), Some(2)),
        (
            "deb".into(),
            "curl".into(),
            "7.88.1-10+deb12u5".into(),
            Some(2),
        ),
    ];
    v.sort();
    v
}

#[test]
fn oci_layout_edge_cases() {
    let dir = tempfile::tempdir().unwrap();
    let w = oci_layout(dir.path(), &edge_image(), "edge");
    let image = format!("oci:{}:edge", dir.path().display());
    let doc = inventory(&image, &[]);
    assert_eq!(packages(&doc), edge_expected());
    // The hard link kept os-release alive after its target was whited out.
    assert_eq!(doc["distro"]["id"], "debian");
    assert_eq!(doc["distro"]["version_id"], "12");
    assert_eq!(doc["source"]["digest"], w.manifest.as_str());
    assert_eq!(doc["source"]["created"], "2024-05-06T07:08:09Z");
    let notes = doc["notes"].to_string();
    assert!(notes.contains("absolute path"), "{notes}");
    assert!(notes.contains("climbs out"), "{notes}");
    // bash's source version comes from the Source field; the purl carries the distro and,
    // as Syft writes it, the source in `upstream`.
    let bash = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "bash")
        .unwrap();
    assert_eq!(bash["source"]["version"], "5.2.15-2");
    assert_eq!(
        bash["purl"],
        "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12&upstream=bash%405.2.15-2"
    );

    // Untagged reference (one image in the layout) and by digest give the same result.
    let by_default = inventory(&format!("oci:{}", dir.path().display()), &[]);
    assert_eq!(packages(&by_default), edge_expected());
    let by_digest = inventory(&format!("oci:{}@{}", dir.path().display(), w.manifest), &[]);
    assert_eq!(packages(&by_digest), edge_expected());
}

#[test]
fn output_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    oci_layout(dir.path(), &edge_image(), "edge");
    let image = format!("oci:{}:edge", dir.path().display());
    for format in ["json", "spdx-json", "cyclonedx-json", "table"] {
        let a = run(&["sbom", "-q", "-f", format, &image]);
        let b = run(&["sbom", "-q", "-f", format, &image]);
        assert_eq!(a.0, 0, "{}", a.2);
        assert_eq!(a.1, b.1, "{format} output differs between runs");
    }
}

#[test]
fn docker_archives_classic_and_oci() {
    let dir = tempfile::tempdir().unwrap();
    let classic = dir.path().join("classic.tar");
    docker_archive_classic(&classic, &edge_image(), "example/edge:1");
    let doc = inventory(&format!("docker-archive:{}", classic.display()), &[]);
    assert_eq!(packages(&doc), edge_expected());
    assert_eq!(doc["source"]["tags"][0], "example/edge:1");

    let modern = dir.path().join("docker25.tar");
    docker_archive_oci(&modern, &edge_image(), "example/edge:1");
    let doc = inventory(&format!("docker-archive:{}", modern.display()), &[]);
    assert_eq!(packages(&doc), edge_expected());
}

#[test]
fn platform_selection_from_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let amd = musl_image("x86_64", "amd64", None);
    let arm = musl_image("aarch64", "arm64", Some("v8"));
    let armv7 = musl_image("armv7", "arm", Some("v7"));
    let armv6 = musl_image("armhf", "arm", Some("v6"));
    let (index, written) = oci_layout_multi(dir.path(), &[amd, arm, armv7, armv6], "multi");
    let image = format!("oci:{}:multi", dir.path().display());
    let arch = |doc: &serde_json::Value| {
        doc["packages"][0]["architecture"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    let doc = inventory(&image, &[]);
    assert_eq!(arch(&doc), "x86_64");
    assert_eq!(doc["source"]["indexDigest"], index.as_str());
    assert_eq!(doc["source"]["digest"], written[0].manifest.as_str());
    assert_eq!(
        arch(&inventory(&image, &["--platform", "linux/arm64"])),
        "aarch64"
    );
    assert_eq!(
        arch(&inventory(&image, &["--platform", "linux/arm64/v8"])),
        "aarch64"
    );
    assert_eq!(
        arch(&inventory(&image, &["--platform", "linux/arm/v7"])),
        "armv7"
    );
    assert_eq!(
        arch(&inventory(&image, &["--platform", "linux/arm/v6"])),
        "armhf"
    );

    let (code, _, err) = run(&["sbom", "-q", &image, "--platform", "linux/s390x"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("linux/s390x") && err.contains("linux/arm64/v8"),
        "{err}"
    );
}

#[test]
fn dir_source_symlinks_stay_inside_the_root() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("status"),
        dpkg_entry("host-secret", "1.0", None),
    )
    .unwrap();
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("usr/lib")).unwrap();
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::create_dir_all(r.join("var/lib/dpkg")).unwrap();
    std::fs::write(r.join("usr/lib/os-release"), DEBIAN_OS_RELEASE).unwrap();
    std::os::unix::fs::symlink(
        "../../../../../../usr/lib/os-release",
        r.join("etc/os-release"),
    )
    .unwrap();
    // An absolute link to a host file: resolved inside the root, where nothing is.
    std::os::unix::fs::symlink(outside.path().join("status"), r.join("var/lib/dpkg/status"))
        .unwrap();
    let doc = inventory(&format!("dir:{}", r.display()), &[]);
    assert_eq!(doc["distro"]["id"], "debian");
    assert!(packages(&doc).is_empty(), "{:?}", packages(&doc));
}

#[test]
fn symlink_loops_and_escapes_in_layers() {
    let dir = tempfile::tempdir().unwrap();
    let l0 = tar(&[
        file("usr/lib/os-release", DEBIAN_OS_RELEASE),
        Entry::Symlink(
            "etc/os-release".into(),
            "/../../../usr/lib/os-release".into(),
        ),
        Entry::Symlink("var/lib/dpkg".into(), "../../var/lib/dpkg2".into()),
        Entry::Symlink("var/lib/dpkg2".into(), "dpkg".into()),
        Entry::Symlink(
            "lib/apk/db/installed".into(),
            "/../../../../etc/shadow".into(),
        ),
    ]);
    oci_layout(dir.path(), &ImageSpec::new(vec![(l0, Comp::Gzip)]), "x");
    let doc = inventory(&format!("oci:{}:x", dir.path().display()), &[]);
    assert_eq!(doc["distro"]["id"], "debian");
    assert!(packages(&doc).is_empty());
}

#[test]
fn non_distributable_layers_are_skipped_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let base = tar(&[file(
        "var/lib/dpkg/status",
        &dpkg_entry("apt", "2.6.1", None),
    )]);
    let foreign = tar(&[file(
        "var/lib/dpkg/status",
        &dpkg_entry("windows-thing", "1.0", None),
    )]);
    let mut spec = ImageSpec::new(vec![(base, Comp::Gzip), (foreign, Comp::Gzip)]);
    spec.media_type_override = Some((
        1,
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip".into(),
    ));
    let w = oci_layout(dir.path(), &spec, "x");
    // The blob of a foreign layer is usually not there at all.
    std::fs::remove_file(dir.path().join("blobs/sha256").join(&w.layers[1][7..])).unwrap();
    let doc = inventory(&format!("oci:{}:x", dir.path().display()), &[]);
    let names: Vec<_> = packages(&doc).into_iter().map(|p| p.1).collect();
    assert_eq!(names, ["apt"]);
    assert!(
        doc["notes"].to_string().contains("non-distributable"),
        "{}",
        doc["notes"]
    );
}

#[test]
fn files_over_the_size_cap_are_noted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let status = dpkg_entry("apt", "2.6.1", None).repeat(20);
    let spec = ImageSpec::new(vec![(
        tar(&[
            file("var/lib/dpkg/status", &status),
            file(
                "lib/apk/db/installed",
                &apk_entry("musl", "1.2.4-r2", "x86_64"),
            ),
        ]),
        Comp::Gzip,
    )]);
    oci_layout(dir.path(), &spec, "x");
    let doc = inventory(
        &format!("oci:{}:x", dir.path().display()),
        &["--max-file-size", "1000"],
    );
    let names: Vec<_> = packages(&doc).into_iter().map(|p| p.1).collect();
    assert_eq!(names, ["musl"]);
    let notes = doc["notes"].to_string();
    assert!(
        notes.contains("var/lib/dpkg/status") && notes.contains("limit"),
        "{notes}"
    );
}
