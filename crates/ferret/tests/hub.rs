//! The service end to end, with real parts: Debian's `docker-registry` holding an image
//! pushed by `skopeo`, `ferret serve` on SQLite with no embedded scanner, a separate
//! `ferret scanner` process taking the job over the subscription, and `ferret remote scan`
//! submitting and waiting. The hub's counts equal `ferret scan`'s of the same image.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use ferret_testsupport::service::*;
use ferret_testsupport::*;
use serde_json::Value;

#[test]
fn a_remote_scanner_scans_what_the_hub_queues() {
    if !have("docker-registry") || !have("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (registry, db, local) = fixture(d);
    let want = &local["summary"];

    let conf = hub_config(
        d,
        "hub",
        &registry,
        "scanner_secrets = [\"s3cret\", \"rotated\"]",
    );
    let http = conf.http.clone();
    let _hub = serve(
        &conf,
        &["--no-embedded-scanner", "--db-dir", db.to_str().unwrap()],
        &d.join("hub.log"),
    );
    assert_eq!(http_get(&http, "/healthz", "").0, 200);
    let token = admin_token(&conf, None);

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
    let (code, out, err) = run(&[
        "remote",
        "scan",
        "local/app:1.0",
        "--server",
        &server,
        "--token",
        &token,
    ]);
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
    let (_, out, _) = run(&[
        "remote",
        "scan",
        "local/app:1.0",
        "--server",
        &server,
        "--token",
        &token,
    ]);
    let again: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(again["id"], queued["id"]);
    assert_eq!(again["created"], false);

    let mut scanner = spawn(
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
        "--token",
        &token,
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
    same_counts(c, want);
    assert!(c["total"].as_i64().unwrap() > 0);
    // The SBOM as stored (in the database or the blob store, by its size).
    let (status, body) = http_get(
        &http,
        &format!("/api/ferret/v1/scans/{}/sbom", done["id"].as_str().unwrap()),
        &format!("Authorization: Bearer {token}\r\n"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        ferret_testsupport::sha256(body.as_bytes()),
        done["sbomBlob"].as_str().unwrap()
    );
    let sbom: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(sbom["spdxVersion"], "SPDX-2.3");

    let (_, metrics) = http_get(&http, "/metrics", "");
    // One job, or two when the first finished before `--wait` asked again: every job
    // dispatched was completed.
    let metric = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from\n{metrics}"))
    };
    let dispatched = metric("ferret_jobs_dispatched_total");
    assert!((1..=2).contains(&dispatched), "{metrics}");
    assert_eq!(
        metric("ferret_jobs_completed_total"),
        dispatched,
        "{metrics}"
    );
    assert_eq!(metric("ferret_connected_scanners"), 1, "{metrics}");
    assert!(
        metrics.contains("ferret_scan_duration_seconds_bucket"),
        "{metrics}"
    );
    // SIGTERM: the scanner, holding nothing now, exits cleanly.
    let status = Command::new("kill")
        .args(["-TERM", &scanner.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = scanner.0.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(
        !hub_log.contains("s3cret") && !hub_log.contains("rotated"),
        "a secret was logged"
    );
}

/// The hub's counts of a scan (`ferret remote`'s JSON) equal `ferret scan`'s summary.
fn same_counts(hub: &Value, local: &Value) {
    for (ours, theirs) in [
        ("critical", "critical"),
        ("high", "high"),
        ("medium", "medium"),
        ("low", "low"),
        ("negligible", "negligible"),
        ("undefined", "unknown"),
    ] {
        assert_eq!(
            hub[ours], local[theirs],
            "{ours}: hub {hub} against ferret scan {local}"
        );
    }
}

/// A scanner stand-in on a real WebSocket client: connects with the secret and collects
/// job frames.
struct Client {
    rt: tokio::runtime::Runtime,
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Client {
    fn connect(http: &str, query: &str) -> Self {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut req = format!("ws://{http}/xrpc/io.atcr.hold.subscribeScanJobs{query}")
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("X-Scanner-Secret", "s3cret".parse().unwrap());
        let ws = rt
            .block_on(tokio_tungstenite::connect_async(req))
            .unwrap()
            .0;
        Self { rt, ws }
    }

    /// Job frames arriving within `wait`.
    fn jobs(&mut self, want: usize, wait: Duration) -> Vec<Value> {
        use futures_util::StreamExt;
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        while out.len() < want {
            let next = self
                .rt
                .block_on(async { tokio::time::timeout_at(deadline, self.ws.next()).await });
            match next {
                Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t)))) => {
                    out.push(serde_json::from_str(t.as_str()).unwrap());
                }
                Ok(Some(Ok(_))) => {}
                _ => break,
            }
        }
        out
    }
}

impl Client {
    fn send(&mut self, text: String) {
        use futures_util::SinkExt;
        self.rt
            .block_on(
                self.ws
                    .send(tokio_tungstenite::tungstenite::Message::Text(text.into())),
            )
            .unwrap();
    }
}

/// Peak resident memory of a process so far, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kb * 1024
}

