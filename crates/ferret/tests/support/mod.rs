//! Builds test images on the fly: tar layers with any entry (including hostile ones),
//! OCI image layouts, and both docker-archive layouts. Nothing large is committed.

#![allow(clippy::unwrap_used, dead_code)]

pub mod queue;
pub mod service;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub fn ferret() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ferret"));
    c.env_remove("FERRET_LOG")
        .env("SOURCE_DATE_EPOCH", "1700000000");
    c
}

/// `ferret scan -f json` of `source` against the database in `db`.
pub fn scan_json(db: &Path, source: &str) -> Value {
    let (code, out, err) = run(&[
        "scan",
        "-q",
        "--db-dir",
        db.to_str().unwrap(),
        "-f",
        "json",
        source,
    ]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Runs ferret, returning (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out: Output = ferret().args(args).output().expect("run ferret");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The output of a command that must succeed; fails the test with its stderr otherwise.
pub fn succeeded(out: Output) -> Output {
    assert!(
        out.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `ferret sbom --format json IMAGE` and returns the document; panics on failure.
pub fn inventory(image: &str, extra: &[&str]) -> Value {
    let mut args = vec!["sbom", "--quiet", "--format", "json", image];
    args.extend_from_slice(extra);
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "ferret sbom {image} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON from ferret ({e}): {out}"))
}

/// (type, name, version, layer index) of every package, sorted.
pub fn packages(doc: &Value) -> Vec<(String, String, String, Option<u64>)> {
    let mut v: Vec<_> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_owned(),
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
                p["location"]["layer"]["index"].as_u64(),
            )
        })
        .collect();
    v.sort();
    v
}

pub fn testdata() -> PathBuf {
    std::env::var_os("FERRET_TESTDATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"),
        PathBuf::from,
    )
}

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

