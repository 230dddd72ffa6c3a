//! Pulls from a real OCI registry: Debian's `docker-registry` (CNCF distribution) started
//! on 127.0.0.1 with a temporary storage directory, once anonymous and once behind
//! htpasswd basic auth; images pushed with `skopeo copy`.

#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferret_testsupport::*;

/// Whether a tool is installed; in CI a missing tool fails the test instead of skipping.
fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is required in CI (.ci/run installs it)"
        );
        eprintln!("\n*** SKIPPED: {tool} is not installed; the registry tests did not run ***\n");
    }
    found
}

/// Pushes a small two-layer image to `reg` as `repo_tag`; the layout lives as long as the
/// returned directory.
fn push_sample(reg: &Registry, repo_tag: &str, creds: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("img");
    oci_layout(&layout, &edge_like(), "v1");
    push(
        &layout,
        "v1",
        &format!("{}/{repo_tag}", reg.addr),
        creds,
        false,
    );
    dir
}

/// `ferret sbom -f json IMAGE --username USER` with the password in the environment.
fn sbom_with_password(image: &str, user: &str, password: &str) -> std::process::Output {
    ferret()
        .args(["sbom", "-q", "-f", "json", image, "--username", user])
        .env("FERRET_REGISTRY_PASSWORD", password)
        .output()
        .unwrap()
}

fn edge_like() -> ImageSpec {
    ImageSpec::new(vec![
        (
            tar(&[
                file("etc/os-release", DEBIAN_OS_RELEASE),
                file("var/lib/dpkg/status", &dpkg_entry("apt", "2.6.1", None)),
            ]),
            Comp::Gzip,
        ),
        (
            tar(&[file(
                "var/lib/dpkg/status",
                &(dpkg_entry("apt", "2.6.1", None) + &dpkg_entry("curl", "7.88.1-10", None)),
            )]),
            Comp::Zstd,
        ),
    ])
}

#[test]
fn anonymous_pull_by_tag_digest_and_platform() {
    if !have("docker-registry") || !have("skopeo") {
        return;
    }
    let reg = start_registry(None);
    let dir = push_sample(&reg, "team/app:1.4", None);

    let doc = inventory(&format!("{}/team/app:1.4", reg.addr), &[]);
    let names: Vec<_> = packages(&doc).into_iter().map(|p| (p.1, p.3)).collect();
    assert_eq!(
        names,
        vec![("apt".to_owned(), Some(1)), ("curl".to_owned(), Some(1))]
    );
    let digest = doc["source"]["digest"].as_str().unwrap().to_owned();

    let by_digest = inventory(&format!("{}/team/app@{digest}", reg.addr), &[]);
    assert_eq!(packages(&by_digest), packages(&doc));
    assert_eq!(by_digest["source"]["digest"], digest.as_str());

    let multi = dir.path().join("multi");
    let amd = musl_image("x86_64", "amd64", None);
    let arm = musl_image("aarch64", "arm64", Some("v8"));
    oci_layout_multi(&multi, &[amd, arm], "multi");
    push(
        &multi,
        "multi",
        &format!("{}/team/multi:1", reg.addr),
        None,
        true,
    );
    let arch = |doc: &serde_json::Value| {
        doc["packages"][0]["architecture"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let image = format!("{}/team/multi:1", reg.addr);
    assert_eq!(arch(&inventory(&image, &[])), "x86_64");
    assert_eq!(
        arch(&inventory(&image, &["--platform", "linux/arm64"])),
        "aarch64"
    );

    let (code, _, err) = run(&["sbom", "-q", &format!("{}/team/missing:1", reg.addr)]);
    assert_eq!(code, 2);
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn basic_auth_pull() {
    if !have("docker-registry") || !have("skopeo") || !have("htpasswd") {
        return;
    }
    let reg = start_registry(Some(("ferret", "s3cret")));
    let dir = push_sample(&reg, "private/app:1", Some("ferret:s3cret"));
    let image = format!("{}/private/app:1", reg.addr);

    // No credentials: a clear refusal.
    let (code, _, err) = run(&["sbom", "-q", &image]);
    assert_eq!(code, 2);
    assert!(err.contains("requires credentials"), "{err}");

    // --username with the password from the environment.
    let out = sbom_with_password(&image, "ferret", "s3cret");
    succeeded(out);

    // --password-stdin.
    let mut child = ferret()
        .args([
            "sbom",
            "-q",
            "-f",
            "json",
            &image,
            "--username",
            "ferret",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    succeeded(out);

    // Credentials from a docker config.json.
    let docker = dir.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"ZmVycmV0OnMzY3JldA=="}}}}}}"#,
            reg.addr
        ),
    )
    .unwrap();
    let out = succeeded(
        ferret()
            .args(["sbom", "-q", "-f", "json", &image])
            .env("DOCKER_CONFIG", &docker)
            .output()
            .unwrap(),
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(packages(&doc).len(), 2);

    // Wrong password: refused, and the password is not echoed.
    let out = sbom_with_password(&image, "ferret", "wrong-password-xyz");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("refused"), "{err}");
    assert!(!err.contains("wrong-password-xyz"), "{err}");
}

