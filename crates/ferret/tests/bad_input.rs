//! Bad input gets a clear error naming what was wrong, exit code 2, no panic, and no
//! output file left behind.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use ferret_testsupport::*;

fn one_layer(entries: &[Entry], comp: Comp) -> ImageSpec {
    ImageSpec::new(vec![(tar(entries), comp)])
}

fn status_layer() -> Vec<Entry> {
    vec![file(
        "var/lib/dpkg/status",
        &dpkg_entry("apt", "2.6.1", None),
    )]
}

/// Runs `ferret sbom` on a layout and expects a failure whose message has every needle.
fn expect_error(dir: &Path, needles: &[&str]) {
    let out_file = dir.join("report.spdx.json");
    let (code, stdout, stderr) = run(&[
        "sbom",
        "-q",
        &format!("oci:{}", dir.display()),
        "-o",
        &format!("spdx-json={}", out_file.display()),
    ]);
    assert_eq!(code, 2, "expected exit 2; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "error should mention {n:?}: {stderr}");
    }
    assert!(stdout.is_empty(), "{stdout}");
    assert!(!out_file.exists(), "a failed run left a report behind");
}

fn blob_path(dir: &Path, digest: &str) -> std::path::PathBuf {
    dir.join("blobs/sha256").join(&digest[7..])
}

#[test]
fn truncated_gzip_layer() {
    let dir = tempfile::tempdir().unwrap();
    let spec = one_layer(&status_layer(), Comp::Gzip);
    let w = oci_layout(dir.path(), &spec, "t");
    // Truncate the blob and re-point the manifest at the truncated bytes, so digests
    // pass and the decompressor meets the damage.
    let blob = std::fs::read(blob_path(dir.path(), &w.layers[0])).unwrap();
    let cut = &blob[..blob.len() / 2];
    rewrite_layer(dir.path(), &w, 0, cut);
    expect_error(dir.path(), &["layer 0"]);
}

#[test]
fn corrupt_tar_header() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = tar(&status_layer());
    t[100] ^= 0xff; // inside the mode field: the header checksum no longer matches
    let spec = ImageSpec::new(vec![(t, Comp::None)]);
    oci_layout(dir.path(), &spec, "t");
    expect_error(dir.path(), &["layer 0", "checksum"]);
}

#[test]
fn manifest_digest_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let w = oci_layout(dir.path(), &one_layer(&status_layer(), Comp::Gzip), "t");
    let path = blob_path(dir.path(), &w.manifest);
    let mut m = std::fs::read(&path).unwrap();
    m.push(b' ');
    std::fs::write(&path, &m).unwrap();
    expect_error(dir.path(), &["digest mismatch", &w.manifest, &sha256(&m)]);
}

#[test]
fn layer_blob_digest_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let w = oci_layout(dir.path(), &one_layer(&status_layer(), Comp::None), "t");
    let path = blob_path(dir.path(), &w.layers[0]);
    let mut b = std::fs::read(&path).unwrap();
    let n = b.len();
    b[n - 1] ^= 1; // in the end-of-archive padding: the tar still reads
    std::fs::write(&path, &b).unwrap();
    expect_error(dir.path(), &["digest mismatch", &w.layers[0], &sha256(&b)]);
}

#[test]
fn missing_blob() {
    let dir = tempfile::tempdir().unwrap();
    let w = oci_layout(dir.path(), &one_layer(&status_layer(), Comp::Gzip), "t");
    std::fs::remove_file(blob_path(dir.path(), &w.layers[0])).unwrap();
    expect_error(dir.path(), &["not found", &w.layers[0]]);
}

#[test]
fn unknown_media_type() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = one_layer(&status_layer(), Comp::Gzip);
    spec.media_type_override = Some((0, "application/x-ferret-unknown".into()));
    oci_layout(dir.path(), &spec, "t");
    expect_error(
        dir.path(),
        &["unknown media type", "application/x-ferret-unknown"],
    );
}