pub fn python() -> String {
    std::env::var("FERRET_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Whether an outside tool answers; in CI a missing tool fails instead of skipping.
pub fn tool_available(cmd: &mut Command, what: &str) -> bool {
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

/// Validates an SPDX document with the SPDX project's own `pyspdxtools`.
pub fn validate_spdx(path: &Path) {
    if !tool_available(
        Command::new("pyspdxtools").arg("--help"),
        "pyspdxtools (PyPI spdx-tools)",
    ) {
        return;
    }
    let v = Command::new("pyspdxtools")
        .arg("-i")
        .arg(path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(
        v.status.success(),
        "pyspdxtools rejected {}:\n{text}",
        path.display()
    );
    assert!(!text.to_lowercase().contains("invalid"), "{text}");
}

/// Validates a CycloneDX document against the 1.6 JSON schema (`cyclonedx-python-lib`).
pub fn validate_cyclonedx(path: &Path) {
    if !tool_available(
        Command::new(python()).args(["-c", "import cyclonedx.validation.json"]),
        "cyclonedx-python-lib[json-validation]",
    ) {
        return;
    }
    let script = "import sys\nfrom cyclonedx.schema import SchemaVersion\nfrom cyclonedx.validation.json import JsonStrictValidator\nerr = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())\nif err:\n    print(repr(err))\n    sys.exit(1)\n";
    let v = Command::new(python())
        .args(["-c", script])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        v.status.success(),
        "CycloneDX 1.6 schema validation of {} failed:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
}

/// A one-layer image whose apk database holds musl built for `apk_arch`, for `arch`/`variant`.
pub fn musl_image(apk_arch: &str, arch: &str, variant: Option<&str>) -> ImageSpec {
    let layer = tar(&[file(
        "lib/apk/db/installed",
        &apk_entry("musl", "1.2.4-r2", apk_arch),
    )]);
    ImageSpec::new(vec![(layer, Comp::Gzip)]).platform(arch, variant)
}

/// Validates a SARIF log against the SARIF 2.1.0 schema with Microsoft's SARIF Multitool;
/// panics with its findings when there are any.
pub fn validate_sarif(path: &Path) {
    if !tool_available(
        Command::new("sarif-multitool").arg("--version"),
        "sarif-multitool (npm @microsoft/sarif-multitool)",
    ) {
        return;
    }
    let out_path = path.with_extension("validation.sarif");
    let out = Command::new("sarif-multitool")
        .arg("validate")
        .arg("-o")
        .arg(&out_path)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sarif-multitool failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let log: Value = serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    let problems: Vec<String> = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["level"] == "error" || r["level"] == "warning")
        .map(|r| format!("{} {}", r["ruleId"], r["message"]))
        .collect();
    assert!(
        problems.is_empty(),
        "SARIF schema problems in {}:\n{}\n{}",
        path.display(),
        problems.join("\n"),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The real Debian image (`scripts/debian-image.sh`: debootstrap minbase bookworm plus a
/// second layer), built once per target directory; `None`, said loudly, when this machine
/// cannot build it (outside CI).
pub fn debian_image() -> Option<PathBuf> {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debian-bookworm");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/debian-image.sh");
    if Command::new("sh")
        .args([
            "-c",
            "command -v debootstrap && command -v umoci && command -v skopeo",
        ])
        .output()
        .map_or(true, |o| !o.status.success())
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "debootstrap, umoci and skopeo are required in CI (.ci/run installs them)"
        );
        eprintln!(
            "\n*** SKIPPED: debootstrap, umoci or skopeo is not installed; the real Debian image test did not run ***\n"
        );
        return None;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root {
        assert!(
            std::env::var_os("CI").is_none(),
            "the real Debian image test needs root in CI"
        );
        eprintln!(
            "\n*** SKIPPED: debootstrap needs root; the real Debian image test did not run ***\n"
        );
        return None;
    }
    let status = Command::new("bash")
        .arg(&script)
        .arg(&out)
        .status()
        .unwrap();
    if status.code() == Some(77) {
        eprintln!(
            "\n*** SKIPPED: Debian's archive cannot be reached; the real Debian image test did not run ***\n"
        );
        return None;
    }
    assert!(status.success(), "{} failed", script.display());
    Some(out)
}

/// Runs a setup command; `false` (skipped loudly outside CI) when it cannot run here.
pub fn setup(cmd: &mut Command, what: &str) -> bool {
    let out = cmd.output();
    let ok = out.as_ref().is_ok_and(|o| o.status.success());
    if !ok {
        let detail = out.map_or_else(
            |e| e.to_string(),
            |o| String::from_utf8_lossy(&o.stderr).into_owned(),
        );
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} failed in CI: {detail}"
        );
        eprintln!("\n*** SKIPPED: {what} failed ({detail}); this test did not run ***\n");
    }
    ok
}

/// Pinned old wheels from PyPI, pure Python, with known advisories.
pub const OLD_WHEELS: &[&str] = &[
    "requests==2.19.1",
    "urllib3==1.23",
    "idna==2.7",
    "chardet==3.0.4",
    "certifi==2018.4.16",
    "six==1.11.0",
    "Django==2.0.1",
    "pytz==2018.3",
];

/// A virtualenv at `venv` with `pins` installed from PyPI (wheels only, no dependencies
/// resolved); `false` when it cannot be built here.
pub fn python_venv(venv: &Path, pins: &[&str]) -> bool {
    if !setup(
        Command::new("/usr/bin/python3")
            .arg("-m")
            .arg("venv")
            .arg(venv),
        "python3 -m venv",
    ) {
        return false;
    }
    setup(
        Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "-q",
                "--disable-pip-version-check",
                "--no-deps",
                "--only-binary=:all:",
            ])
            .args(pins),
        "pip install from PyPI",
    )
}

/// `npm ci` of the pinned lockfile in `tests/data/npm-app` into `app`; `false` when the
/// npm registry cannot be reached here.
pub fn npm_app(app: &Path) -> bool {
    std::fs::create_dir_all(app).unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/npm-app");
    for f in ["package.json", "package-lock.json"] {
        std::fs::copy(data.join(f), app.join(f)).unwrap();
    }
    setup(
        Command::new("npm")
            .args([
                "ci",
                "--no-audit",
                "--no-fund",
                "--ignore-scripts",
                "--loglevel=error",
            ])
            .current_dir(app),
        "npm ci from the npm registry",
    )
}

