//! Stage ① on images written by the test: OCI layouts and both docker-archive layouts
//! resolve to the same image, indexes pick the wanted platform, and every byte read is
//! checked against its digest (manifests at once, layers as they stream).

#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::path::Path;

use ferret_image::{Image, ImageSource, ResolveOptions};
use ferret_testsupport::{
    Comp, ImageSpec, docker_archive_classic, docker_archive_oci, file, musl_image, oci_layout,
    oci_layout_multi, sha256, tar,
};

fn spec() -> ImageSpec {
    let l0 = tar(&[file("etc/os-release", "ID=alpine\n")]);
    let l1 = tar(&[file("lib/apk/db/installed", "P:musl\nV:1.2.4-r2\n\n")]);
    ImageSpec::new(vec![(l0, Comp::Gzip), (l1, Comp::Zstd)])
}

fn resolve(source: &str, platform: Option<&str>) -> Result<Image, ferret_image::ImageError> {
    let options = ResolveOptions {
        platform: platform.map(|p| p.parse().unwrap()),
        ..ResolveOptions::default()
    };
    Image::resolve(&ImageSource::parse(source).unwrap(), &options)
}

/// Every layer read to its end, as the scan reads it.
fn read_all(image: &Image) -> Result<Vec<usize>, String> {
    image
        .layers
        .iter()
        .map(|l| {
            let mut buf = Vec::new();
            image
                .open_layer(l)
                .map_err(|e| e.to_string())?
                .read_to_end(&mut buf)
                .map_err(|e| e.to_string())?;
            Ok(buf.len())
        })
        .collect()
}

fn blob(dir: &Path, digest: &str) -> std::path::PathBuf {
    dir.join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

#[test]
fn layouts_and_both_docker_archives_give_one_image() {
    let dir = tempfile::tempdir().unwrap();
    let w = oci_layout(&dir.path().join("oci"), &spec(), "t");
    let oci = resolve(&format!("oci:{}:t", dir.path().join("oci").display()), None).unwrap();
    assert_eq!(oci.manifest_digest.to_string(), w.manifest);
    assert_eq!(oci.config_digest.to_string(), w.config);
    let layers: Vec<String> = oci.layers.iter().map(|l| l.digest.to_string()).collect();
    assert_eq!(layers, w.layers);
    read_all(&oci).unwrap();

    for (name, write) in [
        (
            "classic.tar",
            docker_archive_classic as fn(&Path, &ImageSpec, &str),
        ),
        ("docker25.tar", docker_archive_oci),
    ] {
        let path = dir.path().join(name);
        write(&path, &spec(), "example/app:1");
        let image = resolve(&format!("docker-archive:{}", path.display()), None).unwrap();
        assert_eq!(image.config_digest.to_string(), w.config, "{name}");
        // The classic layout names `repo:tag`; Docker 25's index the tag alone.
        assert!(
            image.tags == ["example/app:1"] || image.tags == ["1"],
            "{name}: {:?}",
            image.tags
        );
        assert_eq!(image.layers.len(), 2, "{name}");
        read_all(&image).unwrap();
    }
}

#[test]
fn an_index_gives_the_wanted_platform_or_names_what_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let specs = [
        musl_image("x86_64", "amd64", None),
        musl_image("aarch64", "arm64", Some("v8")),
        musl_image("armv7", "arm", Some("v7")),
    ];
    let (index, written) = oci_layout_multi(dir.path(), &specs, "multi");
    let source = format!("oci:{}:multi", dir.path().display());
    let default = resolve(&source, None).unwrap();
    assert_eq!(default.manifest_digest.to_string(), written[0].manifest);
    assert_eq!(default.index_digest.map(|d| d.to_string()), Some(index));
    for (platform, i) in [
        ("linux/arm64", 1),
        ("linux/arm64/v8", 1),
        ("linux/arm/v7", 2),
    ] {
        let image = resolve(&source, Some(platform)).unwrap();
        assert_eq!(
            image.manifest_digest.to_string(),
            written[i].manifest,
            "{platform}"
        );
    }
    let e = resolve(&source, Some("linux/s390x"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("linux/s390x") && e.contains("linux/arm64/v8"),
        "{e}"
    );
}

#[test]
fn a_changed_manifest_is_refused_before_anything_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let w = oci_layout(dir.path(), &spec(), "t");
    let path = blob(dir.path(), &w.manifest);
    let mut m = std::fs::read(&path).unwrap();
    m.push(b' ');
    std::fs::write(&path, &m).unwrap();
    let e = resolve(&format!("oci:{}:t", dir.path().display()), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("digest mismatch") && e.contains(&w.manifest) && e.contains(&sha256(&m)),
        "{e}"
    );
}

#[test]
fn a_changed_layer_fails_at_the_end_of_its_stream() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ImageSpec::new(vec![(tar(&[file("a", "a")]), Comp::None)]);
    let w = oci_layout(dir.path(), &spec, "t");
    let path = blob(dir.path(), &w.layers[0]);
    let mut b = std::fs::read(&path).unwrap();
    let n = b.len();
    b[n - 1] ^= 1;
    std::fs::write(&path, &b).unwrap();
    let image = resolve(&format!("oci:{}:t", dir.path().display()), None).unwrap();
    let e = read_all(&image).unwrap_err();
    assert!(
        e.contains("digest mismatch") && e.contains(&w.layers[0]),
        "{e}"
    );
}

#[test]
fn a_missing_layer_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let w = oci_layout(dir.path(), &spec(), "t");
    std::fs::remove_file(blob(dir.path(), &w.layers[1])).unwrap();
    let e = match resolve(&format!("oci:{}:t", dir.path().display()), None) {
        Err(e) => e.to_string(),
        Ok(image) => read_all(&image).unwrap_err(),
    };
    assert!(e.contains("not found") && e.contains(&w.layers[1]), "{e}");
}
