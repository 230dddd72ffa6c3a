//! The service end to end, with real parts: Debian's `docker-registry` holding an image
//! pushed by `skopeo`, `ferret serve` on SQLite with no embedded scanner, a separate
//! `ferret scanner` process taking the job over the subscription, and `ferret remote scan`
//! submitting and waiting. The hub's counts equal `ferret scan`'s of the same image.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

fn have(tool: &str) -> bool {
    tool_available(
        Command::new("sh").args(["-c", &format!("command -v {tool}")]),
        tool,
    )
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A plain HTTP/1.1 GET on loopback: status and body.
fn http_get(addr: &str, path: &str, headers: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

fn wait_for(addr: &str) {
    let started = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing listens on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn spawn(args: &[&str], log: &Path) -> Killed {
    let log = std::fs::File::create(log).unwrap();
    Killed(
        ferret()
            .args(args)
            .env("FERRET_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

#[test]
fn a_remote_scanner_scans_what_the_hub_queues() {
    if !have("docker-registry") || !have("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = d.join("root");
    debian_fixture_root(&root);
    let layout = d.join("layout");
    image_of_root(&root, &layout);
    let registry = start_registry(None);
    push(
        &layout,
        "root",
        &format!("{}/app:1.0", registry.addr),
        None,
        false,
    );
    let feed = d.join("tracker.json");
    debian_fixture_tracker(&feed);
    let db = d.join("db");
    let (code, _, err) = run(&[
        "db",
        "import",
        "--db-dir",
        db.to_str().unwrap(),
        "debian-tracker",
        feed.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (_, out, err) = run(&[
        "scan",
        "-q",
        "--db-dir",
        db.to_str().unwrap(),
        "-f",
        "json",
        &format!("oci:{}:root", layout.display()),
    ]);
    let local: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{err}"));
    let want = &local["summary"];

    let http = format!("127.0.0.1:{}", free_port());
    let config = d.join("ferret.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nhttp = {http:?}\ngrpc = \"127.0.0.1:{}\"\nscanner_secrets = [\"s3cret\", \"rotated\"]\n\n[[registries]]\nname = \"local\"\nurl = \"http://{}\"\n",
            d.join("hub").display().to_string(),
            free_port(),
            registry.addr
        ),
    )
    .unwrap();
    let _hub = spawn(
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--no-embedded-scanner",
            "--db-dir",
            db.to_str().unwrap(),
        ],
        &d.join("hub.log"),
    );
    wait_for(&http);
    assert_eq!(http_get(&http, "/healthz", "").0, 200);

    // The secret is checked before the upgrade, by query and by header.
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    for (path, extra) in [
        ("/xrpc/io.atcr.hold.subscribeScanJobs", String::new()),
        (
            "/xrpc/io.atcr.hold.subscribeScanJobs?secret=wrong",
            String::new(),
        ),
        (
            "/xrpc/io.atcr.hold.subscribeScanJobs",
            "X-Scanner-Secret: wrong\r\n".to_owned(),
        ),
    ] {
        let (status, body) = http_get(&http, path, &format!("{upgrade}{extra}"));
        assert_eq!(status, 401, "{path} {extra}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "InvalidSecret");
    }

    // Queued before any scanner is there.
    let server = format!("http://{http}");
    let (code, out, err) = run(&["remote", "scan", "local/app:1.0", "--server", &server]);
    assert_eq!(code, 0, "{err}");
    let queued: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(queued["status"], "RUNNING");
    assert_eq!(queued["created"], true);
    assert_eq!(
        queued["digest"].as_str().unwrap(),
        local["source"]["digest"]
            .as_str()
            .unwrap_or_else(|| panic!("{}", local["source"]))
    );
    // Asking again joins the same job.
    let (_, out, _) = run(&["remote", "scan", "local/app:1.0", "--server", &server]);
    let again: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(again["id"], queued["id"]);
    assert_eq!(again["created"], false);

    let _scanner = spawn(
        &[
            "scanner",
            "--hub",
            &server,
            "--secret",
            "rotated",
            "--db-dir",
            db.to_str().unwrap(),
        ],
        &d.join("scanner.log"),
    );
    let (code, out, err) = run(&[
        "remote",
        "scan",
        "local/app:1.0",
        "--server",
        &server,
        "--wait",
        "--fail-on",
        "high",
    ]);
    let hub_log = std::fs::read_to_string(d.join("hub.log")).unwrap_or_default();
    let scanner_log = std::fs::read_to_string(d.join("scanner.log")).unwrap_or_default();
    assert_eq!(
        code, 1,
        "the gate trips on openssl's HIGH\n{err}\nhub:\n{hub_log}\nscanner:\n{scanner_log}"
    );
    let done: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(done["status"], "READY", "{done}");
    assert_eq!(
        done["scannerVersion"],
        format!("ferret-{}", env!("CARGO_PKG_VERSION"))
    );
    let c = &done["counts"];
    for (ours, theirs) in [
        ("critical", "critical"),
        ("high", "high"),
        ("medium", "medium"),
        ("low", "low"),
        ("negligible", "negligible"),
        ("undefined", "unknown"),
    ] {
        assert_eq!(
            c[ours], want[theirs],
            "{ours}: hub {c} against ferret scan {want}"
        );
    }
    assert!(c["total"].as_i64().unwrap() > 0);
    let blob = d.join("hub/blobs/sha256").join(
        done["sbomBlob"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:"),
    );
    let sbom: Value = serde_json::from_slice(&std::fs::read(blob).unwrap()).unwrap();
    assert_eq!(sbom["spdxVersion"], "SPDX-2.3");

    let (_, metrics) = http_get(&http, "/metrics", "");
    for line in [
        "ferret_jobs_completed_total 1",
        "ferret_jobs_dispatched_total 1",
        "ferret_connected_scanners 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    assert!(
        metrics.contains("ferret_scan_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(
        !hub_log.contains("s3cret") && !hub_log.contains("rotated"),
        "a secret was logged"
    );
}