/// Builds, with Debian's golang-go, a Go program at `binary` against the module of
/// Debian's `golang-github-google-uuid-dev` sources, vendored (there is no module proxy
/// here); returns the module's version, `None` when it cannot be built here.
pub fn go_uuid_binary(work: &Path, binary: &Path) -> Option<String> {
    let uuid_src = Path::new("/usr/share/gocode/src/github.com/google/uuid");
    if !setup(Command::new("go").arg("version"), "Debian's golang-go")
        || !setup(
            Command::new("test").arg("-d").arg(uuid_src),
            "golang-github-google-uuid-dev",
        )
    {
        return None;
    }
    let deb_version = succeeded(
        Command::new("dpkg-query")
            .args(["-W", "-f", "${Version}", "golang-github-google-uuid-dev"])
            .output()
            .unwrap(),
    );
    let upstream = String::from_utf8(deb_version.stdout).unwrap();
    let module_version = format!("v{}", upstream.split(['-', '+', '~']).next().unwrap());
    let src = work.join("src");
    let vendored = src.join("vendor/github.com/google/uuid");
    std::fs::create_dir_all(&vendored).unwrap();
    for entry in std::fs::read_dir(uuid_src).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_owned();
        if name.ends_with(".go") && !name.ends_with("_test.go") || name == "go.mod" {
            std::fs::copy(&p, vendored.join(name)).unwrap();
        }
    }
    std::fs::write(
        src.join("go.mod"),
        format!("module example.com/ferretapp\n\ngo 1.19\n\nrequire github.com/google/uuid {module_version}\n"),
    )
    .unwrap();
    std::fs::write(
        src.join("vendor/modules.txt"),
        format!("# github.com/google/uuid {module_version}\n## explicit\ngithub.com/google/uuid\n"),
    )
    .unwrap();
    std::fs::write(
        src.join("main.go"),
        "package main\n\nimport (\n\t\"fmt\"\n\n\t\"github.com/google/uuid\"\n)\n\nfunc main() { fmt.Println(uuid.NewString()) }\n",
    )
    .unwrap();
    std::fs::create_dir_all(binary.parent().unwrap()).unwrap();
    if !setup(
        Command::new("go")
            .args(["build", "-mod=vendor", "-o"])
            .arg(binary)
            .arg(".")
            .current_dir(&src)
            .env("GOPROXY", "off")
            .env("GOFLAGS", "-mod=vendor")
            .env("GOCACHE", work.join("cache"))
            .env("GOPATH", work.join("gopath"))
            .env("HOME", work),
        "go build",
    ) {
        return None;
    }
    Some(module_version)
}

/// Builds `ferret-fixture` with `cargo auditable` (from crates.io, as `.ci/run` installs
/// it) against crates from crates.io, some with advisories: returns its source directory
/// (with the `Cargo.lock`) and the binary, `None` when it cannot be built here.
pub fn auditable_binary(work: &Path) -> Option<(PathBuf, PathBuf)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    if !setup(
        Command::new(&cargo).args(["auditable", "--version"]),
        "cargo auditable",
    ) {
        return None;
    }
    let src = work.join("app");
    std::fs::create_dir_all(src.join("src")).unwrap();
    std::fs::write(
        src.join("Cargo.toml"),
        "[package]\nname = \"ferret-fixture\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nitoa = \"=1.0.9\"\nsmallvec = \"=0.6.10\"\nbumpalo = \"=3.10.0\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(
        src.join("src/main.rs"),
        "fn main() {\n    let mut b = itoa::Buffer::new();\n    let v: smallvec::SmallVec<[u8; 4]> = smallvec::SmallVec::new();\n    let bump = bumpalo::Bump::new();\n    println!(\"{} {} {}\", b.format(42u8), v.len(), bump.alloc(1u8));\n}\n",
    )
    .unwrap();
    if !setup(
        Command::new(&cargo)
            .args(["auditable", "build", "--release", "--quiet"])
            .current_dir(&src)
            .env("CARGO_TARGET_DIR", work.join("target")),
        "cargo auditable build (crates.io)",
    ) {
        return None;
    }
    Some((src, work.join("target/release/ferret-fixture")))
}

