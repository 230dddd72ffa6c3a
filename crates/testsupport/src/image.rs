//! Builds test images on the fly: tar layers with any entry (including hostile ones),
//! OCI image layouts, and both docker-archive layouts. Nothing large is committed.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

#[derive(Clone)]
pub enum Entry {
    File(String, Vec<u8>),
    Dir(String),
    Symlink(String, String),
    Hardlink(String, String),
    /// A regular file whose name is written into the header as is (absolute, `..`).
    Raw(String, Vec<u8>),
    /// A header claiming `size` bytes with no data after it.
    Claim(String, u64),
}

pub fn file(path: &str, body: &str) -> Entry {
    Entry::File(path.to_owned(), body.as_bytes().to_vec())
}

pub fn tar(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            Entry::File(path, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, path, &data[..]).unwrap();
            }
            Entry::Dir(path) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, path, &[][..]).unwrap();
            }
            Entry::Symlink(path, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, path, target).unwrap();
            }
            Entry::Hardlink(path, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                h.set_size(0);
                b.append_link(&mut h, path, target).unwrap();
            }
            Entry::Raw(name, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                let raw = &mut h.as_old_mut().name;
                raw.fill(0);
                raw[..name.len()].copy_from_slice(name.as_bytes());
                h.set_cksum();
                b.append(&h, &data[..]).unwrap();
            }
            Entry::Claim(path, size) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(*size);
                h.set_path(path).unwrap();
                h.set_cksum();
                b.get_mut().extend_from_slice(h.as_bytes());
                b.get_mut().extend_from_slice(&[7u8; 512]);
                return b.into_inner().unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comp {
    None,
    Gzip,
    Zstd,
}

impl Comp {
    pub fn media_type(self) -> &'static str {
        match self {
            Self::None => "application/vnd.oci.image.layer.v1.tar",
            Self::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Self::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

pub fn compress(data: &[u8], comp: Comp) -> Vec<u8> {
    match comp {
        Comp::None => data.to_vec(),
        Comp::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Comp::Zstd => zstd::encode_all(data, 3).unwrap(),
    }
}

/// An image to write: layers (uncompressed tar, compression) and platform.
#[derive(Clone)]
pub struct ImageSpec {
    pub layers: Vec<(Vec<u8>, Comp)>,
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
    /// Override a layer's media type (index, media type).
    pub media_type_override: Option<(usize, String)>,
}

impl ImageSpec {
    pub fn new(layers: Vec<(Vec<u8>, Comp)>) -> Self {
        Self {
            layers,
            os: "linux".into(),
            arch: "amd64".into(),
            variant: None,
            media_type_override: None,
        }
    }

    pub fn platform(mut self, arch: &str, variant: Option<&str>) -> Self {
        self.arch = arch.into();
        self.variant = variant.map(str::to_owned);
        self
    }
}

/// What was written for one image.
#[derive(Clone, Debug)]
pub struct Written {
    pub manifest: String,
    pub manifest_size: usize,
    pub config: String,
    pub layers: Vec<String>,
}

fn put_blob(dir: &Path, data: &[u8]) -> String {
    let digest = sha256(data);
    let path = dir.join("blobs/sha256").join(&digest[7..]);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
    digest
}

pub fn config_json(spec: &ImageSpec) -> Vec<u8> {
    let diff_ids: Vec<String> = spec.layers.iter().map(|(t, _)| sha256(t)).collect();
    let mut c = json!({
        "architecture": spec.arch,
        "os": spec.os,
        "created": "2024-05-06T07:08:09.123456789Z",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [],
    });
    if let Some(v) = &spec.variant {
        c["variant"] = json!(v);
    }
    serde_json::to_vec(&c).unwrap()
}

/// Writes one image's blobs into an OCI layout directory.
pub fn write_image_blobs(dir: &Path, spec: &ImageSpec) -> Written {
    let config = config_json(spec);
    let config_digest = put_blob(dir, &config);
    let mut layer_descs = Vec::new();
    let mut layers = Vec::new();
    for (i, (tar, comp)) in spec.layers.iter().enumerate() {
        let blob = compress(tar, *comp);
        let d = put_blob(dir, &blob);
        let media = match &spec.media_type_override {
            Some((j, m)) if *j == i => m.clone(),
            _ => comp.media_type().to_owned(),
        };
        layer_descs.push(json!({"mediaType": media, "digest": d, "size": blob.len()}));
        layers.push(d);
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": layer_descs,
    }))
    .unwrap();
    let manifest_digest = put_blob(dir, &manifest);
    Written {
        manifest: manifest_digest,
        manifest_size: manifest.len(),
        config: config_digest,
        layers,
    }
}

fn platform_json(spec: &ImageSpec) -> Value {
    let mut p = json!({"architecture": spec.arch, "os": spec.os});
    if let Some(v) = &spec.variant {
        p["variant"] = json!(v);
    }
    p
}