/// A result carrying a 100 MiB SBOM goes through the hub, which stores it whole, with
/// the hub's peak memory growing by at most three times the message.
#[test]
fn a_100_mib_sbom_round_trip_in_bounded_memory() {
    use base64::Engine as _;
    if !have("docker-registry") || !have("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let registry = pushed_fixture(d, "1");
    let conf = hub_config(d, "hub", &registry, "scanner_secrets = [\"s3cret\"]");
    let http = conf.http.clone();
    let hub = serve(&conf, &["--no-embedded-scanner"], &d.join("hub.log"));
    let token = admin_token(&conf, None);
    let server = format!("http://{http}");
    let (code, out, err) = run(&[
        "remote",
        "scan",
        "local/app:1",
        "--server",
        &server,
        "--token",
        &token,
    ]);
    assert_eq!(code, 0, "{err}");
    let scan: Value = serde_json::from_str(&out).unwrap();
    let mut client = Client::connect(&http, "");
    let job = client.jobs(1, Duration::from_secs(10)).remove(0);

    let comment = "x".repeat(100 << 20);
    let sbom = format!("{{\"spdxVersion\":\"SPDX-2.3\",\"comment\":\"{comment}\"}}");
    drop(comment);
    let sbom = &sbom.as_bytes()[..sbom.len().min(100 << 20)];
    // Cut to exactly the lexicon's cap: a valid document needs its closing bytes.
    let mut doc = sbom[..sbom.len() - 2].to_vec();
    doc.extend_from_slice(b"\"}");
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&doc);
    let frame = serde_json::json!({
        "$type": "io.atcr.hold.subscribeScanJobs#scanResult",
        "type": "scan_result",
        "digest": job["digest"],
        "summary": {"critical": 0, "high": 0, "medium": 0, "low": 0, "total": 0},
        "sbom": {"$bytes": b64},
        "vulnReport": {"$bytes": base64::engine::general_purpose::STANDARD_NO_PAD.encode(b"{\"matches\":[]}")},
        "scannerVersion": "ferret-test",
    })
    .to_string();
    drop(b64);
    let size = frame.len() as u64;
    let before = peak_rss(hub.0.id());
    client.send(frame);
    let started = Instant::now();
    let done = loop {
        let (_, body) = http_get(
            &http,
            &format!("/api/ferret/v1/scans/{}", scan["id"].as_str().unwrap()),
            &format!("Authorization: Bearer {token}\r\n"),
        );
        let v: Value = serde_json::from_str(&body).unwrap();
        if v["status"] != "RUNNING" {
            break v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no result stored"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(done["status"], "READY", "{done}");
    let stored = d.join("hub/blobs/sha256").join(
        done["sbomBlob"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:"),
    );
    assert_eq!(std::fs::metadata(stored).unwrap().len(), doc.len() as u64);
    let growth = peak_rss(hub.0.id()).saturating_sub(before);
    eprintln!(
        "message {} MiB, hub peak grew {} MiB ({:.2}x)",
        size >> 20,
        growth >> 20,
        growth as f64 / size as f64
    );
    assert!(
        growth <= 3 * size,
        "peak grew {growth} bytes for a {size}-byte message"
    );
}

/// Jobs queued and leased survive `kill -9` of the hub: restarted on the same data
/// directory (SQLite) or database (PostgreSQL), nothing is lost, the leased job comes
/// back, and `seq` keeps growing.
#[test]
fn queued_and_leased_jobs_survive_kill_9() {
    if !have("docker-registry") || !have("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let registry = start_registry(None);
    for n in 1..=3 {
        let root = d.join(format!("root{n}"));
        debian_fixture_root(&root);
        std::fs::write(root.join("etc/build"), format!("{n}\n")).unwrap();
        let layout = d.join(format!("layout{n}"));
        image_of_root(&root, &layout);
        push(
            &layout,
            "root",
            &format!("{}/app:{n}", registry.addr),
            None,
            false,
        );
    }
    let mut backends = vec![None];
    backends.extend(postgres_schema_url("hub").map(Some));
    for (i, database) in backends.into_iter().enumerate() {
        let conf = hub_config(
            d,
            &format!("hub{i}"),
            &registry,
            "scanner_secrets = [\"s3cret\"]\nping_interval = 1",
        );
        let http = conf.http.clone();
        let mut args = vec!["--no-embedded-scanner"];
        if let Some(url) = &database {
            args.extend(["--database-url", url.as_str()]);
        }
        let mut hub = serve(&conf, &args, &d.join(format!("hub{i}-a.log")));
        let token = admin_token(&conf, database.as_deref());
        let server = format!("http://{http}");
        let mut seqs = Vec::new();
        for n in 1..=3 {
            let (code, out, err) = run(&[
                "remote",
                "scan",
                &format!("local/app:{n}"),
                "--server",
                &server,
                "--token",
                &token,
            ]);
            assert_eq!(code, 0, "{err}");
            let v: Value = serde_json::from_str(&out).unwrap();
            seqs.push(v["seq"].as_i64().unwrap());
        }
        let mut holder = Client::connect(&http, "");
        let leased = holder.jobs(1, Duration::from_secs(10));
        assert_eq!(leased.len(), 1);
        // kill -9.
        hub.0.kill().unwrap();
        hub.0.wait().unwrap();
        drop(holder);
        let _hub = serve(&conf, &args, &d.join(format!("hub{i}-b.log")));
        let mut scanner = Client::connect(&http, "?concurrency=5");
        let jobs = scanner.jobs(3, Duration::from_secs(20));
        let digests: std::collections::BTreeSet<&str> =
            jobs.iter().map(|j| j["digest"].as_str().unwrap()).collect();
        assert_eq!(digests.len(), 3, "backend {i}: every job is back: {jobs:?}");
        let back = jobs
            .iter()
            .find(|j| j["digest"] == leased[0]["digest"])
            .unwrap();
        assert!(
            back["seq"].as_i64().unwrap() > *seqs.iter().max().unwrap(),
            "backend {i}: the leased job is queued again under a larger seq: {back}"
        );
    }
}

/// `ferret serve` with its embedded scanner (the default) scans on its own, and exits
/// cleanly on SIGTERM.
#[test]
fn the_embedded_scanner_scans_without_a_remote_one() {
    if !have("docker-registry") || !have("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (registry, db, local) = fixture(d);
    let conf = hub_config(d, "hub", &registry, "");
    let (http, grpc) = (conf.http.clone(), conf.grpc.clone());
    let mut hub = serve(
        &conf,
        &["--db-dir", db.to_str().unwrap()],
        &d.join("hub.log"),
    );
    let token = admin_token(&conf, None);
    let server = format!("http://{http}");
    let (code, out, err) = run(&[
        "remote",
        "scan",
        "local/app:1.0",
        "--server",
        &server,
        "--token",
        &token,
        "--wait",
    ]);
    let log = std::fs::read_to_string(d.join("hub.log")).unwrap_or_default();
    assert_eq!(code, 0, "{err}\n{log}");
    let done: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(done["status"], "READY");
    assert_eq!(done["counts"]["high"], local["summary"]["high"]);
    // The gRPC port answers the standard health check.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let serving = rt.block_on(async {
        use tonic_health::pb::health_client::HealthClient;
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = HealthClient::new(channel);
        client
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .status
    });
    assert_eq!(
        serving,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    // The client's connection closes with its runtime, so the hub's drain is quick.
    drop(rt);
    let status = Command::new("kill")
        .args(["-TERM", &hub.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = hub.0.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// A registry that requires basic auth, a hub configured with its credentials, and a
/// `ferret scanner` given none (no `--username`, an empty docker config): the job names the
/// hub as `holdEndpoint`, the scanner pulls through the hub with its scanner secret, and
/// the hub's counts equal `ferret scan`'s. The hold endpoint refuses callers without a
/// secret and repositories with no leased job. `ferret serve` says where it listens at
/// the default log level, and its default `holdDid` keeps the port.
#[test]
fn a_remote_scanner_needs_no_registry_credentials() {
    if !have("docker-registry") || !have("skopeo") || !have("htpasswd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = d.join("root");
    debian_fixture_root(&root);
    let layout = d.join("layout");
    image_of_root(&root, &layout);
    let registry = start_registry(Some(("hubuser", "hub-pw")));
    push(
        &layout,
        "root",
        &format!("{}/team/app:1.0", registry.addr),
        Some("hubuser:hub-pw"),
        false,
    );
    let feed = d.join("tracker.json");
    debian_fixture_tracker(&feed);
    let db = d.join("db");
    import(&db, "debian-tracker", &[feed]);
    let local = scan_json(&db, &format!("oci:{}:root", layout.display()));

    let http = format!("127.0.0.1:{}", free_port());
    let grpc = format!("127.0.0.1:{}", free_port());
    let conf = d.join("hub.toml");
    std::fs::write(
        &conf,
        format!(
            "data_dir = {:?}\nhttp = {http:?}\ngrpc = {grpc:?}\nadmin_password = \"admin-pw\"\nembedded_scanner = false\nscanner_secrets = [\"s3cret\"]\n[[registries]]\nname = \"local\"\nurl = \"http://{}\"\nusername = \"hubuser\"\npassword = \"hub-pw\"\n",
            d.join("data").display().to_string(),
            registry.addr
        ),
    )
    .unwrap();
    let conf = Conf {
        path: conf,
        http: http.clone(),
        grpc,
    };
    // At the default log level (no FERRET_LOG, no -v).
    let log = d.join("hub.log");
    let _hub = Killed(
        ferret()
            .args(["serve", "--config", conf.path.to_str().unwrap()])
            .args(["--db-dir", db.to_str().unwrap()])
            .env_remove("FERRET_LOG")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for(&http);
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(
        said.contains("listening") && said.contains(&http),
        "where the hub listens, at the default level:\n{said}"
    );
    let token = admin_token(&conf, None);

    // The hold endpoint: a secret is required; nothing is served that no job holds.
    let (status, _) = http_get(&http, "/v2/", "");
    assert_eq!(status, 401);
    let secret = "Authorization: Basic c2Nhbm5lcjpzM2NyZXQ=\r\n"; // scanner:s3cret
    assert_eq!(http_get(&http, "/v2/", secret).0, 200);
    let digest = local["source"]["digest"].as_str().unwrap();
    let (status, body) = http_get(&http, &format!("/v2/team/app/manifests/{digest}"), secret);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("NAME_UNKNOWN"), "{body}");

    let server = format!("http://{http}");
    let (code, _, err) = run(&[
        "remote",
        "scan",
        "local/team/app:1.0",
        "--server",
        &server,
        "--token",
        &token,
    ]);
    assert_eq!(code, 0, "{err}");
    // What a job frame names: the hub as the hold, its port kept in the DID.
    let mut client = Client::connect(&http, "");
    let job = client.jobs(1, Duration::from_secs(30)).pop().unwrap();
    let port = http.rsplit_once(':').unwrap().1;
    assert_eq!(job["holdEndpoint"], server);
    assert_eq!(job["holdDid"], format!("did:web:127.0.0.1%3A{port}"));
    // While it is leased, the hold serves its manifest (pulled through with the hub's
    // credentials) to a secret-holder.
    let (status, body) = http_get(&http, &format!("/v2/team/app/manifests/{digest}"), secret);
    assert_eq!(status, 200, "{body}");
    assert_eq!(ferret_testsupport::sha256(body.as_bytes()), digest);
    drop(client);

    // No credentials of any kind for the scanner.
    let empty = d.join("empty-home");
    std::fs::create_dir_all(&empty).unwrap();
    let _scanner = Killed(
        ferret()
            .args(["scanner", "--hub", &server, "--secret", "s3cret"])
            .args(["--db-dir", db.to_str().unwrap()])
            .env("HOME", &empty)
            .env("DOCKER_CONFIG", &empty)
            .env_remove("FERRET_REGISTRY_PASSWORD")
            .env("FERRET_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(d.join("scanner.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let (code, out, err) = run(&[
        "remote",
        "scan",
        "local/team/app:1.0",
        "--server",
        &server,
        "--token",
        &token,
        "--wait",
    ]);
    let scanner_log = std::fs::read_to_string(d.join("scanner.log")).unwrap_or_default();
    assert_eq!(code, 0, "{err}\nscanner:\n{scanner_log}");
    let done: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(done["status"], "READY", "{done}\nscanner:\n{scanner_log}");
    same_counts(&done["counts"], &local["summary"]);
    // Once the job is done, the hold serves nothing of it.
    let (status, _) = http_get(&http, &format!("/v2/team/app/manifests/{digest}"), secret);
    assert_eq!(status, 404);
}