/// Writes `files` under `dir` and packs them with the JDK's `jar` tool (with `manifest`
/// as the manifest when given) into `out`.
pub fn jar_tool(dir: &Path, files: &[(&str, &[u8])], manifest: Option<&str>, out: &Path) -> bool {
    for (name, body) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    let mut cmd = Command::new("jar");
    match manifest {
        Some(mf) => {
            let mf_path = dir.with_extension("mf");
            std::fs::write(&mf_path, mf).unwrap();
            cmd.arg("--create")
                .arg("--file")
                .arg(out)
                .arg("--manifest")
                .arg(mf_path);
        }
        None => {
            cmd.arg("--create").arg("--file").arg(out);
        }
    }
    cmd.arg("-C").arg(dir).arg(".");
    setup(&mut cmd, "the JDK's jar tool")
}

pub fn pom(group: &str, artifact: &str, version: &str) -> (String, Vec<u8>) {
    (
        format!("META-INF/maven/{group}/{artifact}/pom.properties"),
        format!("#Generated by Maven\ngroupId={group}\nartifactId={artifact}\nversion={version}\n")
            .into_bytes(),
    )
}

/// `go version -m`'s listing: the toolchain as `stdlib`, then `mod`, `dep` and `=>` lines.
pub fn go_version_m(binary: &Path) -> BTreeSet<(String, String)> {
    let out = succeeded(
        Command::new("go")
            .arg("version")
            .arg("-m")
            .arg(binary)
            .output()
            .unwrap(),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let first = lines.next().unwrap();
    let mut want = BTreeSet::new();
    want.insert((
        "stdlib".to_owned(),
        first.rsplit(' ').next().unwrap().to_owned(),
    ));
    let mut last: Option<(String, String)> = None;
    for line in lines {
        let f: Vec<&str> = line.trim_start().split('\t').collect();
        match f[0] {
            "mod" | "dep" => {
                if let Some(l) = last.take() {
                    want.insert(l);
                }
                last = Some((f[1].to_owned(), f[2].to_owned()));
            }
            // A replacement with a version stands in for what it replaces.
            "=>" if f.len() > 2 && !f[2].is_empty() => {
                last = Some((f[1].to_owned(), f[2].to_owned()))
            }
            _ => {}
        }
    }
    want.extend(last);
    want
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

/// A real OCI registry: Debian's `docker-registry` on a free loopback port.
pub struct Registry {
    child: std::process::Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn start_registry(htpasswd: Option<(&str, &str)>) -> Registry {
    start_registry_with(htpasswd, None, tempfile::tempdir().unwrap())
}

pub fn start_registry_with(
    htpasswd: Option<(&str, &str)>,
    extra: Option<String>,
    dir: tempfile::TempDir,
) -> Registry {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut config = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n  secret: ferret-test\n",
        dir.path().join("data").display()
    );
    if let Some((user, pass)) = htpasswd {
        let out = Command::new("htpasswd")
            .args(["-Bbn", user, pass])
            .output()
            .unwrap();
        assert!(out.status.success());
        let path = dir.path().join("htpasswd");
        std::fs::write(&path, &out.stdout).unwrap();
        config.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: ferret-test\n    path: {}\n",
            path.display()
        ));
    }
    if let Some(extra) = extra {
        config.push_str(&extra);
    }
    let config_path = dir.path().join("config.yml");
    std::fs::write(&config_path, config).unwrap();
    let child = Command::new("docker-registry")
        .args(["serve", config_path.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start docker-registry");
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "registry did not start on {addr}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Registry {
        child,
        addr,
        _dir: dir,
    }
}

pub fn push(layout: &Path, tag: &str, dest: &str, creds: Option<&str>, all: bool) {
    let mut cmd = Command::new("skopeo");
    cmd.args([
        "--insecure-policy",
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
    ]);
    if all {
        cmd.arg("--all");
    }
    if let Some(c) = creds {
        cmd.args(["--dest-creds", c]);
    }
    cmd.arg(format!("oci:{}:{tag}", layout.display()));
    cmd.arg(format!("docker://{dest}"));
    let out = cmd.output().expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo copy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Debian 12 root with five packages; `libfoo1` is a binNMU of `foo`.
pub fn debian_fixture_root(dir: &Path) {
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::create_dir_all(dir.join("var/lib/dpkg")).unwrap();
    std::fs::write(dir.join("etc/os-release"), DEBIAN_OS_RELEASE).unwrap();
    let status = dpkg_entry("openssl", "3.0.11-1~deb12u2", None)
        + &dpkg_entry("libfoo1", "1.0-1+b1", Some("foo (1.0-1)"))
        + &dpkg_entry("bar", "2.0-1", None)
        + &dpkg_entry("baz", "1.5-1", None)
        + &dpkg_entry("qux", "0.9-3", None);
    std::fs::write(dir.join("var/lib/dpkg/status"), status).unwrap();
}

pub fn release(status: &str, fixed: Option<&str>, urgency: &str) -> Value {
    let mut r = json!({"status": status, "repositories": {"bookworm": "x"}, "urgency": urgency});
    if let Some(f) = fixed {
        r["fixed_version"] = json!(f);
    }
    r
}

/// Tracker records: package → CVE → bookworm's state.
pub fn debian_fixture_tracker(path: &Path) {
    let doc = json!({
        "openssl": {
            // Fixed above the installed version: affected, fixed.
            "CVE-2024-0001": {"releases": {"bookworm": release("resolved", Some("3.0.13-1~deb12u1"), "high")}},
            // Fixed at the installed version: not affected.
            "CVE-2024-0002": {"releases": {"bookworm": release("resolved", Some("3.0.11-1~deb12u2"), "medium")}},
            // Fixed below: not affected.
            "CVE-2023-0003": {"releases": {"bookworm": release("resolved", Some("3.0.9-1"), "low")}},
            // `0`: never affected.
            "CVE-2024-0004": {"releases": {"bookworm": release("resolved", Some("0"), "high")}},
        },
        "foo": {
            // The binNMU's source 1.0-1 is below the fix.
            "CVE-2024-0005": {"releases": {"bookworm": release("resolved", Some("1.0-2"), "unimportant")}},
        },
        "bar": {
            // Open: not fixed.
            "CVE-2024-0006": {"releases": {"bookworm": release("open", None, "medium")}},
        },
        "baz": {
            // No DSA, ignored: will not fix.
            "CVE-2024-0007": {"releases": {"bookworm": {
                "status": "open", "repositories": {"bookworm": "x"}, "urgency": "low",
                "nodsa": "Minor issue", "nodsa_reason": "ignored"
            }}},
        },
    });
    std::fs::write(path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

/// What `npm ls --all --json` lists in `app`, as (name, version) pairs.
pub fn npm_ls(app: &Path) -> BTreeSet<(String, String)> {
    fn walk(deps: &Value, out: &mut BTreeSet<(String, String)>) {
        for (name, dep) in deps.as_object().into_iter().flatten() {
            if let Some(v) = dep["version"].as_str() {
                out.insert((name.clone(), v.to_owned()));
            }
            walk(&dep["dependencies"], out);
        }
    }
    let ls = succeeded(
        Command::new("npm")
            .args(["ls", "--all", "--json"])
            .current_dir(app)
            .output()
            .unwrap(),
    );
    let mut out = BTreeSet::new();
    walk(
        &serde_json::from_slice::<Value>(&ls.stdout).unwrap()["dependencies"],
        &mut out,
    );
    out
}

/// `ferret db import --db-dir DB KIND FILES…`, which must succeed.
pub fn import(db: &Path, kind: &str, files: &[PathBuf]) {
    let mut args = vec![
        "db".to_owned(),
        "import".to_owned(),
        "--db-dir".to_owned(),
        db.display().to_string(),
        kind.to_owned(),
    ];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "{err}");
}