/// An OCI layout holding one image tagged `tag`.
pub fn oci_layout(dir: &Path, spec: &ImageSpec, tag: &str) -> Written {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let w = write_image_blobs(dir, spec);
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": w.manifest,
            "size": w.manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    w
}

/// An OCI layout whose tag points at a nested image index of several platforms.
pub fn oci_layout_multi(dir: &Path, specs: &[ImageSpec], tag: &str) -> (String, Vec<Written>) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut entries = Vec::new();
    let mut written = Vec::new();
    for spec in specs {
        let w = write_image_blobs(dir, spec);
        entries.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": w.manifest,
            "size": w.manifest_size,
            "platform": platform_json(spec),
        }));
        written.push(w);
    }
    let nested = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    }))
    .unwrap();
    let nested_digest = put_blob(dir, &nested);
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": nested_digest,
            "size": nested.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    (nested_digest, written)
}

fn tar_file(entries: Vec<(String, Vec<u8>)>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, path, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// `docker save` before Docker 25: `<id>/layer.tar` (uncompressed), `<config>.json`.
pub fn docker_archive_classic(path: &Path, spec: &ImageSpec, repo_tag: &str) {
    let config = config_json(spec);
    let config_name = format!("{}.json", &sha256(&config)[7..]);
    let mut files = vec![(config_name.clone(), config)];
    let mut layer_paths = Vec::new();
    for (i, (tar, _)) in spec.layers.iter().enumerate() {
        let id = format!("{:064x}", i + 1);
        let p = format!("{id}/layer.tar");
        files.push((p.clone(), tar.clone()));
        files.push((format!("{id}/VERSION"), b"1.0".to_vec()));
        layer_paths.push(p);
    }
    let manifest = json!([{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_paths}]);
    files.insert(
        0,
        (
            "manifest.json".into(),
            serde_json::to_vec(&manifest).unwrap(),
        ),
    );
    std::fs::write(path, tar_file(files)).unwrap();
}

/// `docker save` from Docker 25 on: an OCI layout inside the tar, plus `manifest.json`.
pub fn docker_archive_oci(path: &Path, spec: &ImageSpec, repo_tag: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let w = oci_layout(tmp.path(), spec, repo_tag.rsplit(':').next().unwrap());
    let mut files = Vec::new();
    let manifest = json!([{
        "Config": format!("blobs/sha256/{}", &w.config[7..]),
        "RepoTags": [repo_tag],
        "Layers": w.layers.iter().map(|d| format!("blobs/sha256/{}", &d[7..])).collect::<Vec<_>>(),
    }]);
    files.push((
        "manifest.json".to_owned(),
        serde_json::to_vec(&manifest).unwrap(),
    ));
    for name in ["oci-layout", "index.json"] {
        files.push((
            name.to_owned(),
            std::fs::read(tmp.path().join(name)).unwrap(),
        ));
    }
    for entry in std::fs::read_dir(tmp.path().join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        files.push((
            format!("blobs/sha256/{}", entry.file_name().to_string_lossy()),
            std::fs::read(entry.path()).unwrap(),
        ));
    }
    std::fs::write(path, tar_file(files)).unwrap();
}

pub const DEBIAN_OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";

pub fn dpkg_entry(name: &str, version: &str, source: Option<&str>) -> String {
    let mut s = format!(
        "Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\nMaintainer: Test <t@example.org>\n"
    );
    if let Some(src) = source {
        s.push_str(&format!("Source: {src}\n"));
    }
    s.push_str("Description: test\n\n");
    s
}

pub fn apk_entry(name: &str, version: &str, arch: &str) -> String {
    format!("P:{name}\nV:{version}\nA:{arch}\no:{name}\nL:MIT\n\n")
}

/// An Alpine 3.10 root file system at `root` (its os-release) whose apk database is
/// `installed`.
pub fn alpine_3_10_root(root: &Path, installed: &str) {
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("lib/apk/db")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.10.9\nPRETTY_NAME=\"Alpine Linux v3.10\"\n",
    )
    .unwrap();
    std::fs::write(root.join("lib/apk/db/installed"), installed).unwrap();
}

/// A one-layer image whose apk database holds musl built for `apk_arch`, for `arch`/`variant`.
pub fn musl_image(apk_arch: &str, arch: &str, variant: Option<&str>) -> ImageSpec {
    let layer = tar(&[file(
        "lib/apk/db/installed",
        &apk_entry("musl", "1.2.4-r2", apk_arch),
    )]);
    ImageSpec::new(vec![(layer, Comp::Gzip)]).platform(arch, variant)
}

/// Writes an OCI layout at `layout` (tag `root`) whose one gzip layer is the directory
/// `root`, symlinks kept as symlinks and modes as they are.
pub fn image_of_root(root: &Path, layout: &Path) {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", root).unwrap();
    let layer = b.into_inner().unwrap();
    oci_layout(layout, &ImageSpec::new(vec![(layer, Comp::Gzip)]), "root");
}