/// A fault injector in front of the registry: it answers the first `failures` requests
/// with 503 and every later one with a 307 to the same path on the registry, the way
/// registries hand out blob storage URLs.
fn flaky_redirector(
    registry: String,
    failures: usize,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(200) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).map_or(true, |n| n == 0) || line == "\r\n" {
                    break;
                }
            }
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .to_owned();
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let response = if n < failures {
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_owned()
            } else {
                format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{registry}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (addr, seen)
}

#[test]
fn retries_transient_errors_and_follows_redirects() {
    if !have("docker-registry") || !have("skopeo") {
        return;
    }
    let reg = start_registry(None);
    let _image = push_sample(&reg, "team/app:1", None);
    let (front, seen) = flaky_redirector(reg.addr.clone(), 2);
    let doc = inventory(&format!("{front}/team/app:1"), &[]);
    assert_eq!(packages(&doc).len(), 2);
    // Two 503s, then one redirect for each of: manifest, config, two layers.
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 6);

    // A registry that keeps failing: a clear error after the retries.
    let (front, _) = flaky_redirector(reg.addr.clone(), 1000);
    let (code, _, err) = run(&["sbom", "-q", &format!("{front}/team/app:1")]);
    assert_eq!(code, 2);
    assert!(err.contains("503"), "{err}");
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn bearer_token_pull() {
    if !have("docker-registry") || !have("skopeo") || !have("openssl") || !have("python3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    let cert = dir.path().join("cert.pem");
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=ferret-test-issuer",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    succeeded(out);
    let token_port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/token_server.py");
    let _token_server = Killed(
        Command::new("python3")
            .arg(&script)
            .arg(token_port.to_string())
            .arg(&key)
            .arg(&cert)
            .args(["ferret", "t0ken-pass", "ferret-test-issuer"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", token_port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "token server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let auth = format!(
        "auth:\n  token:\n    realm: http://127.0.0.1:{token_port}/token\n    service: ferret-registry\n    issuer: ferret-test-issuer\n    rootcertbundle: {}\n",
        cert.display()
    );
    let reg = start_registry_with(None, Some(auth), tempfile::tempdir().unwrap());
    let _image = push_sample(&reg, "team/app:1", Some("ferret:t0ken-pass"));
    let image = format!("{}/team/app:1", reg.addr);

    let out = sbom_with_password(&image, "ferret", "t0ken-pass");
    let out = succeeded(out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(packages(&doc).len(), 2);

    // Anonymous: the token grants nothing and the registry refuses it.
    let (code, _, err) = run(&["sbom", "-q", &image]);
    assert_eq!(code, 2);
    assert!(err.contains("authentication failed"), "{err}");
}