#[test]
fn entry_claiming_ten_gib() {
    let dir = tempfile::tempdir().unwrap();
    let spec = one_layer(
        &[Entry::Claim("var/lib/dpkg/status".into(), 10 << 30)],
        Comp::Gzip,
    );
    oci_layout(dir.path(), &spec, "t");
    expect_error(dir.path(), &["layer 0"]);
}

#[test]
fn decompression_bomb_is_bounded() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    // 300 MiB of zeros in one entry, zstd-compressed to a few KiB, built as a stream.
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    {
        let mut b = tar::Builder::new(&mut enc);
        let mut h = tar::Header::new_gnu();
        let size = 300u64 << 20;
        h.set_size(size);
        h.set_mode(0o644);
        b.append_data(&mut h, "zeros", std::io::repeat(0).take_bytes(size))
            .unwrap();
        b.finish().unwrap();
    }
    enc.flush().unwrap();
    let blob = enc.finish().unwrap();
    let w = oci_layout(dir.path(), &one_layer(&status_layer(), Comp::Zstd), "t");
    rewrite_layer(dir.path(), &w, 0, &blob);
    expect_error(dir.path(), &["decompression"]);
}

/// `Read::take` by another name, so the zeros stream reads as what it is.
trait TakeBytes: std::io::Read + Sized {
    fn take_bytes(self, n: u64) -> std::io::Take<Self> {
        std::io::Read::take(self, n)
    }
}
impl<R: std::io::Read> TakeBytes for R {}

#[test]
fn malformed_database_lines_are_notes_not_errors() {
    let dir = tempfile::tempdir().unwrap();
    let status = format!(
        "{}this line is broken\nPackage: lost\n\n{}",
        dpkg_entry("apt", "2.6.1", None),
        dpkg_entry("bash", "5.2.15-2", None)
    );
    let apk = "garbage line\n\nP:musl\nV:1.2.4-r2\nA:x86_64\n\n";
    let spec = one_layer(
        &[
            file("var/lib/dpkg/status", &status),
            file("lib/apk/db/installed", apk),
        ],
        Comp::Gzip,
    );
    oci_layout(dir.path(), &spec, "t");
    let doc = inventory(&format!("oci:{}", dir.path().display()), &[]);
    let names: Vec<_> = packages(&doc).into_iter().map(|p| p.1).collect();
    assert_eq!(names, ["musl", "apt", "bash"]);
    let notes = doc["notes"].to_string();
    assert!(
        notes.contains("os/dpkg") && notes.contains("line 8"),
        "{notes}"
    );
    assert!(
        notes.contains("os/apk") && notes.contains("line 1"),
        "{notes}"
    );
}

#[test]
fn bad_references_and_arguments() {
    for (args, needle) in [
        (vec!["sbom", "oci:"], "needs a directory"),
        (vec!["sbom", "Bad/Ref"], "repository"),
        (
            vec!["sbom", "dir:/nonexistent/ferret"],
            "/nonexistent/ferret",
        ),
        (vec!["sbom", "dir:.", "--platform", "linux"], "os/arch"),
        (vec!["sbom", "dir:.", "-f", "xml"], "unknown format"),
        (
            vec!["sbom", "docker-archive:/nonexistent.tar"],
            "/nonexistent.tar",
        ),
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// Replaces layer `i`'s blob with `blob`, rewriting the manifest and index to match.
fn rewrite_layer(dir: &Path, w: &Written, i: usize, blob: &[u8]) {
    let digest = sha256(blob);
    std::fs::write(blob_path(dir, &digest), blob).unwrap();
    let mpath = blob_path(dir, &w.manifest);
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    m["layers"][i]["digest"] = digest.clone().into();
    m["layers"][i]["size"] = blob.len().into();
    let mbytes = serde_json::to_vec(&m).unwrap();
    let mdigest = sha256(&mbytes);
    std::fs::write(blob_path(dir, &mdigest), &mbytes).unwrap();
    let ipath = dir.join("index.json");
    let mut idx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ipath).unwrap()).unwrap();
    idx["manifests"][0]["digest"] = mdigest.into();
    idx["manifests"][0]["size"] = mbytes.len().into();
    std::fs::write(ipath, serde_json::to_vec(&idx).unwrap()).unwrap();
}
