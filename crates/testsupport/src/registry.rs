//! Real registry processes: Debian's `docker-registry` on a free loopback port, and
//! `skopeo` to push to it.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

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
        "version: 0.1\nlog:\n  level: error\nstorage:\n  delete:\n    enabled: true\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n  secret: ferret-test\n",
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
