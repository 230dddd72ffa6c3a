//! Image roots of RPM distros with a real rpm database: packages built by Debian's
//! `rpmbuild` (empty, with the name, epoch, version, release, architecture and source RPM
//! asked for) and recorded by `rpm --justdb` into `var/lib/rpm/rpmdb.sqlite` of the root,
//! as the distros' own rpm writes it.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::tool_available;

/// One installed package: binary name, `[epoch:]version-release`, architecture, and the
/// name of the source package it was built from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RpmPackage {
    pub name: String,
    pub evr: String,
    pub arch: String,
    pub source: String,
    /// The modularity label of a module stream's build (`postgresql:15:8100…:489197e6`).
    pub module: Option<String>,
}

impl RpmPackage {
    pub fn new(name: &str, evr: &str, arch: &str, source: &str) -> Self {
        Self {
            name: name.to_owned(),
            evr: evr.to_owned(),
            arch: arch.to_owned(),
            source: source.to_owned(),
            module: None,
        }
    }

    /// The package as a build of a module stream.
    pub fn in_module(mut self, label: &str) -> Self {
        self.module = Some(label.to_owned());
        self
    }
}

/// Whether Debian's `rpm` and `rpmbuild` are here (`.ci/run` installs them).
pub fn rpm_tools() -> bool {
    tool_available(
        Command::new("rpmbuild").arg("--version"),
        "rpmbuild (Debian's rpm)",
    ) && tool_available(Command::new("rpm").arg("--version"), "rpm (Debian's rpm)")
}

fn split_evr(evr: &str) -> (Option<&str>, &str, &str) {
    let (epoch, rest) = match evr.split_once(':') {
        Some((e, r)) => (Some(e), r),
        None => (None, evr),
    };
    let (version, release) = rest.rsplit_once('-').unwrap_or((rest, "1"));
    (epoch, version, release)
}

/// Writes `etc/os-release` and an rpm database holding `packages` under `root`.
pub fn rpm_root(root: &Path, os_release: &str, packages: &[RpmPackage]) {
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/os-release"), os_release).unwrap();
    let work = tempfile::tempdir().unwrap();
    // One spec per source build: its binaries are subpackages.
    type Build<'a> = (&'a str, &'a str, &'a str, Option<&'a str>);
    let mut builds: BTreeMap<Build<'_>, Vec<&str>> = BTreeMap::new();
    for p in packages {
        builds
            .entry((&p.source, &p.evr, &p.arch, p.module.as_deref()))
            .or_default()
            .push(&p.name);
    }
    let top = work.path().join("top");
    let mut specs: BTreeMap<&str, Vec<std::path::PathBuf>> = BTreeMap::new();
    for (i, ((source, evr, arch, module), binaries)) in builds.iter().enumerate() {
        let (epoch, version, release) = split_evr(evr);
        let mut spec = format!(
            "{}Name: {source}\n{}Version: {version}\nRelease: {release}\nSummary: test\nLicense: MIT\n%description\ntest\n",
            module
                .map(|m| format!("%define modularitylabel {m}\n"))
                .unwrap_or_default(),
            epoch.map(|e| format!("Epoch: {e}\n")).unwrap_or_default()
        );
        for b in binaries {
            if b == source {
                spec.push_str("%files\n");
            } else {
                spec.push_str(&format!(
                    "%package -n {b}\nSummary: test\n%description -n {b}\ntest\n%files -n {b}\n"
                ));
            }
        }
        let path = work.path().join(format!("{i}.spec"));
        std::fs::write(&path, spec).unwrap();
        specs.entry(arch).or_default().push(path);
    }
    // One rpmbuild per architecture: its start-up is most of the cost.
    for (arch, paths) in &specs {
        let out = Command::new("rpmbuild")
            .args(["--quiet", "-bb", "--define"])
            .arg(format!("_topdir {}", top.display()))
            .args([
                "--define",
                "_build_id_links none",
                "--define",
                "_binary_payload w9.gzdio",
                "--target",
                arch,
            ])
            .args(paths)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "rpmbuild: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut rpms = Vec::new();
    for dir in std::fs::read_dir(top.join("RPMS")).unwrap() {
        for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            rpms.push(f.unwrap().path());
        }
    }
    rpms.sort();
    let out = Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args([
            "--dbpath",
            "/var/lib/rpm",
            "--define",
            "_db_backend sqlite",
            "--justdb",
            "--nodeps",
            "--noscripts",
            "--ignorearch",
            "--ignoreos",
            "--nosignature",
            "--force",
            "-i",
        ])
        .args(&rpms)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rpm --justdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The packages of the rpm database under `root`, as rpm itself lists them:
/// (name, `[epoch:]version-release`, architecture, source RPM, modularity label or empty).
pub fn rpm_query(root: &Path) -> Vec<(String, String, String, String, String)> {
    let out = Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args([
            "--dbpath",
            "/var/lib/rpm",
            "-qa",
            "--qf",
            "%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\t%|MODULARITYLABEL?{%{MODULARITYLABEL}}:{}|\\n",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "rpm -qa: {out:?}");
    let mut rows: Vec<(String, String, String, String, String)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].to_owned(),
                f[1].to_owned(),
                f[2].to_owned(),
                f[3].to_owned(),
                f.get(4).copied().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    rows.sort();
    rows
}
